// File: client/src/protocol_codec.cc
//
// See protocol_codec.h; the message meanings are in docs/wire-protocol.md.
#include "client/src/protocol_codec.h"

#include <algorithm>
#include <map>
#include <string>

#include "causeway/common/batch_format.h"
#include "causeway/wire/response.h"

namespace causeway::client::internal {
namespace {

namespace fb = flatbuffers;
namespace pr = causeway::protocol;

std::string to_string(const fb::String* s) { return s ? s->str() : std::string(); }

fb::Offset<pr::TopicSettings> encode_settings(fb::FlatBufferBuilder& fbb, const TopicSpec& spec) {
  const auto subject = spec.schema_subject.empty() ? fb::Offset<fb::String>() : fbb.CreateString(spec.schema_subject);
  return pr::CreateTopicSettings(
      fbb, spec.partitions, spec.durability == Durability::kOs ? pr::Durability::Os : pr::Durability::Fsync,
      static_cast<uint64_t>(spec.dedup_window.count()), static_cast<uint64_t>(spec.retention.count()),
      spec.retention_bytes, spec.segment_bytes, subject,
      spec.validate_payloads ? pr::SchemaValidation::Full : pr::SchemaValidation::Id);
}

template <typename T>
std::vector<uint8_t> finish(fb::FlatBufferBuilder& fbb, uint64_t correlation_id, pr::Body type, fb::Offset<T> body) {
  return finish_frame(fbb, pr::CreateMessage(fbb, correlation_id, type, body.Union()));
}

}  // namespace

Status status_from_wire(protocol::ErrorCode code, std::string_view message) {
  return wire::decode_status(code, 0, message);
}

Status response_status(const Frame& frame, protocol::Body expected) {
  const pr::Message& msg = frame.message();
  const pr::Status* status = nullptr;
  if (msg.body_type() == pr::Body::ErrorResponse) {
    // The verifier accepts a union type whose table is absent.
    if (msg.body() != nullptr) status = msg.body_as_ErrorResponse()->status();
    if (!status || status->code() == pr::ErrorCode::Ok) return internal_error("broker sent ErrorResponse without an error");
  } else if (msg.body_type() != expected || msg.body() == nullptr) {
    return internal_error(std::string("expected ") + pr::EnumNameBody(expected) + " from the broker, got " +
                          pr::EnumNameBody(msg.body_type()));
  } else {
    switch (expected) {
      case pr::Body::HelloResponse: status = msg.body_as_HelloResponse()->status(); break;
      case pr::Body::CreateTopicResponse: status = msg.body_as_CreateTopicResponse()->status(); break;
      case pr::Body::DeleteTopicResponse: status = msg.body_as_DeleteTopicResponse()->status(); break;
      case pr::Body::ListTopicsResponse: status = msg.body_as_ListTopicsResponse()->status(); break;
      case pr::Body::DescribeTopicResponse: status = msg.body_as_DescribeTopicResponse()->status(); break;
      case pr::Body::PublishResponse: status = msg.body_as_PublishResponse()->status(); break;
      case pr::Body::FetchResponse: status = msg.body_as_FetchResponse()->status(); break;
      case pr::Body::SubscribeResponse: status = msg.body_as_SubscribeResponse()->status(); break;
      case pr::Body::HeartbeatResponse: status = msg.body_as_HeartbeatResponse()->status(); break;
      case pr::Body::LeaveGroupResponse: status = msg.body_as_LeaveGroupResponse()->status(); break;
      case pr::Body::AckResponse: status = msg.body_as_AckResponse()->status(); break;
      case pr::Body::NackResponse: status = msg.body_as_NackResponse()->status(); break;
      case pr::Body::CreditResponse: status = msg.body_as_CreditResponse()->status(); break;
      case pr::Body::CreateSubscriptionResponse: status = msg.body_as_CreateSubscriptionResponse()->status(); break;
      case pr::Body::DeleteSubscriptionResponse: status = msg.body_as_DeleteSubscriptionResponse()->status(); break;
      case pr::Body::ListSubscriptionsResponse: status = msg.body_as_ListSubscriptionsResponse()->status(); break;
      case pr::Body::DescribeSubscriptionResponse: status = msg.body_as_DescribeSubscriptionResponse()->status(); break;
      case pr::Body::DescribeGroupResponse: status = msg.body_as_DescribeGroupResponse()->status(); break;
      case pr::Body::ExtendDeadlineResponse: status = msg.body_as_ExtendDeadlineResponse()->status(); break;
      case pr::Body::UpdateSubscriptionResponse: status = msg.body_as_UpdateSubscriptionResponse()->status(); break;
      case pr::Body::StartReplayResponse: status = msg.body_as_StartReplayResponse()->status(); break;
      case pr::Body::ListReplaysResponse: status = msg.body_as_ListReplaysResponse()->status(); break;
      case pr::Body::DescribeReplayResponse: status = msg.body_as_DescribeReplayResponse()->status(); break;
      case pr::Body::CancelReplayResponse: status = msg.body_as_CancelReplayResponse()->status(); break;
      default: status = wire::response_status_of(msg); break;  // every response's first field
    }
  }
  return wire::decode_status(status);  // absent status means Ok
}

std::size_t estimated_event_bytes(const Event& event) {
  // Table and vector overheads of one Event in a PublishRequest, rounded up.
  std::size_t n = 64 + event.key.size() + event.dedup_key.size() + event.source.size() + event.type.size() +
                  event.payload.size();
  for (const Header& h : event.headers) n += 24 + h.name.size() + h.value.size();
  return n;
}

std::vector<uint8_t> encode_hello(uint64_t correlation_id, const std::string& client_name, const std::string& token) {
  fb::FlatBufferBuilder fbb(256);
  const std::vector<uint8_t> token_bytes(token.begin(), token.end());
  auto credentials = token.empty() ? pr::CreateCredentialsDirect(fbb, "none")
                                   : pr::CreateCredentialsDirect(fbb, "token", &token_bytes);
  auto hello = pr::CreateHelloDirect(fbb, kProtocolVersion, client_name.c_str(), credentials);
  return finish(fbb, correlation_id, pr::Body::Hello, hello);
}

std::vector<uint8_t> encode_create_topic(uint64_t correlation_id, const TopicSpec& spec) {
  fb::FlatBufferBuilder fbb(256);
  auto name = fbb.CreateString(spec.name);
  auto settings = encode_settings(fbb, spec);
  return finish(fbb, correlation_id, pr::Body::CreateTopicRequest, pr::CreateCreateTopicRequest(fbb, name, settings));
}

std::vector<uint8_t> encode_delete_topic(uint64_t correlation_id, const std::string& name) {
  fb::FlatBufferBuilder fbb(128);
  return finish(fbb, correlation_id, pr::Body::DeleteTopicRequest, pr::CreateDeleteTopicRequestDirect(fbb, name.c_str()));
}

std::vector<uint8_t> encode_list_topics(uint64_t correlation_id) {
  fb::FlatBufferBuilder fbb(64);
  return finish(fbb, correlation_id, pr::Body::ListTopicsRequest, pr::CreateListTopicsRequest(fbb));
}

std::vector<uint8_t> encode_describe_topic(uint64_t correlation_id, const std::string& name) {
  fb::FlatBufferBuilder fbb(128);
  return finish(fbb, correlation_id, pr::Body::DescribeTopicRequest,
                pr::CreateDescribeTopicRequestDirect(fbb, name.c_str()));
}

std::vector<uint8_t> encode_fetch(uint64_t correlation_id, const std::string& topic, uint32_t partition,
                                  uint64_t offset, uint32_t max_events, uint32_t max_bytes) {
  fb::FlatBufferBuilder fbb(128);
  return finish(fbb, correlation_id, pr::Body::FetchRequest,
                pr::CreateFetchRequestDirect(fbb, topic.c_str(), partition, offset, max_bytes, max_events));
}

std::vector<uint8_t> encode_publish(uint64_t correlation_id, const std::string& topic, uint64_t lamport,
                                    std::span<const Event* const> events) {
  std::size_t estimate = 256;
  for (const Event* e : events) estimate += estimated_event_bytes(*e);
  fb::FlatBufferBuilder fbb(estimate);
  std::vector<fb::Offset<pr::Event>> offsets;
  offsets.reserve(events.size());
  for (const Event* e : events) {
    fb::Offset<fb::Vector<fb::Offset<pr::Header>>> headers;
    if (!e->headers.empty()) {
      std::vector<fb::Offset<pr::Header>> hs;
      hs.reserve(e->headers.size());
      for (const Header& h : e->headers) {
        auto name = fbb.CreateString(h.name);
        auto value = fbb.CreateVector(reinterpret_cast<const uint8_t*>(h.value.data()), h.value.size());
        hs.push_back(pr::CreateHeader(fbb, name, value));
      }
      headers = fbb.CreateVector(hs);
    }
    auto bytes = [&fbb](const std::string& s) {
      return s.empty() ? fb::Offset<fb::Vector<uint8_t>>()
                       : fbb.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    };
    auto key = bytes(e->key);
    auto dedup_key = bytes(e->dedup_key);
    auto source = e->source.empty() ? fb::Offset<fb::String>() : fbb.CreateString(e->source);
    auto type = e->type.empty() ? fb::Offset<fb::String>() : fbb.CreateString(e->type);
    auto payload = fbb.CreateVector(reinterpret_cast<const uint8_t*>(e->payload.data()), e->payload.size());
    offsets.push_back(pr::CreateEvent(fbb, key, dedup_key, source, type, headers, e->schema_id, payload, e->partition));
  }
  auto topic_offset = fbb.CreateString(topic);
  auto list = fbb.CreateVector(offsets);
  return finish(fbb, correlation_id, pr::Body::PublishRequest, pr::CreatePublishRequest(fbb, topic_offset, lamport, list));
}

Result<HelloInfo> parse_hello_response(const Frame& frame) {
  Status status = response_status(frame, pr::Body::HelloResponse);
  if (!status.ok()) return status;
  const pr::HelloResponse* r = frame.message().body_as_HelloResponse();
  if (r == nullptr) return internal_error("expected HelloResponse from the broker");
  HelloInfo info;
  info.protocol_version = r->protocol_version();
  info.broker_version = to_string(r->broker_version());
  info.max_frame_bytes = r->max_frame_bytes();
  info.lamport = r->lamport();
  info.ordered_member_requests = r->ordered_member_requests();
  if (info.protocol_version != kProtocolVersion) {
    return failed_precondition("broker answered with protocol version " + std::to_string(info.protocol_version) +
                               ", this client speaks " + std::to_string(kProtocolVersion));
  }
  return info;
}

TopicInfo topic_from_wire(const protocol::TopicDescription& topic) {
  TopicInfo info;
  info.spec.name = to_string(topic.name());
  info.topic_id = topic.topic_id();
  info.created_ms = topic.created_ms();
  if (const pr::TopicSettings* s = topic.settings()) {
    info.spec.partitions = s->partitions();
    info.spec.durability = s->durability() == pr::Durability::Os ? Durability::kOs : Durability::kFsync;
    info.spec.dedup_window = std::chrono::milliseconds(static_cast<int64_t>(s->dedup_window_ms()));
    info.spec.retention = std::chrono::milliseconds(static_cast<int64_t>(s->retention_ms()));
    info.spec.retention_bytes = s->retention_bytes();
    info.spec.segment_bytes = s->segment_bytes();
    info.spec.schema_subject = to_string(s->schema_subject());
    info.spec.validate_payloads = s->schema_validation() == pr::SchemaValidation::Full;
  }
  if (const auto* parts = topic.partitions()) {
    for (const pr::PartitionInfo* p : *parts) {
      if (p == nullptr) continue;
      info.partitions.push_back(PartitionInfo{p->partition(), p->log_start_offset(), p->high_watermark(),
                                              p->size_bytes(), p->last_lamport()});
    }
  }
  return info;
}

Result<std::vector<Result<PublishAck>>> decode_publish_response(const Frame& frame, std::size_t events) {
  CAUSEWAY_RETURN_IF_ERROR(response_status(frame, pr::Body::PublishResponse));
  const pr::PublishResponse* response = frame.message().body_as_PublishResponse();
  const auto* acks = response->acks();
  const std::size_t n = acks ? acks->size() : 0;
  if (n != events) {
    return internal_error("broker returned " + std::to_string(n) + " acks for " + std::to_string(events) + " events");
  }
  std::map<uint32_t, std::string> messages;
  if (const auto* errors = response->errors()) {
    for (const pr::EventError* e : *errors) {
      if (e && e->message()) messages[e->index()] = e->message()->str();
    }
  }
  std::vector<Result<PublishAck>> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const pr::EventAck* ack = acks->Get(static_cast<fb::uoffset_t>(i));
    if (ack->code() == pr::ErrorCode::Ok) {
      out.emplace_back(PublishAck{ack->partition(), ack->offset(), ack->lamport(), ack->duplicate()});
    } else {
      const auto m = messages.find(static_cast<uint32_t>(i));
      out.emplace_back(status_from_wire(ack->code(), m != messages.end() ? m->second : std::string("event rejected")));
    }
  }
  return out;
}

