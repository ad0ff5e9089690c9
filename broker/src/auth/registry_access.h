// File: auth/registry_access.h
//
// The embedded registry's Authenticator (causeway/registry/access.h) over the broker's
// tokens and ACLs: a REST request is the principal of its `Authorization: Bearer` token (the
// tokens of `causeway auth token create`), else of its verified TLS client certificate, else
// "anonymous"; it may read a subject under a registry-read or registry-write ACL, write it
// under registry-write (docs/security.md, "The registry"). While the broker has no ACL,
// everything is allowed, as on the wire port.
//
// Thread-safety: as Authorizer's.
#pragma once

#include <memory>
#include <string_view>

#include "auth/authorizer.h"
#include "causeway/registry/access.h"

namespace causeway::auth {

class RegistryAccess final : public registry::Authenticator {
 public:
  explicit RegistryAccess(const Authorizer& authorizer) : authorizer_(authorizer) {}
  Result<std::unique_ptr<registry::Access>> authenticate(std::string_view bearer,
                                                         std::string_view cert_subject) override;

 private:
  const Authorizer& authorizer_;
};

}  // namespace causeway::auth
