// File: client/src/admin.cc
//
// Admin (causeway/client/admin.h): synchronous topic and fetch calls over one connection.
// A call posts its request to the IoThread, which (re)connects when needed, sends it and
// fulfils a promise with the response; the caller waits on the future. The exchanges are
// the Topics and Fetch sections of docs/wire-protocol.md.
#include "causeway/client/admin.h"

#include <functional>
#include <future>
#include <mutex>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>

#include "causeway/common/lamport_clock.h"
#include "client/src/connection.h"
#include "client/src/io_thread.h"
#include "client/src/protocol_codec.h"

namespace causeway::client {

using internal::Connection;
using internal::Frame;

class Admin::Impl {
 public:
  using Build = std::function<std::vector<uint8_t>(uint64_t correlation_id)>;
  using Promise = std::shared_ptr<std::promise<Result<Frame>>>;

  explicit Impl(ClientOptions options) : options_(std::move(options)) {}

  ~Impl() {
    std::promise<void> done;
    asio::post(io_.context(), [this, &done] {
      if (conn_) {
        auto conn = std::move(conn_);
        conn->close(failed_precondition("admin client closed"));
      }
      done.set_value();
    });
    done.get_future().wait();
    io_.stop_and_join();
  }

  // Connects now, so that connect() reports an unreachable broker.
  Status start() {
    auto promise = std::make_shared<std::promise<Result<Frame>>>();
    auto future = promise->get_future();
    asio::post(io_.context(), [this, promise] { ensure_connected(nullptr, promise); });
    Result<Frame> r = future.get();  // bounded by connect_timeout
    return r.status();
  }

  // Sends one request and waits for its response (serialized with other calls).
  Result<Frame> call(Build build) {
    std::lock_guard lock(call_mu_);
    auto promise = std::make_shared<std::promise<Result<Frame>>>();
    auto future = promise->get_future();
    asio::post(io_.context(), [this, build = std::move(build), promise]() mutable {
      ensure_connected(std::move(build), promise);
    });
    // The connection enforces both timeouts; this bound only guards against a stuck thread.
    const auto bound = options_.connect_timeout + options_.request_timeout + std::chrono::seconds(5);
    if (future.wait_for(bound) != std::future_status::ready) {
      return deadline_exceeded("no response from " + options_.broker + " within " + std::to_string(bound.count()) + "ms");
    }
    return future.get();
  }

  LamportClock& clock() { return clock_; }

 private:
  // On the IoThread. With a null `build`, only connects and reports the outcome.
  void ensure_connected(Build build, Promise promise) {
    if (conn_ && conn_->is_open()) {
      send(std::move(build), std::move(promise));
      return;
    }
    conn_.reset();
    asio::co_spawn(io_.context(), Connection::open(options_, nullptr),
                   [this, build = std::move(build), promise](std::exception_ptr e, internal::Opened opened) mutable {
                     if (e) opened.status = internal_error("connect failed with an exception");
                     if (!opened.status.ok()) {
                       promise->set_value(opened.status);
                       return;
                     }
                     conn_ = std::move(opened.connection);
                     clock_.observe(conn_->hello().lamport);
                     send(std::move(build), std::move(promise));
                   });
  }

  void send(Build build, Promise promise) {
    if (!build) {
      promise->set_value(Frame());
      return;
    }
    const uint64_t id = conn_->next_correlation_id();
    Status sent = conn_->send(id, build(id), [promise](Result<Frame> r) { promise->set_value(std::move(r)); });
    if (!sent.ok()) promise->set_value(sent);
  }

