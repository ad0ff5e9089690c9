// File: subscribe/partition_delivery.h
//
// The delivery state of one partition for one group (docs/subscriptions.md): which offsets
// are committed (the contiguous acked prefix), which are in flight to which member with
// which attempt and deadline, which wait for redelivery (nacked, expired, or taken from a
// member that left) and which are acked above the committed offset. Every offset in
// [committed, next_read) is in exactly one of: acked_above, in_flight, waiting,
// dead_lettering. Pure bookkeeping: no I/O, no clock of its own, no locking (the
// coordinator holds its mutex around every call), so unit tests drive it directly.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "causeway/common/status.h"

namespace causeway::subscribe {

using Clock = std::chrono::steady_clock;

struct InFlight {
  uint64_t member = 0;
  uint32_t attempt = 1;
  Clock::time_point deadline;
  uint64_t bytes = 0;
  int64_t time_ms = 0;  // the event's broker time (for max age)
};

struct Waiting {
  uint32_t attempts_done = 0;  // deliveries so far
  Clock::time_point ready_at;
  int64_t time_ms = 0;
  std::string last_reason;     // why it was not acked last time
  // Refused for good (a rule target's endpoint said the event can never succeed): goes to
  // the dead-letter topic at once, with last_reason as the reason.
  bool permanent = false;
};

// A member's flow-control window: at most max_events unacked events and max_bytes bytes.
struct CreditWindow {
  uint32_t max_events = 0;
  uint64_t max_bytes = 0;
  uint32_t events = 0;  // unacked now
  uint64_t bytes = 0;

  // Another event of `size` bytes fits. An event larger than the whole byte window still
  // goes to a member holding nothing, so that it is never stuck.
  bool fits(uint64_t size) const noexcept {
    if (events >= max_events) return false;
    return events == 0 || bytes + size <= max_bytes;
  }
  void take(uint64_t size) noexcept {
    ++events;
    bytes += size;
  }
  void release(uint64_t size) noexcept {
    events = events > 0 ? events - 1 : 0;
    bytes = bytes >= size ? bytes - size : 0;
  }
};

// A set of offsets kept as disjoint, non-adjacent ranges [begin, end): a run of offsets
// (the events a pattern filtered out behind one unacked event) is one entry, however long,
// and adding the next offset of a run allocates nothing.
class OffsetRanges {
 public:
  bool empty() const noexcept { return ranges_.empty(); }
  // Offsets held (not ranges).
  uint64_t size() const noexcept { return count_; }
  bool contains(uint64_t offset) const;
  void insert(uint64_t offset);
  // When the lowest range starts at `offset`, removes it and returns its end; otherwise
  // returns `offset` (the next offset not held, for a committed offset moving up).
  uint64_t take_run_at(uint64_t offset);
  void erase_below(uint64_t offset);
  void clear() noexcept {
    ranges_.clear();
    count_ = 0;
  }
  // The lowest `max` offsets, ascending.
  std::vector<uint64_t> lowest(size_t max) const;

 private:
  std::map<uint64_t, uint64_t> ranges_;  // begin -> end
  uint64_t count_ = 0;
};

class PartitionDelivery {
 public:
  // Starts from a committed offset and acked offsets above it (persisted state). Offsets
  // below `log_start` are gone from the log: delivery resumes at the log start.
  void reset(uint64_t committed, const std::vector<uint64_t>& acked_above, uint64_t log_start);

  uint64_t committed() const noexcept { return committed_; }
  uint64_t next_read() const noexcept { return next_read_; }
  // Offsets delivered (or skipped) but not committed: bounds the state kept per partition.
  uint64_t window() const noexcept { return next_read_ - committed_; }
  const std::map<uint64_t, InFlight>& in_flight() const noexcept { return in_flight_; }
  const std::map<uint64_t, Waiting>& waiting() const noexcept { return waiting_; }
  const OffsetRanges& acked_above() const noexcept { return acked_above_; }
  bool is_acked(uint64_t offset) const { return offset < committed_ || acked_above_.contains(offset); }

  // Waiting offsets ready at `now`, lowest first, at most `max`.
  std::vector<uint64_t> ready(Clock::time_point now, size_t max) const;
  // Earliest ready_at of any waiting offset (max() if none).
  Clock::time_point next_ready_at() const;
  // When the sweeper next has work here: the earliest ack deadline in flight, or the
  // earliest retry that is not ready at `now` yet (max() if none). Retries ready now are
  // the delivery pump's.
  Clock::time_point next_due(Clock::time_point now) const;