Result<FetchResult> decode_fetch_response(const Frame& frame, const std::string& topic, uint32_t partition,
                                          uint64_t offset, uint32_t max_events) {
  CAUSEWAY_RETURN_IF_ERROR(response_status(frame, pr::Body::FetchResponse));
  const pr::FetchResponse* body = frame.message().body_as_FetchResponse();
  FetchResult result;
  result.log_start_offset = body->log_start_offset();
  result.high_watermark = body->high_watermark();
  std::string_view batches;
  if (const auto* b = body->batches()) batches = std::string_view(reinterpret_cast<const char*>(b->data()), b->size());
  CAUSEWAY_RETURN_IF_ERROR(decode_fetched_batches(batches, topic, partition, offset, max_events, result));
  return result;
}

Status decode_fetched_batches(std::string_view batches, const std::string& topic, uint32_t partition,
                              uint64_t offset, uint32_t max_events, FetchResult& out) {
  out.next_offset = offset;
  std::size_t pos = 0;
  while (pos < batches.size() && out.events.size() < max_events) {
    const std::string_view rest = batches.substr(pos);
    if (rest.size() < batch::kBatchHeaderSize) {
      return corruption("fetched batches end with " + std::to_string(rest.size()) + " bytes, less than a batch header");
    }
    auto header = batch::decode_header(rest.substr(0, batch::kBatchHeaderSize));
    if (!header) return header.error().with_context("fetched batch at byte " + std::to_string(pos));
    if (header->total_size() > rest.size()) {
      return corruption("fetched batch at byte " + std::to_string(pos) + " claims " +
                        std::to_string(header->total_size()) + " bytes, only " + std::to_string(rest.size()) + " left");
    }
    const std::string_view batch = rest.substr(0, header->total_size());
    Status verified = batch::verify_batch(*header, batch);
    if (!verified.ok()) return verified.with_context("fetched batch at byte " + std::to_string(pos));
    Status decoded = batch::for_each_record(*header, batch, [&](const batch::RecordView& r) {
      if (r.offset < offset) return true;
      FetchedEvent e;
      e.topic = topic;
      e.partition = partition;
      e.offset = r.offset;
      e.lamport = r.lamport;
      e.time_ms = r.time_ms;
      e.key = std::string(r.key);
      e.dedup_key = std::string(r.dedup_key);
      e.source = std::string(r.source);
      e.type = std::string(r.type);
      for (const batch::Header& h : r.headers) e.headers.push_back(Header{std::string(h.name), std::string(h.value)});
      e.schema_id = r.schema_id;
      e.payload = std::string(r.payload);
      out.next_offset = r.offset + 1;
      out.events.push_back(std::move(e));
      return out.events.size() < max_events;
    });
    if (!decoded.ok()) return decoded.with_context("fetched batch at byte " + std::to_string(pos));
    pos += header->total_size();
  }
  return Status();
}

