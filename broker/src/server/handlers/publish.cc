// Publish (docs/wire-protocol.md, "Publish"): decode the events, run the publish pipeline,
// answer one ack per event in request order.
#include "server/handlers.h"

namespace causeway::server {
namespace {

std::string_view bytes(const flatbuffers::Vector<uint8_t>* v) {
  return v ? std::string_view(reinterpret_cast<const char*>(v->data()), v->size()) : std::string_view();
}
std::string_view str(const flatbuffers::String* s) { return s ? std::string_view(s->data(), s->size()) : ""; }

Frame publish_response(uint64_t cid, const Result<std::vector<core::EventAck>>& acks) {
  flatbuffers::FlatBufferBuilder b(256);
  if (!acks) {
    auto st = wire::encode_status(b, acks.error());
    return finish_frame(b, cid, protocol::Body::PublishResponse, protocol::CreatePublishResponse(b, st).Union());
  }
  const size_t n = acks->size();
  std::vector<protocol::EventAck> wire(n);
  std::vector<flatbuffers::Offset<protocol::EventError>> errors;
  for (size_t i = 0; i < n; ++i) {
    const core::EventAck& a = (*acks)[i];
    // The ack's code carries SchemaMismatch / InvalidPayload (reasons with codes of their own).
    wire[i] = protocol::EventAck(a.partition, wire::error_code_of(a.status), a.duplicate, a.offset, a.lamport);
    if (!a.status.ok())
      errors.push_back(protocol::CreateEventError(
          b, static_cast<uint32_t>(i), b.CreateString(a.status.message().data(), a.status.message().size())));
  }
  auto ack_vec = b.CreateVectorOfStructs(wire);
  auto err_vec = b.CreateVector(errors);
  auto st = protocol::CreateStatus(b, protocol::ErrorCode::Ok);
  return finish_frame(b, cid, protocol::Body::PublishResponse,
                      protocol::CreatePublishResponse(b, st, ack_vec, err_vec).Union());
}

}  // namespace

void handle_publish(HandlerContext& ctx, uint64_t cid, const protocol::PublishRequest& req, uint32_t round_robin,
                    const Responder& respond) {
  const auto* events = req.events();
  const size_t n = events ? events->size() : 0;
  if (n == 0) return respond(error_frame(cid, protocol::ErrorCode::InvalidArgument, "publish request holds no events"));

  std::vector<std::vector<batch::Header>> headers(n);
  std::vector<core::PublishEvent> in(n);
  for (size_t i = 0; i < n; ++i) {
    const protocol::Event* e = events->Get(static_cast<flatbuffers::uoffset_t>(i));
    if (e == nullptr)
      return respond(error_frame(cid, protocol::ErrorCode::InvalidArgument, "publish request holds a null event"));
    if (const auto* hs = e->headers()) {
      for (const protocol::Header* h : *hs) {
        if (h == nullptr) continue;
        headers[i].push_back(batch::Header{str(h->name()), bytes(h->value())});
      }
    }
    in[i].record = batch::RecordInput{bytes(e->key()), bytes(e->dedup_key()), str(e->source()), str(e->type()),
                                        headers[i],         e->schema_id(),       bytes(e->payload())};
    in[i].partition = e->partition();
  }
  // The completion runs on whichever storage thread completes the last append (often a
  // sync leader): it only builds the response and hands it over, and never throws into the
  // log's sync loop.
  ctx.publish.publish_async(str(req.topic()), in, req.lamport(), round_robin,
                            [cid, respond](Result<std::vector<core::EventAck>> acks) noexcept {
                              Frame frame;
                              try {
                                frame = publish_response(cid, acks);
                              } catch (const std::exception& e) {
                                frame = Frame();
                              }
                              if (frame.empty()) {
                                try {
                                  frame = error_frame(cid, protocol::ErrorCode::Internal,
                                                      "could not build the publish response (out of memory?)");
                                } catch (...) {
                                  return;  // the connection will see no answer and time out
                                }
                              }
                              respond(std::move(frame));
                            });
}

}  // namespace causeway::server