  // A new offset (== next_read) that was already acked before a restart: skip it.
  void skip_acked(uint64_t offset);
  // A new offset the group's pattern filtered out: never delivered, acked at once.
  void filter_out(uint64_t offset) {
    if (offset >= next_read_) next_read_ = offset + 1;
    mark_acked(offset);
  }
  // Delivers new offset `offset` (must be next_read, or above it when the log has a gap).
  void deliver_new(uint64_t offset, const InFlight& f);
  // A new offset that goes straight to waiting (e.g. too old: the dead-letter path).
  void defer_new(uint64_t offset, Waiting w) {
    waiting_[offset] = std::move(w);
    if (offset >= next_read_) next_read_ = offset + 1;
  }
  // Delivers a waiting offset again; f.attempt should be attempts_done + 1.
  void redeliver(uint64_t offset, const InFlight& f);

  // Acks an offset in flight to `member`; returns its bytes. Errors (nothing changes):
  // kAlreadyExists already acked; kOutOfRange never delivered; kFailedPrecondition in
  // flight to another member or not in flight now (expired or nacked: it will be redelivered).
  Result<uint64_t> ack(uint64_t member, uint64_t offset);
  // Moves the deadline of an offset in flight to `member`. Errors as ack().
  Status extend(uint64_t member, uint64_t offset, Clock::time_point deadline);
  // Puts an in-flight offset back, ready at `ready_at`. Errors as ack().
  Result<uint64_t> nack(uint64_t member, uint64_t offset, Clock::time_point ready_at, std::string reason,
                        bool permanent = false);

  // In-flight offsets past their deadline go back to waiting, ready at now + delay(attempt).
  // Returns (member, bytes) of each, for credit release.
  std::vector<std::pair<uint64_t, uint64_t>> expire(Clock::time_point now,
                                                    const std::function<Clock::duration(uint32_t)>& delay);
  // Everything in flight to `member` goes back to waiting, ready at `now`. Returns bytes per
  // offset released. The delivery counts as an attempt unless `was_processed` is given and
  // answers false for the offset: a member that leaves cleanly gives back what it never
  // handed to its application, and that must not bring the event closer to the
  // dead-letter topic.
  std::vector<uint64_t> release_member(uint64_t member, Clock::time_point now,
                                       const std::function<bool(uint64_t offset)>& was_processed = {});

  // A waiting offset leaves for the dead-letter topic; dead_lettered() then counts it as acked.
  void start_dead_letter(uint64_t offset);
  void dead_lettered(uint64_t offset);
  // The dead-letter publish failed: wait again.
  void dead_letter_failed(uint64_t offset, Clock::time_point ready_at, std::string reason);
  size_t dead_lettering() const noexcept { return dead_lettering_.size(); }

  // Retention removed everything below `log_start`: forgets offsets below it (in flight,
  // waiting, being dead-lettered, acked above the committed offset) and commits up to it.
  // Returns (member, bytes) of each in-flight offset dropped, for credit release.
  std::vector<std::pair<uint64_t, uint64_t>> drop_below(uint64_t log_start);

  // True (once) after the committed offset or acked_above changed.
  void mark_dirty() { set_dirty(); }
  bool take_dirty() noexcept {
    const bool d = dirty_;
    dirty_ = false;
    return d;
  }
  // Called whenever the partition turns dirty (from clean), so that its owner can list it
  // for the next commit instead of checking every partition.
  void set_on_dirty(std::function<void()> fn) { on_dirty_ = std::move(fn); }

 private:
  void mark_acked(uint64_t offset);
  void set_dirty() {
    if (dirty_) return;
    dirty_ = true;
    if (on_dirty_) on_dirty_();
  }
  Status check_in_flight(uint64_t member, uint64_t offset, std::map<uint64_t, InFlight>::iterator& it);

  uint64_t committed_ = 0;
  uint64_t next_read_ = 0;
  OffsetRanges acked_above_;
  std::map<uint64_t, InFlight> in_flight_;
  std::map<uint64_t, Waiting> waiting_;
  std::map<uint64_t, Waiting> dead_lettering_;
  bool dirty_ = false;
  std::function<void()> on_dirty_;
};

// Delay before attempt `attempt + 1` after `attempt` failed: backoff * 2^(attempt-1), capped.
Clock::duration retry_delay(std::chrono::milliseconds backoff, std::chrono::milliseconds max_backoff, uint32_t attempt);

}  // namespace causeway::subscribe
