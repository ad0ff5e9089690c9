// See auth/authorizer.h; the operator's view is docs/security.md, "Tokens and ACLs".
#include "auth/authorizer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>

namespace causeway::auth {
namespace {

std::string hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), 32);
}

Status unauthenticated(std::string message) {
  return Status(Code::kFailedPrecondition, Reason::kUnauthenticated, std::move(message));
}

Status denied(const Principal& p, std::string_view what, std::string_view why = "no ACL allows it") {
  return Status(Code::kFailedPrecondition, Reason::kPermissionDenied,
                "principal \"" + p.name + "\" may not " + std::string(what) + " (" + std::string(why) + ")");
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Authorizer::Authorizer(meta::MetaStore& store, std::vector<std::string> superusers)
    : store_(store), superusers_(std::move(superusers)), snap_(std::make_shared<Snapshot>()) {}

Status Authorizer::load() {
  std::lock_guard w(write_mu_);
  return reload();
}

Status Authorizer::reload() {
  auto next = std::make_shared<Snapshot>();
  auto tokens = store_.list_tokens();
  if (!tokens) return tokens.error().with_context("cannot read the tokens");
  for (TokenRecord& t : *tokens) next->tokens.emplace(t.id, std::move(t));
  auto acls = store_.list_acls();
  if (!acls) return acls.error().with_context("cannot read the ACLs");
  next->acl_count = acls->size();
  for (AclRecord& a : *acls) {
    ++(a.is_registry() ? next->registry_acl_count : next->topic_acl_count);
    next->acls[a.principal].push_back(std::move(a));
  }
  std::lock_guard lk(mu_);
  snap_ = std::move(next);
  return Status();
}

std::shared_ptr<const Authorizer::Snapshot> Authorizer::snapshot() const {
  std::lock_guard lk(mu_);
  return snap_;
}

Result<Principal> Authorizer::authenticate(std::string_view mechanism, std::string_view token,
                                           std::string_view cert_subject) const {
  Principal p;
  if (mechanism.empty() || mechanism == "none") {
    if (!cert_subject.empty()) p.name = std::string(cert_subject);
    return p;
  }
  if (mechanism != "token") {
    return unauthenticated("authentication mechanism \"" + std::string(mechanism) +
                           "\" is not supported (use \"token\", or none)");
  }
  // "<id>.<secret>": the id finds the record, the secret's digest must match it.
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || dot != 20 || token.size() != 20 + 1 + 64) {
    return unauthenticated("the token is malformed (a Causeway token is cwt_<16 hex>.<64 hex>, as `causeway auth "
                           "token create` prints it)");
  }
  const std::string id(token.substr(0, dot));
  const auto snap = snapshot();
  const auto it = snap->tokens.find(id);
  const std::string digest = sha256(token.substr(dot + 1));
  if (it == snap->tokens.end() || it->second.secret_sha256.size() != digest.size() ||
      CRYPTO_memcmp(it->second.secret_sha256.data(), digest.data(), digest.size()) != 0) {
    return unauthenticated("token " + id + " is unknown or revoked");
  }
  p.name = it->second.principal;
  p.token_id = id;
  return p;
}

bool Authorizer::still_valid(const Principal& p) const {
  if (p.token_id.empty()) return true;
  return snapshot()->tokens.count(p.token_id) > 0;
}

bool Authorizer::enforcing() const { return snapshot()->acl_count > 0; }

bool Authorizer::is_superuser(const Principal& p) const {
  return std::find(superusers_.begin(), superusers_.end(), p.name) != superusers_.end();
}

bool Authorizer::allowed(const Principal& p, AclOperation op, std::string_view topic) const {
  const auto snap = snapshot();
  const size_t enforced = meta::is_registry_operation(op) ? snap->registry_acl_count : snap->topic_acl_count;
  if (enforced == 0 || is_superuser(p)) return true;
  const auto it = snap->acls.find(p.name);
  if (it == snap->acls.end()) return false;
  // registry-write lets a principal read what it may write (compatibility checks, lookups).
  const bool read = op == AclOperation::kRegistryRead;
  return std::any_of(it->second.begin(), it->second.end(), [&](const AclRecord& a) {
    return (a.operation == op || (read && a.operation == AclOperation::kRegistryWrite)) && a.matches(topic);
  });
}

bool Authorizer::may_see(const Principal& p, std::string_view topic) const {
  const auto snap = snapshot();
  if (snap->topic_acl_count == 0 || is_superuser(p)) return true;
  const auto it = snap->acls.find(p.name);
  if (it == snap->acls.end()) return false;
  // A registry ACL on a subject says nothing about a topic of the same name.
  return std::any_of(it->second.begin(), it->second.end(),
                     [&](const AclRecord& a) { return !a.is_registry() && a.matches(topic); });
}

