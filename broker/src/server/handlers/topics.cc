// Topic administration: create, delete, list, describe (docs/wire-protocol.md, "Topics").
#include "server/handlers.h"

namespace causeway::server {
namespace {

std::string_view str(const flatbuffers::String* s) { return s ? std::string_view(s->data(), s->size()) : ""; }

flatbuffers::Offset<protocol::Status> make_status(flatbuffers::FlatBufferBuilder& b, const Status& s) {
  return wire::encode_status(b, s);
}

flatbuffers::Offset<protocol::TopicDescription> describe(flatbuffers::FlatBufferBuilder& b, core::EventStore& store,
                                                         const meta::TopicConfig& t, bool with_partitions) {
  std::vector<flatbuffers::Offset<protocol::PartitionInfo>> parts;
  if (with_partitions) {
    for (uint32_t p = 0; p < t.partitions; ++p) {
      auto log = store.partition(t.name, p);
      if (!log) continue;
      parts.push_back(protocol::CreatePartitionInfo(b, p, log->log_start_offset(), log->high_watermark(),
                                                    log->size_bytes(), log->last_lamport()));
    }
  }
  auto settings = protocol::CreateTopicSettings(
      b, t.partitions, t.durability == storage::Durability::kOs ? protocol::Durability::Os : protocol::Durability::Fsync,
      static_cast<uint64_t>(t.dedup_window.count()), static_cast<uint64_t>(t.retention_ms.count()), t.retention_bytes,
      t.segment_bytes, b.CreateString(t.schema_subject),
      t.validate_payloads ? protocol::SchemaValidation::Full : protocol::SchemaValidation::Id);
  return protocol::CreateTopicDescription(b, b.CreateString(t.name), t.topic_id, settings, t.created_ms,
                                          b.CreateVector(parts));
}

}  // namespace

Frame handle_create_topic(HandlerContext& ctx, uint64_t cid, const protocol::CreateTopicRequest& req) {
  meta::TopicConfig cfg;
  cfg.name = std::string(str(req.name()));
  if (const protocol::TopicSettings* s = req.settings()) {
    cfg.partitions = s->partitions();
    cfg.durability = s->durability() == protocol::Durability::Os ? storage::Durability::kOs : storage::Durability::kFsync;
    if (s->durability() != protocol::Durability::Os && s->durability() != protocol::Durability::Fsync) {
      return error_frame(cid, protocol::ErrorCode::InvalidArgument,
                         "unknown durability " + std::to_string(static_cast<int>(s->durability())));
    }
    constexpr uint64_t kMaxMs = uint64_t{1} << 50;  // ~35,000 years: rejects overflow, not intent
    if (s->dedup_window_ms() > kMaxMs || s->retention_ms() > kMaxMs)
      return error_frame(cid, protocol::ErrorCode::InvalidArgument, "dedup_window_ms or retention_ms is out of range");
    cfg.dedup_window = std::chrono::milliseconds(static_cast<int64_t>(s->dedup_window_ms()));
    cfg.retention_ms = std::chrono::milliseconds(static_cast<int64_t>(s->retention_ms()));
    cfg.retention_bytes = s->retention_bytes();
    cfg.segment_bytes = s->segment_bytes();
    cfg.schema_subject = std::string(str(s->schema_subject()));
    if (s->schema_validation() != protocol::SchemaValidation::Id &&
        s->schema_validation() != protocol::SchemaValidation::Full) {
      return error_frame(cid, protocol::ErrorCode::InvalidArgument,
                         "unknown schema validation " + std::to_string(static_cast<int>(s->schema_validation())) +
                             " (expected Id or Full)");
    }
    cfg.validate_payloads = s->schema_validation() == protocol::SchemaValidation::Full;
  }
  flatbuffers::FlatBufferBuilder b(512);
  auto created = ctx.store.create_topic(cfg);
  if (!created) {
    auto st = make_status(b, created.error());
    return finish_frame(b, cid, protocol::Body::CreateTopicResponse, protocol::CreateCreateTopicResponse(b, st).Union());
  }
  auto desc = describe(b, ctx.store, *created, true);
  auto st = make_status(b, Status());
  return finish_frame(b, cid, protocol::Body::CreateTopicResponse,
                      protocol::CreateCreateTopicResponse(b, st, desc).Union());
}

Frame handle_delete_topic(HandlerContext& ctx, uint64_t cid, const protocol::DeleteTopicRequest& req) {
  flatbuffers::FlatBufferBuilder b(256);
  const Status deleted = ctx.store.delete_topic(str(req.name()));
  // The groups of the topic go with it: left alone, a live group would wait at the old
  // topic's offsets for events that a re-created topic numbers from 0 again.
  if (deleted.ok() && ctx.coordinator != nullptr) ctx.coordinator->topic_deleted(str(req.name()));
  auto st = make_status(b, deleted);
  return finish_frame(b, cid, protocol::Body::DeleteTopicResponse, protocol::CreateDeleteTopicResponse(b, st).Union());
}

Frame handle_list_topics(HandlerContext& ctx, uint64_t cid, const RequestOrigin& origin) {
  flatbuffers::FlatBufferBuilder b(1024);
  auto topics = ctx.store.list_topics();
  if (!topics) {
    auto st = make_status(b, topics.error());
    return finish_frame(b, cid, protocol::Body::ListTopicsResponse, protocol::CreateListTopicsResponse(b, st).Union());
  }
  std::vector<flatbuffers::Offset<protocol::TopicDescription>> out;
  for (const auto& t : *topics)
    if (visible(ctx, origin, t.name)) out.push_back(describe(b, ctx.store, t, false));
  auto vec = b.CreateVector(out);
  auto st = make_status(b, Status());
  return finish_frame(b, cid, protocol::Body::ListTopicsResponse, protocol::CreateListTopicsResponse(b, st, vec).Union());
}

Frame handle_describe_topic(HandlerContext& ctx, uint64_t cid, const protocol::DescribeTopicRequest& req) {
  flatbuffers::FlatBufferBuilder b(1024);
  auto topic = ctx.store.get_topic(str(req.name()));
  if (!topic) {
    auto st = make_status(b, topic.error());
    return finish_frame(b, cid, protocol::Body::DescribeTopicResponse,
                        protocol::CreateDescribeTopicResponse(b, st).Union());
  }
  auto desc = describe(b, ctx.store, *topic, true);
  auto st = make_status(b, Status());
  return finish_frame(b, cid, protocol::Body::DescribeTopicResponse,
                      protocol::CreateDescribeTopicResponse(b, st, desc).Union());
}

}  // namespace causeway::server
