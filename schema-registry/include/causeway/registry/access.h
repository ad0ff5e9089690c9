// File: causeway/registry/access.h
//
// Who may use the registry's REST API, and for what (docs/security.md, "The registry"). The
// registry does not keep principals itself: an embedding process (causeway-broker, with its
// tokens and ACLs) gives RegistryServerOptions an Authenticator. For each request the server
// hands it the bearer token of an `Authorization: Bearer` header and the subject of a
// verified TLS client certificate; what comes back says what that request may do, and the
// API checks it before it reads anything, so a refusal reads the same whether or not the
// subject exists.
//
// Refusals are counted in the registry's metrics (RegistryServer::metrics_text).
//
// Without an Authenticator every request is allowed (the registry of a broker without ACLs,
// and the standalone causeway-registry, which relies on TLS client certificates alone).
//
// Thread-safety: authenticate() and the Access it returns are called from the request
// threads, many at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "causeway/common/status.h"

namespace causeway::registry {

enum class Operation : uint8_t {
  kRead,   // get subjects, versions and schemas; look up; check compatibility
  kWrite,  // register, delete, set compatibility
};

// What one authenticated request may do.
class Access {
 public:
  virtual ~Access() = default;
  // The principal, for refusals ("anonymous" without credentials).
  virtual const std::string& principal() const = 0;
  // May it do `op` on `subject`? An empty subject means every subject at once: registry-wide
  // settings (PUT /config) and schemas by id that no subject it may read uses.
  virtual bool allowed(Operation op, std::string_view subject) const = 0;
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // `bearer`: the token of `Authorization: Bearer TOKEN` (empty when there is none);
  // `cert_subject`: the RFC 2253 subject of a verified client certificate (empty: none).
  // An error (a malformed, unknown or revoked token) is answered 401 with its message.
  virtual Result<std::unique_ptr<Access>> authenticate(std::string_view bearer, std::string_view cert_subject) = 0;
};

}  // namespace causeway::registry