Status Authorizer::check(const Principal& p, AclOperation op, std::string_view topic) const {
  if (allowed(p, op, topic)) return Status();
  switch (op) {
    case AclOperation::kPublish: return denied(p, "publish to topic \"" + std::string(topic) + "\"");
    case AclOperation::kSubscribe: return denied(p, "subscribe to topic \"" + std::string(topic) + "\"");
    case AclOperation::kAdmin: return denied(p, "administer topic \"" + std::string(topic) + "\"");
    case AclOperation::kRegistryRead:
      return topic.empty() ? denied(p, "read every registry subject (needs registry-read on the empty prefix)")
                           : denied(p, "read registry subject \"" + std::string(topic) + "\"");
    case AclOperation::kRegistryWrite:
      return topic.empty() ? denied(p, "change registry-wide settings (needs registry-write on the empty prefix)")
                           : denied(p, "write registry subject \"" + std::string(topic) + "\"");
  }
  return denied(p, "do this");
}

Status Authorizer::check_see(const Principal& p, std::string_view topic, std::string_view what) const {
  if (may_see(p, topic)) return Status();
  return denied(p, "see topic \"" + std::string(topic) + "\" (to " + std::string(what) + ")");
}

Status Authorizer::check_manage(const Principal& p, std::string_view what) const {
  if (is_superuser(p) || !enforcing()) return Status();
  return denied(p, what, "managing tokens and ACLs takes a superuser: causeway-broker --superuser NAME");
}

Result<CreatedToken> Authorizer::create_token(std::string principal, std::string description) {
  unsigned char id_bytes[8];
  unsigned char secret_bytes[32];
  if (RAND_bytes(id_bytes, sizeof id_bytes) != 1 || RAND_bytes(secret_bytes, sizeof secret_bytes) != 1)
    return internal_error("the system's random generator failed");
  CreatedToken created;
  created.record.id = "cwt_" + hex(id_bytes, sizeof id_bytes);
  const std::string secret = hex(secret_bytes, sizeof secret_bytes);
  OPENSSL_cleanse(secret_bytes, sizeof secret_bytes);
  created.record.principal = std::move(principal);
  created.record.secret_sha256 = sha256(secret);
  created.record.description = std::move(description);
  created.record.created_ms = now_ms();
  created.token = created.record.id + "." + secret;
  std::lock_guard w(write_mu_);
  CAUSEWAY_RETURN_IF_ERROR(store_.put_token(created.record));
  CAUSEWAY_RETURN_IF_ERROR(reload());
  return created;
}

Result<std::vector<TokenRecord>> Authorizer::list_tokens() const {
  const auto snap = snapshot();
  std::vector<TokenRecord> out;
  out.reserve(snap->tokens.size());
  for (const auto& [id, t] : snap->tokens) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const TokenRecord& a, const TokenRecord& b) {
    return std::tie(a.principal, a.created_ms, a.id) < std::tie(b.principal, b.created_ms, b.id);
  });
  return out;
}

Status Authorizer::revoke_token(std::string_view id) {
  std::lock_guard w(write_mu_);
  CAUSEWAY_RETURN_IF_ERROR(store_.delete_token(id));
  return reload();
}

Result<bool> Authorizer::add_acl(AclRecord acl) {
  std::lock_guard w(write_mu_);
  if (superusers_.empty() && snapshot()->acl_count == 0) {
    return failed_precondition(
        "the first ACL turns on default deny for every principal, and this broker has no superuser who could manage "
        "ACLs afterwards: start it with --superuser NAME (a token's principal or a certificate subject) first");
  }
  acl.created_ms = now_ms();
  CAUSEWAY_ASSIGN_OR_RETURN(bool added, store_.add_acl(acl));
  CAUSEWAY_RETURN_IF_ERROR(reload());
  return added;
}

Result<bool> Authorizer::remove_acl(const AclRecord& acl) {
  std::lock_guard w(write_mu_);
  CAUSEWAY_ASSIGN_OR_RETURN(bool removed, store_.remove_acl(acl));
  CAUSEWAY_RETURN_IF_ERROR(reload());
  return removed;
}

std::vector<AclRecord> Authorizer::list_acls(std::string_view principal) const {
  const auto snap = snapshot();
  std::vector<AclRecord> out;
  for (const auto& [name, acls] : snap->acls) {
    if (!principal.empty() && name != principal) continue;
    out.insert(out.end(), acls.begin(), acls.end());
  }
  std::sort(out.begin(), out.end(), [](const AclRecord& a, const AclRecord& b) {
    return std::tie(a.principal, a.topic, a.prefix, a.operation) < std::tie(b.principal, b.topic, b.prefix, b.operation);
  });
  return out;
}

}  // namespace causeway::auth
