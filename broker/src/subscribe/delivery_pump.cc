// Coordinator delivery: the pump that moves a partition's events to its owner. Each round
// plans a read under the mutex, reads outside it (file reads may block), selects under it
// what to deliver and what to dead-letter, and emits one DeliveryBatch to the member's sink
// outside it. The sink (the server's connection) encodes the wire frame. See
// coordinator.h and docs/subscriptions.md ("Flow control and memory").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <span>

#include "subscribe/coordinator_state.h"

namespace causeway::subscribe {
namespace {

// What a round read: the records to look at, and what keeps their bytes alive.
struct ReadOutcome {
  std::shared_ptr<const ReadChunk> chunk;   // new events: a read (perhaps another group's)
  std::vector<OwnedRecord> redeliveries;    // retries: copies of just those events
  std::vector<batch::RecordView> retried;   // views of `redeliveries`
  std::span<const batch::RecordView> records;
  // With a filter: whether records[i] matched (new events only; retries matched before).
  std::vector<uint8_t> matched;
  Status status;
};

ReadOutcome read_planned(ReadCache& cache, const storage::PartitionLog& log, uint32_t topic_id, uint32_t partition,
                         const ReadPlan& plan, std::string_view topic, PayloadSchemas& schemas) {
  ReadOutcome out;
  if (!plan.retries.empty()) {
    out.status = read_retries(log, plan.retries, plan.byte_room, out.redeliveries);
    out.retried.reserve(out.redeliveries.size());
    for (const OwnedRecord& r : out.redeliveries) out.retried.push_back(r.view);
    out.records = out.retried;
    return out;
  }
  ReadCache::Request request;
  request.topic_id = topic_id;
  request.partition = partition;
  request.from = plan.from;
  request.max_events = plan.max_new;
  request.max_bytes = plan.byte_room;
  request.end_snapshot = plan.end_snapshot;
  request.sharers = plan.sharers;
  auto chunk = cache.read(log, request);
  if (!chunk) {
    out.status = chunk.error();
    return out;
  }
  out.chunk = std::move(*chunk);
  if (out.chunk == nullptr) return out;  // nothing to read (a gap up to the end)
  // This group's part of the chunk: from its next offset, below its end, at most max_new.
  const std::vector<batch::RecordView>& all = out.chunk->records();
  const size_t first = out.chunk->index_of(plan.from);
  size_t last = first;
  while (last < all.size() && last - first < plan.max_new && all[last].offset < plan.end_snapshot) ++last;
  out.records = std::span<const batch::RecordView>(all).subspan(first, last - first);
  if (plan.patterns != nullptr) {
    // Matched once per chunk for every filtered group of the topic, outside the
    // coordinator's mutex, on the storage thread of the first group to need it.
    const std::shared_ptr<const ChunkMatches> m = out.chunk->matches(plan.patterns, topic, &schemas);
    out.matched.reserve(out.records.size());
    for (size_t i = first; i < last; ++i) out.matched.push_back(m->matched(i, plan.slot) ? 1 : 0);
  } else if (plan.filter != nullptr) {
    out.matched.reserve(out.records.size());
    for (const batch::RecordView& rec : out.records) out.matched.push_back(plan.filter->matches(topic, rec, &schemas) ? 1 : 0);
  }
  return out;
}

}  // namespace

void Coordinator::schedule_pump_locked(const std::shared_ptr<Group>& g, uint32_t partition) {
  if (stopping_ || g->deleted) return;
  PartitionState& ps = g->partitions[partition];
  if (ps.owner == 0) return;
  // Nothing to read and nothing to redeliver: an ack or credit change need not wake the
  // partition (the sweeper wakes it when a waiting event becomes ready).
  if (ps.delivery.next_read() >= ps.end_offset && ps.delivery.waiting().empty()) return;
  if (ps.pumping) {
    ps.repump = true;
    return;
  }
  if (ps.pump_scheduled) return;
  ps.pump_scheduled = true;
  executor_([this, g, partition] { pump(g, partition); });
}

void Coordinator::schedule_member_pumps_locked(const std::shared_ptr<Group>& g, const Member& m) {
  for (uint32_t p : m.partitions) schedule_pump_locked(g, p);
}

void Coordinator::pump(std::shared_ptr<Group> g, uint32_t partition) {
  std::unique_lock lk(mu_);
  PartitionState& ps = g->partitions[partition];
  ps.pump_scheduled = false;
  if (ps.pumping || stopping_ || g->deleted) return;
  ps.pumping = true;
  // Timing for the metrics (CoordinatorOptions::on_delivery_timing), observed without the
  // mutex: each read as it ends, the wake-up at the end.
  const bool timed = static_cast<bool>(options_.on_delivery_timing);
  std::optional<std::chrono::nanoseconds> wake;
  if (timed && ps.notified_at != Clock::time_point{}) {
    wake = Clock::now() - ps.notified_at;
    ps.notified_at = Clock::time_point{};
  }
  auto log = store_.partition(g->topic.name, partition);
  constexpr int kMaxRounds = 64;  // then yield the storage thread and come back
  int round = 0;
  for (; round < kMaxRounds && log && !stopping_ && !g->deleted; ++round) {
    ps.repump = false;
    const std::optional<ReadPlan> plan = plan_read_locked(*g, ps);
    if (!plan) break;
    lk.unlock();
    const auto read_start = timed ? Clock::now() : Clock::time_point{};
    ReadOutcome read =
        read_planned(read_cache_, *log, g->topic.topic_id, partition, *plan, g->topic.name, payload_schemas_);
    if (timed) options_.on_delivery_timing(DeliveryPhase::kRead, Clock::now() - read_start);
    lk.lock();
    if (!read.status.ok()) {
      if (skip_lost_events_locked(*g, ps, partition, *log, *plan, read.status)) continue;
      if (read.status.code() != Code::kOutOfRange) {
        // Perhaps passing (descriptors short, a disk hiccup): try again later, even if no
        // append or ack comes to wake the partition meanwhile.
        ps.read_retry_at = Clock::now() + kReadRetryDelay;
        schedule_timer_locked(g, partition, ps.read_retry_at);
      }
      break;
    }
    if (ps.epoch != plan->epoch || ps.owner != plan->member || g->deleted) continue;  // reassigned meanwhile: plan again
    auto member = g->members.find(plan->member);
    if (member == g->members.end()) break;
    Selection selected = select_locked(g, ps, partition, member->second, *plan, read.records, read.matched);
    if (!selected.events.empty() && !emit_locked(g, partition, member->second, std::move(selected.events), lk)) break;
    if (!selected.progressed) break;
  }
  ps.pumping = false;
  if (ps.repump || round == kMaxRounds) schedule_pump_locked(g, partition);
  lk.unlock();
  if (wake) options_.on_delivery_timing(DeliveryPhase::kWake, *wake);
}

// What the next round reads, or nullopt when the partition cannot move now: no owner, no
// credit, the owner's connection full (parked until sink_drained), or nothing to read
// within the window.
std::optional<ReadPlan> Coordinator::plan_read_locked(Group& g, PartitionState& ps) const {
  // The other groups of the topic may read the same events: keep the read for them.
  auto same_topic = groups_by_topic_.find(g.topic.name);
  const uint32_t sharers =
      same_topic == groups_by_topic_.end() ? 0 : static_cast<uint32_t>(same_topic->second.size() - 1);
  auto mit = g.members.find(ps.owner);
  if (mit == g.members.end()) return std::nullopt;
  const Member& m = mit->second;
  if (!m.credit.fits(0)) return std::nullopt;
  if (!m.sink->has_room()) return std::nullopt;
  ReadPlan plan;
  const uint32_t room = std::min(m.credit.max_events - m.credit.events, options_.max_delivery_events);
  plan.retries = ps.delivery.ready(Clock::now(), room);
  if (plan.retries.empty()) {
    plan.from = ps.delivery.next_read();
    if (plan.from >= ps.end_offset || ps.delivery.window() >= options_.max_window) return std::nullopt;
    // A filtered group reads past its credit: only the events that match take credit.
    const uint64_t read_room = g.filter ? std::max<uint64_t>(room, kMaxFilteredReadEvents) : room;
    plan.max_new =
        std::min<uint64_t>({read_room, ps.end_offset - plan.from, options_.max_window - ps.delivery.window()});
    plan.filter = g.filter;
    plan.patterns = g.patterns;
    plan.slot = g.slot;
    plan.sharers = sharers;
  }
  plan.epoch = ps.epoch;
  plan.member = m.id;
  plan.end_snapshot = ps.end_offset;
  plan.byte_room = m.credit.events == 0
                       ? options_.max_delivery_bytes
                       : std::min<uint64_t>(m.credit.max_bytes - std::min(m.credit.max_bytes, m.credit.bytes),
                                            options_.max_delivery_bytes);
  if (plan.filter) plan.byte_room = std::max<uint64_t>(plan.byte_room, options_.max_delivery_bytes);
  return plan;
}

// A failed read. Retention removed what the group had not consumed (kOutOfRange, for new
// reads or redeliveries): resume at the log start, giving back the credit of events that
// are gone, and true to plan again. Anything else is logged and ends the pump (false).
bool Coordinator::skip_lost_events_locked(Group& g, PartitionState& ps, uint32_t partition,
                                          const storage::PartitionLog& log, const ReadPlan& plan,
                                          const Status& read_error) {
  if (read_error.code() != Code::kOutOfRange) {
    spdlog::error("group {}: reading {}/{}: {}", g.config.name, g.topic.name, partition, read_error.to_string());
    return false;
  }
  const uint64_t start = log.log_start_offset();
  spdlog::warn("group {}: {}/{} offset {} is below the log start; skipping to {}", g.config.name, g.topic.name,
               partition, plan.retries.empty() ? plan.from : plan.retries.front(), start);
  const uint64_t before = ps.delivery.committed();
  for (const auto& [holder, bytes] : ps.delivery.drop_below(start)) {
    if (auto h = g.members.find(holder); h != g.members.end()) h->second.credit.release(bytes);
  }
  return ps.delivery.committed() != before;  // nothing was dropped: do not spin
}

namespace {

// Why `rec` goes to the dead-letter topic instead of to the member, or empty: too many
// attempts, too old for the subscription's max age, or too big for any Delivery frame the
// client accepts (it would close the connection).
std::string dead_letter_reason(const meta::SubscriptionConfig& config, const batch::RecordView& rec,
                               uint32_t attempts_done, const std::string& last_error, bool permanent,
                               uint64_t frame_bound, uint32_t max_frame_bytes, int64_t wall_now) {
  if (permanent) return last_error;
  if (frame_bound > max_frame_bytes) {
    return "event of about " + std::to_string(frame_bound) + " bytes does not fit in a Delivery frame (max_frame_bytes " +
           std::to_string(max_frame_bytes) + ")";
  }
  // The event's time comes from the log's bytes: the age is computed without overflow.
  int64_t age_ms = 0;
  const bool age_overflows = __builtin_sub_overflow(wall_now, rec.time_ms, &age_ms);
  const bool too_old =
      config.max_age.count() > 0 && (age_overflows ? rec.time_ms < 0 : age_ms > config.max_age.count());
  if (too_old) return "max age " + std::to_string(config.max_age.count()) + "ms exceeded";
  if (attempts_done >= config.max_attempts) {
    return "max attempts (" + std::to_string(config.max_attempts) + ") reached; last error: " + last_error;
  }
  return std::string();
}

}  // namespace

// Decides, record by record, what this round delivers to `m` (taking its credit and
// marking the offsets in flight), which acked offsets it skips, and which events it hands
// to the dead-letter path; stops at the batch's byte bound or the member's credit.
Coordinator::Selection Coordinator::select_locked(const std::shared_ptr<Group>& g, PartitionState& ps,
                                                  uint32_t partition, Member& m, const ReadPlan& plan,
                                                  std::span<const batch::RecordView> records,
                                                  const std::vector<uint8_t>& matched) {
  const bool is_retry = !plan.retries.empty();
  const auto now = Clock::now();
  const int64_t wall_now = storage::now_ms();
  Selection out;
  uint64_t batch_bytes = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const batch::RecordView& rec = records[i];
    if (!is_retry) {
      if (rec.offset < ps.delivery.next_read() || rec.offset >= ps.end_offset) continue;
      if (ps.delivery.is_acked(rec.offset)) {
        ps.delivery.skip_acked(rec.offset);
        out.progressed = true;
        continue;
      }
      if (i < matched.size() && matched[i] == 0) {
        // Filtered out: done for the group, as if delivered and acked at once.
        ps.delivery.filter_out(rec.offset);
        ++ps.filtered;
        out.progressed = true;
        continue;
      }
    } else if (ps.delivery.waiting().count(rec.offset) == 0) {
      continue;
    }
    const Waiting* waiting = is_retry ? &ps.delivery.waiting().at(rec.offset) : nullptr;
    const uint32_t done = waiting ? waiting->attempts_done : 0;
    const uint64_t frame_bound =
        delivered_event_bytes(rec) + 256 + g->config.name.size() + g->topic.name.size() + m.member_id.size();
    std::string reason = dead_letter_reason(g->config, rec, done, waiting ? waiting->last_reason : std::string(),
                                            waiting != nullptr && waiting->permanent, frame_bound, options_.max_frame_bytes, wall_now);
    if (!reason.empty()) {
      // Each dead letter is a blocking publish on the storage pool: a few per partition
      // at a time, so that a backlog of expired events cannot queue thousands of them
      // ahead of heartbeats and acks. The rest wait for the next pump.
      if (ps.delivery.dead_lettering() >= kMaxDeadLettersInProgress) break;
      if (!is_retry) {
        ps.delivery.defer_new(rec.offset, Waiting{done, now, rec.time_ms, reason});
        ++ps.matched;
      }
      ps.delivery.start_dead_letter(rec.offset);
      executor_([this, g, partition, offset = rec.offset, done, reason = std::move(reason)] {
        dead_letter(g, partition, offset, done, reason);
      });
      out.progressed = true;
      continue;
    }
    const uint64_t size = record_bytes(rec);
    // One batch carries about max_delivery_bytes (at least one record), so that a large
    // credit window never produces a frame above the client's max_frame_bytes.
    if (!out.events.empty() && batch_bytes + size > options_.max_delivery_bytes) break;
    if (!m.credit.fits(size)) break;
    m.credit.take(size);
    batch_bytes += size;
    InFlight f{m.id, done + 1, now + g->config.ack_deadline, size, rec.time_ms};
    if (is_retry) {
      ps.delivery.redeliver(rec.offset, f);
      ++stats_.redelivered;
    } else {
      ps.delivery.deliver_new(rec.offset, f);
      ++ps.matched;
    }
    ++stats_.delivered;
    out.events.push_back(DeliveredRecord{rec, done + 1});
    out.progressed = true;
  }
  if (!out.events.empty()) schedule_timer_locked(g, partition, now + g->config.ack_deadline);
  return out;
}

