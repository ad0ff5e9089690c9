// File: client/src/protocol_codec.cc
//
// See protocol_codec.h; the message meanings are in docs/wire-protocol.md.
#include "client/src/protocol_codec.h"

#include <string>

#include "causeway/common/batch_format.h"

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
      spec.retention_bytes, spec.segment_bytes, subject);
}

template <typename T>
std::vector<uint8_t> finish(fb::FlatBufferBuilder& fbb, uint64_t correlation_id, pr::Body type, fb::Offset<T> body) {
  return finish_frame(fbb, pr::CreateMessage(fbb, correlation_id, type, body.Union()));
}

}  // namespace

Status status_from_wire(protocol::ErrorCode code, std::string_view message) {
  const std::string msg(message);
  switch (code) {
    case pr::ErrorCode::Ok: return Status();
    case pr::ErrorCode::InvalidArgument: return invalid_argument(msg);
    case pr::ErrorCode::NotFound: return not_found(msg);
    case pr::ErrorCode::AlreadyExists: return already_exists(msg);
    case pr::ErrorCode::Corruption: return corruption(msg);
    case pr::ErrorCode::IoError: return io_error(msg);
    case pr::ErrorCode::ResourceExhausted: return resource_exhausted(msg);
    case pr::ErrorCode::FailedPrecondition: return failed_precondition(msg);
    case pr::ErrorCode::OutOfRange: return out_of_range(msg);
    case pr::ErrorCode::Unavailable: return unavailable(msg);
    case pr::ErrorCode::DeadlineExceeded: return deadline_exceeded(msg);
    case pr::ErrorCode::Internal: return internal_error(msg);
    case pr::ErrorCode::UnsupportedVersion: return failed_precondition("unsupported protocol version: " + msg);
    case pr::ErrorCode::UnknownRequest: return failed_precondition("the broker does not know this request: " + msg);
    case pr::ErrorCode::HandshakeRequired: return internal_error("handshake required: " + msg);
    case pr::ErrorCode::Unauthenticated: return failed_precondition("unauthenticated: " + msg);
    case pr::ErrorCode::SchemaMismatch: return invalid_argument("schema mismatch: " + msg);
    case pr::ErrorCode::InvalidPayload: return invalid_argument("invalid payload: " + msg);
    case pr::ErrorCode::UnknownGroupMember: return failed_precondition("unknown group member: " + msg);
    case pr::ErrorCode::NotAssigned: return failed_precondition("partition not assigned: " + msg);
  }
  return internal_error("unknown error code " + std::to_string(static_cast<int>(code)) + ": " + msg);
}

Status response_status(const Frame& frame, protocol::Body expected) {
  const pr::Message& msg = frame.message();
  const pr::Status* status = nullptr;
  if (msg.body_type() == pr::Body::ErrorResponse) {
    status = msg.body_as_ErrorResponse()->status();
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
      default: return internal_error("response_status: unexpected kind");
    }
  }
  if (!status) return Status();  // absent status means Ok
  return status_from_wire(status->code(), status->message() ? status->message()->string_view() : "");
}

std::size_t estimated_event_bytes(const Event& event) {
  // Table and vector overheads of one Event in a PublishRequest, rounded up.
  std::size_t n = 64 + event.key.size() + event.dedup_key.size() + event.source.size() + event.type.size() +
                  event.payload.size();
  for (const Header& h : event.headers) n += 24 + h.name.size() + h.value.size();
  return n;
}

std::vector<uint8_t> encode_hello(uint64_t correlation_id, const std::string& client_name) {
  fb::FlatBufferBuilder fbb(256);
  auto credentials = pr::CreateCredentialsDirect(fbb, "none");
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

Status decode_fetched_batches(std::string_view batches, const std::string& topic, uint32_t partition,
                              uint64_t offset, uint32_t max_events, FetchResult& out) {
  out.next_offset = offset;
  std::size_t pos = 0;
  while (pos < batches.size() && out.events.size() < max_events) {
    const std::string_view rest = batches.substr(pos);
    if (rest.size() < storage::kBatchHeaderSize) {
      return corruption("fetched batches end with " + std::to_string(rest.size()) + " bytes, less than a batch header");
    }
    auto header = storage::decode_header(rest.substr(0, storage::kBatchHeaderSize));
    if (!header) return header.error().with_context("fetched batch at byte " + std::to_string(pos));
    if (header->total_size() > rest.size()) {
      return corruption("fetched batch at byte " + std::to_string(pos) + " claims " +
                        std::to_string(header->total_size()) + " bytes, only " + std::to_string(rest.size()) + " left");
    }
    const std::string_view batch = rest.substr(0, header->total_size());
    Status verified = storage::verify_batch(*header, batch);
    if (!verified.ok()) return verified.with_context("fetched batch at byte " + std::to_string(pos));
    Status decoded = storage::for_each_record(*header, batch, [&](const storage::RecordView& r) {
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
      for (const storage::Header& h : r.headers) e.headers.push_back(Header{std::string(h.name), std::string(h.value)});
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

}  // namespace causeway::client::internal
