// Frame checks, the Hello exchange, response framing and request dispatch shared by the
// handlers (handlers.h).
#include "causeway/wire/frame.h"
#include "server/handlers.h"

namespace causeway::server {

Frame finish_frame(flatbuffers::FlatBufferBuilder& b, uint64_t cid, protocol::Body type,
                   flatbuffers::Offset<void> body) {
  return wire::finish_frame(b, cid, type, body);
}

Frame error_frame(uint64_t cid, protocol::ErrorCode code, std::string_view message) {
  flatbuffers::FlatBufferBuilder b(128 + message.size());
  // Protocol-level codes (100 and up) are reasons too.
  const uint16_t reason = static_cast<uint16_t>(code) >= 100 ? static_cast<uint16_t>(code) : 0;
  auto st = protocol::CreateStatus(b, code, b.CreateString(message.data(), message.size()), reason);
  auto body = protocol::CreateErrorResponse(b, st);
  return finish_frame(b, cid, protocol::Body::ErrorResponse, body.Union());
}

// A framing error is the client's fault: InvalidArgument, and the connection closes.
Status check_frame_length(uint32_t len, uint32_t max_frame) {
  if (Status s = wire::check_frame_length(len, max_frame); !s.ok()) {
    return invalid_argument(std::string(s.message()) + "; closing the connection");
  }
  return Status();
}

Status verify_request_frame(const uint8_t* frame, uint32_t len, uint32_t max_frame) {
  if (Status s = wire::verify_message(frame, len, max_frame); !s.ok()) {
    return invalid_argument(std::string(s.message()) + "; closing the connection");
  }
  return Status();
}

HelloOutcome handle_hello(const protocol::Message& msg, std::string_view broker_version, uint32_t max_frame_bytes,
                          uint64_t lamport, const Authenticate& authenticate) {
  const uint64_t cid = msg.correlation_id();
  const protocol::Hello* hello = msg.body_as_Hello();
  if (hello == nullptr) {
    return {error_frame(cid, protocol::ErrorCode::HandshakeRequired, "the first message on a connection must be Hello"),
            false};
  }
  flatbuffers::FlatBufferBuilder b(256);
  const auto* creds = hello->credentials();
  const std::string_view mech = creds && creds->mechanism() ? creds->mechanism()->string_view() : "none";
  Status status;
  if (hello->protocol_version() != kProtocolVersion) {
    status = Status(Code::kFailedPrecondition, Reason::kUnsupportedVersion,
                    "protocol version " + std::to_string(hello->protocol_version()) +
                        " is not supported; this broker speaks version " + std::to_string(kProtocolVersion));
  } else if (authenticate) {
    const auto* token = creds != nullptr ? creds->token() : nullptr;
    status = authenticate(mech, token != nullptr ? std::string_view(reinterpret_cast<const char*>(token->data()),
                                                                    token->size())
                                                 : std::string_view());
  } else if (mech != "none" && !mech.empty()) {
    status = Status(Code::kFailedPrecondition, Reason::kUnauthenticated,
                    "authentication mechanism \"" + std::string(mech) + "\" is not supported (use \"none\")");
  }
  auto st = wire::encode_status(b, status);
  auto version = b.CreateString(broker_version.data(), broker_version.size());
  auto body = protocol::CreateHelloResponse(b, st, kProtocolVersion, version, max_frame_bytes, lamport,
                                            /*ordered_member_requests=*/true);
  return {finish_frame(b, cid, protocol::Body::HelloResponse, body.Union()), status.ok()};
}

Frame handle_request(HandlerContext& ctx, const protocol::Message& m, const RequestOrigin& origin) {
  const uint64_t cid = m.correlation_id();
  // The verifier accepts a union whose type is set but whose table is absent.
  if (m.body() == nullptr)
    return error_frame(cid, protocol::ErrorCode::InvalidArgument, "message has no request body");
  switch (m.body_type()) {
    case protocol::Body::CreateTopicRequest: return handle_create_topic(ctx, cid, *m.body_as_CreateTopicRequest());
    case protocol::Body::DeleteTopicRequest: return handle_delete_topic(ctx, cid, *m.body_as_DeleteTopicRequest());
    case protocol::Body::ListTopicsRequest: return handle_list_topics(ctx, cid, origin);
    case protocol::Body::DescribeTopicRequest:
      return handle_describe_topic(ctx, cid, *m.body_as_DescribeTopicRequest());
    case protocol::Body::PublishRequest:
      // Answered asynchronously; see dispatch(). Reaching here is a bug, not bad input.
      return error_frame(cid, protocol::ErrorCode::Internal, "publish dispatched synchronously");
    case protocol::Body::FetchRequest: return handle_fetch(ctx, cid, *m.body_as_FetchRequest());
    case protocol::Body::Hello:
      return error_frame(cid, protocol::ErrorCode::InvalidArgument, "the connection has already said Hello");
    default:
      if (ctx.coordinator != nullptr) {
        if (auto f = handle_subscribe_family(ctx, m, origin)) return std::move(*f);
        if (auto f = handle_replay_family(ctx, m, origin)) return std::move(*f);
      }
      if (auto f = handle_auth_family(ctx, m, origin)) return std::move(*f);
      return error_frame(cid, protocol::ErrorCode::UnknownRequest,
                         "this broker does not handle request type " +
                             std::to_string(static_cast<int>(m.body_type())) + " (" +
                             protocol::EnumNameBody(m.body_type()) + ")");
  }
}

void dispatch(HandlerContext& ctx, const protocol::Message& m, uint32_t round_robin, const Responder& respond,
              const RequestOrigin& origin) {
  if (Status allowed = authorize_request(ctx, m, origin); !allowed.ok()) {
    respond(error_frame(m.correlation_id(), allowed));
    // A revoked token ends the connection (its members leave) once the answer is written.
    if (allowed.reason() == Reason::kUnauthenticated && origin.close_after_flush) origin.close_after_flush();
    return;
  }
  if (m.body_type() == protocol::Body::PublishRequest && m.body() != nullptr) {
    handle_publish(ctx, m.correlation_id(), *m.body_as_PublishRequest(), round_robin, respond);
    return;
  }
  if (m.body_type() == protocol::Body::SubscribeRequest && m.body() != nullptr && ctx.coordinator != nullptr) {
    handle_subscribe(ctx, m.correlation_id(), *m.body_as_SubscribeRequest(), origin, respond);
    return;
  }
  respond(handle_request(ctx, m, origin));
}

}  // namespace causeway::server
