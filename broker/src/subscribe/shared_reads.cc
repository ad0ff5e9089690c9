// Reads and pattern matching shared by the groups of a topic. See subscribe/shared_reads.h.
#include "subscribe/shared_reads.h"

#include <algorithm>

#include "rules/matcher.h"
#include "rules/pattern.h"

namespace causeway::subscribe {

Result<std::shared_ptr<const TopicPatterns>> TopicPatterns::compile(
    const std::vector<std::shared_ptr<const rules::Pattern>>& patterns) {
  std::vector<uint32_t> slots(patterns.size());
  for (uint32_t i = 0; i < slots.size(); ++i) slots[i] = i;
  std::shared_ptr<TopicPatterns> out(new TopicPatterns());
  CAUSEWAY_ASSIGN_OR_RETURN(out->matcher_, rules::Matcher::compile(patterns, slots));
  out->size_ = patterns.size();
  return std::shared_ptr<const TopicPatterns>(std::move(out));
}

size_t ReadChunk::index_of(uint64_t offset) const {
  return static_cast<size_t>(
      std::lower_bound(records_.begin(), records_.end(), offset,
                       [](const batch::RecordView& r, uint64_t o) { return r.offset < o; }) -
      records_.begin());
}

bool ReadChunk::holds(uint64_t from, uint64_t end_snapshot) const {
  const size_t i = index_of(from);
  return i < records_.size() && records_[i].offset < end_snapshot;
}

bool ChunkMatches::matched(size_t record, uint32_t slot) const {
  const auto b = slots.begin() + begin[record];
  const auto e = slots.begin() + begin[record + 1];
  return std::binary_search(b, e, slot);
}

ReadChunk::ReadChunk(storage::ReadResult batches, std::vector<batch::RecordView> records)
    : batches_(std::move(batches)), records_(std::move(records)) {
  bytes_ = records_.capacity() * sizeof(batch::RecordView);
  for (const storage::StoredBatch& b : batches_.batches) bytes_ += b.bytes.capacity() + sizeof(b);
  for (const batch::RecordView& r : records_) bytes_ += r.headers.capacity() * sizeof(batch::Header);
}

std::shared_ptr<const ChunkMatches> ReadChunk::matches(const std::shared_ptr<const TopicPatterns>& patterns,
                                                       std::string_view topic, PayloadSchemas* schemas) const {
  // Held while matching: a second group wanting the same answer waits for it instead of
  // matching the chunk again.
  std::lock_guard lk(mu_);
  if (matches_ && matches_->patterns == patterns) return matches_;
  auto m = std::make_shared<ChunkMatches>();
  m->patterns = patterns;
  m->begin.reserve(records_.size() + 1);
  m->begin.push_back(0);
  for (const batch::RecordView& rec : records_) {
    const size_t at = m->slots.size();
    match_record(patterns->matcher(), topic, rec, schemas, m->slots);
    std::sort(m->slots.begin() + static_cast<std::ptrdiff_t>(at), m->slots.end());
    m->begin.push_back(static_cast<uint32_t>(m->slots.size()));
  }
  matches_ = std::move(m);
  return matches_;
}

Result<std::shared_ptr<const ReadChunk>> ReadCache::read(const storage::PartitionLog& log, const Request& request) {
  const uint64_t partition_key = (static_cast<uint64_t>(request.topic_id) << 32) | request.partition;
  {
    std::lock_guard lk(mu_);
    // The chunks starting at or below `from`, nearest first; a hit when one holds `from`.
    // Readers with other credit read chunks of other lengths, so a few may overlap.
    constexpr int kLookBack = 4;
    auto it = chunks_.upper_bound(Key{partition_key, request.from});
    for (int i = 0; i < kLookBack && it != chunks_.begin(); ++i) {
      --it;
      if (it->first.first != partition_key) break;
      if (it->second.chunk->holds(request.from, request.end_snapshot)) {
        ++stats_.hits;
        std::shared_ptr<const ReadChunk> chunk = it->second.chunk;
        if (--it->second.takes_left == 0) {
          erase_locked(it);  // every group that may want it took it
        } else {
          lru_.splice(lru_.begin(), lru_, it->second.lru);
        }
        return chunk;
      }
    }
    ++stats_.misses;
  }
  // Read outside the lock: file reads may block. Two readers missing at once both read;
  // the later insert replaces the earlier.
  CAUSEWAY_ASSIGN_OR_RETURN(storage::ReadResult r,
                            log.read(request.from, std::max<uint64_t>(request.max_bytes, 1), request.max_events));
  std::vector<batch::RecordView> records;
  records.reserve(std::min<uint64_t>(request.max_events, 4096));
  CAUSEWAY_RETURN_IF_ERROR(storage::for_each_record_from(r, request.from, [&](const batch::RecordView& rec) {
    if (records.size() >= request.max_events || rec.offset >= request.end_snapshot) return false;
    records.push_back(rec);
    return true;
  }));
  if (records.empty()) return std::shared_ptr<const ReadChunk>();
  // The views stay valid as the ReadResult moves into the chunk: moving a vector hands over
  // its buffer, so the strings the views point into stay where they are.
  auto chunk = std::make_shared<const ReadChunk>(std::move(r), std::move(records));
  if (request.sharers > 0) {
    std::lock_guard lk(mu_);
    insert_locked(Key{partition_key, chunk->first()}, chunk, request.sharers);
  }
  return chunk;
}

void ReadCache::insert_locked(const Key& key, std::shared_ptr<const ReadChunk> chunk, uint32_t takes) {
  if (chunk->bytes() > max_bytes_) return;
  if (auto it = chunks_.find(key); it != chunks_.end()) erase_locked(it);
  stats_.bytes += chunk->bytes();
  lru_.push_front(key);
  chunks_.emplace(key, Entry{std::move(chunk), lru_.begin(), takes});
  while (stats_.bytes > max_bytes_ && !lru_.empty()) erase_locked(chunks_.find(lru_.back()));
  stats_.chunks = chunks_.size();
}

void ReadCache::erase_locked(std::map<Key, Entry>::iterator it) {
  stats_.bytes -= it->second.chunk->bytes();
  lru_.erase(it->second.lru);
  chunks_.erase(it);
  stats_.chunks = chunks_.size();
}

ReadCache::Stats ReadCache::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

}  // namespace causeway::subscribe