  ClientOptions options_;
  internal::IoThread io_;
  std::shared_ptr<Connection> conn_;  // IoThread only
  std::mutex call_mu_;                // one call at a time
  LamportClock clock_;
};

namespace {

Result<TopicInfo> topic_result(const Frame& frame, protocol::Body kind, const protocol::TopicDescription* topic,
                               const std::string& what) {
  Status status = internal::response_status(frame, kind);
  if (!status.ok()) return status.with_context(what);
  if (topic == nullptr) return internal_error(what + ": the broker's response holds no topic");
  return internal::topic_from_wire(*topic);
}

}  // namespace

Result<std::unique_ptr<Admin>> Admin::connect(ClientOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  Status started = impl->start();
  if (!started.ok()) return started;
  return std::unique_ptr<Admin>(new Admin(std::move(impl)));
}

Admin::Admin(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Admin::~Admin() = default;

Result<TopicInfo> Admin::create_topic(const TopicSpec& spec) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&spec](uint64_t id) { return internal::encode_create_topic(id, spec); }));
  const auto* body = frame.message().body_as_CreateTopicResponse();
  return topic_result(frame, protocol::Body::CreateTopicResponse, body ? body->topic() : nullptr,
                      "create topic '" + spec.name + "'");
}

Status Admin::delete_topic(const std::string& name) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&name](uint64_t id) { return internal::encode_delete_topic(id, name); }));
  return internal::response_status(frame, protocol::Body::DeleteTopicResponse).with_context("delete topic '" + name + "'");
}

Result<std::vector<TopicInfo>> Admin::list_topics() {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([](uint64_t id) { return internal::encode_list_topics(id); }));
  Status status = internal::response_status(frame, protocol::Body::ListTopicsResponse);
  if (!status.ok()) return status.with_context("list topics");
  std::vector<TopicInfo> topics;
  if (const auto* topics_fb = frame.message().body_as_ListTopicsResponse()->topics()) {
    for (const protocol::TopicDescription* t : *topics_fb) {
      if (t != nullptr) topics.push_back(internal::topic_from_wire(*t));
    }
  }
  return topics;
}

Result<TopicInfo> Admin::describe_topic(const std::string& name) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&name](uint64_t id) { return internal::encode_describe_topic(id, name); }));
  const auto* body = frame.message().body_as_DescribeTopicResponse();
  return topic_result(frame, protocol::Body::DescribeTopicResponse, body ? body->topic() : nullptr,
                      "describe topic '" + name + "'");
}

Result<FetchResult> Admin::fetch(const std::string& topic, uint32_t partition, uint64_t offset, uint32_t max_events,
                                 uint32_t max_bytes) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&](uint64_t id) {
    return internal::encode_fetch(id, topic, partition, offset, max_events, max_bytes);
  }));
  const std::string what = "fetch " + topic + "/" + std::to_string(partition) + " from offset " + std::to_string(offset);
  Result<FetchResult> result = internal::decode_fetch_response(frame, topic, partition, offset, max_events);
  if (!result) return result.error().with_context(what);
  for (const FetchedEvent& e : result->events) impl_->clock().observe(e.lamport);
  return result;
}

namespace {

// The subscription a create, update or describe response carries (`get` picks it out of
// the message), or the response's error with `what` as its context.
template <typename GetSubscription>
Result<SubscriptionInfo> subscription_response(const Frame& frame, protocol::Body kind, const std::string& what,
                                               GetSubscription get) {
  Status status = internal::response_status(frame, kind);
  if (!status.ok()) return status.with_context(what);
  const protocol::SubscriptionDescription* sub = get(frame.message());
  if (sub == nullptr) return internal_error(what + ": the broker's response holds no subscription");
  return internal::subscription_from_wire(*sub);
}

}  // namespace

Result<SubscriptionInfo> Admin::create_subscription(const SubscriptionSpec& spec) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&spec](uint64_t id) { return internal::encode_create_subscription(id, spec); }));
  return subscription_response(frame, protocol::Body::CreateSubscriptionResponse,
                               "create subscription '" + spec.name + "'", [](const protocol::Message& m) {
                                 return m.body_as_CreateSubscriptionResponse()->subscription();
                               });
}

Result<SubscriptionInfo> Admin::update_subscription_pattern(const std::string& name, const std::string& pattern) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&](uint64_t id) {
                              return internal::encode_update_subscription_pattern(id, name, pattern);
                            }));
  return subscription_response(frame, protocol::Body::UpdateSubscriptionResponse,
                               "update subscription '" + name + "'", [](const protocol::Message& m) {
                                 return m.body_as_UpdateSubscriptionResponse()->subscription();
                               });
}

