// The subscribe family (docs/wire-protocol.md, "Subscribe"; model in docs/subscriptions.md):
// subscription admin, group membership, acks, nacks, credit and group description. Every
// field is bounded here before it reaches the coordinator.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "server/handlers.h"

namespace causeway::server {
namespace {

using protocol::Body;
using protocol::ErrorCode;

// An ack or nack names at most this many offsets.
constexpr size_t kMaxOffsetsPerRequest = 65536;
constexpr size_t kMaxReasonBytes = 4096;
constexpr size_t kMaxClientNameBytes = 256;
// The most events a member can hold (CoordinatorOptions::max_credit_events' default).
constexpr size_t kMaxProcessingOffsets = 100000;

std::string_view str(const flatbuffers::String* s) { return s ? s->string_view() : std::string_view(); }

// The coordinator's reasons (UnknownGroupMember, NotAssigned) travel with its statuses.
flatbuffers::Offset<protocol::Status> make_status(flatbuffers::FlatBufferBuilder& b, const Status& s) {
  return wire::encode_status(b, s);
}

meta::SubscriptionConfig config_from_wire(std::string_view name, std::string_view topic,
                                          const protocol::SubscriptionSettings* s) {
  meta::SubscriptionConfig c;
  c.name = std::string(name);
  c.topic = std::string(topic);
  if (s == nullptr) return c;
  c.start = static_cast<meta::StartKind>(s->start());
  c.start_value = s->start_value();
  c.ack_deadline = std::chrono::milliseconds(s->ack_deadline_ms());
  c.max_attempts = s->max_attempts();
  c.backoff = std::chrono::milliseconds(s->backoff_ms());
  c.max_backoff = std::chrono::milliseconds(s->max_backoff_ms());
  c.max_age = std::chrono::milliseconds(static_cast<int64_t>(std::min<uint64_t>(s->max_age_ms(), INT64_MAX / 2)));
  c.dead_letter_topic = std::string(str(s->dead_letter_topic()));
  c.pattern = std::string(str(s->pattern()));
  c.target_topic = std::string(str(s->target_topic()));
  if (const protocol::HttpTargetSettings* h = s->target_http(); h != nullptr) {
    c.http.url = std::string(str(h->url()));
    c.http.rate_per_second = h->rate_per_second();
    c.http.concurrency = h->concurrency();
    c.http.timeout = std::chrono::milliseconds(h->timeout_ms());
    if (h->headers() != nullptr) {
      for (const protocol::HttpHeaderEntry* e : *h->headers())
        if (e != nullptr) c.http.headers.emplace_back(str(e->name()), str(e->value()));
    }
  }
  c.input_path = std::string(str(s->input_path()));
  c.input_template = std::string(str(s->input_template()));
  if (s->input_paths() != nullptr) {
    for (const protocol::InputPathEntry* e : *s->input_paths())
      if (e != nullptr) c.input_paths.insert_or_assign(std::string(str(e->name())), std::string(str(e->path())));
  }
  return c;
}

flatbuffers::Offset<protocol::SubscriptionDescription> describe(
    flatbuffers::FlatBufferBuilder& b, const meta::SubscriptionConfig& c,
    const std::optional<subscribe::TargetDescription>& target = std::nullopt) {
  auto dlq = b.CreateString(c.dead_letter_topic);
  auto pattern = c.pattern.empty() ? flatbuffers::Offset<flatbuffers::String>() : b.CreateString(c.pattern);
  auto target_topic =
      c.target_topic.empty() ? flatbuffers::Offset<flatbuffers::String>() : b.CreateString(c.target_topic);
  // The HTTP target's header values are never sent back: they often hold credentials.
  flatbuffers::Offset<protocol::HttpTargetSettings> http;
  if (!c.http.url.empty()) {
    std::vector<flatbuffers::Offset<protocol::HttpHeaderEntry>> headers;
    for (const auto& [name, value] : c.http.headers)
      headers.push_back(protocol::CreateHttpHeaderEntry(b, b.CreateString(name)));
    http = protocol::CreateHttpTargetSettings(b, b.CreateString(c.http.url), c.http.rate_per_second,
                                              c.http.concurrency, static_cast<uint32_t>(c.http.timeout.count()),
                                              headers.empty() ? 0 : b.CreateVector(headers).o);
  }
  auto opt = [&](const std::string& text) {
    return text.empty() ? flatbuffers::Offset<flatbuffers::String>() : b.CreateString(text);
  };
  auto input_path = opt(c.input_path);
  auto input_template = opt(c.input_template);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<protocol::InputPathEntry>>> input_paths;
  if (!c.input_paths.empty()) {
    std::vector<flatbuffers::Offset<protocol::InputPathEntry>> entries;
    for (const auto& [name, path] : c.input_paths)
      entries.push_back(protocol::CreateInputPathEntry(b, b.CreateString(name), b.CreateString(path)));
    input_paths = b.CreateVector(entries);
  }
  auto settings = protocol::CreateSubscriptionSettings(
      b, static_cast<protocol::StartKind>(c.start), c.start_value, static_cast<uint32_t>(c.ack_deadline.count()),
      c.max_attempts, static_cast<uint32_t>(c.backoff.count()), static_cast<uint32_t>(c.max_backoff.count()),
      static_cast<uint64_t>(c.max_age.count()), dlq, pattern, target_topic, http, input_path, input_template,
      input_paths);
  flatbuffers::Offset<protocol::TargetStatus> status;
  if (target) {
    status = protocol::CreateTargetStatus(b, b.CreateString(target->kind), b.CreateString(target->destination),
                                          target->delivered, target->retried, target->dead_lettered,
                                          target->in_flight, b.CreateString(target->last_error),
                                          target->last_error_ms);
  }
  return protocol::CreateSubscriptionDescription(b, b.CreateString(c.name), b.CreateString(c.topic), settings,
                                                 c.created_ms, status);
}

Status check_start_kind(const protocol::SubscriptionSettings* s) {
  if (s == nullptr) return Status();
  if (static_cast<uint8_t>(s->start()) > static_cast<uint8_t>(protocol::StartKind::Lamport))
    return invalid_argument("unknown start kind " + std::to_string(static_cast<int>(s->start())));
  // A time is milliseconds since the epoch as a signed 64-bit number (the log's times);
  // above 2^63-1 it would turn negative, i.e. mean "earliest".
  if (s->start() == protocol::StartKind::Time && s->start_value() > static_cast<uint64_t>(INT64_MAX))
    return invalid_argument("start time " + std::to_string(s->start_value()) +
                            " is not a time in milliseconds since the epoch (at most 2^63-1)");
  return Status();
}

Result<std::vector<uint64_t>> offsets_of(const flatbuffers::Vector<uint64_t>* v) {
  if (v == nullptr || v->size() == 0) return invalid_argument("the request names no offsets");
  if (v->size() > kMaxOffsetsPerRequest)
    return invalid_argument("the request names " + std::to_string(v->size()) + " offsets; at most " +
                            std::to_string(kMaxOffsetsPerRequest) + " per request");
  return std::vector<uint64_t>(v->begin(), v->end());
}

// The events a leaving member was processing, per partition, bounded like the credit a
// connection may hold (every one of them is in flight to it).
Status processing_of(const flatbuffers::Vector<flatbuffers::Offset<protocol::PartitionOffsets>>* v,
                     std::map<uint32_t, std::set<uint64_t>>& out) {
  if (v == nullptr) return Status();
  size_t total = 0;
  for (const protocol::PartitionOffsets* p : *v) {
    if (p == nullptr || p->offsets() == nullptr) continue;
    total += p->offsets()->size();
    if (total > kMaxProcessingOffsets) {
      return invalid_argument("the leave request lists more than " + std::to_string(kMaxProcessingOffsets) +
                              " offsets being processed; no member holds that many");
    }
    out[p->partition()].insert(p->offsets()->begin(), p->offsets()->end());
  }
  return Status();
}

template <typename Create>
Frame simple(uint64_t cid, Body type, const Status& s, Create create) {
  flatbuffers::FlatBufferBuilder b(256);
  auto st = make_status(b, s);
  return finish_frame(b, cid, type, create(b, st).Union());
}

}  // namespace

void handle_subscribe(HandlerContext& ctx, uint64_t cid, const protocol::SubscribeRequest& req,
                      const RequestOrigin& origin, const Responder& respond) {
  const auto answer = [cid](const Status& s, const subscribe::JoinResult* joined) {
    flatbuffers::FlatBufferBuilder b(256);
    auto st = make_status(b, s);
    auto body = joined != nullptr ? protocol::CreateSubscribeResponse(b, st, b.CreateString(joined->member_id),
                                                                      joined->session_timeout_ms)
                                  : protocol::CreateSubscribeResponse(b, st);
    return finish_frame(b, cid, Body::SubscribeResponse, body.Union());
  };
  Status s = check_start_kind(req.settings());
  if (s.ok() && !origin.sink) s = failed_precondition("this connection cannot receive deliveries");
  if (!s.ok()) {
    respond(answer(s, nullptr));
    return;
  }
  // Answered from inside the join, before any Delivery to the new member is queued.
  const auto joined = ctx.coordinator->join(
      origin.sink, str(req.subscription()), str(req.topic()), req.credit_events(), req.credit_bytes(),
      req.create_if_missing(), config_from_wire(str(req.subscription()), str(req.topic()), req.settings()),
      std::string(str(req.client_name()).substr(0, kMaxClientNameBytes)),
      [&](const subscribe::JoinResult& r) { respond(answer(Status(), &r)); });
  if (!joined) respond(answer(joined.status(), nullptr));
}

Frame handle_heartbeat(HandlerContext& ctx, uint64_t cid,
                       const protocol::HeartbeatRequest& req, const RequestOrigin& origin) {
  subscribe::Coordinator& co = *ctx.coordinator;
  const uint64_t conn = origin.connection_id;
  Status s = co.heartbeat(conn, str(req.subscription()), str(req.member_id()));
  return simple(cid, Body::HeartbeatResponse, s,
                [](auto& b, auto st) { return protocol::CreateHeartbeatResponse(b, st); });
}

Frame handle_leave_group(HandlerContext& ctx, uint64_t cid,
                         const protocol::LeaveGroupRequest& req, const RequestOrigin& origin) {
  subscribe::Coordinator& co = *ctx.coordinator;
  const uint64_t conn = origin.connection_id;
  std::map<uint32_t, std::set<uint64_t>> processing;
  Status s = processing_of(req.processing(), processing);
  if (s.ok()) {
    s = co.leave(conn, str(req.subscription()), str(req.member_id()), req.release_unprocessed(), processing);
  }
  return simple(cid, Body::LeaveGroupResponse, s,
                [](auto& b, auto st) { return protocol::CreateLeaveGroupResponse(b, st); });
}

Frame handle_credit(HandlerContext& ctx, uint64_t cid,
                    const protocol::CreditRequest& req, const RequestOrigin& origin) {
  subscribe::Coordinator& co = *ctx.coordinator;
  const uint64_t conn = origin.connection_id;
  Status s = co.set_credit(conn, str(req.subscription()), str(req.member_id()), req.credit_events(),
                           req.credit_bytes());
  return simple(cid, Body::CreditResponse, s,
                [](auto& b, auto st) { return protocol::CreateCreditResponse(b, st); });
}

Frame handle_ack(HandlerContext& ctx, uint64_t cid, const protocol::AckRequest& req, const RequestOrigin& origin) {
  subscribe::Coordinator& co = *ctx.coordinator;
  const uint64_t conn = origin.connection_id;
  uint32_t accepted = 0;
  bool durable = false;
  // A durable ack may name no offsets: it then only waits for the earlier acks.
  const bool barrier_only = req.durable() && (req.offsets() == nullptr || req.offsets()->size() == 0);
  auto offsets = barrier_only ? Result<std::vector<uint64_t>>(std::vector<uint64_t>{}) : offsets_of(req.offsets());
  Status s = offsets.status();
  if (s.ok() && !barrier_only) {
    s = co.ack(conn, str(req.subscription()), str(req.member_id()), req.partition(), *offsets, accepted);
  }
  // Handlers run on storage threads, so waiting for the LMDB commit here blocks no
  // network thread. Acks that were refused change nothing; the accepted ones (and every
  // earlier one) are still made durable, and the status reports the refusal.
  if (req.durable() && offsets.ok()) {
    const Status committed = co.commit_durably(conn, str(req.subscription()), str(req.member_id()));
    durable = committed.ok();
    if (s.ok()) s = committed;
  }
  return simple(cid, Body::AckResponse, s, [accepted, durable](auto& b, auto st) {
    return protocol::CreateAckResponse(b, st, accepted, durable);
  });
}

Frame handle_nack(HandlerContext& ctx, uint64_t cid, const protocol::NackRequest& req, const RequestOrigin& origin) {
  subscribe::Coordinator& co = *ctx.coordinator;
  const uint64_t conn = origin.connection_id;
  uint32_t accepted = 0;
  auto offsets = offsets_of(req.offsets());
  Status s = offsets.status();
  if (s.ok() && req.delay_ms() > 24u * 3600 * 1000) s = invalid_argument("nack delay above 24h");
  if (s.ok()) {
    s = co.nack(conn, str(req.subscription()), str(req.member_id()), req.partition(), *offsets,
                std::chrono::milliseconds(req.delay_ms()),
                std::string(str(req.reason()).substr(0, kMaxReasonBytes)), accepted);
  }
  return simple(cid, Body::NackResponse, s,
                [accepted](auto& b, auto st) { return protocol::CreateNackResponse(b, st, accepted); });
}

Frame handle_extend_deadline(HandlerContext& ctx, uint64_t cid,
                             const protocol::ExtendDeadlineRequest& req, const RequestOrigin& origin) {
  subscribe::Coordinator& co = *ctx.coordinator;
  const uint64_t conn = origin.connection_id;
  uint32_t accepted = 0;
  auto offsets = offsets_of(req.offsets());
  Status s = offsets.status();
  if (s.ok() && (req.extend_ms() == 0 || req.extend_ms() > 3'600'000u))
    s = invalid_argument("extend_ms " + std::to_string(req.extend_ms()) + " out of range (1ms to 1h)");
  if (s.ok()) {
    s = co.extend_deadline(conn, str(req.subscription()), str(req.member_id()), req.partition(), *offsets,
                           std::chrono::milliseconds(req.extend_ms()), accepted);
  }
  return simple(cid, Body::ExtendDeadlineResponse, s,
                [accepted](auto& b, auto st) { return protocol::CreateExtendDeadlineResponse(b, st, accepted); });
}

Frame handle_create_subscription(HandlerContext& ctx, uint64_t cid, const protocol::CreateSubscriptionRequest& req) {
  subscribe::Coordinator& co = *ctx.coordinator;
  flatbuffers::FlatBufferBuilder b(256);
  Status s = check_start_kind(req.settings());
  Result<meta::SubscriptionConfig> created = s;
  if (s.ok()) created = co.create_subscription(config_from_wire(str(req.name()), str(req.topic()), req.settings()));
  auto st = make_status(b, created.status());
  auto body = created ? protocol::CreateCreateSubscriptionResponse(b, st, describe(b, *created))
                      : protocol::CreateCreateSubscriptionResponse(b, st);
  return finish_frame(b, cid, Body::CreateSubscriptionResponse, body.Union());
}

Frame handle_update_subscription(HandlerContext& ctx, uint64_t cid, const protocol::UpdateSubscriptionRequest& req) {
  subscribe::Coordinator& co = *ctx.coordinator;
  flatbuffers::FlatBufferBuilder b(256);
  Result<meta::SubscriptionConfig> updated =
      req.pattern() == nullptr
          ? co.get_subscription(str(req.name()))  // nothing to change: answers as a describe
          : co.update_subscription_pattern(str(req.name()), std::string(str(req.pattern())));
  auto st = make_status(b, updated.status());
  auto body = updated ? protocol::CreateUpdateSubscriptionResponse(b, st, describe(b, *updated))
                      : protocol::CreateUpdateSubscriptionResponse(b, st);
  return finish_frame(b, cid, Body::UpdateSubscriptionResponse, body.Union());
}

Frame handle_delete_subscription(HandlerContext& ctx, uint64_t cid, const protocol::DeleteSubscriptionRequest& req) {
  subscribe::Coordinator& co = *ctx.coordinator;
  Status s = co.delete_subscription(str(req.name()));
  return simple(cid, Body::DeleteSubscriptionResponse, s,
                [](auto& b, auto st) { return protocol::CreateDeleteSubscriptionResponse(b, st); });
}

Frame handle_describe_subscription(HandlerContext& ctx, uint64_t cid,
                                   const protocol::DescribeSubscriptionRequest& req) {
  subscribe::Coordinator& co = *ctx.coordinator;
  flatbuffers::FlatBufferBuilder b(256);
  auto got = co.get_subscription(str(req.name()));
  auto st = make_status(b, got.status());
  auto body = got ? protocol::CreateDescribeSubscriptionResponse(b, st, describe(b, *got, co.describe_target(got->name)))
                  : protocol::CreateDescribeSubscriptionResponse(b, st);
  return finish_frame(b, cid, Body::DescribeSubscriptionResponse, body.Union());
}

Frame handle_list_subscriptions(HandlerContext& ctx, uint64_t cid, const protocol::ListSubscriptionsRequest& req,
                                const RequestOrigin& origin) {
  subscribe::Coordinator& co = *ctx.coordinator;
  flatbuffers::FlatBufferBuilder b(1024);
  auto list = co.list_subscriptions(str(req.topic()));
  auto st = make_status(b, list.status());
  std::vector<flatbuffers::Offset<protocol::SubscriptionDescription>> subs;
  if (list)
    for (const auto& c : *list)
      if (visible(ctx, origin, c.topic)) subs.push_back(describe(b, c));
  auto body = protocol::CreateListSubscriptionsResponse(b, st, b.CreateVector(subs));
  return finish_frame(b, cid, Body::ListSubscriptionsResponse, body.Union());
}

Frame handle_describe_group(HandlerContext& ctx, uint64_t cid, const protocol::DescribeGroupRequest& req) {
  subscribe::Coordinator& co = *ctx.coordinator;
  flatbuffers::FlatBufferBuilder b(1024);
  auto d = co.describe_group(str(req.name()));
  auto st = make_status(b, d.status());
  if (!d) return finish_frame(b, cid, Body::DescribeGroupResponse, protocol::CreateDescribeGroupResponse(b, st).Union());
  std::vector<flatbuffers::Offset<protocol::GroupMemberInfo>> members;
  for (const auto& mm : d->members) {
    members.push_back(protocol::CreateGroupMemberInfo(b, b.CreateString(mm.member_id), b.CreateString(mm.client_name),
                                                      b.CreateVector(mm.partitions), mm.unacked_events,
                                                      mm.unacked_bytes, mm.credit_events, mm.credit_bytes));
  }
  std::vector<flatbuffers::Offset<protocol::GroupPartitionInfo>> parts;
  for (const auto& p : d->partitions) {
    const uint64_t lag = p.end_offset > p.committed_offset ? p.end_offset - p.committed_offset : 0;
    parts.push_back(protocol::CreateGroupPartitionInfo(b, p.partition, b.CreateString(p.member_id), p.committed_offset,
                                                       p.end_offset, lag, p.in_flight, p.acked_above, p.matched,
                                                       p.filtered));
  }
  auto sub = describe(b, d->subscription);
  auto body = protocol::CreateDescribeGroupResponse(b, st, sub, b.CreateVector(members), b.CreateVector(parts));
  return finish_frame(b, cid, Body::DescribeGroupResponse, body.Union());
}

std::optional<Frame> handle_subscribe_family(HandlerContext& ctx, const protocol::Message& m,
                                             const RequestOrigin& origin) {
  const uint64_t cid = m.correlation_id();
  switch (m.body_type()) {
    case Body::HeartbeatRequest: return handle_heartbeat(ctx, cid, *m.body_as_HeartbeatRequest(), origin);
    case Body::LeaveGroupRequest: return handle_leave_group(ctx, cid, *m.body_as_LeaveGroupRequest(), origin);
    case Body::CreditRequest: return handle_credit(ctx, cid, *m.body_as_CreditRequest(), origin);
    case Body::AckRequest: return handle_ack(ctx, cid, *m.body_as_AckRequest(), origin);
    case Body::NackRequest: return handle_nack(ctx, cid, *m.body_as_NackRequest(), origin);
    case Body::ExtendDeadlineRequest:
      return handle_extend_deadline(ctx, cid, *m.body_as_ExtendDeadlineRequest(), origin);
    case Body::CreateSubscriptionRequest:
      return handle_create_subscription(ctx, cid, *m.body_as_CreateSubscriptionRequest());
    case Body::UpdateSubscriptionRequest:
      return handle_update_subscription(ctx, cid, *m.body_as_UpdateSubscriptionRequest());
    case Body::DeleteSubscriptionRequest:
      return handle_delete_subscription(ctx, cid, *m.body_as_DeleteSubscriptionRequest());
    case Body::DescribeSubscriptionRequest:
      return handle_describe_subscription(ctx, cid, *m.body_as_DescribeSubscriptionRequest());
    case Body::ListSubscriptionsRequest:
      return handle_list_subscriptions(ctx, cid, *m.body_as_ListSubscriptionsRequest(), origin);
    case Body::DescribeGroupRequest: return handle_describe_group(ctx, cid, *m.body_as_DescribeGroupRequest());
    default: return std::nullopt;
  }
}

}  // namespace causeway::server
