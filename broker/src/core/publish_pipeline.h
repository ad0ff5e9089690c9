// File: core/publish_pipeline.h
//
// The broker's publish semantics, independent of the wire format (docs/wire-protocol.md,
// "Publish"): choose a partition per event, answer duplicates of stored or in-flight dedup
// keys with the original's position, append the rest as one batch per partition, and
// return one ack per event in request order.
//
// Thread-safety: publish() may be called from many threads at once. It blocks on storage
// (fdatasync in `fsync` topics): call it on a storage thread, never on a network thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/common/batch_format.h"
#include "causeway/common/status.h"
#include "core/event_store.h"

namespace causeway::core {

// One event of a publish request; views into the request's bytes.
struct PublishEvent {
  storage::RecordInput record;
  int32_t partition = -1;  // explicit partition, or -1
};

struct EventAck {
  Status status;  // OK, or why this event was not stored
  uint32_t partition = 0;
  uint64_t offset = 0;
  uint64_t lamport = 0;
  bool duplicate = false;
};

// XXH3_64bits(key) mod partitions: the documented key-to-partition mapping.
uint32_t partition_for_key(std::string_view key, uint32_t partitions);

class PublishPipeline {
 public:
  explicit PublishPipeline(EventStore& store) : store_(store) {}

  // Stores `events` in `topic`. `round_robin_hint` picks the partition of keyless events
  // (the caller rotates it per request). Request-level errors (unknown topic) come back as
  // the Result's error and nothing is stored; event-level errors are in the acks.
  Result<std::vector<EventAck>> publish(std::string_view topic, std::span<const PublishEvent> events,
                                        uint64_t client_lamport, uint32_t round_robin_hint);

 private:
  // A dedup key being stored by some request right now. Later publishers of the same key
  // wait for it and answer with its outcome.
  struct InFlight {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::optional<EventAck> ack;  // set when stored; empty if the store failed
  };
  using InFlightKey = std::pair<uint32_t, std::string>;  // (topic id, dedup key)

  EventStore& store_;
  std::mutex in_flight_mu_;  // guards in_flight_
  std::map<InFlightKey, std::shared_ptr<InFlight>> in_flight_;
};

}  // namespace causeway::core
