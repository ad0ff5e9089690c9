// Fuzz target for wire frames as the client library decodes them (docs/wire-protocol.md,
// client/src/frame.h and protocol_codec.h): what a broker (or anything listening on its
// port) sends must become a value or a Status, never a crash, hang or out-of-bounds read.
//
// Input: what the client reads on one connection, frames back to back (u32 LE length +
// Message), as Connection::read_frame takes them: decode_frame_length, then verify_frame.
// Every verified frame goes through every reader the client has, whatever its body type
// (a broker may answer anything to anything): response_status for each response kind,
// parse_hello_response, decode_publish_response, decode_fetch_response (with the offset and
// max_events taken from the correlation id), decode_delivery, and the topic, subscription
// and group readers. Results are checked against the documented contracts: one outcome per
// event, fetched events in ascending offsets from the requested one, at most max_events,
// next_offset one past the last.
//
// The custom mutator is structure-aware (tests/fuzz/frame_mutator.h), and keeps the CRCs of
// FetchResponse.batches right most of the time so that the batch decoding behind them runs.
// Built as a libFuzzer target with Clang (-DCAUSEWAY_BUILD_FUZZERS=ON) and, always, linked
// with corpus_driver.cc so that ctest replays corpus/client_frame and runs the mutator.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "client/src/frame.h"
#include "client/src/protocol_codec.h"
#include "tests/fuzz/frame_mutator.h"

namespace {

namespace ci = causeway::client::internal;
namespace pr = causeway::protocol;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "client_frame_fuzzer: %s\n", what.c_str());
  std::abort();
}

constexpr pr::Body kResponseKinds[] = {
    pr::Body::HelloResponse,          pr::Body::CreateTopicResponse,        pr::Body::DeleteTopicResponse,
    pr::Body::ListTopicsResponse,     pr::Body::DescribeTopicResponse,      pr::Body::PublishResponse,
    pr::Body::FetchResponse,          pr::Body::SubscribeResponse,          pr::Body::HeartbeatResponse,
    pr::Body::LeaveGroupResponse,     pr::Body::AckResponse,                pr::Body::NackResponse,
    pr::Body::CreditResponse,         pr::Body::CreateSubscriptionResponse, pr::Body::DeleteSubscriptionResponse,
    pr::Body::ListSubscriptionsResponse, pr::Body::DescribeSubscriptionResponse, pr::Body::DescribeGroupResponse,
    pr::Body::ExtendDeadlineResponse, pr::Body::UpdateSubscriptionResponse, pr::Body::StartReplayResponse,
    pr::Body::ListReplaysResponse,    pr::Body::DescribeReplayResponse,     pr::Body::CancelReplayResponse,
    pr::Body::CreateTokenResponse,    pr::Body::ListTokensResponse,         pr::Body::RevokeTokenResponse,
    pr::Body::AddAclResponse,         pr::Body::RemoveAclResponse,          pr::Body::ListAclsResponse,
    pr::Body::WhoAmIResponse,
};

void check_publish(const ci::Frame& frame) {
  const auto* body = frame.message().body_as_PublishResponse();
  const size_t acks = body && body->acks() ? body->acks()->size() : 0;
  for (const size_t events : {acks, acks + 1}) {
    auto outcomes = ci::decode_publish_response(frame, events);
    if (outcomes && outcomes->size() != events) {
      fail(std::to_string(outcomes->size()) + " publish outcomes for " + std::to_string(events) + " events");
    }
    if (outcomes && events != acks) fail("publish outcomes accepted from a response with another ack count");
  }
}

void check_fetch(const ci::Frame& frame) {
  const uint64_t cid = frame.message().correlation_id();
  const uint64_t offset = cid >> 16;
  const uint32_t max_events = static_cast<uint32_t>(cid & 0x3ff);
  auto result = ci::decode_fetch_response(frame, "orders", static_cast<uint32_t>((cid >> 10) & 0x3f), offset,
                                          max_events);
  if (!result) return;
  if (result->events.size() > max_events) {
    fail(std::to_string(result->events.size()) + " fetched events for max_events " + std::to_string(max_events));
  }
  uint64_t expect_next = offset;
  for (size_t i = 0; i < result->events.size(); ++i) {
    const uint64_t o = result->events[i].offset;
    if (o < offset) fail("fetched offset " + std::to_string(o) + " below the requested " + std::to_string(offset));
    if (i > 0 && o <= result->events[i - 1].offset) {
      fail("fetched offsets not ascending: " + std::to_string(result->events[i - 1].offset) + " then " +
           std::to_string(o));
    }
    expect_next = o + 1;
  }
  if (result->next_offset != expect_next) {
    fail("next_offset " + std::to_string(result->next_offset) + ", expected " + std::to_string(expect_next));
  }
}