Status Admin::delete_subscription(const std::string& name) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&name](uint64_t id) { return internal::encode_delete_subscription(id, name); }));
  return internal::response_status(frame, protocol::Body::DeleteSubscriptionResponse)
      .with_context("delete subscription '" + name + "'");
}

Result<std::vector<SubscriptionInfo>> Admin::list_subscriptions(const std::string& topic) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&topic](uint64_t id) { return internal::encode_list_subscriptions(id, topic); }));
  Status status = internal::response_status(frame, protocol::Body::ListSubscriptionsResponse);
  if (!status.ok()) return status.with_context("list subscriptions");
  std::vector<SubscriptionInfo> out;
  if (const auto* subs = frame.message().body_as_ListSubscriptionsResponse()->subscriptions()) {
    for (const protocol::SubscriptionDescription* d : *subs)
      if (d != nullptr) out.push_back(internal::subscription_from_wire(*d));
  }
  return out;
}

Result<SubscriptionInfo> Admin::describe_subscription(const std::string& name) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&name](uint64_t id) { return internal::encode_describe_subscription(id, name); }));
  return subscription_response(frame, protocol::Body::DescribeSubscriptionResponse,
                               "describe subscription '" + name + "'", [](const protocol::Message& m) {
                                 return m.body_as_DescribeSubscriptionResponse()->subscription();
                               });
}

Result<GroupInfo> Admin::describe_group(const std::string& name) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&name](uint64_t id) { return internal::encode_describe_group(id, name); }));
  Status status = internal::response_status(frame, protocol::Body::DescribeGroupResponse);
  if (!status.ok()) return status.with_context("describe group '" + name + "'");
  return internal::group_from_wire(*frame.message().body_as_DescribeGroupResponse());
}

namespace {

template <typename GetReplay>
Result<ReplayInfo> replay_response(const Frame& frame, protocol::Body kind, const std::string& what, GetReplay get) {
  Status status = internal::response_status(frame, kind);
  if (!status.ok()) return status.with_context(what);
  const protocol::ReplayDescription* r = get(frame.message());
  if (r == nullptr) return internal_error(what + ": the broker's response holds no replay");
  return internal::replay_from_wire(*r);
}

}  // namespace

Result<ReplayInfo> Admin::start_replay(const ReplaySpec& spec) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&spec](uint64_t id) { return internal::encode_start_replay(id, spec); }));
  return replay_response(frame, protocol::Body::StartReplayResponse, "start replay '" + spec.name + "'",
                         [](const protocol::Message& m) { return m.body_as_StartReplayResponse()->replay(); });
}

Result<ReplayInfo> Admin::describe_replay(const std::string& name) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&name](uint64_t id) { return internal::encode_describe_replay(id, name); }));
  return replay_response(frame, protocol::Body::DescribeReplayResponse, "describe replay '" + name + "'",
                         [](const protocol::Message& m) { return m.body_as_DescribeReplayResponse()->replay(); });
}

Result<ReplayInfo> Admin::cancel_replay(const std::string& name) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&name](uint64_t id) { return internal::encode_cancel_replay(id, name); }));
  return replay_response(frame, protocol::Body::CancelReplayResponse, "cancel replay '" + name + "'",
                         [](const protocol::Message& m) { return m.body_as_CancelReplayResponse()->replay(); });
}

Result<std::vector<ReplayInfo>> Admin::list_replays(const std::string& subscription) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&subscription](uint64_t id) { return internal::encode_list_replays(id, subscription); }));
  Status status = internal::response_status(frame, protocol::Body::ListReplaysResponse);
  if (!status.ok()) return status.with_context("list replays");
  std::vector<ReplayInfo> out;
  if (const auto* all = frame.message().body_as_ListReplaysResponse()->replays()) {
    for (const protocol::ReplayDescription* d : *all)
      if (d != nullptr) out.push_back(internal::replay_from_wire(*d));
  }
  return out;
}

namespace {

std::string text(const flatbuffers::String* s) { return s != nullptr ? s->str() : std::string(); }

TokenInfo token_from_wire(const protocol::TokenInfo& t) {
  return TokenInfo{text(t.id()), text(t.principal()), text(t.description()), t.created_ms()};
}

}  // namespace

