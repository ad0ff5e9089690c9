// File: core/publish_pipeline.h
//
// The broker's publish semantics, independent of the wire format (docs/wire-protocol.md,
// "Publish"): choose a partition per event, answer duplicates of stored or in-flight dedup
// keys with the original's position, append the rest as one batch per partition, and
// return one ack per event in request order.
//
// Asynchronous: publish_async() appends and returns; its completion runs once every
// event's outcome is known, which for `fsync` topics is after the covering fdatasync. A
// publish whose dedup key another request is storing right now does not wait: it is
// answered when that request's append completes. Nor does an event of a schema-bound topic
// whose schema id the checker cannot answer for at once (a remote registry's cache miss):
// the request is copied and continues on the checker's thread when the lookup completes
// (see core/schema_checker.h); nothing of it is stored before then, and it goes into the
// topic only if that still exists with the same topic id. Such copies are bounded in bytes
// (max_deferred_bytes) and a request waits on at most kMaxLookupsPerRequest ids.
//
// Thread-safety: both forms may be called from many threads at once. publish_async() does
// only non-blocking work on the caller's thread (in-memory dedup lookups, a page-cache
// write into the log, a cache hit or local LMDB read of the schema checker; fdatasync runs
// on the log's sync executor), so the broker calls it inline on network threads
// (docs/broker.md). publish() blocks until the completion: never on a network thread.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/common/batch_format.h"
#include "causeway/common/lamport_clock.h"
#include "causeway/common/status.h"
#include "core/event_store.h"
#include "core/schema_checker.h"

namespace causeway::core {

// One event of a publish request; views into the request's bytes.
struct PublishEvent {
  batch::RecordInput record;
  int32_t partition = -1;  // explicit partition, or -1
};

struct EventAck {
  // OK, or why this event was not stored. A schema-bound topic's refusals carry
  // Reason::kSchemaMismatch (the id is not a version of the subject) or kInvalidPayload.
  Status status;
  uint32_t partition = 0;
  uint64_t offset = 0;
  uint64_t lamport = 0;
  bool duplicate = false;
};

// XXH3_64bits(key) mod partitions: the documented key-to-partition mapping.
uint32_t partition_for_key(std::string_view key, uint32_t partitions);

class PublishPipeline {
 public:
  // `schemas` checks events of topics bound to a schema subject; without one, such
  // publishes are refused (kUnavailable: the broker runs without a registry).
  // `max_deferred_bytes` bounds the bytes of requests copied while they wait on a schema
  // lookup (docs/registry.md, "A broker with a remote registry"): a request that would
  // exceed it is answered at once with kUnavailable and nothing of it is stored.
  static constexpr size_t kDefaultMaxDeferredBytes = size_t{64} << 20;
  // Distinct uncached schema ids one request may wait on; its events with further ones
  // are refused with kUnavailable.
  static constexpr size_t kMaxLookupsPerRequest = 16;
  explicit PublishPipeline(EventStore& store, SchemaChecker* schemas = nullptr,
                           size_t max_deferred_bytes = kDefaultMaxDeferredBytes)
      : store_(store), schemas_(schemas), max_deferred_bytes_(max_deferred_bytes) {}

  // Bytes of requests held while they wait on a schema lookup (tests, metrics).
  size_t deferred_bytes() const { return deferred_bytes_.load(std::memory_order_relaxed); }

  // Stores `events` in `topic`. `round_robin_hint` picks the partition of keyless events
  // (the caller rotates it per request). Request-level errors (unknown topic; a
  // client_lamport above both kMaxClientLamport and the broker's clock, kInvalidArgument) come back as the Result's
  // error and nothing is stored; event-level errors are in the acks.
  Result<std::vector<EventAck>> publish(std::string_view topic, std::span<const PublishEvent> events,
                                        uint64_t client_lamport, uint32_t round_robin_hint);

