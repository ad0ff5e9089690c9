// File: causeway/client/types.h
//
// Plain value types of the client API: events as a producer hands them over, publish acks,
// topic specifications and descriptions, and events read back by Admin::fetch. They mirror
// the wire messages of docs/wire-protocol.md (schemas/protocol.fbs) without exposing
// FlatBuffers. All types are regular values: copyable, movable, no hidden sharing, so they
// may be handed between threads freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace causeway::client {

// One event header: a name and an opaque value.
struct Header {
  std::string name;
  std::string value;  // bytes; not required to be text

  friend bool operator==(const Header&, const Header&) = default;
};

// An event to publish. Only `payload` is usually set; everything else is optional.
struct Event {
  std::string key;        // partition key: the same key always lands in the same partition
  std::string dedup_key;  // stored once per topic within its dedup window (empty: no dedup)
  std::string source;     // who produced it, e.g. "orders-service"
  std::string type;       // what it is, e.g. "order.created"
  std::vector<Header> headers;
  uint32_t schema_id = 0;  // registry schema id of the payload; 0 = none
  std::string payload;     // bytes
  int32_t partition = -1;  // explicit partition; -1: by key hash, else round robin
};

// The broker's answer for one stored (or deduplicated) event.
struct PublishAck {
  uint32_t partition = 0;
  uint64_t offset = 0;
  uint64_t lamport = 0;
  // True when the dedup key was already stored within the topic's window: partition,
  // offset and lamport are then those of the original event.
  bool duplicate = false;
};

enum class Durability {
  kFsync,  // acked after fdatasync (survives power loss); the default
  kOs,     // acked after write(); synced on an interval (survives a broker crash only)
};

// What to create. Defaults are those of TopicSettings in schemas/protocol.fbs.
struct TopicSpec {
  std::string name;  // 1-249 chars of [A-Za-z0-9._-], not "." or ".."
  uint32_t partitions = 1;
  Durability durability = Durability::kFsync;
  std::chrono::milliseconds dedup_window{std::chrono::minutes(2)};
  std::chrono::milliseconds retention{std::chrono::hours(24 * 7)};  // 0: keep forever
  uint64_t retention_bytes = 0;                                     // per partition; 0: unlimited
  uint64_t segment_bytes = uint64_t{1} << 30;
  std::string schema_subject;  // empty: not bound to a registry subject
  // With a subject: also verify each payload against its schema (validate=full), not only
  // that its schema id is a version of the subject (validate=id).
  bool validate_payloads = false;
};

struct PartitionInfo {
  uint32_t partition = 0;
  uint64_t log_start_offset = 0;  // first offset still stored
  uint64_t high_watermark = 0;    // next offset; readers see [log_start_offset, high_watermark)
  uint64_t size_bytes = 0;
  uint64_t last_lamport = 0;
};

struct TopicInfo {
  TopicSpec spec;  // spec.name is the topic's name
  uint32_t topic_id = 0;
  int64_t created_ms = 0;                 // Unix epoch milliseconds
  std::vector<PartitionInfo> partitions;  // filled by describe_topic only
};

// An event read back from a partition.
struct FetchedEvent {
  std::string topic;
  uint32_t partition = 0;
  uint64_t offset = 0;
  uint64_t lamport = 0;
  int64_t time_ms = 0;  // broker time at append, Unix epoch milliseconds
  std::string key;
  std::string dedup_key;
  std::string source;
  std::string type;
  std::vector<Header> headers;
  uint32_t schema_id = 0;
  std::string payload;
};

struct FetchResult {
  std::vector<FetchedEvent> events;  // offsets ascending, all >= the requested offset
  uint64_t log_start_offset = 0;
  uint64_t high_watermark = 0;
  // Where to continue: one past the last returned event, or the requested offset when
  // nothing was returned.
  uint64_t next_offset = 0;
};

// ---------------------------------------------------------------- subscriptions (docs/subscriptions.md)

// Where a new subscription starts in each partition; resolved once, when it is created.
struct StartPosition {
  enum class Kind { kEarliest, kLatest, kOffset, kTime, kLamport };
  Kind kind = Kind::kLatest;
  uint64_t value = 0;  // the offset, the time (ms since the Unix epoch) or the Lamport stamp

