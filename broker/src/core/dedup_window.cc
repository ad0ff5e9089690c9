// DedupWindow: dedup keys within each topic's window, in memory. See dedup_window.h.
#include "core/dedup_window.h"

#include <xxhash.h>

#include <algorithm>
#include <array>

#include "meta/topic_config.h"

namespace causeway::core {
namespace {

void raise(std::atomic<int64_t>& v, int64_t to) {
  int64_t cur = v.load();
  while (cur < to && !v.compare_exchange_weak(cur, to)) {
  }
}

// Which shard holds a digest, by the 32 bits of its high part (independent of `lo`, the
// table's hash).
//
// A table doubles when it is 7/8 full and is 7/16 full just after, so a key costs its slot
// times 8/7 to 16/7. With equal shares every shard doubles at the same moment, and the
// whole window's memory per key swung with it between those two (57-86 bytes measured with
// 40-byte slots). Shard s instead takes a share of the digests proportional to
// 1 / (2 - (s + 1/2) / kShards), from 1 to about 2 times the smallest: then the shards
// double at spread-out sizes, and the sum of their capacities grows in step with the keys,
// to within ~1% at every size (a table's capacity is a power of two, so its doubling
// points are evenly spaced in log2 of its keys; these shares place the kShards doubling
// points where each adds capacity in proportion to the keys held at that moment). The
// cost per key is then the mean over a doubling, slot times 8/7 divided by ln 2: about 61
// bytes for 37 (slot and control byte), at every size.
struct ShardMap {
  static constexpr uint64_t kSpace = uint64_t{1} << 32;
  std::array<uint64_t, 64 + 1> bound{};  // shard s holds [bound[s], bound[s + 1])
  std::array<uint8_t, 256> first{};      // the shard holding the start of each 2^24 range
};

constexpr ShardMap make_shard_map(size_t shards) {
  ShardMap m;
  const auto share = [shards](size_t s) {  // unnormalised
    return 1.0 / (2.0 - (static_cast<double>(s) + 0.5) / static_cast<double>(shards));
  };
  double total = 0;
  for (size_t s = 0; s < shards; ++s) total += share(s);
  double acc = 0;
  for (size_t s = 0; s < shards; ++s) {
    acc += share(s);
    m.bound[s + 1] = s + 1 == shards ? ShardMap::kSpace
                                     : static_cast<uint64_t>(acc / total * static_cast<double>(ShardMap::kSpace));
  }
  size_t s = 0;
  for (uint64_t b = 0; b < m.first.size(); ++b) {
    while (m.bound[s + 1] <= (b << 24)) ++s;
    m.first[b] = static_cast<uint8_t>(s);
  }
  return m;
}

}  // namespace

static_assert(meta::kMaxPartitions <= 0xFFFF, "DedupWindow::PackedEntry keeps 16 bits of partition");

DedupWindow::PackedEntry DedupWindow::PackedEntry::pack(uint32_t partition, uint64_t offset, uint64_t lamport,
                                                        int64_t time_ms) {
  static_assert(sizeof(PackedEntry) == 24);
  constexpr int64_t kMax = (int64_t{1} << 47) - 1;
  const int64_t t = std::clamp(time_ms, -kMax - 1, kMax);
  return PackedEntry{offset, lamport, (static_cast<uint64_t>(t) << 16) | (partition & 0xFFFF)};
}

DedupWindow::Digest DedupWindow::digest(std::string_view key) {
  static_assert(sizeof(Digest) + sizeof(PackedEntry) == 36 && alignof(Digest) == 4 && alignof(PackedEntry) == 4);
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return Digest{h.low64, static_cast<uint32_t>(h.high64)};
}

DedupDigestInsert DedupWindow::digest_of(std::string_view key) {
  const Digest d = digest(key);
  return DedupDigestInsert{d.lo, d.hi, 0, 0, 0};
}

uint32_t DedupWindow::shard_of(const Digest& d) noexcept {
  static constexpr ShardMap kMap = make_shard_map(kShards);
  static_assert(kMap.bound.size() == kShards + 1);
  // The smallest share is more than a 2^24 range, so at most one step past `first`.
  const uint64_t x = d.hi;
  uint32_t s = kMap.first[x >> 24];
  while (x >= kMap.bound[s + 1]) ++s;
  return s;
}

std::shared_ptr<DedupWindow::Topic> DedupWindow::topic(uint32_t topic_id) const {
  std::lock_guard lk(topics_mu_);
  auto it = topics_.find(topic_id);
  return it == topics_.end() ? nullptr : it->second;
}

void DedupWindow::add_topic(uint32_t topic_id, std::chrono::milliseconds window) {
  std::lock_guard lk(topics_mu_);
  auto& t = topics_[topic_id];
  if (!t) t = std::make_shared<Topic>();
  t->window = window;
}

void DedupWindow::drop_topic(uint32_t topic_id) {
  std::shared_ptr<Topic> gone;
  {
    std::lock_guard lk(topics_mu_);
    auto it = topics_.find(topic_id);
    if (it == topics_.end()) return;
    gone = std::move(it->second);
    topics_.erase(it);
  }
  // Freed here, outside topics_mu_, or by the last reader still holding it.
}

std::optional<DedupEntry> DedupWindow::find(uint32_t topic_id, std::string_view key, int64_t not_before_ms) const {
  const std::shared_ptr<Topic> t = topic(topic_id);
  if (!t) return std::nullopt;
  const Digest d = digest(key);
  const Shard& shard = t->shards[shard_of(d)];
  std::lock_guard lk(shard.mu);
  auto it = shard.keys.find(d);
  if (it == shard.keys.end() || it->second.time_ms() < not_before_ms) return std::nullopt;
  return it->second.unpack();
}

template <typename DigestOf>
std::vector<DedupWindow::Keyed>& DedupWindow::order_by_shard(size_t n, const DigestOf& digest_of) {
  // Per thread, reused: publishes call this for every request, and their sizes repeat.
  thread_local std::vector<Keyed> digests;
  thread_local std::vector<Keyed> ordered;
  if (n <= kScratchKeep && ordered.capacity() > kScratchKeep) {  // a huge batch came before: free it
    digests = {};
    ordered = {};
  }
  digests.resize(n);
  std::array<uint32_t, kShards + 1> start{};
  for (size_t i = 0; i < n; ++i) {
    const Digest d = digest_of(i);
    const auto shard = shard_of(d);
    digests[i] = Keyed{d, shard, static_cast<uint32_t>(i)};
    ++start[shard + 1];
  }
  for (size_t s = 1; s <= kShards; ++s) start[s] += start[s - 1];
  ordered.resize(n);
  for (size_t i = 0; i < n; ++i) ordered[start[digests[i].shard]++] = digests[i];  // stable within a shard
  return ordered;
}

void DedupWindow::find_many(uint32_t topic_id, std::span<const std::string_view> keys, int64_t not_before_ms,
                            std::vector<std::optional<DedupEntry>>& out) const {
  out.assign(keys.size(), std::nullopt);
  if (keys.empty()) return;
  const std::shared_ptr<Topic> t = topic(topic_id);
  if (!t) return;
  std::vector<Keyed>& keyed = order_by_shard(keys.size(), [&](size_t i) { return digest(keys[i]); });
  for (size_t from = 0; from < keyed.size();) {
    const Shard& shard = t->shards[keyed[from].shard];
    std::lock_guard lk(shard.mu);
    size_t i = from;
    for (; i < keyed.size() && keyed[i].shard == keyed[from].shard; ++i) {
      auto it = shard.keys.find(keyed[i].d);
      if (it != shard.keys.end() && it->second.time_ms() >= not_before_ms)
        out[keyed[i].index] = it->second.unpack();
    }
    from = i;
  }
}

template <typename DigestOf, typename EntryOf>
void DedupWindow::insert_n(uint32_t topic_id, size_t n, const DigestOf& digest_of, const EntryOf& entry_of) {
  if (n == 0) return;
  const std::shared_ptr<Topic> t = topic(topic_id);
  if (!t) return;
  if (n == 1) {
    const Digest d = digest_of(0);
    Shard& shard = t->shards[shard_of(d)];
    std::lock_guard lk(shard.mu);
    const PackedEntry e = entry_of(0);
    shard.keys.insert_or_assign(d, e);
    shard.oldest_ms = std::min(shard.oldest_ms, e.time_ms());  // as stored (clamped)
    return;
  }
  // A batch: digests first, outside any lock, then each shard's keys under one lock, in
  // the batch's order (a key twice in one batch keeps its later entry, as one by one).
  std::vector<Keyed>& keyed = order_by_shard(n, digest_of);
  for (size_t from = 0; from < keyed.size();) {
    Shard& shard = t->shards[keyed[from].shard];
    std::lock_guard lk(shard.mu);
    size_t i = from;
    for (; i < keyed.size() && keyed[i].shard == keyed[from].shard; ++i) {
      const PackedEntry e = entry_of(keyed[i].index);
      shard.keys.insert_or_assign(keyed[i].d, e);
      shard.oldest_ms = std::min(shard.oldest_ms, e.time_ms());
    }
    from = i;
  }
}

void DedupWindow::insert(uint32_t topic_id, uint32_t partition, std::span<const DedupInsert> inserts) {
  insert_n(
      topic_id, inserts.size(), [&](size_t i) { return digest(inserts[i].key); },
      [&](size_t i) {
        const DedupInsert& in = inserts[i];
        return PackedEntry::pack(partition, in.offset, in.lamport, in.time_ms);
      });
}

void DedupWindow::insert_digests(uint32_t topic_id, uint32_t partition, std::span<const DedupDigestInsert> inserts) {
  insert_n(
      topic_id, inserts.size(), [&](size_t i) { return Digest{inserts[i].digest_lo, inserts[i].digest_hi}; },
      [&](size_t i) {
        const DedupDigestInsert& in = inserts[i];
        return PackedEntry::pack(partition, in.offset, in.lamport, in.time_ms);
      });
}

size_t DedupWindow::expire(int64_t now_ms) {
  std::vector<std::shared_ptr<Topic>> all;
  {
    std::lock_guard lk(topics_mu_);
    for (const auto& [id, t] : topics_) all.push_back(t);
  }
  size_t removed = 0;
  for (const auto& t : all) {
    const int64_t cutoff = now_ms - t->window.count();
    raise(t->dropped_below, cutoff);
    // A shard is swept when it holds a key past the window, at most once per sixteenth of
    // the window: a sweep visits every key of the shard (there is no queue of insertion
    // times: it cost 24 bytes a key), so its cost is spread over the window's inserts, and
    // keys outlive the window by at most a sixteenth of it (lookups check each key's
    // time, so that is memory, never a wrong answer). bench/micro dedup_bench,
    // BM_DedupWindow_ExpirePass.
    // Shards in descending order: a batch insert takes them ascending, so it meets the
    // sweeper at one shard at most instead of waiting behind it at each.
    const int64_t period = t->window.count() / 16;
    for (size_t i = kShards; i-- > 0;) {
      Shard& shard = t->shards[i];
      std::lock_guard lk(shard.mu);
      if (shard.oldest_ms >= cutoff) continue;
      // A sweep "in the future" is from before the clock was set back: not recent.
      const bool recent = shard.swept_at_ms != std::numeric_limits<int64_t>::min() &&
                          shard.swept_at_ms <= now_ms && shard.swept_at_ms > now_ms - period;
      if (recent) continue;
      shard.swept_at_ms = now_ms;
      int64_t oldest = std::numeric_limits<int64_t>::max();
      for (auto it = shard.keys.begin(); it != shard.keys.end();) {
        const int64_t time = it->second.time_ms();
        if (time < cutoff) {
          shard.keys.erase(it++);
          ++removed;
        } else {
          oldest = std::min(oldest, time);
          ++it;
        }
      }
      shard.oldest_ms = oldest;
    }
  }
  return removed;
}

void DedupWindow::export_topic(uint32_t topic_id, size_t chunk,
                               const std::function<void(std::span<const DedupDigestEntry>)>& sink) const {
  const std::shared_ptr<Topic> t = topic(topic_id);
  if (!t) return;
  std::vector<DedupDigestEntry> out;
  out.reserve(std::max<size_t>(chunk, 1));
  for (const Shard& shard : t->shards) {
    std::lock_guard lk(shard.mu);
    for (const auto& [d, e] : shard.keys) {
      out.push_back(DedupDigestEntry{d.lo, d.hi, e.unpack()});
      if (out.size() >= std::max<size_t>(chunk, 1)) {
        sink(out);
        out.clear();
      }
    }
    if (!out.empty()) {
      sink(out);
      out.clear();
    }
  }
}

void DedupWindow::import_entries(uint32_t topic_id, std::span<const DedupDigestEntry> entries) {
  const std::shared_ptr<Topic> t = topic(topic_id);
  if (!t) return;
  for (const DedupDigestEntry& e : entries) {
    const Digest d{e.digest_lo, e.digest_hi};
    Shard& shard = t->shards[shard_of(d)];
    std::lock_guard lk(shard.mu);
    const PackedEntry packed = PackedEntry::pack(e.entry);
    shard.keys.insert_or_assign(d, packed);
    shard.oldest_ms = std::min(shard.oldest_ms, packed.time_ms());
  }
}

int64_t DedupWindow::dropped_below(uint32_t topic_id) const {
  const std::shared_ptr<Topic> t = topic(topic_id);
  return t ? t->dropped_below.load() : std::numeric_limits<int64_t>::min();
}

void DedupWindow::note_dropped_below(uint32_t topic_id, int64_t time_ms) {
  if (const std::shared_ptr<Topic> t = topic(topic_id)) raise(t->dropped_below, time_ms);
}

size_t DedupWindow::memory_bytes() const {
  std::vector<std::shared_ptr<Topic>> all;
  {
    std::lock_guard lk(topics_mu_);
    for (const auto& [id, t] : topics_) all.push_back(t);
  }
  // absl's flat_hash_map: capacity slots, and capacity + 1 + 15 control bytes (the cloned
  // group), in one allocation when the capacity is not zero.
  constexpr size_t kSlot = sizeof(Digest) + sizeof(PackedEntry);
  size_t bytes = 0;
  for (const auto& t : all)
    for (const Shard& shard : t->shards) {
      std::lock_guard lk(shard.mu);
      const size_t cap = shard.keys.capacity();
      if (cap != 0) bytes += cap * kSlot + cap + 16;
    }
  return bytes;
}

size_t DedupWindow::size() const {
  std::vector<std::shared_ptr<Topic>> all;
  {
    std::lock_guard lk(topics_mu_);
    for (const auto& [id, t] : topics_) all.push_back(t);
  }
  size_t n = 0;
  for (const auto& t : all)
    for (const Shard& shard : t->shards) {
      std::lock_guard lk(shard.mu);
      n += shard.keys.size();
    }
  return n;
}

}  // namespace causeway::core
