// Fetch (docs/wire-protocol.md, "Fetch"): whole verified log batches from an offset.
#include <algorithm>
#include <cstring>

#include "server/handlers.h"

namespace causeway::server {

Frame handle_fetch(HandlerContext& ctx, uint64_t cid, const protocol::FetchRequest& req) {
  flatbuffers::FlatBufferBuilder b(1024);
  const std::string_view topic = req.topic() ? req.topic()->string_view() : std::string_view();
  const auto fail = [&](const Status& s) {
    auto st = wire::encode_status(b, s);
    return finish_frame(b, cid, protocol::Body::FetchResponse, protocol::CreateFetchResponse(b, st).Union());
  };
  auto config = ctx.store.get_topic(topic);
  if (!config) return fail(config.error());
  auto log = ctx.store.partition(topic, req.partition());
  if (!log)
    return fail(invalid_argument("partition " + std::to_string(req.partition()) + " does not exist; topic \"" +
                                 std::string(topic) + "\" has " + std::to_string(config->partitions)));
  // Leave room in the frame for the envelope; a single batch larger than that is still
  // sent whole (it was accepted under the same frame limit).
  const size_t max_bytes = std::min<size_t>(req.max_bytes() == 0 ? 1 : req.max_bytes(), ctx.max_frame_bytes / 2);
  const uint64_t max_events = req.max_events() == 0 ? 1 : req.max_events();
  auto read = log->read(req.offset(), max_bytes, max_events);
  if (!read) return fail(read.error());
  size_t total = 0;
  for (const auto& batch : read->batches) total += batch.bytes.size();
  uint8_t* dst = nullptr;
  auto vec = b.CreateUninitializedVector<uint8_t>(total, &dst);
  for (const auto& batch : read->batches) {
    std::memcpy(dst, batch.bytes.data(), batch.bytes.size());
    dst += batch.bytes.size();
  }
  auto st = protocol::CreateStatus(b, protocol::ErrorCode::Ok);
  return finish_frame(b, cid, protocol::Body::FetchResponse,
                      protocol::CreateFetchResponse(b, st, read->log_start_offset, read->high_watermark, vec).Union());
}

}  // namespace causeway::server