// ---------------------------------------------------------------- subscribe family

namespace {

fb::Offset<pr::SubscriptionSettings> encode_subscription_settings(fb::FlatBufferBuilder& fbb, const SubscriptionSpec& s) {
  const auto dlq = s.dead_letter_topic.empty() ? fb::Offset<fb::String>() : fbb.CreateString(s.dead_letter_topic);
  const auto pattern = s.pattern.empty() ? fb::Offset<fb::String>() : fbb.CreateString(s.pattern);
  const auto target_topic = s.target_topic.empty() ? fb::Offset<fb::String>() : fbb.CreateString(s.target_topic);
  fb::Offset<pr::HttpTargetSettings> http;
  if (!s.target_http.url.empty()) {
    std::vector<fb::Offset<pr::HttpHeaderEntry>> headers;
    for (const auto& [name, value] : s.target_http.headers)
      headers.push_back(pr::CreateHttpHeaderEntry(fbb, fbb.CreateString(name), fbb.CreateString(value)));
    const auto url = fbb.CreateString(s.target_http.url);
    const auto header_vector = headers.empty() ? fb::Offset<fb::Vector<fb::Offset<pr::HttpHeaderEntry>>>()
                                               : fbb.CreateVector(headers);
    http = pr::CreateHttpTargetSettings(fbb, url, s.target_http.rate_per_second, s.target_http.concurrency,
                                        static_cast<uint32_t>(s.target_http.timeout.count()), header_vector);
  }
  const auto input_path = s.input_path.empty() ? fb::Offset<fb::String>() : fbb.CreateString(s.input_path);
  const auto input_template = s.input_template.empty() ? fb::Offset<fb::String>() : fbb.CreateString(s.input_template);
  fb::Offset<fb::Vector<fb::Offset<pr::InputPathEntry>>> input_paths;
  if (!s.input_paths.empty()) {
    std::vector<fb::Offset<pr::InputPathEntry>> entries;
    for (const auto& [name, path] : s.input_paths)
      entries.push_back(pr::CreateInputPathEntry(fbb, fbb.CreateString(name), fbb.CreateString(path)));
    input_paths = fbb.CreateVector(entries);
  }
  return pr::CreateSubscriptionSettings(fbb, static_cast<pr::StartKind>(static_cast<uint8_t>(s.start.kind)),
                                        s.start.value, static_cast<uint32_t>(s.ack_deadline.count()), s.max_attempts,
                                        static_cast<uint32_t>(s.backoff.count()),
                                        static_cast<uint32_t>(s.max_backoff.count()),
                                        static_cast<uint64_t>(s.max_age.count()), dlq, pattern, target_topic, http,
                                        input_path, input_template, input_paths);
}

std::string bytes_of(const fb::Vector<uint8_t>* v) {
  return v ? std::string(reinterpret_cast<const char*>(v->data()), v->size()) : std::string();
}

}  // namespace

