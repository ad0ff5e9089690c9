// File: causeway/tls/server_tls.h
//
// Server-side TLS for the daemons' ports (docs/security.md): a certificate chain and key,
// optionally a CA file that client certificates must chain to (mTLS), loaded from PEM files
// and reloaded on request (SIGHUP) without touching open connections. configure() prepares
// an OpenSSL SSL_CTX for a listener (asio::ssl::context's native handle, or cpp-httplib's
// SSLServer setup callback): TLS 1.2 and later only, Mozilla's "intermediate" cipher list for
// TLS 1.2, and a certificate callback that hands each new handshake the credentials current
// at that moment. So a reload takes effect at the next handshake, and a connection keeps the
// certificate it was opened with.
//
// Thread-safety: every member may be called from any thread; reload() swaps the credentials
// atomically (a failed reload keeps the old ones).
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "causeway/common/status.h"

namespace causeway::tls {

// Whether a listener asks connecting clients for a certificate (--tls-client-auth).
enum class ClientAuth {
  kNone,     // never asks
  kRequest,  // asks; a client without one is served; a certificate that fails verification ends the handshake
  kRequire,  // asks and refuses a client without a valid one (mTLS)
};

// "none", "request", "require"; kInvalidArgument naming the accepted values otherwise.
Result<ClientAuth> parse_client_auth(std::string_view text);
std::string_view client_auth_name(ClientAuth auth) noexcept;

struct ServerTlsFiles {
  std::string cert_file;  // PEM: the server's certificate, then any intermediates
  std::string key_file;   // PEM: its private key (unencrypted)
  std::string ca_file;    // PEM: CAs that client certificates must chain to; required unless kNone
  ClientAuth client_auth = ClientAuth::kNone;
};

class ServerTls {
 public:
  // Reads and checks the files (the key matches the certificate; a CA file is given when
  // client certificates are asked for). kInvalidArgument or kIOError naming the file and
  // what is wrong with it.
  static Result<std::shared_ptr<ServerTls>> load(ServerTlsFiles files);

  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  // Reads the same files again; on success new handshakes use them, on failure (the error
  // names the file) the old credentials stay in use.
  Status reload();

  // Sets up `ctx` for a listener: protocol versions, ciphers, the certificate callback and
  // the client-certificate policy. `answer_plain_http`: a plaintext HTTP request on this TLS
  // port is answered "400 ... this port speaks HTTPS" instead of being dropped unanswered
  // (for REST ports). This object must outlive `ctx`.
  void configure(SSL_CTX* ctx, bool answer_plain_http = false);

  ClientAuth client_auth() const noexcept { return files_.client_auth; }
  // "subject CN=..., expires 2027-12-05T10:00:00Z" of the certificate in use, for logs.
  std::string describe() const;

  struct Credentials;

 private:
  explicit ServerTls(ServerTlsFiles files);
  std::shared_ptr<const Credentials> current() const;

  const ServerTlsFiles files_;
  mutable std::mutex mu_;  // guards credentials_
  std::shared_ptr<const Credentials> credentials_;
};

// The subject of the peer's verified certificate in RFC 2253 form ("CN=orders,O=Acme"), or
// empty when it sent none or verification did not succeed.
std::string peer_subject(const SSL* ssl);

// The OpenSSL error queue as one line (emptied), for messages; `fallback` when it is empty.
std::string take_openssl_errors(std::string_view fallback = "unknown TLS error");

// A TLS record starts with these bytes: content type 22 (handshake), version major 3. A
// connection whose first two bytes are these is a TLS client.
inline bool looks_like_tls_handshake(const unsigned char* bytes, size_t size) {
  return size >= 2 && bytes[0] == 0x16 && bytes[1] == 0x03;
}

}  // namespace causeway::tls
