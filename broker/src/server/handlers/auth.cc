// Authorization of every request, and the token and ACL requests themselves
// (docs/security.md, "Tokens and ACLs"; wire: docs/wire-protocol.md, "Tokens and ACLs").
// A request is checked before its handler runs and before anything about its topic is
// looked up, so a refusal reads the same whether or not the topic exists.
#include <string>
#include <vector>

#include "auth/authorizer.h"
#include "server/handlers.h"

namespace causeway::server {
namespace {

using auth::AclOperation;
using protocol::Body;

std::string_view str(const flatbuffers::String* s) { return s ? s->string_view() : std::string_view(); }

// The topic of a subscription, for requests that name only the subscription. nullopt when it
// does not exist (then the handler answers NotFound; only names are revealed, which the
// caller already knows). Acks, credits and heartbeats name subscriptions whose group is
// loaded: their topic comes from memory, not from an LMDB read per request.
std::optional<std::string> topic_of_subscription(HandlerContext& ctx, std::string_view name) {
  if (ctx.coordinator == nullptr) return std::nullopt;
  if (auto loaded = ctx.coordinator->loaded_topic_of(name)) return loaded;
  auto sub = ctx.coordinator->get_subscription(name);
  if (!sub) return std::nullopt;
  return sub->topic;
}

// Checks `op` on the subscription's topic; a subscription that does not exist passes here.
Status check_subscription(HandlerContext& ctx, const auth::Principal& p, AclOperation op, std::string_view name) {
  const auto topic = topic_of_subscription(ctx, name);
  if (!topic) return Status();
  return ctx.authorizer->check(p, op, *topic);
}

Status see_subscription(HandlerContext& ctx, const auth::Principal& p, std::string_view name, std::string_view what) {
  const auto topic = topic_of_subscription(ctx, name);
  if (!topic) return Status();
  return ctx.authorizer->check_see(p, *topic, what);
}

Status check_replay(HandlerContext& ctx, const auth::Principal& p, std::string_view name, bool change) {
  if (ctx.coordinator == nullptr) return Status();
  auto replay = ctx.coordinator->describe_replay(name);
  if (!replay) return Status();
  return change ? ctx.authorizer->check(p, AclOperation::kAdmin, replay->topic)
                : ctx.authorizer->check_see(p, replay->topic, "describe its replays");
}

AclOperation operation_of(protocol::AclOperation op) {
  switch (op) {
    case protocol::AclOperation::Subscribe: return AclOperation::kSubscribe;
    case protocol::AclOperation::Admin: return AclOperation::kAdmin;
    case protocol::AclOperation::RegistryRead: return AclOperation::kRegistryRead;
    case protocol::AclOperation::RegistryWrite: return AclOperation::kRegistryWrite;
    default: return AclOperation::kPublish;
  }
}

protocol::AclOperation wire_operation(AclOperation op) {
  switch (op) {
    case AclOperation::kSubscribe: return protocol::AclOperation::Subscribe;
    case AclOperation::kAdmin: return protocol::AclOperation::Admin;
    case AclOperation::kRegistryRead: return protocol::AclOperation::RegistryRead;
    case AclOperation::kRegistryWrite: return protocol::AclOperation::RegistryWrite;
    default: return protocol::AclOperation::Publish;
  }
}

Result<auth::AclRecord> acl_from(const protocol::AclEntry* e) {
  if (e == nullptr) return invalid_argument("the request has no ACL entry");
  auth::AclRecord a;
  a.principal = std::string(str(e->principal()));
  const auto op = static_cast<uint8_t>(e->operation());
  if (op < 1 || op > 5) {
    return invalid_argument("ACL operation " + std::to_string(op) +
                            " is not publish, subscribe, admin, registry-read or registry-write");
  }
  a.operation = operation_of(e->operation());
  a.topic = std::string(str(e->topic()));
  a.prefix = e->prefix();
  CAUSEWAY_RETURN_IF_ERROR(a.validate());
  return a;
}

flatbuffers::Offset<protocol::TokenInfo> token_info(flatbuffers::FlatBufferBuilder& b, const auth::TokenRecord& t) {
  return protocol::CreateTokenInfo(b, b.CreateString(t.id), b.CreateString(t.principal), b.CreateString(t.description),
                                   t.created_ms);
}

Frame status_only(uint64_t cid, Body type, const Status& status) {
  flatbuffers::FlatBufferBuilder b(256);
  auto st = wire::encode_status(b, status);
  flatbuffers::Offset<void> body;
  switch (type) {
    case Body::RevokeTokenResponse: body = protocol::CreateRevokeTokenResponse(b, st).Union(); break;
    case Body::CreateTokenResponse: body = protocol::CreateCreateTokenResponse(b, st).Union(); break;
    case Body::ListTokensResponse: body = protocol::CreateListTokensResponse(b, st).Union(); break;
    case Body::AddAclResponse: body = protocol::CreateAddAclResponse(b, st).Union(); break;
    case Body::RemoveAclResponse: body = protocol::CreateRemoveAclResponse(b, st).Union(); break;
    default: body = protocol::CreateListAclsResponse(b, st).Union(); break;
  }
  return finish_frame(b, cid, type, body);
}

}  // namespace

Frame error_frame(uint64_t correlation_id, const Status& status) {
  flatbuffers::FlatBufferBuilder b(256);
  auto st = wire::encode_status(b, status);
  return finish_frame(b, correlation_id, Body::ErrorResponse, protocol::CreateErrorResponse(b, st).Union());
}

bool visible(HandlerContext& ctx, const RequestOrigin& origin, std::string_view topic) {
  return ctx.authorizer == nullptr || !origin.principal || ctx.authorizer->may_see(*origin.principal, topic);
}

Status authorize_request(HandlerContext& ctx, const protocol::Message& m, const RequestOrigin& origin) {
  if (ctx.authorizer == nullptr || !origin.principal || m.body() == nullptr) return Status();
  auth::Authorizer& az = *ctx.authorizer;
  const auth::Principal& p = *origin.principal;
  if (!az.still_valid(p)) {
    return Status(Code::kFailedPrecondition, Reason::kUnauthenticated,
                  "token " + p.token_id + " of principal \"" + p.name + "\" was revoked; connect with another token");
  }
  if (!az.enforcing() || az.is_superuser(p)) return Status();
  switch (m.body_type()) {
    case Body::CreateTopicRequest: return az.check(p, AclOperation::kAdmin, str(m.body_as_CreateTopicRequest()->name()));
    case Body::DeleteTopicRequest: return az.check(p, AclOperation::kAdmin, str(m.body_as_DeleteTopicRequest()->name()));
    case Body::DescribeTopicRequest:
      return az.check_see(p, str(m.body_as_DescribeTopicRequest()->name()), "describe it");
    case Body::PublishRequest: return az.check(p, AclOperation::kPublish, str(m.body_as_PublishRequest()->topic()));
    case Body::FetchRequest: return az.check(p, AclOperation::kSubscribe, str(m.body_as_FetchRequest()->topic()));
    case Body::SubscribeRequest: {
      const auto* r = m.body_as_SubscribeRequest();
      if (!str(r->topic()).empty()) return az.check(p, AclOperation::kSubscribe, str(r->topic()));
      return check_subscription(ctx, p, AclOperation::kSubscribe, str(r->subscription()));
    }
    case Body::AckRequest:
      return check_subscription(ctx, p, AclOperation::kSubscribe, str(m.body_as_AckRequest()->subscription()));
    case Body::NackRequest:
      return check_subscription(ctx, p, AclOperation::kSubscribe, str(m.body_as_NackRequest()->subscription()));
    case Body::CreditRequest:
      return check_subscription(ctx, p, AclOperation::kSubscribe, str(m.body_as_CreditRequest()->subscription()));
    case Body::HeartbeatRequest:
      return check_subscription(ctx, p, AclOperation::kSubscribe, str(m.body_as_HeartbeatRequest()->subscription()));
    case Body::ExtendDeadlineRequest:
      return check_subscription(ctx, p, AclOperation::kSubscribe,
                                str(m.body_as_ExtendDeadlineRequest()->subscription()));
    case Body::LeaveGroupRequest: return Status();  // leaving is always allowed
    case Body::CreateSubscriptionRequest: {
      const auto* r = m.body_as_CreateSubscriptionRequest();
      CAUSEWAY_RETURN_IF_ERROR(az.check(p, AclOperation::kAdmin, str(r->topic())));
      // A topic target publishes with the broker's hands: the creator must be allowed to.
      if (r->settings() != nullptr && !str(r->settings()->target_topic()).empty())
        return az.check(p, AclOperation::kPublish, str(r->settings()->target_topic()));
      return Status();
    }
    case Body::UpdateSubscriptionRequest:
      return check_subscription(ctx, p, AclOperation::kAdmin, str(m.body_as_UpdateSubscriptionRequest()->name()));
    case Body::DeleteSubscriptionRequest:
      return check_subscription(ctx, p, AclOperation::kAdmin, str(m.body_as_DeleteSubscriptionRequest()->name()));
    case Body::DescribeSubscriptionRequest:
      return see_subscription(ctx, p, str(m.body_as_DescribeSubscriptionRequest()->name()), "describe its subscriptions");
    case Body::DescribeGroupRequest:
      return see_subscription(ctx, p, str(m.body_as_DescribeGroupRequest()->name()), "describe its groups");
    case Body::ListSubscriptionsRequest: {
      const std::string_view topic = str(m.body_as_ListSubscriptionsRequest()->topic());
      return topic.empty() ? Status() : az.check_see(p, topic, "list its subscriptions");
    }
    case Body::StartReplayRequest:
      return check_subscription(ctx, p, AclOperation::kAdmin, str(m.body_as_StartReplayRequest()->subscription()));
    case Body::CancelReplayRequest: return check_replay(ctx, p, str(m.body_as_CancelReplayRequest()->name()), true);
    case Body::DescribeReplayRequest: return check_replay(ctx, p, str(m.body_as_DescribeReplayRequest()->name()), false);
    case Body::CreateTokenRequest: return az.check_manage(p, "create tokens");
    case Body::ListTokensRequest: return az.check_manage(p, "list tokens");
    case Body::RevokeTokenRequest: return az.check_manage(p, "revoke tokens");
    case Body::AddAclRequest: return az.check_manage(p, "add ACLs");
    case Body::RemoveAclRequest: return az.check_manage(p, "remove ACLs");
    case Body::ListAclsRequest: return az.check_manage(p, "list ACLs");
    default: return Status();  // ListTopics, ListReplays (filtered), WhoAmI, and what the handlers refuse
  }
}

std::optional<Frame> handle_auth_family(HandlerContext& ctx, const protocol::Message& m, const RequestOrigin& origin) {
  const uint64_t cid = m.correlation_id();
  const Body type = m.body_type();
  const bool ours = type == Body::CreateTokenRequest || type == Body::ListTokensRequest ||
                    type == Body::RevokeTokenRequest || type == Body::AddAclRequest || type == Body::RemoveAclRequest ||
                    type == Body::ListAclsRequest || type == Body::WhoAmIRequest;
  if (!ours) return std::nullopt;
  auth::Authorizer* az = ctx.authorizer;
  const auth::Principal anonymous;
  const auth::Principal& p = origin.principal ? *origin.principal : anonymous;
  if (type == Body::WhoAmIRequest) {
    flatbuffers::FlatBufferBuilder b(256);
    auto st = wire::encode_status(b, Status());
    auto body = protocol::CreateWhoAmIResponse(b, st, b.CreateString(p.name), az != nullptr && az->is_superuser(p),
                                               az != nullptr && az->enforcing());
    return finish_frame(b, cid, Body::WhoAmIResponse, body.Union());
  }
  // Each of these requests is followed by its response in the Body union (protocol.fbs).
  const Body response = static_cast<Body>(static_cast<uint8_t>(type) + 1);
  if (az == nullptr) return status_only(cid, response, unavailable("this broker does not manage tokens and ACLs"));
  switch (type) {
    case Body::CreateTokenRequest: {
      const auto* r = m.body_as_CreateTokenRequest();
      auto created = az->create_token(std::string(str(r->principal())), std::string(str(r->description())));
      if (!created) return status_only(cid, response, created.error());
      flatbuffers::FlatBufferBuilder b(512);
      auto st = wire::encode_status(b, Status());
      auto body = protocol::CreateCreateTokenResponse(b, st, token_info(b, created->record), b.CreateString(created->token));
      return finish_frame(b, cid, response, body.Union());
    }
    case Body::ListTokensRequest: {
      auto tokens = az->list_tokens();
      if (!tokens) return status_only(cid, response, tokens.error());
      flatbuffers::FlatBufferBuilder b(1024);
      std::vector<flatbuffers::Offset<protocol::TokenInfo>> out;
      for (const auto& t : *tokens) out.push_back(token_info(b, t));
      auto vec = b.CreateVector(out);
      auto st = wire::encode_status(b, Status());
      return finish_frame(b, cid, response, protocol::CreateListTokensResponse(b, st, vec).Union());
    }
    case Body::RevokeTokenRequest:
      return status_only(cid, response, az->revoke_token(str(m.body_as_RevokeTokenRequest()->id())));
    case Body::AddAclRequest:
    case Body::RemoveAclRequest: {
      const bool add = type == Body::AddAclRequest;
      auto acl = acl_from(add ? m.body_as_AddAclRequest()->acl() : m.body_as_RemoveAclRequest()->acl());
      if (!acl) return status_only(cid, response, acl.error());
      auto changed = add ? az->add_acl(*acl) : az->remove_acl(*acl);
      if (!changed) return status_only(cid, response, changed.error());
      flatbuffers::FlatBufferBuilder b(256);
      auto st = wire::encode_status(b, Status());
      auto body = add ? protocol::CreateAddAclResponse(b, st, *changed).Union()
                      : protocol::CreateRemoveAclResponse(b, st, *changed).Union();
      return finish_frame(b, cid, response, body);
    }
    default: {  // ListAclsRequest
      const auto acls = az->list_acls(str(m.body_as_ListAclsRequest()->principal()));
      flatbuffers::FlatBufferBuilder b(1024);
      std::vector<flatbuffers::Offset<protocol::AclEntry>> out;
      for (const auto& a : acls) {
        out.push_back(protocol::CreateAclEntry(b, b.CreateString(a.principal), wire_operation(a.operation),
                                               b.CreateString(a.topic), a.prefix));
      }
      auto vec = b.CreateVector(out);
      auto st = wire::encode_status(b, Status());
      return finish_frame(b, cid, response, protocol::CreateListAclsResponse(b, st, vec).Union());
    }
  }
}

}  // namespace causeway::server