  static StartPosition earliest() { return {Kind::kEarliest, 0}; }
  static StartPosition latest() { return {Kind::kLatest, 0}; }
  static StartPosition offset(uint64_t o) { return {Kind::kOffset, o}; }
  static StartPosition time_ms(int64_t t) { return {Kind::kTime, static_cast<uint64_t>(t)}; }
  static StartPosition lamport(uint64_t l) { return {Kind::kLamport, l}; }
  friend bool operator==(const StartPosition&, const StartPosition&) = default;
};

// An HTTP rule target (docs/targets.md, "HTTP targets").
struct HttpTargetSpec {
  std::string url;                          // http://HOST[:PORT]/PATH or https://...
  uint32_t rate_per_second = 0;             // requests started per second; 0: no limit
  uint32_t concurrency = 8;                 // requests at a time (1 to 256)
  std::chrono::milliseconds timeout{5000};  // per request; below the ack deadline
  // Sent with every request (e.g. Authorization). The broker never logs the values, and
  // describe returns the names only (with empty values).
  std::vector<std::pair<std::string, std::string>> headers;
  friend bool operator==(const HttpTargetSpec&, const HttpTargetSpec&) = default;
};

// A durable named subscription; the group that consumes it has its name.
struct SubscriptionSpec {
  std::string name;   // 1-249 chars of [A-Za-z0-9._-]
  std::string topic;
  StartPosition start;
  std::chrono::milliseconds ack_deadline{30000};  // unacked this long: redelivered
  uint32_t max_attempts = 10;                     // deliveries before the dead-letter topic
  std::chrono::milliseconds backoff{1000};        // first retry delay; doubles per attempt
  std::chrono::milliseconds max_backoff{60000};
  std::chrono::milliseconds max_age{0};           // older events go to the dead-letter topic; 0: no limit
  std::string dead_letter_topic;                  // empty: "<topic>.dlq"
  // An EventBridge event pattern (docs/patterns.md): only matching events are delivered;
  // the rest count as done for the group. Empty: every event. The broker validates it and
  // refuses a bad one with kInvalidArgument naming the bad part.
  std::string pattern;
  // A rule target (docs/targets.md): empty, the subscription is consumed by a group of
  // subscribers; a topic name, the broker forwards each matching event to that topic
  // itself (at least once, stored once) and subscribers cannot join it.
  std::string target_topic;
  // Or an HTTP endpoint the broker POSTs each matching event to (docs/targets.md, "HTTP
  // targets"); empty url: none. Exclusive with target_topic.
  HttpTargetSpec target_http;
  // What a topic or HTTP target receives (docs/targets.md, "Input transformation"):
  // EventBridge's InputPath, or InputTransformer's template with its paths. All empty:
  // the event as patterns see it. The broker refuses bad paths or templates.
  std::string input_path;
  std::string input_template;
  std::map<std::string, std::string> input_paths;
};

// A rule target's counters since the broker started (docs/targets.md).
struct TargetInfo {
  std::string kind;         // "topic" or "http"
  std::string destination;  // the target topic, or the endpoint's URL (its query hidden)
  uint64_t delivered = 0;   // events forwarded
  uint64_t retried = 0;     // forwards that failed and are tried again
  uint64_t dead_lettered = 0;
  uint32_t in_flight = 0;
  std::string last_error;   // empty if none
  int64_t last_error_ms = 0;
};

struct SubscriptionInfo {
  SubscriptionSpec spec;  // dead_letter_topic filled in
  int64_t created_ms = 0;
  std::optional<TargetInfo> target;  // from describe, when the subscription has a target
};

// An event pushed to a subscriber.
struct DeliveredEvent : FetchedEvent {
  std::string subscription;
  uint32_t attempt = 1;    // 1 on first delivery; more after nacks, expiries, crashes
  std::string member_id;   // the group membership it was delivered to (acks go with it)
};

struct GroupMember {
  std::string member_id;
  std::string client_name;
  std::vector<uint32_t> partitions;
  uint32_t unacked_events = 0;
  uint64_t unacked_bytes = 0;
  uint32_t credit_events = 0;
  uint32_t credit_bytes = 0;
};

