// See auth/registry_access.h.
#include "auth/registry_access.h"

namespace causeway::auth {
namespace {

class PrincipalAccess final : public registry::Access {
 public:
  PrincipalAccess(const Authorizer& authorizer, Principal principal)
      : authorizer_(authorizer), principal_(std::move(principal)) {}
  const std::string& principal() const override { return principal_.name; }
  bool allowed(registry::Operation op, std::string_view subject) const override {
    return authorizer_.allowed(principal_,
                               op == registry::Operation::kRead ? AclOperation::kRegistryRead : AclOperation::kRegistryWrite,
                               subject);
  }

 private:
  const Authorizer& authorizer_;
  const Principal principal_;
};

}  // namespace

Result<std::unique_ptr<registry::Access>> RegistryAccess::authenticate(std::string_view bearer,
                                                                       std::string_view cert_subject) {
  CAUSEWAY_ASSIGN_OR_RETURN(Principal p,
                            authorizer_.authenticate(bearer.empty() ? "none" : "token", bearer, cert_subject));
  return std::unique_ptr<registry::Access>(std::make_unique<PrincipalAccess>(authorizer_, std::move(p)));
}

}  // namespace causeway::auth
