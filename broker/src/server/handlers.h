// File: server/handlers.h
//
// Request handlers: each takes a verified request table and returns the response frame
// (length prefix included). They run on storage threads (they may block on disk) and
// never throw; every failure becomes a response status. Semantics: docs/wire-protocol.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "causeway/schemas/protocol_generated.h"
#include "core/event_store.h"
#include "core/publish_pipeline.h"
#include "subscribe/coordinator.h"

namespace causeway::server {

struct HandlerContext {
  core::EventStore& store;
  core::PublishPipeline& publish;
  uint32_t max_frame_bytes;
  subscribe::Coordinator* coordinator = nullptr;  // null: the subscribe family is UnknownRequest
};

// The connection a request came in on: subscribe requests bind members to it.
struct RequestOrigin {
  uint64_t connection_id = 0;
  std::shared_ptr<subscribe::DeliverySink> sink;
};

using Frame = std::vector<uint8_t>;

// Finishes `builder` holding a Message with `body` into a frame: u32 LE length + bytes.
Frame finish_frame(flatbuffers::FlatBufferBuilder& builder, uint64_t correlation_id, protocol::Body type,
                   flatbuffers::Offset<void> body);
// An ErrorResponse frame.
Frame error_frame(uint64_t correlation_id, protocol::ErrorCode code, std::string_view message);
// The protocol code for a Status.
protocol::ErrorCode to_error_code(const Status& status);

// Dispatches one verified request (anything but Hello). `round_robin` is the connection's
// counter for keyless publishes.
Frame handle_request(HandlerContext& ctx, const protocol::Message& message, uint32_t round_robin,
                     const RequestOrigin& origin = {});
// The subscribe family (docs/wire-protocol.md, "Subscribe"); nullopt if `message` is not one.
std::optional<Frame> handle_subscribe_family(HandlerContext& ctx, const protocol::Message& message,
                                             const RequestOrigin& origin);

Frame handle_create_topic(HandlerContext& ctx, uint64_t cid, const protocol::CreateTopicRequest& req);
Frame handle_delete_topic(HandlerContext& ctx, uint64_t cid, const protocol::DeleteTopicRequest& req);
Frame handle_list_topics(HandlerContext& ctx, uint64_t cid);
Frame handle_describe_topic(HandlerContext& ctx, uint64_t cid, const protocol::DescribeTopicRequest& req);
Frame handle_publish(HandlerContext& ctx, uint64_t cid, const protocol::PublishRequest& req, uint32_t round_robin);
Frame handle_fetch(HandlerContext& ctx, uint64_t cid, const protocol::FetchRequest& req);

}  // namespace causeway::server