// A replay as the CLI shows it: whatever the broker sent, progress never runs past 100%.
void check_replay(const pr::ReplayDescription& d) {
  const causeway::client::ReplayInfo r = ci::replay_from_wire(d);
  for (const auto& p : r.partitions) {
    if (p.start_offset > p.next_offset || p.next_offset > p.end_offset) fail("replay partition cursor outside its range");
  }
  if (r.done() > r.total()) fail("replay done " + std::to_string(r.done()) + " > total " + std::to_string(r.total()));
}

void read_every_way(const ci::Frame& frame) {
  for (const pr::Body kind : kResponseKinds) (void)ci::response_status(frame, kind);
  (void)ci::parse_hello_response(frame);
  check_publish(frame);
  check_fetch(frame);
  (void)ci::decode_delivery(frame);
  const pr::Message& m = frame.message();
  if (m.body() == nullptr) return;  // a union type without its table verifies
  switch (m.body_type()) {
    case pr::Body::CreateTopicResponse:
      if (const auto* t = m.body_as_CreateTopicResponse()->topic()) (void)ci::topic_from_wire(*t);
      break;
    case pr::Body::DescribeTopicResponse:
      if (const auto* t = m.body_as_DescribeTopicResponse()->topic()) (void)ci::topic_from_wire(*t);
      break;
    case pr::Body::ListTopicsResponse:
      if (const auto* ts = m.body_as_ListTopicsResponse()->topics()) {
        for (const auto* t : *ts) (void)ci::topic_from_wire(*t);
      }
      break;
    case pr::Body::CreateSubscriptionResponse:
      if (const auto* d = m.body_as_CreateSubscriptionResponse()->subscription()) (void)ci::subscription_from_wire(*d);
      break;
    case pr::Body::DescribeSubscriptionResponse:
      if (const auto* d = m.body_as_DescribeSubscriptionResponse()->subscription())
        (void)ci::subscription_from_wire(*d);
      break;
    case pr::Body::ListSubscriptionsResponse:
      if (const auto* ds = m.body_as_ListSubscriptionsResponse()->subscriptions()) {
        for (const auto* d : *ds) (void)ci::subscription_from_wire(*d);
      }
      break;
    case pr::Body::DescribeGroupResponse:
      (void)ci::group_from_wire(*m.body_as_DescribeGroupResponse());
      break;
    case pr::Body::DescribeReplayResponse:
      if (const auto* d = m.body_as_DescribeReplayResponse()->replay()) check_replay(*d);
      break;
    case pr::Body::ListReplaysResponse:
      if (const auto* ds = m.body_as_ListReplaysResponse()->replays()) {
        for (const auto* d : *ds) check_replay(*d);
      }
      break;
    default: break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> rest(data, size);
  while (rest.size() >= ci::kFrameLengthBytes) {
    auto length = ci::decode_frame_length(rest.first<ci::kFrameLengthBytes>(), ci::kDefaultMaxFrameBytes);
    if (!length) return 0;  // the client closes the connection
    rest = rest.subspan(ci::kFrameLengthBytes);
    if (rest.size() < *length) return 0;
    auto frame = ci::verify_frame(std::vector<uint8_t>(rest.begin(), rest.begin() + *length), ci::kDefaultMaxFrameBytes);
    if (!frame) return 0;
    rest = rest.subspan(*length);
    read_every_way(*frame);
  }
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return causeway::fuzz::FrameMutator::instance().mutate(data, size, max_size, seed);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* data1, size_t size1, const uint8_t* data2, size_t size2,
                                            uint8_t* out, size_t max_out_size, unsigned int seed) {
  return causeway::fuzz::FrameMutator::instance().cross_over(data1, size1, data2, size2, out, max_out_size, seed);
}