std::vector<uint8_t> encode_create_subscription(uint64_t correlation_id, const SubscriptionSpec& spec) {
  fb::FlatBufferBuilder fbb(256);
  const auto name = fbb.CreateString(spec.name);
  const auto topic = fbb.CreateString(spec.topic);
  const auto settings = encode_subscription_settings(fbb, spec);
  return finish(fbb, correlation_id, pr::Body::CreateSubscriptionRequest,
                pr::CreateCreateSubscriptionRequest(fbb, name, topic, settings));
}

std::vector<uint8_t> encode_delete_subscription(uint64_t correlation_id, const std::string& name) {
  fb::FlatBufferBuilder fbb(128);
  const auto n = fbb.CreateString(name);
  return finish(fbb, correlation_id, pr::Body::DeleteSubscriptionRequest, pr::CreateDeleteSubscriptionRequest(fbb, n));
}

std::vector<uint8_t> encode_list_subscriptions(uint64_t correlation_id, const std::string& topic) {
  fb::FlatBufferBuilder fbb(128);
  const auto t = fbb.CreateString(topic);
  return finish(fbb, correlation_id, pr::Body::ListSubscriptionsRequest, pr::CreateListSubscriptionsRequest(fbb, t));
}

std::vector<uint8_t> encode_describe_subscription(uint64_t correlation_id, const std::string& name) {
  fb::FlatBufferBuilder fbb(128);
  const auto n = fbb.CreateString(name);
  return finish(fbb, correlation_id, pr::Body::DescribeSubscriptionRequest,
                pr::CreateDescribeSubscriptionRequest(fbb, n));
}

