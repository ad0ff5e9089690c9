// File: client/src/protocol_codec.h
//
// Translation between the client's value types (causeway/client/types.h) and the wire
// messages of schemas/protocol.fbs (meanings in docs/wire-protocol.md): request encoders
// that produce whole frames, response readers that check the body type and status, and the
// decoding of fetched log batches (docs/log-format.md). Everything here is pure.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/client/types.h"
#include "causeway/common/status.h"
#include "causeway/wire/status.h"
#include "client/src/frame.h"

namespace causeway::client::internal {

inline constexpr uint32_t kProtocolVersion = 1;

// Maps a wire code (an EventAck's, which has no reason field) to a causeway::Status through
// wire::decode_status: codes 1-11 map one to one; protocol-level codes map to the closest
// causeway::Code with their Reason (SchemaMismatch, InvalidPayload, ...).
Status status_from_wire(protocol::ErrorCode code, std::string_view message);

// The status carried by a response of kind `expected`. An ErrorResponse yields its status;
// any other body kind is kInternal ("expected X, got Y").
Status response_status(const Frame& frame, protocol::Body expected);

// Estimated bytes an event adds to a PublishRequest (for batching against max_batch_bytes).
std::size_t estimated_event_bytes(const Event& event);

// `token` empty: mechanism "none"; else "token" with it.
std::vector<uint8_t> encode_hello(uint64_t correlation_id, const std::string& client_name,
                                  const std::string& token = "");
std::vector<uint8_t> encode_create_token(uint64_t correlation_id, const std::string& principal,
                                         const std::string& description);
std::vector<uint8_t> encode_list_tokens(uint64_t correlation_id);
std::vector<uint8_t> encode_revoke_token(uint64_t correlation_id, const std::string& id);
// `add`: AddAclRequest, else RemoveAclRequest.
std::vector<uint8_t> encode_acl_change(uint64_t correlation_id, const AclEntry& acl, bool add);
std::vector<uint8_t> encode_list_acls(uint64_t correlation_id, const std::string& principal);
std::vector<uint8_t> encode_whoami(uint64_t correlation_id);
std::vector<uint8_t> encode_create_topic(uint64_t correlation_id, const TopicSpec& spec);
std::vector<uint8_t> encode_delete_topic(uint64_t correlation_id, const std::string& name);
std::vector<uint8_t> encode_list_topics(uint64_t correlation_id);
std::vector<uint8_t> encode_describe_topic(uint64_t correlation_id, const std::string& name);
std::vector<uint8_t> encode_fetch(uint64_t correlation_id, const std::string& topic, uint32_t partition,
                                  uint64_t offset, uint32_t max_events, uint32_t max_bytes);
std::vector<uint8_t> encode_publish(uint64_t correlation_id, const std::string& topic, uint64_t lamport,
                                    std::span<const Event* const> events);

struct HelloInfo {
  uint32_t protocol_version = 0;
  std::string broker_version;
  uint32_t max_frame_bytes = 0;
  uint64_t lamport = 0;
  // HelloResponse.ordered_member_requests: member requests applied and answered in order,
  // quiet acks honoured (false from brokers before it).
  bool ordered_member_requests = false;
};
// kFailedPrecondition for a refused version or credentials; kInternal for a wrong body.
Result<HelloInfo> parse_hello_response(const Frame& frame);

TopicInfo topic_from_wire(const protocol::TopicDescription& topic);

// The outcome of each event of a PublishRequest of `events` events, in request order: its
// ack, or why the broker did not store it (status_from_wire of the ack's code with the
// EventError message, else "event rejected"). The Result itself is an error when the frame
// tells no event's outcome: the response's status (response_status), or kInternal when it
// holds a different number of acks than events (resending could then store twice).
Result<std::vector<Result<PublishAck>>> decode_publish_response(const Frame& frame, std::size_t events);

// A FetchResponse for a fetch of `topic`/`partition` from `offset`: its status
// (response_status), then its positions and the events of its batches
// (decode_fetched_batches).
Result<FetchResult> decode_fetch_response(const Frame& frame, const std::string& topic, uint32_t partition,
                                          uint64_t offset, uint32_t max_events);

// Decodes `batches` (log-format batches back to back) into out.events: records with offset
// >= `offset`, at most max_events in total. kCorruption if a batch is short or fails its
// checks. Sets out.next_offset.
Status decode_fetched_batches(std::string_view batches, const std::string& topic, uint32_t partition,
                              uint64_t offset, uint32_t max_events, FetchResult& out);

// ---------------------------------------------------------------- subscribe family
std::vector<uint8_t> encode_create_subscription(uint64_t correlation_id, const SubscriptionSpec& spec);
std::vector<uint8_t> encode_delete_subscription(uint64_t correlation_id, const std::string& name);
std::vector<uint8_t> encode_list_subscriptions(uint64_t correlation_id, const std::string& topic);
std::vector<uint8_t> encode_describe_subscription(uint64_t correlation_id, const std::string& name);
// `pattern` empty: the subscription's pattern is removed.
std::vector<uint8_t> encode_update_subscription_pattern(uint64_t correlation_id, const std::string& name,
                                                       const std::string& pattern);
std::vector<uint8_t> encode_describe_group(uint64_t correlation_id, const std::string& name);
std::vector<uint8_t> encode_subscribe(uint64_t correlation_id, const SubscriptionSpec& spec, uint32_t credit_events,
                                      uint32_t credit_bytes, bool create_if_missing, const std::string& client_name);
std::vector<uint8_t> encode_heartbeat(uint64_t correlation_id, const std::string& subscription,
                                      const std::string& member_id);
// `processing` (partition → offsets) with release_unprocessed: the events handed to the
// application and not settled; everything else in flight is given back uncounted.
std::vector<uint8_t> encode_leave(uint64_t correlation_id, const std::string& subscription, const std::string& member_id,
                                  bool release_unprocessed = false,
                                  const std::map<uint32_t, std::vector<uint64_t>>& processing = {});
// `durable`: answered once the acks are on disk; `offsets` may then be empty. `quiet`
// (without `durable`): answered only if the broker refuses it (AckRequest.quiet).
std::vector<uint8_t> encode_ack(uint64_t correlation_id, const std::string& subscription, const std::string& member_id,
                                uint32_t partition, std::span<const uint64_t> offsets, bool durable = false,
                                bool quiet = false);
// AckResponse.durable of an AckResponse frame (false for any other frame).
bool ack_was_durable(const Frame& frame);
std::vector<uint8_t> encode_nack(uint64_t correlation_id, const std::string& subscription, const std::string& member_id,
                                 uint32_t partition, std::span<const uint64_t> offsets, uint32_t delay_ms,
                                 const std::string& reason);

std::vector<uint8_t> encode_extend_deadline(uint64_t correlation_id, const std::string& subscription,
                                            const std::string& member_id, uint32_t partition,
                                            std::span<const uint64_t> offsets, uint32_t extend_ms);

SubscriptionInfo subscription_from_wire(const protocol::SubscriptionDescription& d);

// Archive replays (docs/wire-protocol.md, "Replays").
std::vector<uint8_t> encode_start_replay(uint64_t correlation_id, const ReplaySpec& spec);
std::vector<uint8_t> encode_list_replays(uint64_t correlation_id, const std::string& subscription);
std::vector<uint8_t> encode_describe_replay(uint64_t correlation_id, const std::string& name);
std::vector<uint8_t> encode_cancel_replay(uint64_t correlation_id, const std::string& name);
ReplayInfo replay_from_wire(const protocol::ReplayDescription& d);
GroupInfo group_from_wire(const protocol::DescribeGroupResponse& r);
// The events of a Delivery push (kInternal if the frame is not one).
Result<std::vector<DeliveredEvent>> decode_delivery(const Frame& frame);

}  // namespace causeway::client::internal