  // The same, completing through `done` exactly once: possibly before returning, possibly
  // later on another storage thread (see storage::PartitionLog::append_async) or on the
  // schema checker's thread. `events` need only live until publish_async returns. `done`
  // must not block for long.
  using Completion = std::function<void(Result<std::vector<EventAck>>)>;
  void publish_async(std::string_view topic, std::span<const PublishEvent> events, uint64_t client_lamport,
                     uint32_t round_robin_hint, Completion done);

 private:
  struct Operation;
  struct Deferred;
  using Waiter = std::function<void(const std::optional<EventAck>&)>;
  // A dedup key being stored by some request right now, by topic and 128-bit XXH3 digest
  // of the key (as in the dedup window). Later publishers of the same key add a waiter and
  // are answered with the outcome; no allocation unless someone waits.
  struct InFlightKey {
    uint32_t topic_id = 0;
    uint64_t lo = 0;
    uint64_t hi = 0;
    friend bool operator==(const InFlightKey&, const InFlightKey&) = default;
  };
  struct InFlightHash {
    size_t operator()(const InFlightKey& k) const noexcept { return static_cast<size_t>(k.lo ^ k.topic_id); }
  };
  struct InFlightShard {
    std::mutex mu;  // guards keys
    absl::flat_hash_map<InFlightKey, std::vector<Waiter>, InFlightHash> keys;
  };
  static constexpr size_t kInFlightShards = 64;
  static InFlightKey in_flight_key(uint32_t topic_id, std::string_view dedup_key);
  InFlightShard& shard(const InFlightKey& key) { return in_flight_[key.hi % kInFlightShards]; }
  // The keys a request stores, by event index (nullopt: the event owns none). One
  // allocation per request, not one per key.
  using OwnedKeys = std::vector<std::optional<InFlightKey>>;

  // Step 1's results for a request (publish_async): the partition of each event, which are
  // answered already, and the events and distinct schema ids waiting for a lookup.
  struct Routing {
    std::shared_ptr<Operation> op;
    std::vector<uint32_t> partition_of;
    std::vector<uint8_t> resolved;
    std::vector<size_t> lookups;
    std::vector<uint32_t> lookup_ids;
  };
  void route_event(const meta::TopicConfig& topic, const PublishEvent& event, size_t index,
                   uint32_t keyless_partition, Routing& routing);
  void defer_for_lookups(const meta::TopicConfig& topic, std::span<const PublishEvent> events,
                         uint64_t client_lamport, Routing routing);

  // Steps 2 to 4 of a publish whose events are partitioned and schema-checked: dedup, then
  // one append per partition of everything not `resolved`; releases `op`'s own reference.
  void store_checked(const meta::TopicConfig& topic, std::span<const PublishEvent> events,
                     const std::vector<uint32_t>& partition_of, std::vector<uint8_t>& resolved,
                     uint64_t client_lamport, const std::shared_ptr<Operation>& op);

  void deduplicate(const meta::TopicConfig& topic, std::span<const PublishEvent> events,
                   std::vector<uint8_t>& resolved, int64_t now, const std::shared_ptr<Operation>& op,
                   OwnedKeys& owned);
  bool claim_in_flight(const InFlightKey& key, const std::shared_ptr<Operation>& op, size_t index);
  void append_by_partition(const meta::TopicConfig& topic, std::span<const PublishEvent> events,
                           const std::vector<uint32_t>& partition_of, const std::vector<uint8_t>& resolved,
                           uint64_t client_lamport, int64_t now, const std::shared_ptr<Operation>& op,
                           const std::shared_ptr<OwnedKeys>& owned);

  // A deferred request whose lookups are all answered: store_checked against the topic
  // as it is now, or refuse its events if the topic is gone or was recreated.
  void continue_deferred(Deferred& d);

  // Publishes the outcome of a key this request owned and answers its waiters.
  void resolve_in_flight(const InFlightKey& key, const std::optional<EventAck>& ack);

  EventStore& store_;
  SchemaChecker* const schemas_;
  const size_t max_deferred_bytes_;
  std::atomic<size_t> deferred_bytes_{0};  // held by live Deferreds
  std::array<InFlightShard, kInFlightShards> in_flight_;
};

}  // namespace causeway::core
