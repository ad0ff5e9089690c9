// See causeway/tls/server_tls.h; the operator's view is docs/security.md.
#include "causeway/tls/server_tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <cstdio>
#include <ctime>

namespace causeway::tls {
namespace {

// Mozilla's "intermediate" configuration for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults,
// which are the same list): forward secrecy and AEAD only.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct BioCloser {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioCloser>;

// A private key file is never decrypted here: a passphrase prompt would block a daemon on
// its terminal. An encrypted key fails to load, and the message says why.
int no_passphrase(char*, int, int, void*) { return 0; }

std::string time_text(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return "an unreadable time";
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || name == nullptr) return "?";
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

// A plaintext HTTP request on a TLS port: OpenSSL recognises it (SSL_R_HTTP_REQUEST) and
// ends the handshake; the client would see only a closed connection. Answer it in HTTP.
void answer_plain_http_cb(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_EXIT) == 0 || ret > 0) return;
  if (SSL_get_error(ssl, ret) != SSL_ERROR_SSL) return;
  if (ERR_GET_REASON(ERR_peek_last_error()) != SSL_R_HTTP_REQUEST) return;
  static const std::string kAnswer = [] {
    const std::string body =
        "{\"error_code\":400,\"message\":\"this port speaks HTTPS only: use an https:// URL and the server's CA\"}";
    return "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  const int fd = SSL_get_fd(ssl);
  if (fd >= 0) (void)::send(fd, kAnswer.data(), kAnswer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

struct ServerTls::Credentials {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509)* chain = nullptr;         // intermediates after the leaf in the cert file
  X509_STORE* ca_store = nullptr;          // client certificates chain to these
  STACK_OF(X509_NAME)* ca_names = nullptr;  // sent in the CertificateRequest
  std::string description;

  Credentials() = default;
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;
  ~Credentials() {
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    X509_STORE_free(ca_store);
    sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
  }
};

namespace {

Result<std::shared_ptr<const ServerTls::Credentials>> read_credentials(const ServerTlsFiles& files) {
  ERR_clear_error();
  auto c = std::make_shared<ServerTls::Credentials>();
  BioPtr cert_bio(BIO_new_file(files.cert_file.c_str(), "r"));
  if (!cert_bio) return io_error("cannot read the TLS certificate file " + files.cert_file + ": " + take_openssl_errors());
  c->cert = PEM_read_bio_X509(cert_bio.get(), nullptr, no_passphrase, nullptr);
  if (c->cert == nullptr) {
    return invalid_argument("the TLS certificate file " + files.cert_file + " holds no PEM certificate (" +
                            take_openssl_errors() + ")");
  }
  c->chain = sk_X509_new_null();
  while (X509* more = PEM_read_bio_X509(cert_bio.get(), nullptr, no_passphrase, nullptr)) sk_X509_push(c->chain, more);
  ERR_clear_error();  // the loop ends on "no start line"
  if (X509_cmp_current_time(X509_get0_notAfter(c->cert)) < 0) {
    return invalid_argument("the TLS certificate in " + files.cert_file + " expired at " +
                            time_text(X509_get0_notAfter(c->cert)) + "; renew it (scripts/make-dev-certs makes local ones)");
  }

  BioPtr key_bio(BIO_new_file(files.key_file.c_str(), "r"));
  if (!key_bio) return io_error("cannot read the TLS key file " + files.key_file + ": " + take_openssl_errors());
  c->key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_passphrase, nullptr);
  if (c->key == nullptr) {
    return invalid_argument("the TLS key file " + files.key_file +
                            " holds no unencrypted PEM private key (an encrypted key is not supported: decrypt it "
                            "with `openssl pkey -in KEY -out KEY.plain`) (" +
                            take_openssl_errors() + ")");
  }
  if (X509_check_private_key(c->cert, c->key) != 1) {
    ERR_clear_error();
    return invalid_argument("the TLS key in " + files.key_file + " does not belong to the certificate in " +
                            files.cert_file);
  }

  if (files.client_auth != ClientAuth::kNone && files.ca_file.empty()) {
    return invalid_argument(std::string("--tls-client-auth ") + std::string(client_auth_name(files.client_auth)) +
                            " needs --tls-ca: the CA file that client certificates must chain to");
  }
  if (!files.ca_file.empty()) {
    c->ca_store = X509_STORE_new();
    if (c->ca_store == nullptr || X509_STORE_load_file(c->ca_store, files.ca_file.c_str()) != 1) {
      return invalid_argument("cannot load the TLS CA file " + files.ca_file + " (PEM certificates expected): " +
                              take_openssl_errors());
    }
    c->ca_names = SSL_load_client_CA_file(files.ca_file.c_str());
    ERR_clear_error();
  }
  c->description = "subject " + name_text(X509_get_subject_name(c->cert)) + ", expires " +
                   time_text(X509_get0_notAfter(c->cert));
  return std::shared_ptr<const ServerTls::Credentials>(std::move(c));
}

}  // namespace

Result<ClientAuth> parse_client_auth(std::string_view text) {
  if (text == "none") return ClientAuth::kNone;
  if (text == "request") return ClientAuth::kRequest;
  if (text == "require") return ClientAuth::kRequire;
  return invalid_argument("client certificate policy \"" + std::string(text) +
                          "\" is not one of none, request, require");
}

std::string_view client_auth_name(ClientAuth auth) noexcept {
  switch (auth) {
    case ClientAuth::kNone:
      return "none";
    case ClientAuth::kRequest:
      return "request";
    case ClientAuth::kRequire:
      return "require";
  }
  return "none";
}

ServerTls::ServerTls(ServerTlsFiles files) : files_(std::move(files)) {}
ServerTls::~ServerTls() = default;

Result<std::shared_ptr<ServerTls>> ServerTls::load(ServerTlsFiles files) {
  auto credentials = read_credentials(files);
  if (!credentials) return credentials.error();
  std::shared_ptr<ServerTls> tls(new ServerTls(std::move(files)));
  tls->credentials_ = std::move(*credentials);
  return tls;
}

Status ServerTls::reload() {
  auto credentials = read_credentials(files_);
  if (!credentials) return credentials.error();
  std::lock_guard lk(mu_);
  credentials_ = std::move(*credentials);
  return Status();
}

std::shared_ptr<const ServerTls::Credentials> ServerTls::current() const {
  std::lock_guard lk(mu_);
  return credentials_;
}

std::string ServerTls::describe() const { return current()->description; }

void ServerTls::configure(SSL_CTX* ctx, bool answer_plain_http) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cipher_list(ctx, kTls12Ciphers);
  // Resumed sessions skip certificate verification; they must belong to this context.
  static constexpr unsigned char kSessionContext[] = "causeway";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  int verify = SSL_VERIFY_NONE;
  if (files_.client_auth == ClientAuth::kRequest) verify = SSL_VERIFY_PEER;
  if (files_.client_auth == ClientAuth::kRequire) verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, verify, nullptr);
  // Each handshake takes the credentials current when it starts (after the ClientHello,
  // before the server's certificate and certificate request go out).
  SSL_CTX_set_cert_cb(
      ctx,
      [](SSL* ssl, void* arg) -> int {
        const auto creds = static_cast<const ServerTls*>(arg)->current();
        if (SSL_use_cert_and_key(ssl, creds->cert, creds->key, creds->chain, 1) != 1) return 0;
        if (creds->ca_store != nullptr && SSL_set1_verify_cert_store(ssl, creds->ca_store) != 1) return 0;
        if (creds->ca_names != nullptr) SSL_set_client_CA_list(ssl, SSL_dup_CA_list(creds->ca_names));
        return 1;
      },
      this);
  if (answer_plain_http) SSL_CTX_set_info_callback(ctx, answer_plain_http_cb);
}

std::string peer_subject(const SSL* ssl) {
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  const X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return {};
  return name_text(X509_get_subject_name(cert));
}

std::string take_openssl_errors(std::string_view fallback) {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    // "error:0A000086:SSL routines::certificate verify failed": keep the reason.
    std::string_view text(buf);
    if (const auto colon = text.rfind(':'); colon != std::string_view::npos) text.remove_prefix(colon + 1);
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? std::string(fallback) : out;
}

}  // namespace causeway::tls
