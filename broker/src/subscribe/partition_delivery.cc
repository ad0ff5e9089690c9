// PartitionDelivery: see partition_delivery.h and docs/subscriptions.md.
#include "subscribe/partition_delivery.h"

#include <algorithm>

namespace causeway::subscribe {

Clock::duration retry_delay(std::chrono::milliseconds backoff, std::chrono::milliseconds max_backoff,
                            uint32_t attempt) {
  if (backoff.count() <= 0) return Clock::duration::zero();
  int64_t ms = backoff.count();
  for (uint32_t i = 1; i < attempt && ms < max_backoff.count(); ++i) ms *= 2;
  return std::chrono::milliseconds(std::min<int64_t>(ms, max_backoff.count()));
}

bool OffsetRanges::contains(uint64_t offset) const {
  auto it = ranges_.upper_bound(offset);
  if (it == ranges_.begin()) return false;
  --it;
  return offset < it->second;
}

void OffsetRanges::insert(uint64_t offset) {
  auto next = ranges_.upper_bound(offset);  // the first range starting above it
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (offset < prev->second) return;  // held
    if (offset == prev->second) {
      // Extends `prev`; joins `next` when it starts right after.
      ++prev->second;
      ++count_;
      if (next != ranges_.end() && next->first == prev->second) {
        prev->second = next->second;
        ranges_.erase(next);
      }
      return;
    }
  }
  ++count_;
  if (next != ranges_.end() && next->first == offset + 1) {
    const uint64_t end = next->second;
    ranges_.erase(next);
    ranges_.emplace(offset, end);
    return;
  }
  ranges_.emplace(offset, offset + 1);
}

uint64_t OffsetRanges::take_run_at(uint64_t offset) {
  if (ranges_.empty() || ranges_.begin()->first != offset) return offset;
  const uint64_t end = ranges_.begin()->second;
  count_ -= end - offset;
  ranges_.erase(ranges_.begin());
  return end;
}

void OffsetRanges::erase_below(uint64_t offset) {
  while (!ranges_.empty() && ranges_.begin()->first < offset) {
    auto it = ranges_.begin();
    const uint64_t begin = it->first, end = it->second;
    ranges_.erase(it);
    if (end <= offset) {
      count_ -= end - begin;
      continue;
    }
    count_ -= offset - begin;
    ranges_.emplace(offset, end);
    break;
  }
}

std::vector<uint64_t> OffsetRanges::lowest(size_t max) const {
  std::vector<uint64_t> out;
  out.reserve(std::min<uint64_t>(max, count_));
  for (const auto& [begin, end] : ranges_) {
    for (uint64_t o = begin; o < end; ++o) {
      if (out.size() >= max) return out;
      out.push_back(o);
    }
  }
  return out;
}

void PartitionDelivery::reset(uint64_t committed, const std::vector<uint64_t>& acked_above, uint64_t log_start) {
  committed_ = std::max(committed, log_start);
  acked_above_.clear();
  for (uint64_t o : acked_above)
    if (o >= committed_) acked_above_.insert(o);
  in_flight_.clear();
  waiting_.clear();
  dead_lettering_.clear();
  next_read_ = committed_;
  dirty_ = false;
  if (committed_ != committed) set_dirty();
  if (const uint64_t up = acked_above_.take_run_at(committed_); up != committed_) {
    committed_ = up;
    set_dirty();
  }
  next_read_ = committed_;
}

std::vector<uint64_t> PartitionDelivery::ready(Clock::time_point now, size_t max) const {
  std::vector<uint64_t> out;
  for (const auto& [offset, w] : waiting_) {
    if (out.size() >= max) break;
    if (w.ready_at <= now) out.push_back(offset);
  }
  return out;
}

Clock::time_point PartitionDelivery::next_due(Clock::time_point now) const {
  Clock::time_point t = Clock::time_point::max();
  for (const auto& [offset, f] : in_flight_) t = std::min(t, f.deadline);
  for (const auto& [offset, w] : waiting_)
    if (w.ready_at > now) t = std::min(t, w.ready_at);
  return t;
}

Clock::time_point PartitionDelivery::next_ready_at() const {
  Clock::time_point t = Clock::time_point::max();
  for (const auto& [offset, w] : waiting_) t = std::min(t, w.ready_at);
  return t;
}

void PartitionDelivery::skip_acked(uint64_t offset) {
  if (offset >= next_read_) next_read_ = offset + 1;
}

void PartitionDelivery::deliver_new(uint64_t offset, const InFlight& f) {
  in_flight_[offset] = f;
  if (offset >= next_read_) next_read_ = offset + 1;
}

void PartitionDelivery::redeliver(uint64_t offset, const InFlight& f) {
  waiting_.erase(offset);
  in_flight_[offset] = f;
}

