// File: subscribe/shared_reads.h
//
// Work that the groups of one topic share instead of each doing it alone
// (docs/subscriptions.md, "Shared reads and matching"):
//
// - ReadCache keeps recent reads of a partition: the batches a read returned (read and
//   checksummed once) and their decoded records. A group whose next offset lies in a
//   cached chunk takes its records from there instead of reading the log again, so a
//   thousand groups following one topic's tail cost one read per append, not a thousand.
// - TopicPatterns compiles the patterns of every filtered group of a topic into one
//   rules::Matcher, and a chunk is matched against it once: each record's list of matching
//   groups (slots) is kept with the chunk, and each group looks up its own slot. The cost
//   of filtering an event for N groups then grows with the Matcher's, far slower than N.
//
// What is shared never changes what a group sees: a chunk holds only records below the
// end its reader was allowed to see (durable and appended), and a group still takes only
// records below its own end; match results are tied to the TopicPatterns they were
// computed with, so a group whose pattern changed never reads another pattern's answers.
//
// Thread-safety: all classes are thread-safe. A ReadChunk is immutable apart from its
// match results, which it computes at most once per TopicPatterns under its own mutex.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "causeway/common/batch_format.h"
#include "causeway/common/status.h"
#include "storage/partition_log.h"
#include "subscribe/event_filter.h"

namespace causeway::rules {
class Matcher;
struct Pattern;
}  // namespace causeway::rules

namespace causeway::subscribe {

// The patterns of a topic's filtered groups, compiled together; pattern i reports slot i.
// Immutable: the coordinator builds a new one whenever a group of the topic is loaded,
// dropped, or changes its pattern.
class TopicPatterns {
 public:
  static Result<std::shared_ptr<const TopicPatterns>> compile(
      const std::vector<std::shared_ptr<const rules::Pattern>>& patterns);

  size_t size() const { return size_; }
  const rules::Matcher& matcher() const { return *matcher_; }

 private:
  TopicPatterns() = default;
  std::shared_ptr<const rules::Matcher> matcher_;
  size_t size_ = 0;
};

// Which slots of one TopicPatterns each record of a chunk matched.
struct ChunkMatches {
  std::shared_ptr<const TopicPatterns> patterns;
  std::vector<uint32_t> begin;  // record i matched slots[begin[i] .. begin[i + 1]), ascending
  std::vector<uint32_t> slots;

  bool matched(size_t record, uint32_t slot) const;
  uint64_t bytes() const { return (begin.size() + slots.size()) * sizeof(uint32_t); }
};

// One read of a partition: verified batches and the records in them from `first()`
// (inclusive) to `end()` (exclusive; below the end its reader was allowed to see).
class ReadChunk {
 public:
  ReadChunk(storage::ReadResult batches, std::vector<batch::RecordView> records);
  ReadChunk(const ReadChunk&) = delete;
  ReadChunk& operator=(const ReadChunk&) = delete;

  uint64_t first() const { return records_.front().offset; }
  uint64_t end() const { return records_.back().offset + 1; }
  const std::vector<batch::RecordView>& records() const { return records_; }
  // The index of the first record at or above `offset` (records().size() if none).
  size_t index_of(uint64_t offset) const;
  // Whether it holds a record at or above `from` and below `end_snapshot`.
  bool holds(uint64_t from, uint64_t end_snapshot) const;
  // The bytes of its batches and record views, for the cache's budget (match results,
  // at most a few slots per record, are not counted).
  uint64_t bytes() const { return bytes_; }

  // The match results of every record against `patterns`, computed by the first caller
  // for those patterns (others wait for it rather than matching again). `topic` and
  // `schemas` read the records as patterns see them.
  std::shared_ptr<const ChunkMatches> matches(const std::shared_ptr<const TopicPatterns>& patterns,
                                              std::string_view topic, PayloadSchemas* schemas) const;

 private:
  const storage::ReadResult batches_;
  const std::vector<batch::RecordView> records_;  // ascending offsets, views into batches_
  uint64_t bytes_ = 0;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const ChunkMatches> matches_;
};

// Recent chunks of every partition. A chunk leaves once as many other reads took it as
// its reader said other groups may want it (so a thousand groups following a tail keep
// about one chunk per partition), or, least recently used first, when the chunks exceed
// a byte budget (groups that do not read, or read far behind). Chunks in use by a reader
// stay alive until it is done with them.
class ReadCache {
 public:
  explicit ReadCache(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  struct Request {
    uint32_t topic_id = 0;  // the topic's id, not its name: a re-created topic shares nothing
    uint32_t partition = 0;
    uint64_t from = 0;
    uint64_t max_events = 0;
    uint64_t max_bytes = 0;     // what the log read may return (at least one batch)
    uint64_t end_snapshot = 0;  // records at or above it are not the reader's to see
    // The other groups that may want what is read: a chunk is cached until that many
    // reads took it (or the budget drops it first); 0 caches nothing.
    uint32_t sharers = 0;
  };
  // A chunk holding `from` (with at least one record at or above it, below end_snapshot):
  // cached, or read from `log` now; null when the log holds nothing in [from,
  // end_snapshot). The log's errors as they are (kOutOfRange when `from` is below the log
  // start).
  Result<std::shared_ptr<const ReadChunk>> read(const storage::PartitionLog& log, const Request& request);

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t chunks = 0;
    uint64_t bytes = 0;
  };
  Stats stats() const;

 private:
  using Key = std::pair<uint64_t, uint64_t>;  // (topic_id << 32 | partition, first offset)
  struct Entry {
    std::shared_ptr<const ReadChunk> chunk;
    std::list<Key>::iterator lru;
    uint32_t takes_left = 0;  // reads that may still want it
  };
  void insert_locked(const Key& key, std::shared_ptr<const ReadChunk> chunk, uint32_t takes);
  void erase_locked(std::map<Key, Entry>::iterator it);

  const uint64_t max_bytes_;
  mutable std::mutex mu_;
  std::map<Key, Entry> chunks_;
  std::list<Key> lru_;  // most recently used first
  Stats stats_;
};

}  // namespace causeway::subscribe
