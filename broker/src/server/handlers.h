// File: server/handlers.h
//
// Request handlers: each takes a verified request table and returns the response frame
// (length prefix included), or, for publishes, hands it to a Responder once the events are
// durable. They run on storage threads (they may block on disk) and never throw; every
// failure becomes a response status. Semantics: docs/wire-protocol.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "causeway/schemas/protocol_generated.h"
#include "auth/authorizer.h"
#include "causeway/wire/status.h"
#include "core/event_store.h"
#include "core/publish_pipeline.h"
#include "subscribe/coordinator.h"

namespace causeway::server {

struct HandlerContext {
  core::EventStore& store;
  core::PublishPipeline& publish;
  uint32_t max_frame_bytes;
  subscribe::Coordinator* coordinator = nullptr;  // null: the subscribe family is UnknownRequest
  // Tokens and ACLs (docs/security.md); null: every request is allowed and the token/ACL
  // requests are answered Unavailable.
  auth::Authorizer* authorizer = nullptr;
};

// The connection a request came in on: subscribe requests bind members to it.
struct RequestOrigin {
  uint64_t connection_id = 0;
  std::shared_ptr<subscribe::DeliverySink> sink;
  // Who sent it (set after the Hello); null: no authorization (tests, fuzzers).
  std::shared_ptr<const auth::Principal> principal{};
  // Ends the connection once what is queued for it is written (a revoked token).
  std::function<void()> close_after_flush{};
};

using Frame = std::vector<uint8_t>;

// Whether the request's principal may learn that `topic` exists (lists leave out the rest).
bool visible(HandlerContext& ctx, const RequestOrigin& origin, std::string_view topic);
// OK, or why the request's principal may not make it (docs/security.md, "Tokens and ACLs").
Status authorize_request(HandlerContext& ctx, const protocol::Message& message, const RequestOrigin& origin);
// Tokens, ACLs and WhoAmI (handlers/auth.cc); nullopt for other requests.
std::optional<Frame> handle_auth_family(HandlerContext& ctx, const protocol::Message& message,
                                        const RequestOrigin& origin);

// Finishes `builder` holding a Message with `body` into a frame: u32 LE length + bytes.
Frame finish_frame(flatbuffers::FlatBufferBuilder& builder, uint64_t correlation_id, protocol::Body type,
                   flatbuffers::Offset<void> body);
// The Delivery frame (correlation id 0) for what the coordinator pushes to a member.
Frame encode_delivery(const subscribe::DeliveryBatch& batch);
// An ErrorResponse frame.
Frame error_frame(uint64_t correlation_id, protocol::ErrorCode code, std::string_view message);
Frame error_frame(uint64_t correlation_id, const Status& status);

// ---------------------------------------------------------------- framing (server.cc)
// The steps a connection takes on received bytes, pure so that tests/fuzz can drive them
// without a socket (tests/fuzz/server_frame_fuzzer.cc).

inline constexpr uint32_t kProtocolVersion = 1;

// Checks a frame's length prefix: kInvalidArgument naming both numbers for 0 or more than
// max_frame_bytes. The connection cannot resynchronise after that.
Status check_frame_length(uint32_t length, uint32_t max_frame_bytes);
// Verifies a received frame (without its length prefix; aligned to wire::kFrameAlignment, as
// FlatBuffers reads scalars in place) as a Message with the wire's verifier limits.
// kInvalidArgument naming its size otherwise.
Status verify_request_frame(const uint8_t* frame, uint32_t length, uint32_t max_frame_bytes);

// The answer to the first message of a connection: a HelloResponse (accepted, or refusing
// the protocol version or credentials), or an ErrorResponse when the message is not a Hello.
struct HelloOutcome {
  Frame response;
  bool accepted = false;  // false: send `response` and close the connection
};
// `authenticate` (when set) judges the credentials (mechanism, token bytes); without it only
// mechanism "none" is accepted.
using Authenticate = std::function<Status(std::string_view mechanism, std::string_view token)>;
HelloOutcome handle_hello(const protocol::Message& first, std::string_view broker_version, uint32_t max_frame_bytes,
                          uint64_t lamport, const Authenticate& authenticate = {});

// Receives a request's response frame; called exactly once per request, from any thread.
using Responder = std::function<void(Frame)>;

// Dispatches one verified request (anything but Hello): publishes (answered once durable)
// and subscribes (answered from inside the join) through `respond` themselves, the rest
// through handle_request. `round_robin` is the connection's counter for keyless publishes.
void dispatch(HandlerContext& ctx, const protocol::Message& message, uint32_t round_robin, const Responder& respond,
              const RequestOrigin& origin = {});

// Answers one verified request that is answered synchronously (everything but publish and
// subscribe).
Frame handle_request(HandlerContext& ctx, const protocol::Message& message, const RequestOrigin& origin = {});
// The subscribe family (docs/wire-protocol.md, "Subscribe"); nullopt if `message` is not one.
std::optional<Frame> handle_subscribe_family(HandlerContext& ctx, const protocol::Message& message,
                                             const RequestOrigin& origin);
// One handler per request of the family; each needs ctx.coordinator.
// Answers through `respond` before the new member's first Delivery is queued (see
// Coordinator::join), so the client knows the member id its deliveries carry.
void handle_subscribe(HandlerContext& ctx, uint64_t cid, const protocol::SubscribeRequest& req,
                      const RequestOrigin& origin, const Responder& respond);
Frame handle_heartbeat(HandlerContext& ctx, uint64_t cid,
                       const protocol::HeartbeatRequest& req, const RequestOrigin& origin);
Frame handle_leave_group(HandlerContext& ctx, uint64_t cid,
                         const protocol::LeaveGroupRequest& req, const RequestOrigin& origin);
Frame handle_credit(HandlerContext& ctx, uint64_t cid, const protocol::CreditRequest& req, const RequestOrigin& origin);
Frame handle_ack(HandlerContext& ctx, uint64_t cid, const protocol::AckRequest& req, const RequestOrigin& origin);
Frame handle_nack(HandlerContext& ctx, uint64_t cid, const protocol::NackRequest& req, const RequestOrigin& origin);
Frame handle_extend_deadline(HandlerContext& ctx, uint64_t cid,
                             const protocol::ExtendDeadlineRequest& req, const RequestOrigin& origin);
Frame handle_create_subscription(HandlerContext& ctx, uint64_t cid, const protocol::CreateSubscriptionRequest& req);
Frame handle_update_subscription(HandlerContext& ctx, uint64_t cid, const protocol::UpdateSubscriptionRequest& req);
Frame handle_delete_subscription(HandlerContext& ctx, uint64_t cid, const protocol::DeleteSubscriptionRequest& req);
Frame handle_describe_subscription(HandlerContext& ctx, uint64_t cid, const protocol::DescribeSubscriptionRequest& req);
Frame handle_list_subscriptions(HandlerContext& ctx, uint64_t cid, const protocol::ListSubscriptionsRequest& req,
                                const RequestOrigin& origin = {});
Frame handle_describe_group(HandlerContext& ctx, uint64_t cid, const protocol::DescribeGroupRequest& req);
// Archive replays (handlers/replays.cc): start, list, describe, cancel; nullopt for others.
std::optional<Frame> handle_replay_family(HandlerContext& ctx, const protocol::Message& m,
                                         const RequestOrigin& origin = {});


Frame handle_create_topic(HandlerContext& ctx, uint64_t cid, const protocol::CreateTopicRequest& req);
Frame handle_delete_topic(HandlerContext& ctx, uint64_t cid, const protocol::DeleteTopicRequest& req);
Frame handle_list_topics(HandlerContext& ctx, uint64_t cid, const RequestOrigin& origin = {});
Frame handle_describe_topic(HandlerContext& ctx, uint64_t cid, const protocol::DescribeTopicRequest& req);
// Issues the appends and returns; `respond` runs when every event's outcome is known.
void handle_publish(HandlerContext& ctx, uint64_t cid, const protocol::PublishRequest& req, uint32_t round_robin,
                    const Responder& respond);
Frame handle_fetch(HandlerContext& ctx, uint64_t cid, const protocol::FetchRequest& req);

}  // namespace causeway::server