Status PartitionDelivery::check_in_flight(uint64_t member, uint64_t offset, std::map<uint64_t, InFlight>::iterator& it) {
  it = in_flight_.find(offset);
  if (it != in_flight_.end()) {
    if (it->second.member != member)
      return failed_precondition("offset " + std::to_string(offset) + " is in flight to another member");
    return Status();
  }
  if (is_acked(offset)) return already_exists("offset " + std::to_string(offset) + " is already acked");
  if (offset >= next_read_) return out_of_range("offset " + std::to_string(offset) + " was never delivered");
  return failed_precondition("offset " + std::to_string(offset) +
                             " is not in flight (its ack deadline passed or it was nacked or reassigned); it will be redelivered");
}

void PartitionDelivery::mark_acked(uint64_t offset) {
  set_dirty();
  if (offset != committed_) {
    acked_above_.insert(offset);
    return;
  }
  committed_ = acked_above_.take_run_at(committed_ + 1);
}

Result<uint64_t> PartitionDelivery::ack(uint64_t member, uint64_t offset) {
  std::map<uint64_t, InFlight>::iterator it;
  CAUSEWAY_RETURN_IF_ERROR(check_in_flight(member, offset, it));
  const uint64_t bytes = it->second.bytes;
  in_flight_.erase(it);
  mark_acked(offset);
  return bytes;
}

Status PartitionDelivery::extend(uint64_t member, uint64_t offset, Clock::time_point deadline) {
  std::map<uint64_t, InFlight>::iterator it;
  CAUSEWAY_RETURN_IF_ERROR(check_in_flight(member, offset, it));
  it->second.deadline = deadline;
  return Status();
}

Result<uint64_t> PartitionDelivery::nack(uint64_t member, uint64_t offset, Clock::time_point ready_at,
                                         std::string reason, bool permanent) {
  std::map<uint64_t, InFlight>::iterator it;
  CAUSEWAY_RETURN_IF_ERROR(check_in_flight(member, offset, it));
  const uint64_t bytes = it->second.bytes;
  waiting_[offset] = Waiting{it->second.attempt, ready_at, it->second.time_ms, std::move(reason), permanent};
  in_flight_.erase(it);
  return bytes;
}

std::vector<std::pair<uint64_t, uint64_t>> PartitionDelivery::expire(
    Clock::time_point now, const std::function<Clock::duration(uint32_t)>& delay) {
  std::vector<std::pair<uint64_t, uint64_t>> released;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.deadline <= now) {
      released.emplace_back(it->second.member, it->second.bytes);
      waiting_[it->first] = Waiting{it->second.attempt, now + (delay ? delay(it->second.attempt) : Clock::duration::zero()),
                                      it->second.time_ms, "ack deadline expired"};
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
  return released;
}

std::vector<uint64_t> PartitionDelivery::release_member(uint64_t member, Clock::time_point now,
                                                        const std::function<bool(uint64_t offset)>& was_processed) {
  std::vector<uint64_t> released;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.member == member) {
      released.push_back(it->second.bytes);
      if (was_processed && !was_processed(it->first)) {
        // attempt >= 1 always: the next delivery carries the same attempt number again.
        waiting_[it->first] = Waiting{it->second.attempt - 1, now, it->second.time_ms,
                                      "returned unprocessed when its member left the group"};
      } else {
        waiting_[it->first] = Waiting{it->second.attempt, now, it->second.time_ms, "member left the group"};
      }
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
  return released;
}

void PartitionDelivery::start_dead_letter(uint64_t offset) {
  auto it = waiting_.find(offset);
  if (it == waiting_.end()) return;
  dead_lettering_[offset] = std::move(it->second);
  waiting_.erase(it);
}

std::vector<std::pair<uint64_t, uint64_t>> PartitionDelivery::drop_below(uint64_t log_start) {
  std::vector<std::pair<uint64_t, uint64_t>> released;
  if (log_start <= committed_) return released;
  for (auto it = in_flight_.begin(); it != in_flight_.end() && it->first < log_start;) {
    released.emplace_back(it->second.member, it->second.bytes);
    it = in_flight_.erase(it);
  }
  waiting_.erase(waiting_.begin(), waiting_.lower_bound(log_start));
  dead_lettering_.erase(dead_lettering_.begin(), dead_lettering_.lower_bound(log_start));
  acked_above_.erase_below(log_start);
  committed_ = acked_above_.take_run_at(log_start);
  if (next_read_ < committed_) next_read_ = committed_;
  set_dirty();
  return released;
}

void PartitionDelivery::dead_lettered(uint64_t offset) {
  if (dead_lettering_.erase(offset) > 0) mark_acked(offset);
}

void PartitionDelivery::dead_letter_failed(uint64_t offset, Clock::time_point ready_at, std::string reason) {
  auto it = dead_lettering_.find(offset);
  if (it == dead_lettering_.end()) return;
  Waiting w = std::move(it->second);
  dead_lettering_.erase(it);
  w.ready_at = ready_at;
  w.last_reason = std::move(reason);
  waiting_[offset] = std::move(w);
}

}  // namespace causeway::subscribe