const char* acl_operation_name(AclOperation op) noexcept {
  switch (op) {
    case AclOperation::kPublish: return "publish";
    case AclOperation::kSubscribe: return "subscribe";
    case AclOperation::kAdmin: return "admin";
    case AclOperation::kRegistryRead: return "registry-read";
    case AclOperation::kRegistryWrite: return "registry-write";
  }
  return "unknown";
}

Result<CreatedToken> Admin::create_token(const std::string& principal, const std::string& description) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&](uint64_t id) {
    return internal::encode_create_token(id, principal, description);
  }));
  Status status = internal::response_status(frame, protocol::Body::CreateTokenResponse);
  if (!status.ok()) return status.with_context("create a token for \"" + principal + "\"");
  const auto* r = frame.message().body_as_CreateTokenResponse();
  if (r->token() == nullptr || r->secret() == nullptr) return internal_error("the broker's response holds no token");
  return CreatedToken{token_from_wire(*r->token()), r->secret()->str()};
}

Result<std::vector<TokenInfo>> Admin::list_tokens() {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([](uint64_t id) { return internal::encode_list_tokens(id); }));
  Status status = internal::response_status(frame, protocol::Body::ListTokensResponse);
  if (!status.ok()) return status.with_context("list tokens");
  std::vector<TokenInfo> out;
  if (const auto* all = frame.message().body_as_ListTokensResponse()->tokens())
    for (const protocol::TokenInfo* t : *all)
      if (t != nullptr) out.push_back(token_from_wire(*t));
  return out;
}

Status Admin::revoke_token(const std::string& token_id) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame,
                            impl_->call([&](uint64_t id) { return internal::encode_revoke_token(id, token_id); }));
  Status status = internal::response_status(frame, protocol::Body::RevokeTokenResponse);
  return status.ok() ? status : status.with_context("revoke token " + token_id);
}

Result<bool> Admin::add_acl(const AclEntry& acl) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&](uint64_t id) { return internal::encode_acl_change(id, acl, true); }));
  Status status = internal::response_status(frame, protocol::Body::AddAclResponse);
  if (!status.ok()) return status.with_context("add ACL");
  return frame.message().body_as_AddAclResponse()->added();
}

Result<bool> Admin::remove_acl(const AclEntry& acl) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&](uint64_t id) { return internal::encode_acl_change(id, acl, false); }));
  Status status = internal::response_status(frame, protocol::Body::RemoveAclResponse);
  if (!status.ok()) return status.with_context("remove ACL");
  return frame.message().body_as_RemoveAclResponse()->removed();
}

Result<std::vector<AclEntry>> Admin::list_acls(const std::string& principal) {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([&](uint64_t id) { return internal::encode_list_acls(id, principal); }));
  Status status = internal::response_status(frame, protocol::Body::ListAclsResponse);
  if (!status.ok()) return status.with_context("list ACLs");
  std::vector<AclEntry> out;
  if (const auto* all = frame.message().body_as_ListAclsResponse()->acls()) {
    for (const protocol::AclEntry* a : *all) {
      if (a == nullptr) continue;
      const auto op = static_cast<int>(a->operation());
      if (op < 1 || op > 5) continue;  // an operation a newer broker knows and this client does not
      out.push_back(AclEntry{text(a->principal()), static_cast<AclOperation>(op), text(a->topic()), a->prefix()});
    }
  }
  return out;
}

Result<WhoAmI> Admin::whoami() {
  CAUSEWAY_ASSIGN_OR_RETURN(Frame frame, impl_->call([](uint64_t id) { return internal::encode_whoami(id); }));
  Status status = internal::response_status(frame, protocol::Body::WhoAmIResponse);
  if (!status.ok()) return status.with_context("who am I");
  const auto* r = frame.message().body_as_WhoAmIResponse();
  return WhoAmI{text(r->principal()), r->superuser(), r->acls_enforced()};
}

uint64_t Admin::lamport() const { return impl_->clock().now(); }

}  // namespace causeway::client
