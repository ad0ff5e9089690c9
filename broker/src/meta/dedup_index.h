// File: meta/dedup_index.h
//
// DedupIndex: dedup key -> (partition, offset, lamport, time) for every topic, in its own
// LMDB environment, with a per-partition checkpoint of how far into the log it is known
// to be complete. Databases, key layouts and the reconciliation contract are written down
// in docs/meta-store.md.
//
// The partition logs are the source of truth; this index is derived from them and can be
// rebuilt. So it trades durability for speed: commits do not fsync (MDB_NOSYNC |
// MDB_NOMETASYNC), and sync() flushes. What survives what:
//  - process crash (kill -9): every committed write survives (it is in the page cache).
//  - OS crash / power loss while open: anything may be lost or torn. The next open detects
//    this (the index was open in an earlier boot) and returns kCorruption; so does LMDB on
//    damaged files. On kCorruption from open, the caller calls destroy(dir), opens an empty
//    index and re-inserts from the logs.
// After any unclean stop the caller reconciles each partition: entries at or above the log's
// recovered end are removed with truncate_partition(log_end), then the log is re-read from
// checkpoint() and its dedup keys re-inserted.
//
// Keys are per topic id, never per name (a recreated topic has a new id). Dedup keys are
// 1 to 65535 bytes; keys longer than kMaxInlineKeyBytes are stored under a 128-bit XXH3
// digest with the whole key in the value, and a lookup compares the whole key.
//
// Thread-safety: all methods may be called from any thread; writes are serialised by
// LMDB. lookup followed by insert is not atomic: the caller serialises publishes of the
// same key of a topic (an in-flight table) for the window between the two.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "causeway/common/status.h"

namespace causeway::meta {

namespace lmdb {
class Env;
}  // namespace lmdb

struct DedupEntry {
  uint32_t partition = 0;
  uint64_t offset = 0;
  uint64_t lamport = 0;
  int64_t time_ms = 0;  // broker time the event was appended

  friend bool operator==(const DedupEntry&, const DedupEntry&) = default;
};

struct DedupInsert {
  std::string_view key;
  uint64_t offset = 0;
  uint64_t lamport = 0;
  int64_t time_ms = 0;
};

struct DedupIndexOptions {
  // LMDB map: starts at initial_map_bytes and doubles on demand up to max_map_bytes; a
  // write that needs more fails with kResourceExhausted.
  uint64_t initial_map_bytes = 64ull << 20;
  uint64_t max_map_bytes = 64ull << 30;
  unsigned max_readers = 126;
};

class DedupIndex {
 public:
  static constexpr uint32_t kFormatVersion = 1;
  static constexpr size_t kMaxKeyBytes = 65535;        // the log's u16 dedup_key length
  static constexpr size_t kMaxInlineKeyBytes = 400;    // longer keys are stored by digest

  // Opens (creating if absent) the index in `dir`. kCorruption when the files are damaged,
  // hold an unknown format, or the index was open when the OS last stopped (see above):
  // the caller destroys and rebuilds it. kFailedPrecondition if `dir` is already open in
  // this process.
  static Result<std::unique_ptr<DedupIndex>> open(const std::string& dir, const DedupIndexOptions& options = {});
  // Removes the index files in `dir` (not other files) and syncs the directory.
  // kFailedPrecondition while it is open in this process.
  static Status destroy(const std::string& dir);

  // Closes cleanly: syncs, then records that the index was closed (so a later open after
  // an OS restart trusts it).
  ~DedupIndex();
  DedupIndex(const DedupIndex&) = delete;
  DedupIndex& operator=(const DedupIndex&) = delete;

  // The entry stored for `key` in the topic, or nullopt if there is none or it is expired
  // (its time_ms < not_before_ms, i.e. older than the dedup window). kInvalidArgument for
  // an empty key or one longer than kMaxKeyBytes.
  Result<std::optional<DedupEntry>> lookup(uint32_t topic_id, std::string_view key, int64_t not_before_ms);

  // In one transaction: stores every entry under its key for (topic, partition) and moves
  // the partition's checkpoint to checkpoint_next_offset (never backwards: the checkpoint
  // becomes the larger of the two). A key already stored with a larger lamport keeps that
  // entry (a replay of older log records never overwrites newer ones); otherwise the entry
  // replaces it, in whichever partition it was. Every entry's offset must be below
  // checkpoint_next_offset (kInvalidArgument), and keys as for lookup.
  Status insert(uint32_t topic_id, uint32_t partition, std::span<const DedupInsert> entries,
                uint64_t checkpoint_next_offset);

  // The partition's checkpoint: every log offset below it has been indexed. 0 if none.
  Result<uint64_t> checkpoint(uint32_t topic_id, uint32_t partition);

  // Removes every key of the partition whose offset >= from_offset and lowers the
  // checkpoint to from_offset if it was above; returns how many keys were removed. One
  // transaction. Used when recovery cut the log's tail at from_offset.
  Result<size_t> truncate_partition(uint32_t topic_id, uint32_t partition, uint64_t from_offset);

  // Deletes up to max_entries of the topic's entries whose time_ms < older_than_ms, oldest
  // first, in one transaction; returns how many were deleted. Call again while it returns
  // max_entries.
  Result<size_t> expire(uint32_t topic_id, int64_t older_than_ms, size_t max_entries);

  // Every entry of the partition, by offset, with its whole key (for tests and checks).
  Result<std::vector<std::pair<std::string, DedupEntry>>> entries_for_partition(uint32_t topic_id,
                                                                                uint32_t partition);

  // Removes every entry and checkpoint of the topic, in transactions of bounded size (a
  // crash part-way leaves a subset; calling again finishes).
  Status drop_topic(uint32_t topic_id);

  // Ids of topics that have entries or checkpoints, ascending (to find leftovers of
  // topics deleted from the MetaStore).
  Result<std::vector<uint32_t>> topic_ids();

  // Checks that the three databases agree (every entry indexed by time and by offset, and
  // nothing else); kCorruption describing the first mismatch. Reads everything: for tests
  // and offline checks.
  Status check_consistency();

  // Flushes every commit so far to disk (mdb_env_sync with force).
  Status sync();

 private:
  struct Dbs;
  DedupIndex(std::unique_ptr<lmdb::Env> env, std::unique_ptr<Dbs> dbs, std::string dir);

  std::unique_ptr<lmdb::Env> env_;
  std::unique_ptr<Dbs> dbs_;
  std::string dir_;
};

}  // namespace causeway::meta
