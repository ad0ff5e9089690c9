// File: subscribe/coordinator_state.h
//
// The Coordinator's private state and the helpers its parts share (coordinator.cc,
// membership.cc, acks.cc, delivery_pump.cc, dead_letters.cc). Internal to the subscribe
// library: nothing outside subscribe/ includes it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "subscribe/coordinator.h"
#include "subscribe/shared_reads.h"

namespace causeway::subscribe {

struct Coordinator::Member {
  uint64_t id = 0;
  std::string member_id;  // wire form
  std::string client_name;
  uint64_t connection_id = 0;
  std::shared_ptr<DeliverySink> sink;
  CreditWindow credit;
  Clock::time_point last_seen;
  std::vector<uint32_t> partitions;
  bool internal = false;  // the broker's own (DeliverySink::internal): no session timeout
};

struct Coordinator::PartitionState {
  PartitionDelivery delivery;
  uint64_t owner = 0;        // member id, 0 = none
  uint64_t epoch = 0;        // bumped whenever the owner changes
  uint64_t end_offset = 0;   // appended and durable (from on_append, or the log at load)
  // The sweeper's next look at this partition (ack deadlines, retry delays); max() when
  // none is due. Timer entries at other times are stale (schedule_timer_locked).
  Clock::time_point timer_at = Clock::time_point::max();
  // A read failed for another reason than retention (a failed open, an I/O error): the
  // sweeper wakes the pump to try again then (kReadRetryDelay); max() when none failed.
  Clock::time_point read_retry_at = Clock::time_point::max();
  bool pump_scheduled = false;
  bool pumping = false;
  bool repump = false;
  // The first append since the last pump started that gave the owner something to read
  // (for DeliveryTiming::wake); zero when none is pending.
  Clock::time_point notified_at{};
  // Consecutive failed dead-letter publishes (0 after a success), for the retry backoff,
  // and the throttled error log.
  uint32_t dead_letter_failures = 0;
  Clock::time_point dead_letter_logged_at;
  uint64_t dead_letter_failures_unlogged = 0;
  // New events read since the group was loaded that its pattern matched or filtered out.
  uint64_t matched = 0;
  uint64_t filtered = 0;
};

struct Coordinator::Group {
  meta::SubscriptionConfig config;
  std::shared_ptr<const EventFilter> filter;  // config.pattern compiled; null: every event
  // With a filter: the patterns of the topic's filtered groups compiled together, and
  // this group's slot in them (compile_topic_patterns). Null until they are compiled
  // after a change, or when that failed: then the group matches with its own filter.
  std::shared_ptr<const TopicPatterns> patterns;
  uint32_t slot = 0;
  meta::TopicConfig topic;
  std::vector<PartitionState> partitions;
  std::map<uint64_t, Member> members;  // by id: join order
  // The sweeper's next look at the members' sessions (max(): none is due).
  Clock::time_point session_timer_at = Clock::time_point::max();
  bool deleted = false;
  // The latest flush snapshot (flush_gen_) after which everything applied to this group
  // was on disk, and the error of the latest flush that failed to write it
  // (commit_durably reads both).
  uint64_t durable_gen = 0;
  Status commit_error;
  // In dirty_groups_ (a partition changed since the flush that took it), and being
  // written by a flush now. Neither: everything applied to the group is on disk.
  bool dirty_listed = false;
  bool committing = false;
  // A rule target's counters (targets.cc); dead_lettered counts for every group.
  uint64_t target_delivered = 0;
  uint64_t target_retried = 0;
  uint64_t dead_lettered = 0;
  std::string target_last_error;
  int64_t target_last_error_ms = 0;
};

// What one pump round reads, planned under the mutex: the offsets waiting for redelivery
// (`retries`), or else up to `max_new` new events from `from`; and the owner, epoch and end
// it was planned against, so that the selection can tell whether they changed meanwhile.
struct ReadPlan {
  std::vector<uint64_t> retries;
  uint64_t from = 0;
  uint64_t max_new = 0;
  uint64_t epoch = 0;
  uint64_t member = 0;
  uint64_t end_snapshot = 0;
  uint64_t byte_room = 0;  // bytes of events the member's credit (and one batch) allows
  // The group's filter when the plan was made (new events only): the events read are
  // matched outside the mutex, and selection skips those it filters out. With `patterns`,
  // the matching is shared with the topic's other filtered groups (the group is `slot`).
  std::shared_ptr<const EventFilter> filter;
  std::shared_ptr<const TopicPatterns> patterns;
  uint32_t slot = 0;
  // The other groups of the topic, which may read the same events (then reads are cached).
  uint32_t sharers = 0;
};

// What the selection decided: the events to deliver now, and whether the partition moved
// at all (delivered, skipped acked offsets or started dead letters).
// New events a filtered group reads per round at most (credit bounds only the matching
// ones), so that a pattern matching 1% of a topic reads it in large steps.
inline constexpr uint64_t kMaxFilteredReadEvents = 8192;

struct Coordinator::Selection {
  std::vector<DeliveredRecord> events;
  bool progressed = false;
};

// kNotFound (Reason::kSubscriptionNotFound): `name` has no group loaded on this broker.
Status no_active_group(std::string_view name);
// kUnavailable: the coordinator is stopping and the request changed nothing.
Status shutting_down();

// Events above this many dead-letter publishes in progress on one partition wait for the
// next pump: each is a blocking publish on the storage pool.
inline constexpr size_t kMaxDeadLettersInProgress = 16;

// The bytes one record counts against a member's credit.
uint64_t record_bytes(const batch::RecordView& r);

// An upper bound on the bytes one record adds to a Delivery frame (record_bytes plus the
// FlatBuffers tables, vtables, length prefixes and padding around each field and header).
inline uint64_t delivered_event_bytes(const batch::RecordView& r) {
  return record_bytes(r) + 128 + 32 * r.headers.size();
}

// A record copied out of its batch, so that the batch can be dropped at once: a
// redelivery keeps only the events it sends, never the (possibly megabytes of) batches
// around them. `view` points into `bytes`, whose heap block does not move with the object.
struct OwnedRecord {
  std::unique_ptr<char[]> bytes;
  batch::RecordView view;

  static OwnedRecord copy_of(const batch::RecordView& r);
};

// The one record at `offset`, copied out of its batch. kNotFound naming the offset when the
// log does not hold it (a gap, or past the end); the read's or the batch decoder's error
// otherwise. The shared record read of the delivery and dead-letter paths.
Result<OwnedRecord> read_record(const storage::PartitionLog& log, uint64_t offset);

// Reads the events at `offsets` (ascending, waiting for redelivery) into `out`, reading
// each batch that holds any of them once, and stopping once about `max_bytes` of events
// are copied (at least one). An offset the log does not hold (a gap) is left out.
Status read_retries(const storage::PartitionLog& log, const std::vector<uint64_t>& offsets, uint64_t max_bytes,
                    std::vector<OwnedRecord>& out);

}  // namespace causeway::subscribe