std::vector<uint8_t> encode_update_subscription_pattern(uint64_t correlation_id, const std::string& name,
                                                       const std::string& pattern) {
  fb::FlatBufferBuilder fbb(128 + pattern.size());
  const auto n = fbb.CreateString(name);
  const auto p = fbb.CreateString(pattern);  // present even when empty: "" removes the pattern
  return finish(fbb, correlation_id, pr::Body::UpdateSubscriptionRequest, pr::CreateUpdateSubscriptionRequest(fbb, n, p));
}

std::vector<uint8_t> encode_describe_group(uint64_t correlation_id, const std::string& name) {
  fb::FlatBufferBuilder fbb(128);
  const auto n = fbb.CreateString(name);
  return finish(fbb, correlation_id, pr::Body::DescribeGroupRequest, pr::CreateDescribeGroupRequest(fbb, n));
}

std::vector<uint8_t> encode_subscribe(uint64_t correlation_id, const SubscriptionSpec& spec, uint32_t credit_events,
                                      uint32_t credit_bytes, bool create_if_missing, const std::string& client_name) {
  fb::FlatBufferBuilder fbb(256);
  const auto name = fbb.CreateString(spec.name);
  const auto topic = fbb.CreateString(spec.topic);
  const auto settings = encode_subscription_settings(fbb, spec);
  const auto client = fbb.CreateString(client_name);
  return finish(fbb, correlation_id, pr::Body::SubscribeRequest,
                pr::CreateSubscribeRequest(fbb, name, topic, 0, credit_events, credit_bytes, create_if_missing,
                                           settings, client));
}

std::vector<uint8_t> encode_heartbeat(uint64_t correlation_id, const std::string& subscription,
                                      const std::string& member_id) {
  fb::FlatBufferBuilder fbb(128);
  const auto s = fbb.CreateString(subscription);
  const auto m = fbb.CreateString(member_id);
  return finish(fbb, correlation_id, pr::Body::HeartbeatRequest, pr::CreateHeartbeatRequest(fbb, s, m));
}

