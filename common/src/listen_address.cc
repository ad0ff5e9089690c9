// HOST:PORT parsing for the daemons' listen flags. See listen_address.h.
#include "causeway/common/listen_address.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>

namespace causeway {

Status parse_listen_address(std::string_view text, std::string& host, uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
    return invalid_argument("invalid listen address \"" + std::string(text) +
                            "\" (expected HOST:PORT, e.g. 127.0.0.1:7450)");
  std::string h(text.substr(0, colon));
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string_view p = text.substr(colon + 1);
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || ptr != p.data() + p.size() || value > 65535)
    return invalid_argument("invalid port \"" + std::string(p) +
                            "\" in listen address (expected 0-65535; 0 picks a free port)");
  unsigned char buf[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, h.c_str(), buf) != 1 && ::inet_pton(AF_INET6, h.c_str(), buf) != 1)
    return invalid_argument("invalid host \"" + h + "\" in listen address (expected an IP address)");
  host = std::move(h);
  port = static_cast<uint16_t>(value);
  return Status();
}

void set_listen_socket_options(int socket_fd) {
  int yes = 1;
  ::setsockopt(socket_fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace causeway
