// Deliveries on the wire (docs/wire-protocol.md, "Subscribe"): the frame the broker pushes
// for a DeliveryBatch the coordinator hands a connection's sink.
#include "server/handlers.h"

namespace causeway::server {
namespace {

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> bytes(flatbuffers::FlatBufferBuilder& b, std::string_view s) {
  return b.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

Frame encode_delivery(const subscribe::DeliveryBatch& batch) {
  flatbuffers::FlatBufferBuilder b(1024);
  std::vector<flatbuffers::Offset<protocol::DeliveredEvent>> events;
  events.reserve(batch.events.size());
  std::vector<flatbuffers::Offset<protocol::Header>> headers;
  for (const subscribe::DeliveredRecord& e : batch.events) {
    const auto& r = e.record;
    headers.clear();
    for (const auto& h : r.headers) {
      headers.push_back(protocol::CreateHeader(b, b.CreateString(h.name.data(), h.name.size()), bytes(b, h.value)));
    }
    events.push_back(protocol::CreateDeliveredEvent(
        b, r.offset, r.lamport, r.time_ms, e.attempt, bytes(b, r.key), bytes(b, r.dedup_key),
        b.CreateString(r.source.data(), r.source.size()), b.CreateString(r.type.data(), r.type.size()),
        b.CreateVector(headers), r.schema_id, bytes(b, r.payload)));
  }
  auto body = protocol::CreateDelivery(
      b, b.CreateString(batch.subscription.data(), batch.subscription.size()),
      b.CreateString(batch.topic.data(), batch.topic.size()), batch.partition, 0, 0, 0,
      b.CreateString(batch.member_id.data(), batch.member_id.size()), b.CreateVector(events));
  return finish_frame(b, 0, protocol::Body::Delivery, body.Union());  // pushed: correlation id 0
}

}  // namespace causeway::server