std::vector<uint8_t> encode_leave(uint64_t correlation_id, const std::string& subscription, const std::string& member_id,
                                  bool release_unprocessed, const std::map<uint32_t, std::vector<uint64_t>>& processing) {
  fb::FlatBufferBuilder fbb(128);
  const auto s = fbb.CreateString(subscription);
  const auto m = fbb.CreateString(member_id);
  std::vector<fb::Offset<pr::PartitionOffsets>> parts;
  for (const auto& [partition, offsets] : processing) {
    parts.push_back(pr::CreatePartitionOffsets(fbb, partition, fbb.CreateVector(offsets)));
  }
  const auto p = parts.empty() ? fb::Offset<fb::Vector<fb::Offset<pr::PartitionOffsets>>>() : fbb.CreateVector(parts);
  return finish(fbb, correlation_id, pr::Body::LeaveGroupRequest,
                pr::CreateLeaveGroupRequest(fbb, s, m, release_unprocessed, p));
}

std::vector<uint8_t> encode_ack(uint64_t correlation_id, const std::string& subscription, const std::string& member_id,
                                uint32_t partition, std::span<const uint64_t> offsets, bool durable, bool quiet) {
  fb::FlatBufferBuilder fbb(128 + offsets.size() * 8);
  const auto s = fbb.CreateString(subscription);
  const auto m = fbb.CreateString(member_id);
  const auto o = fbb.CreateVector(offsets.data(), offsets.size());
  return finish(fbb, correlation_id, pr::Body::AckRequest,
                pr::CreateAckRequest(fbb, s, m, partition, o, durable, quiet));
}

bool ack_was_durable(const Frame& frame) {
  const pr::Message& msg = frame.message();
  if (msg.body_type() != pr::Body::AckResponse || msg.body() == nullptr) return false;
  return msg.body_as_AckResponse()->durable();
}

std::vector<uint8_t> encode_nack(uint64_t correlation_id, const std::string& subscription, const std::string& member_id,
                                 uint32_t partition, std::span<const uint64_t> offsets, uint32_t delay_ms,
                                 const std::string& reason) {
  fb::FlatBufferBuilder fbb(128 + offsets.size() * 8 + reason.size());
  const auto s = fbb.CreateString(subscription);
  const auto m = fbb.CreateString(member_id);
  const auto o = fbb.CreateVector(offsets.data(), offsets.size());
  const auto r = fbb.CreateString(reason);
  return finish(fbb, correlation_id, pr::Body::NackRequest, pr::CreateNackRequest(fbb, s, m, partition, o, delay_ms, r));
}

std::vector<uint8_t> encode_extend_deadline(uint64_t correlation_id, const std::string& subscription,
                                            const std::string& member_id, uint32_t partition,
                                            std::span<const uint64_t> offsets, uint32_t extend_ms) {
  fb::FlatBufferBuilder fbb(128 + offsets.size() * 8);
  const auto s = fbb.CreateString(subscription);
  const auto m = fbb.CreateString(member_id);
  const auto o = fbb.CreateVector(offsets.data(), offsets.size());
  return finish(fbb, correlation_id, pr::Body::ExtendDeadlineRequest,
                pr::CreateExtendDeadlineRequest(fbb, s, m, partition, o, extend_ms));
}