struct GroupPartition {
  uint32_t partition = 0;
  std::string member_id;        // empty: unassigned (no members)
  uint64_t committed_offset = 0;  // everything below is acked
  uint64_t end_offset = 0;        // high watermark
  uint64_t lag = 0;               // end_offset - committed_offset
  uint32_t in_flight = 0;
  uint32_t acked_above = 0;       // acked above committed_offset
  // New events the broker read for the group since it loaded it (its start, or first
  // use) that the pattern matched / filtered out; without a pattern all match.
  uint64_t matched = 0;
  uint64_t filtered = 0;
};

struct GroupInfo {
  SubscriptionInfo subscription;
  std::vector<GroupMember> members;
  std::vector<GroupPartition> partitions;
};

// An archive replay to start (docs/targets.md, "Archive replay"): the events of the
// subscription's topic stored at or after from_ms and before to_ms (0: now), with Lamport
// stamps up to to_lamport (0: any), re-delivered to the subscription's rule target.
struct ReplaySpec {
  std::string name;
  std::string subscription;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  uint64_t to_lamport = 0;
};

struct ReplayPartitionInfo {
  uint32_t partition = 0;
  uint64_t start_offset = 0;
  uint64_t end_offset = 0;   // one past the last offset of the range
  uint64_t next_offset = 0;  // [start_offset, next_offset) is done
  uint64_t delivered = 0;
  uint64_t dead_lettered = 0;
  uint64_t filtered = 0;     // left out by the pattern or the Lamport bound
};

struct ReplayInfo {
  std::string name;
  std::string subscription;
  std::string topic;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  uint64_t to_lamport = 0;
  std::string state;  // "running", "completed", "cancelled" or "failed"
  std::string error;  // why it failed (or a note, e.g. events deleted by retention)
  int64_t created_ms = 0;
  int64_t finished_ms = 0;
  std::vector<ReplayPartitionInfo> partitions;

  uint64_t total() const {  // events in the range
    uint64_t n = 0;
    for (const auto& p : partitions) n += p.end_offset - p.start_offset;
    return n;
  }
  uint64_t done() const {  // of them, replayed (delivered, dead-lettered or left out)
    uint64_t n = 0;
    for (const auto& p : partitions) n += p.next_offset - p.start_offset;
    return n;
  }
  uint64_t delivered() const {
    uint64_t n = 0;
    for (const auto& p : partitions) n += p.delivered;
    return n;
  }
  uint64_t dead_lettered() const {
    uint64_t n = 0;
    for (const auto& p : partitions) n += p.dead_lettered;
    return n;
  }
  uint64_t filtered() const {
    uint64_t n = 0;
    for (const auto& p : partitions) n += p.filtered;
    return n;
  }
};

// Tokens and ACLs (docs/security.md, "Tokens and ACLs"; Admin::create_token and friends).
struct TokenInfo {
  std::string id;  // "cwt_" + 16 hex digits
  std::string principal;
  std::string description;
  int64_t created_ms = 0;
};
struct CreatedToken {
  TokenInfo info;
  std::string token;  // the bearer token itself ("<id>.<secret>"): shown once, never stored by the broker
};
// kRegistryRead and kRegistryWrite are about schema registry subjects (the registry's REST
// API, docs/security.md); registry-write implies registry-read.
enum class AclOperation { kPublish = 1, kSubscribe = 2, kAdmin = 3, kRegistryRead = 4, kRegistryWrite = 5 };
// "publish", "subscribe", "admin", "registry-read", "registry-write".
const char* acl_operation_name(AclOperation op) noexcept;
// Allows `principal` to do `operation` on topic `topic`, or with `prefix` on every topic whose
// name starts with it. For the registry operations, `topic` is a subject name (or prefix).
struct AclEntry {
  std::string principal;
  AclOperation operation = AclOperation::kPublish;
  std::string topic;
  bool prefix = false;
  friend bool operator==(const AclEntry&, const AclEntry&) = default;
};
struct WhoAmI {
  std::string principal;  // "anonymous" without credentials
  bool superuser = false;
  bool acls_enforced = false;  // the broker has ACLs: what none allows is refused
};

}  // namespace causeway::client
