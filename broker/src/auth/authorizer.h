// File: auth/authorizer.h
//
// Who a connection is and what it may do (docs/security.md, "Tokens and ACLs"). A connection
// authenticates in its Hello with a bearer token, or by the subject of its verified TLS client
// certificate, or not at all ("anonymous"). ACLs allow a principal to publish, subscribe or
// administer topics by name or prefix. While the broker has no ACL, everything is allowed (the
// migration path); once one exists, anything no ACL allows is refused, except for superusers
// (--superuser), who may do everything, including managing tokens and ACLs.
//
// Tokens are "<id>.<secret>" with a random 256-bit secret; only its SHA-256 is stored (a
// fast hash is enough for a secret of that entropy), compared in constant time.
//
// Thread-safety: every member may be called from any thread. Checks read an immutable
// snapshot; management calls write to the meta store and then publish a new snapshot.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "causeway/common/status.h"
#include "meta/meta_store.h"

namespace causeway::auth {

using meta::AclOperation;
using meta::AclRecord;
using meta::TokenRecord;

inline constexpr std::string_view kAnonymous = "anonymous";

struct Principal {
  std::string name{kAnonymous};  // a token's principal, a certificate subject, or "anonymous"
  std::string token_id;          // set when a token authenticated it
};

struct CreatedToken {
  TokenRecord record;
  std::string token;  // "<id>.<secret>": shown once
};

class Authorizer {
 public:
  // `superusers`: principal names (token principals or certificate subjects).
  Authorizer(meta::MetaStore& store, std::vector<std::string> superusers);
  // Reads the tokens and ACLs. Call once before serving.
  Status load();

  // The principal of a Hello: by its token when `mechanism` is "token", else by
  // `cert_subject` (empty: anonymous). kFailedPrecondition with Reason::kUnauthenticated for a
  // token that is malformed, unknown or revoked, or an unknown mechanism.
  Result<Principal> authenticate(std::string_view mechanism, std::string_view token,
                                 std::string_view cert_subject) const;
  // False once the principal's token has been revoked.
  bool still_valid(const Principal& p) const;

  // At least one ACL exists (of either kind): token and ACL management is for superusers.
  // Topic operations are denied by default once a topic ACL exists, registry operations
  // once a registry ACL exists.
  bool enforcing() const;
  bool is_superuser(const Principal& p) const;
  // For the registry operations `topic` is a subject ("" : every subject, which only an ACL
  // on the empty prefix allows); registry-write implies registry-read.
  bool allowed(const Principal& p, AclOperation op, std::string_view topic) const;
  // Any topic operation on the topic: may it learn that the topic exists?
  bool may_see(const Principal& p, std::string_view topic) const;
  // OK, or kFailedPrecondition with Reason::kPermissionDenied naming the principal, the
  // operation and the topic, the same whether or not the topic exists.
  Status check(const Principal& p, AclOperation op, std::string_view topic) const;
  // `what` completes "to ...", e.g. "describe it".
  Status check_see(const Principal& p, std::string_view topic, std::string_view what) const;
  // Managing tokens and ACLs: superusers; anyone while no ACL exists.
  Status check_manage(const Principal& p, std::string_view what) const;

  Result<CreatedToken> create_token(std::string principal, std::string description);
  Result<std::vector<TokenRecord>> list_tokens() const;
  Status revoke_token(std::string_view id);
  // The first ACL turns on default deny: refused while no superuser is configured, since
  // nobody could manage ACLs afterwards.
  Result<bool> add_acl(AclRecord acl);
  Result<bool> remove_acl(const AclRecord& acl);
  // Sorted by principal, then topic; `principal` empty: all.
  std::vector<AclRecord> list_acls(std::string_view principal) const;

  const std::vector<std::string>& superusers() const { return superusers_; }

 private:
  struct Snapshot {
    std::unordered_map<std::string, TokenRecord> tokens;        // by id
    std::unordered_map<std::string, std::vector<AclRecord>> acls;  // by principal
    size_t acl_count = 0;
    // Topic and registry ACLs are enforced apart: the first of each kind turns on default
    // deny for its kind only, so adding registry ACLs does not close the wire port.
    size_t topic_acl_count = 0;
    size_t registry_acl_count = 0;
  };
  std::shared_ptr<const Snapshot> snapshot() const;
  Status reload();

  meta::MetaStore& store_;
  const std::vector<std::string> superusers_;
  mutable std::mutex mu_;  // guards snap_
  std::shared_ptr<const Snapshot> snap_;
  std::mutex write_mu_;  // one management write (and its reload) at a time
};

}  // namespace causeway::auth