SubscriptionInfo subscription_from_wire(const protocol::SubscriptionDescription& d) {
  SubscriptionInfo info;
  info.spec.name = to_string(d.name());
  info.spec.topic = to_string(d.topic());
  info.created_ms = d.created_ms();
  if (const auto* s = d.settings()) {
    const auto kind = static_cast<uint8_t>(s->start());
    info.spec.start.kind = kind <= 4 ? static_cast<StartPosition::Kind>(kind) : StartPosition::Kind::kLatest;
    info.spec.start.value = s->start_value();
    info.spec.ack_deadline = std::chrono::milliseconds(s->ack_deadline_ms());
    info.spec.max_attempts = s->max_attempts();
    info.spec.backoff = std::chrono::milliseconds(s->backoff_ms());
    info.spec.max_backoff = std::chrono::milliseconds(s->max_backoff_ms());
    info.spec.max_age = std::chrono::milliseconds(static_cast<int64_t>(s->max_age_ms()));
    info.spec.dead_letter_topic = to_string(s->dead_letter_topic());
    info.spec.pattern = to_string(s->pattern());
    info.spec.target_topic = to_string(s->target_topic());
    if (const auto* h = s->target_http()) {
      info.spec.target_http.url = to_string(h->url());
      info.spec.target_http.rate_per_second = h->rate_per_second();
      info.spec.target_http.concurrency = h->concurrency();
      info.spec.target_http.timeout = std::chrono::milliseconds(h->timeout_ms());
      if (h->headers() != nullptr) {
        for (const auto* e : *h->headers())
          if (e != nullptr) info.spec.target_http.headers.emplace_back(to_string(e->name()), to_string(e->value()));
      }
    }
    info.spec.input_path = to_string(s->input_path());
    info.spec.input_template = to_string(s->input_template());
    if (s->input_paths() != nullptr) {
      for (const auto* e : *s->input_paths())
        if (e != nullptr) info.spec.input_paths.insert_or_assign(to_string(e->name()), to_string(e->path()));
    }
  }
  if (const auto* t = d.target()) {
    TargetInfo target;
    target.kind = to_string(t->kind());
    target.destination = to_string(t->destination());
    target.delivered = t->delivered();
    target.retried = t->retried();
    target.dead_lettered = t->dead_lettered();
    target.in_flight = t->in_flight();
    target.last_error = to_string(t->last_error());
    target.last_error_ms = t->last_error_ms();
    info.target = std::move(target);
  }
  return info;
}

GroupInfo group_from_wire(const protocol::DescribeGroupResponse& r) {
  GroupInfo g;
  if (r.subscription()) g.subscription = subscription_from_wire(*r.subscription());
  if (r.members()) {
    for (const pr::GroupMemberInfo* m : *r.members()) {
      if (m == nullptr) continue;
      GroupMember gm;
      gm.member_id = to_string(m->member_id());
      gm.client_name = to_string(m->client_name());
      if (m->partitions()) gm.partitions.assign(m->partitions()->begin(), m->partitions()->end());
      gm.unacked_events = m->unacked_events();
      gm.unacked_bytes = m->unacked_bytes();
      gm.credit_events = m->credit_events();
      gm.credit_bytes = m->credit_bytes();
      g.members.push_back(std::move(gm));
    }
  }
  if (r.partitions()) {
    for (const pr::GroupPartitionInfo* p : *r.partitions()) {
      if (p == nullptr) continue;
      g.partitions.push_back(GroupPartition{p->partition(), to_string(p->member_id()), p->committed_offset(),
                                            p->end_offset(), p->lag(), p->in_flight(), p->acked_above(),
                                            p->matched(), p->filtered()});
    }
  }
  return g;
}

Result<std::vector<DeliveredEvent>> decode_delivery(const Frame& frame) {
  const pr::Message& msg = frame.message();
  const pr::Delivery* d = msg.body_type() == pr::Body::Delivery ? msg.body_as_Delivery() : nullptr;
  if (d == nullptr) return internal_error(std::string("expected Delivery, got ") + pr::EnumNameBody(msg.body_type()));
  std::vector<DeliveredEvent> out;
  if (d->events() == nullptr) return out;
  out.reserve(d->events()->size());
  const std::string subscription = to_string(d->subscription());
  const std::string topic = to_string(d->topic());
  const std::string member = to_string(d->member_id());
  for (const pr::DeliveredEvent* e : *d->events()) {
    if (e == nullptr) continue;
    DeliveredEvent ev;
    ev.topic = topic;
    ev.partition = d->partition();
    ev.offset = e->offset();
    ev.lamport = e->lamport();
    ev.time_ms = e->time_ms();
    ev.key = bytes_of(e->key());
    ev.dedup_key = bytes_of(e->dedup_key());
    ev.source = to_string(e->source());
    ev.type = to_string(e->type());
    if (e->headers()) {
      for (const pr::Header* h : *e->headers())
        if (h != nullptr) ev.headers.push_back(Header{to_string(h->name()), bytes_of(h->value())});
    }
    ev.schema_id = e->schema_id();
    ev.payload = bytes_of(e->payload());
    ev.subscription = subscription;
    ev.attempt = e->attempt();
    ev.member_id = member;
    out.push_back(std::move(ev));
  }
  return out;
}

std::vector<uint8_t> encode_start_replay(uint64_t correlation_id, const ReplaySpec& spec) {
  fb::FlatBufferBuilder fbb(256);
  const auto n = fbb.CreateString(spec.name);
  const auto sub = fbb.CreateString(spec.subscription);
  return finish(fbb, correlation_id, pr::Body::StartReplayRequest,
                pr::CreateStartReplayRequest(fbb, n, sub, spec.from_ms, spec.to_ms, spec.to_lamport));
}

