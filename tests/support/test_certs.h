// Certificates made in the test process with OpenSSL (ECDSA P-256): a CA, and leaves it
// signs with chosen names and validity (an expired one, one not valid yet), written as PEM
// files for the daemons and clients under test. Tests need OpenSSL::SSL and OpenSSL::Crypto.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace causeway::testing {

struct PemPair {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key (unencrypted)
};

struct LeafSpec {
  std::string common_name;
  std::vector<std::string> dns;  // subjectAltName DNS names
  std::vector<std::string> ips;  // subjectAltName IP addresses
  bool server = true;            // extendedKeyUsage serverAuth, else clientAuth
  long valid_from_s = -3600;     // relative to now
  long valid_until_s = 86400;
};

class TestCa {
 public:
  explicit TestCa(const std::string& name) : key_(new_key()), cert_(X509_new(), X509_free) {
    X509* c = cert_.get();
    init(c, name, -3600, 86400 * 30);
    X509_set_issuer_name(c, X509_get_subject_name(c));
    X509_set_pubkey(c, key_.get());
    add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (X509_sign(c, key_.get(), EVP_sha256()) <= 0) throw std::runtime_error("cannot sign the test CA");
  }

  std::string cert_pem() const { return to_pem(cert_.get()); }

  PemPair issue(const LeafSpec& spec) const {
    auto key = new_key();
    std::unique_ptr<X509, decltype(&X509_free)> leaf(X509_new(), X509_free);
    X509* c = leaf.get();
    init(c, spec.common_name, spec.valid_from_s, spec.valid_until_s);
    X509_set_issuer_name(c, X509_get_subject_name(cert_.get()));
    X509_set_pubkey(c, key.get());
    std::string san;
    for (const auto& d : spec.dns) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
    for (const auto& i : spec.ips) san += (san.empty() ? "" : ",") + std::string("IP:") + i;
    if (!san.empty()) add_ext(cert_.get(), c, NID_subject_alt_name, san);
    add_ext(cert_.get(), c, NID_ext_key_usage, spec.server ? "serverAuth" : "clientAuth");
    if (X509_sign(c, key_.get(), EVP_sha256()) <= 0) throw std::runtime_error("cannot sign a test certificate");
    return PemPair{to_pem(c), key_pem(key.get())};
  }

  // A server certificate for 127.0.0.1 and localhost.
  PemPair issue_server(long valid_from_s = -3600, long valid_until_s = 86400) const {
    return issue(LeafSpec{"localhost", {"localhost"}, {"127.0.0.1"}, true, valid_from_s, valid_until_s});
  }
  PemPair issue_client(const std::string& name, long valid_from_s = -3600, long valid_until_s = 86400) const {
    return issue(LeafSpec{name, {}, {}, false, valid_from_s, valid_until_s});
  }

 private:
  using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
  static KeyPtr new_key() {
    KeyPtr k(EVP_EC_gen("P-256"), EVP_PKEY_free);
    if (!k) throw std::runtime_error("cannot make a P-256 key");
    return k;
  }
  static void init(X509* c, const std::string& cn, long from_s, long until_s) {
    X509_set_version(c, 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(c), from_s);
    X509_gmtime_adj(X509_getm_notAfter(c), until_s);
    X509_NAME* name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                               0);
  }
  static void add_ext(X509* issuer, X509* c, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, c, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) throw std::runtime_error("bad test certificate extension " + value);
    X509_add_ext(c, ext, -1);
    X509_EXTENSION_free(ext);
  }
  static std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
  }
  static std::string to_pem(X509* c) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, c);
    return bio_text(bio);
  }
  static std::string key_pem(EVP_PKEY* k) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
    return bio_text(bio);
  }

  KeyPtr key_;
  std::unique_ptr<X509, decltype(&X509_free)> cert_;
};

inline void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace causeway::testing
