// Archive replays over the wire (docs/wire-protocol.md, "Replays"; model in
// docs/targets.md, "Archive replay"): start, list, describe and cancel. Names and the
// range are checked by the coordinator and the meta store; strings are bounded by the
// frame and the verifier.
#include <string>
#include <vector>

#include "server/handlers.h"

namespace causeway::server {
namespace {

using protocol::Body;

std::string_view str(const flatbuffers::String* s) { return s ? s->string_view() : std::string_view(); }

flatbuffers::Offset<protocol::ReplayDescription> describe(flatbuffers::FlatBufferBuilder& b, const meta::ReplayRecord& r) {
  std::vector<flatbuffers::Offset<protocol::ReplayPartitionInfo>> parts;
  parts.reserve(r.partitions.size());
  for (const meta::ReplayPartition& p : r.partitions) {
    parts.push_back(protocol::CreateReplayPartitionInfo(b, p.partition, p.start, p.end, p.next, p.delivered,
                                                        p.dead_lettered, p.filtered));
  }
  const auto partitions = b.CreateVector(parts);
  return protocol::CreateReplayDescription(b, b.CreateString(r.name), b.CreateString(r.subscription),
                                           b.CreateString(r.topic), r.from_ms, r.to_ms, r.to_lamport,
                                           b.CreateString(meta::replay_state_name(r.state)), b.CreateString(r.error),
                                           r.created_ms, r.finished_ms, partitions);
}

template <typename Create>
Frame answer(uint64_t cid, Body type, const Result<meta::ReplayRecord>& r, Create create) {
  flatbuffers::FlatBufferBuilder b(512);
  auto st = wire::encode_status(b, r.status());
  auto body = r ? create(b, st, describe(b, *r)) : create(b, st, flatbuffers::Offset<protocol::ReplayDescription>());
  return finish_frame(b, cid, type, body.Union());
}

}  // namespace

std::optional<Frame> handle_replay_family(HandlerContext& ctx, const protocol::Message& m, const RequestOrigin& origin) {
  subscribe::Coordinator& co = *ctx.coordinator;
  const uint64_t cid = m.correlation_id();
  switch (m.body_type()) {
    case Body::StartReplayRequest: {
      const protocol::StartReplayRequest& req = *m.body_as_StartReplayRequest();
      subscribe::Coordinator::ReplayRequest r;
      r.name = std::string(str(req.name()));
      r.subscription = std::string(str(req.subscription()));
      r.from_ms = req.from_ms();
      r.to_ms = req.to_ms();
      r.to_lamport = req.to_lamport();
      return answer(cid, Body::StartReplayResponse, co.start_replay(std::move(r)),
                    [](auto& b, auto st, auto d) { return protocol::CreateStartReplayResponse(b, st, d); });
    }
    case Body::DescribeReplayRequest:
      return answer(cid, Body::DescribeReplayResponse, co.describe_replay(str(m.body_as_DescribeReplayRequest()->name())),
                    [](auto& b, auto st, auto d) { return protocol::CreateDescribeReplayResponse(b, st, d); });
    case Body::CancelReplayRequest:
      return answer(cid, Body::CancelReplayResponse, co.cancel_replay(str(m.body_as_CancelReplayRequest()->name())),
                    [](auto& b, auto st, auto d) { return protocol::CreateCancelReplayResponse(b, st, d); });
    case Body::ListReplaysRequest: {
      auto list = co.list_replays(str(m.body_as_ListReplaysRequest()->subscription()));
      flatbuffers::FlatBufferBuilder b(1024);
      auto st = wire::encode_status(b, list.status());
      std::vector<flatbuffers::Offset<protocol::ReplayDescription>> all;
      if (list)
        for (const meta::ReplayRecord& r : *list)
          if (visible(ctx, origin, r.topic)) all.push_back(describe(b, r));
      auto body = protocol::CreateListReplaysResponse(b, st, b.CreateVector(all));
      return finish_frame(b, cid, Body::ListReplaysResponse, body.Union());
    }
    default: return std::nullopt;
  }
}

}  // namespace causeway::server