std::vector<uint8_t> encode_list_replays(uint64_t correlation_id, const std::string& subscription) {
  fb::FlatBufferBuilder fbb(128);
  const auto sub = fbb.CreateString(subscription);
  return finish(fbb, correlation_id, pr::Body::ListReplaysRequest, pr::CreateListReplaysRequest(fbb, sub));
}

std::vector<uint8_t> encode_describe_replay(uint64_t correlation_id, const std::string& name) {
  fb::FlatBufferBuilder fbb(128);
  const auto n = fbb.CreateString(name);
  return finish(fbb, correlation_id, pr::Body::DescribeReplayRequest, pr::CreateDescribeReplayRequest(fbb, n));
}

std::vector<uint8_t> encode_cancel_replay(uint64_t correlation_id, const std::string& name) {
  fb::FlatBufferBuilder fbb(128);
  const auto n = fbb.CreateString(name);
  return finish(fbb, correlation_id, pr::Body::CancelReplayRequest, pr::CreateCancelReplayRequest(fbb, n));
}

ReplayInfo replay_from_wire(const protocol::ReplayDescription& d) {
  const auto text = [](const fb::String* s) { return s != nullptr ? s->str() : std::string(); };
  ReplayInfo r;
  r.name = text(d.name());
  r.subscription = text(d.subscription());
  r.topic = text(d.topic());
  r.from_ms = d.from_ms();
  r.to_ms = d.to_ms();
  r.to_lamport = d.to_lamport();
  r.state = text(d.state());
  r.error = text(d.error());
  r.created_ms = d.created_ms();
  r.finished_ms = d.finished_ms();
  if (d.partitions() != nullptr) {
    for (const pr::ReplayPartitionInfo* p : *d.partitions()) {
      if (p == nullptr) continue;
      ReplayPartitionInfo& out = r.partitions.emplace_back();
      out.partition = p->partition();
      out.start_offset = p->start_offset();
      // A broker's numbers are not trusted to be ordered: the sums must not wrap.
      out.end_offset = std::max(p->end_offset(), out.start_offset);
      out.next_offset = std::clamp(p->next_offset(), out.start_offset, out.end_offset);
      out.delivered = p->delivered();
      out.dead_lettered = p->dead_lettered();
      out.filtered = p->filtered();
    }
  }
  return r;
}

std::vector<uint8_t> encode_create_token(uint64_t correlation_id, const std::string& principal,
                                         const std::string& description) {
  fb::FlatBufferBuilder fbb(256);
  return finish(fbb, correlation_id, pr::Body::CreateTokenRequest,
                pr::CreateCreateTokenRequestDirect(fbb, principal.c_str(), description.c_str()));
}

std::vector<uint8_t> encode_list_tokens(uint64_t correlation_id) {
  fb::FlatBufferBuilder fbb(64);
  return finish(fbb, correlation_id, pr::Body::ListTokensRequest, pr::CreateListTokensRequest(fbb));
}

std::vector<uint8_t> encode_revoke_token(uint64_t correlation_id, const std::string& id) {
  fb::FlatBufferBuilder fbb(128);
  return finish(fbb, correlation_id, pr::Body::RevokeTokenRequest, pr::CreateRevokeTokenRequestDirect(fbb, id.c_str()));
}

std::vector<uint8_t> encode_acl_change(uint64_t correlation_id, const AclEntry& acl, bool add) {
  fb::FlatBufferBuilder fbb(256);
  auto entry = pr::CreateAclEntryDirect(fbb, acl.principal.c_str(), static_cast<pr::AclOperation>(acl.operation),
                                        acl.topic.c_str(), acl.prefix);
  if (add) return finish(fbb, correlation_id, pr::Body::AddAclRequest, pr::CreateAddAclRequest(fbb, entry));
  return finish(fbb, correlation_id, pr::Body::RemoveAclRequest, pr::CreateRemoveAclRequest(fbb, entry));
}

std::vector<uint8_t> encode_list_acls(uint64_t correlation_id, const std::string& principal) {
  fb::FlatBufferBuilder fbb(128);
  return finish(fbb, correlation_id, pr::Body::ListAclsRequest, pr::CreateListAclsRequestDirect(fbb, principal.c_str()));
}

std::vector<uint8_t> encode_whoami(uint64_t correlation_id) {
  fb::FlatBufferBuilder fbb(64);
  return finish(fbb, correlation_id, pr::Body::WhoAmIRequest, pr::CreateWhoAmIRequest(fbb));
}

}  // namespace causeway::client::internal
