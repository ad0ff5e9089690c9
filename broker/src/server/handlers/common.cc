// Response framing and request dispatch shared by the handlers.
#include <cstring>

#include "causeway/common/coding.h"
#include "server/handlers.h"

namespace causeway::server {

Frame finish_frame(flatbuffers::FlatBufferBuilder& b, uint64_t cid, protocol::Body type,
                   flatbuffers::Offset<void> body) {
  auto msg = protocol::CreateMessage(b, cid, type, body);
  protocol::FinishMessageBuffer(b, msg);
  Frame frame(4 + b.GetSize());
  coding::encode_fixed32(reinterpret_cast<char*>(frame.data()), static_cast<uint32_t>(b.GetSize()));
  std::memcpy(frame.data() + 4, b.GetBufferPointer(), b.GetSize());
  return frame;
}

protocol::ErrorCode to_error_code(const Status& s) {
  // Codes 0-11 of causeway::Code and protocol::ErrorCode are the same numbers by design.
  return static_cast<protocol::ErrorCode>(static_cast<uint16_t>(s.code()));
}

Frame error_frame(uint64_t cid, protocol::ErrorCode code, std::string_view message) {
  flatbuffers::FlatBufferBuilder b(128 + message.size());
  auto st = protocol::CreateStatus(b, code, b.CreateString(message.data(), message.size()));
  auto body = protocol::CreateErrorResponse(b, st);
  return finish_frame(b, cid, protocol::Body::ErrorResponse, body.Union());
}

Frame handle_request(HandlerContext& ctx, const protocol::Message& m, const RequestOrigin& origin) {
  const uint64_t cid = m.correlation_id();
  // The verifier accepts a union whose type is set but whose table is absent.
  if (m.body() == nullptr)
    return error_frame(cid, protocol::ErrorCode::InvalidArgument, "message has no request body");
  switch (m.body_type()) {
    case protocol::Body::CreateTopicRequest: return handle_create_topic(ctx, cid, *m.body_as_CreateTopicRequest());
    case protocol::Body::DeleteTopicRequest: return handle_delete_topic(ctx, cid, *m.body_as_DeleteTopicRequest());
    case protocol::Body::ListTopicsRequest: return handle_list_topics(ctx, cid);
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
      }
      return error_frame(cid, protocol::ErrorCode::UnknownRequest,
                         "this broker does not handle request type " +
                             std::to_string(static_cast<int>(m.body_type())) + " (" +
                             protocol::EnumNameBody(m.body_type()) + ")");
  }
}

void dispatch(HandlerContext& ctx, const protocol::Message& m, uint32_t round_robin, const Responder& respond,
              const RequestOrigin& origin) {
  if (m.body_type() == protocol::Body::PublishRequest && m.body() != nullptr) {
    handle_publish(ctx, m.correlation_id(), *m.body_as_PublishRequest(), round_robin, respond);
    return;
  }
  respond(handle_request(ctx, m, origin));
}

}  // namespace causeway::server
