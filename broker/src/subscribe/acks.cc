// Coordinator acks: acks, nacks, deadline extensions, durable acks, and the sweeper's
// timers and batched commits. See coordinator.h and docs/subscriptions.md ("Durable acks").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "subscribe/coordinator_state.h"

namespace causeway::subscribe {
namespace {

bool is_in_flight_to(const auto& ps, uint64_t offset, uint64_t member) {
  auto it = ps.delivery.in_flight().find(offset);
  return it != ps.delivery.in_flight().end() && it->second.member == member;
}

Status not_assigned(uint32_t partition, const auto& m) {
  return Status(Code::kFailedPrecondition, Reason::kNotAssigned,
                "partition " + std::to_string(partition) + " is not assigned to member \"" + m.member_id +
                    "\" (and the offset is not in flight to it); the event will be redelivered");
}

// Collects per-offset failures into one Status naming the first and counting the rest.
struct Failures {
  Status first;
  uint32_t count = 0;
  void add(Status s) {
    if (count++ == 0) first = std::move(s);
  }
  Status status(std::string_view verb, size_t total) const {
    if (count == 0) return Status();
    return Status(first.code(), first.reason(),
                  std::to_string(count) + " of " + std::to_string(total) + " " + std::string(verb) +
                      "(s) refused; first: " + std::string(first.message()));
  }
};

}  // namespace

Status Coordinator::ack(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
                        uint32_t partition, const std::vector<uint64_t>& offsets, uint32_t& accepted) {
  accepted = 0;
  std::lock_guard lk(mu_);
  CAUSEWAY_ASSIGN_OR_RETURN(const MemberRef ref, member_locked(connection_id, subscription, member_id));
  const std::shared_ptr<Group>& g = ref.group;
  Member* m = ref.member;
  if (partition >= g->partitions.size()) return not_assigned(partition, *m);
  PartitionState& ps = g->partitions[partition];
  Failures failures;
  for (uint64_t offset : offsets) {
    if (ps.owner != m->id && !is_in_flight_to(ps, offset, m->id)) {
      failures.add(not_assigned(partition, *m));
      continue;
    }
    auto bytes = ps.delivery.ack(m->id, offset);
    if (!bytes) {
      failures.add(bytes.error());
      continue;
    }
    m->credit.release(*bytes);
    ++accepted;
  }
  stats_.acked += accepted;
  if (accepted > 0) schedule_member_pumps_locked(g, *m);
  return failures.status("ack", offsets.size());
}

Status Coordinator::nack(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
                         uint32_t partition, const std::vector<uint64_t>& offsets, std::chrono::milliseconds delay,
                         std::string reason, uint32_t& accepted, bool permanent) {
  accepted = 0;
  std::lock_guard lk(mu_);
  CAUSEWAY_ASSIGN_OR_RETURN(const MemberRef ref, member_locked(connection_id, subscription, member_id));
  const std::shared_ptr<Group>& g = ref.group;
  Member* m = ref.member;
  if (partition >= g->partitions.size()) return not_assigned(partition, *m);
  PartitionState& ps = g->partitions[partition];
  const auto now = Clock::now();
  Failures failures;
  for (uint64_t offset : offsets) {
    if (ps.owner != m->id && !is_in_flight_to(ps, offset, m->id)) {
      failures.add(not_assigned(partition, *m));
      continue;
    }
    auto f = ps.delivery.in_flight().find(offset);
    const uint32_t attempt = f != ps.delivery.in_flight().end() ? f->second.attempt : 1;
    // An explicit delay wins; otherwise the subscription's backoff for this attempt.
    const auto wait = permanent            ? Clock::duration::zero()
                      : delay.count() > 0 ? Clock::duration(delay)
                                          : redelivery_delay(*g, attempt);
    auto bytes = ps.delivery.nack(m->id, offset, now + wait, reason.empty() ? "nacked" : reason, permanent);
    if (!bytes) {
      failures.add(bytes.error());
      continue;
    }
    schedule_timer_locked(g, partition, now + wait);
    m->credit.release(*bytes);
    ++accepted;
  }
  if (accepted > 0) {
    schedule_member_pumps_locked(g, *m);
    schedule_pump_locked(g, partition);
  }
  return failures.status("nack", offsets.size());
}

Status Coordinator::extend_deadline(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
                                    uint32_t partition, const std::vector<uint64_t>& offsets,
                                    std::chrono::milliseconds extend, uint32_t& accepted) {
  accepted = 0;
  std::lock_guard lk(mu_);
  CAUSEWAY_ASSIGN_OR_RETURN(const MemberRef ref, member_locked(connection_id, subscription, member_id));
  const std::shared_ptr<Group>& g = ref.group;
  Member* m = ref.member;
  if (partition >= g->partitions.size()) return not_assigned(partition, *m);
  PartitionState& ps = g->partitions[partition];
  const auto deadline = Clock::now() + extend;
  Failures failures;
  for (uint64_t offset : offsets) {
    Status s = ps.delivery.extend(m->id, offset, deadline);
    if (!s.ok()) {
      failures.add(ps.owner != m->id && !is_in_flight_to(ps, offset, m->id) ? not_assigned(partition, *m) : s);
      continue;
    }
    ++accepted;
  }
  if (accepted > 0) schedule_timer_locked(g, partition, deadline);  // an extension may also shorten
  return failures.status("deadline extension", offsets.size());
}

Status Coordinator::commit_durably(uint64_t connection_id, std::string_view subscription, std::string_view member_id) {
  std::shared_ptr<Group> g;
  uint64_t needed = 0;
  {
    std::lock_guard lk(mu_);
    CAUSEWAY_ASSIGN_OR_RETURN(const MemberRef ref, member_locked(connection_id, subscription, member_id));
    g = ref.group;
    // Whatever was applied to the group so far is in the next snapshot.
    needed = flush_gen_ + 1;
  }
  const auto outcome = [&]() -> std::optional<Status> {
    std::lock_guard lk(mu_);
    if (g->deleted) {
      return failed_precondition("subscription \"" + g->config.name +
                                 "\" was deleted or re-created before its acks were committed; they are void");
    }
    if (g->durable_gen >= needed) return Status();
    // Nothing applied to it waits for a commit, nor is one writing it: all is on disk.
    if (!g->dirty_listed && !g->committing) return Status();
    return std::nullopt;
  };
  // As leveldb's group commit: whoever holds flush_mu_ writes everything dirty, so a
  // durable ack that waited here for another one's flush usually finds its own acks
  // already written and returns without a second LMDB commit.
  std::lock_guard flush_lock(flush_mu_);
  if (auto done = outcome()) return *done;
  flush_commits_locked();
  if (auto done = outcome()) return *done;
  std::lock_guard lk(mu_);
  if (stopping_) return shutting_down();
  return g->commit_error.ok() ? internal_error("group \"" + g->config.name + "\" was not committed by the flush")
                              : Status(g->commit_error.code(), "committing the acks of group \"" + g->config.name +
                                                                   "\" failed: " +
                                                                   std::string(g->commit_error.message()) +
                                                                   "; they stay applied and a later commit retries them");
}

// ---------------------------------------------------------------- timers and commits

// Later than the target's pending timer: nothing to add, that one looks again when it
// fires. Earlier: a new entry (the older one goes stale).
void Coordinator::schedule_timer_locked(const std::shared_ptr<Group>& g, uint32_t partition, Clock::time_point at) {
  if (at == Clock::time_point::max()) return;
  Clock::time_point& pending = partition == kSessionTimer ? g->session_timer_at : g->partitions[partition].timer_at;
  if (at >= pending) return;
  pending = at;
  timers_.push(Timer{at, g, partition});
}

// Ack deadlines that passed send their events back to waiting (with the backoff of their
// attempt); retries whose delay passed wake the pump. Then the next due time.
void Coordinator::partition_due_locked(const std::shared_ptr<Group>& g, uint32_t p, Clock::time_point now) {
  PartitionState& ps = g->partitions[p];
  ps.timer_at = Clock::time_point::max();
  bool wake = false;
  const auto delay = [this, &group = *g](uint32_t attempt) { return redelivery_delay(group, attempt); };
  for (const auto& [member, bytes] : ps.delivery.expire(now, delay)) {
    auto m = g->members.find(member);
    if (m != g->members.end()) m->second.credit.release(bytes);
    wake = true;
  }
  if (ps.read_retry_at <= now) {  // a failed read's retry is due
    ps.read_retry_at = Clock::time_point::max();
    wake = true;
  }
  if (wake || ps.delivery.next_ready_at() <= now) schedule_pump_locked(g, p);
  schedule_timer_locked(g, p, std::min(ps.delivery.next_due(now), ps.read_retry_at));
}

void Coordinator::sessions_due_locked(const std::shared_ptr<Group>& g, Clock::time_point now) {
  g->session_timer_at = Clock::time_point::max();
  std::vector<uint64_t> expired;
  Clock::time_point next = Clock::time_point::max();
  for (const auto& [id, m] : g->members) {
    if (m.internal) continue;  // the broker's own member has no session
    if (m.last_seen + options_.session_timeout < now) {
      expired.push_back(id);
    } else {
      next = std::min(next, m.last_seen + options_.session_timeout);
    }
  }
  for (uint64_t id : expired) {
    spdlog::info("group {}: member {} missed its session timeout", g->config.name, g->members[id].member_id);
    remove_member_locked(*g, id);
  }
  if (!expired.empty()) {
    for (uint32_t p = 0; p < g->partitions.size(); ++p) schedule_pump_locked(g, p);
  }
  // A heartbeat only moves last_seen later: the timer set at join fires early and is set
  // again here, at most once per session timeout per group.
  if (next != Clock::time_point::max()) schedule_timer_locked(g, kSessionTimer, next + std::chrono::milliseconds(1));
}

// Runs the timers that are due, earliest first: its cost follows due work, not the
// number of groups (bench/micro coordinator_bench, BM_IdleGroupsSweep).
void Coordinator::sweep() {
  std::lock_guard lk(mu_);
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.top().at <= now) {
    const Timer t = timers_.top();
    timers_.pop();
    const std::shared_ptr<Group> g = t.group.lock();
    if (!g || g->deleted) continue;
    if (t.partition == kSessionTimer) {
      if (t.at == g->session_timer_at) sessions_due_locked(g, now);
    } else if (t.partition < g->partitions.size() && t.at == g->partitions[t.partition].timer_at) {
      partition_due_locked(g, t.partition, now);
    }
  }
}

