// A raw, blocking protocol connection for integration tests that must send exactly the
// bytes they choose (hostile input) or check the wire format itself. Normal tests use the
// real client library. Loopback only, every wait bounded.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "causeway/common/coding.h"
#include "causeway/schemas/protocol_generated.h"

namespace causeway::testing {

class RawConnection {
 public:
  // `receive_buffer_bytes` (SO_RCVBUF before connecting; 0 keeps the default): a small one
  // makes the broker's writes to this connection partial as soon as it stops reading.
  explicit RawConnection(uint16_t port, int receive_buffer_bytes = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receive_buffer_bytes > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof(receive_buffer_bytes));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  // Shuts the socket down in both directions (unblocks a send stuck on a full buffer).
  void shutdown() { ::shutdown(fd_, SHUT_RDWR); }

  bool send_bytes(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Sends `builder`'s finished Message as one frame.
  bool send_message(flatbuffers::FlatBufferBuilder& b) {
    std::string frame(4, '\0');
    coding::encode_fixed32(frame.data(), static_cast<uint32_t>(b.GetSize()));
    frame.append(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
    return send_bytes(frame);
  }

  template <typename T>
  bool send(uint64_t cid, flatbuffers::FlatBufferBuilder& b, flatbuffers::Offset<T> body) {
    auto msg = protocol::CreateMessage(b, cid, protocol::BodyTraits<T>::enum_value, body.Union());
    protocol::FinishMessageBuffer(b, msg);
    return send_message(b);
  }

  bool hello(uint32_t version = 1) {
    flatbuffers::FlatBufferBuilder b;
    if (!send(1, b, protocol::CreateHello(b, version, b.CreateString("raw-test")))) return false;
    auto r = read_frame();
    if (!r) return false;
    const auto* m = protocol::GetMessage(r->data());
    return m->body_as_HelloResponse() && m->body_as_HelloResponse()->status()->code() == protocol::ErrorCode::Ok;
  }

  // One frame's FlatBuffer bytes, or nullopt on EOF/timeout.
  std::optional<std::string> read_frame(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string len;
    if (!read_exact(4, len, timeout)) return std::nullopt;
    const uint32_t n = coding::decode_fixed32(len.data());
    std::string body;
    if (!read_exact(n, body, timeout)) return std::nullopt;
    return body;
  }

  // True if the peer closed the connection (EOF or reset) within the timeout.
  bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return true;  // EOF or error: closed
    }
    return false;
  }

 private:
  bool read_exact(size_t n, std::string& out, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    out.clear();
    while (out.size() < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[65536];
      const ssize_t r = ::recv(fd_, buf, std::min(sizeof(buf), n - out.size()), 0);
      if (r <= 0) return false;
      out.append(buf, static_cast<size_t>(r));
    }
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace causeway::testing