// Hands `events` to the member's sink with the mutex released (`lk` is held on entry and on
// return). False when the pump must stop: the connection is full (parked until
// sink_drained) or gone (its member leaves now, as on a leave, so that its partitions go to
// the other members and what it held is redelivered).
bool Coordinator::emit_locked(const std::shared_ptr<Group>& g, uint32_t partition, Member& m,
                              std::vector<DeliveredRecord> events, std::unique_lock<std::mutex>& lk) {
  const std::shared_ptr<DeliverySink> sink = m.sink;
  const std::string member_id = m.member_id;
  const uint64_t member = m.id;
  DeliveryBatch batch{g->config.name, g->topic.name, partition, member_id, std::move(events)};
  lk.unlock();  // `m` may go away meanwhile; only the copies above are used below
  const PushResult pushed = sink->push(batch);
  lk.lock();
  if (pushed == PushResult::kClosed) {
    if (g->members.count(member) > 0 && !g->deleted) {
      spdlog::info("group {}: member {} is gone (its connection closed)", g->config.name, member_id);
      remove_member_locked(*g, member);
      for (uint32_t p = 0; p < g->partitions.size(); ++p) schedule_pump_locked(g, p);
    }
    return false;
  }
  return pushed != PushResult::kFull;
}

}  // namespace causeway::subscribe