void Coordinator::flush_commits() {
  std::lock_guard flush_lock(flush_mu_);
  flush_commits_locked();
}

void Coordinator::flush_commits_locked() {
  std::vector<meta::GroupAckCommit> commits;
  std::vector<std::shared_ptr<Group>> owners;  // per commit
  uint64_t gen = 0;
  {
    std::lock_guard lk(mu_);
    gen = ++flush_gen_;
    // Only the groups that changed: a clean group's state is on disk already (commit_durably
    // knows it from dirty_listed and committing), so idle groups cost a flush nothing.
    for (const std::weak_ptr<Group>& weak : std::exchange(dirty_groups_, {})) {
      const std::shared_ptr<Group> g = weak.lock();
      if (!g) continue;
      g->dirty_listed = false;
      if (g->deleted) continue;
      meta::GroupAckCommit c{g->config.name, g->config.created_ms, g->topic.topic_id, {}};
      for (uint32_t i = 0; i < g->partitions.size(); ++i) {
        PartitionDelivery& d = g->partitions[i].delivery;
        if (!d.take_dirty()) continue;
        meta::PartitionAckState st;
        st.partition = i;
        st.committed = d.committed();
        st.acked_above = d.acked_above().lowest(meta::kMaxPersistedAcksAbove);  // what the store keeps
        c.states.push_back(std::move(st));
      }
      if (c.states.empty()) continue;
      g->committing = true;
      commits.push_back(std::move(c));
      owners.push_back(g);
    }
  }
  if (commits.empty()) return;
  // One LMDB transaction (one fsync) for every group that changed since the last sweep.
  std::vector<Status> results;
  const Status s = store_.meta().commit_ack_states(commits, results);
  std::lock_guard lk(mu_);
  for (size_t i = 0; i < commits.size(); ++i) {
    const std::shared_ptr<Group>& g = owners[i];
    g->committing = false;  // a failure below marks it dirty (listed) again first, under this lock
    if (!s.ok()) {
      spdlog::error("group {}: committing offsets failed: {}", g->config.name, s.to_string());
      // Mark dirty again so the next sweep retries.
      for (const auto& st : commits[i].states) g->partitions[st.partition].delivery.mark_dirty();
      g->commit_error = s;
    } else if (!results[i].ok() && results[i].code() != Code::kFailedPrecondition) {
      // This group's own records could not be read (corruption): it retries alone, the
      // others committed.
      spdlog::error("group {}: committing offsets failed: {}", g->config.name, results[i].to_string());
      for (const auto& st : commits[i].states) g->partitions[st.partition].delivery.mark_dirty();
      g->commit_error = results[i];
    } else if (results[i].ok()) {
      g->durable_gen = gen;
      g->commit_error = Status();
    } else {
      // Deleted or re-created while this state was in memory: it must not reach the new
      // subscription. The group stops; its members get "no active group" and join again,
      // which loads the new one.
      spdlog::warn("group {}: dropping its in-memory state: {}", g->config.name, results[i].to_string());
      erase_group_locked(g);
    }
  }
}

}  // namespace causeway::subscribe
