// File: core/dedup_snapshot.h
//
// The dedup window's shutdown snapshot (docs/meta-store.md, "Shutdown snapshot"). On open
// the window is rebuilt by reading every partition's records within the window
// (EventStore::load_dedup_keys): about 1-3 s per GiB, so a restart soon after a burst
// waits for it. A clean shutdown therefore writes the window's keys (digests and entries)
// to one file, together with each partition's [start, end) offsets at that moment; the
// next open takes a partition's keys from the file when its recovered offsets are the
// same, reads only the others, and removes the file before the broker serves anything.
//
// Why this is safe. Offsets below a partition's end never change, and the logs are synced
// before the snapshot is written, so a partition that recovers to the same end (and the
// same last Lamport stamp, which ties the file to these logs and not to another copy of
// the data) holds the same records the snapshot's keys were taken from (records that
// retention removed since are dropped by their offset, keys past the window by their
// time). A partition that moved on (a crash after more appends, a file changed by hand)
// reads its log as before. Expiry may have dropped keys older than `dropped_below_ms`
// before the snapshot was written: a topic is taken only if the opening broker's window
// starts at or after that time, so a clock that went back does not lose keys.
// Damage anywhere (a short file, a CRC mismatch, an unknown record) discards the whole
// file: the window is rebuilt from the logs, never from half a snapshot.
//
// Format (all integers little-endian): a sequence of records, each a 12-byte header
// (u32 type, u32 payload length <= kMaxSnapshotRecordBytes, u32 masked CRC32C of the type, length
// and payload) and its payload:
//   1 file:  u32 version (2; 1 is read too), i64 written_ms
//   2 topic: u32 topic_id, i64 dropped_below_ms, u32 partitions, then per partition
//            u64 start, u64 end, u64 last_lamport
//   3 keys:  u32 topic_id, u32 count, then count x 40 bytes: u64 digest_lo, u32 digest_hi,
//            u32 partition, u64 offset, u64 lamport, i64 time_ms (version 1: 44 bytes, a
//            u64 digest_hi of which the low 32 bits are kept)
//   4 end:   u32 topics, u64 keys (what the records above hold; a file without it is torn)
// A topic record comes before its keys records. The file is written as PATH.tmp and
// renamed, without a sync: torn or lost after a power failure, it is only discarded.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "causeway/common/status.h"
#include "core/dedup_window.h"
#include "storage/file_system.h"

namespace causeway::core {

struct SnapshotPartition {
  uint64_t start_offset = 0;
  uint64_t end_offset = 0;
  uint64_t last_lamport = 0;
  friend bool operator==(const SnapshotPartition&, const SnapshotPartition&) = default;
};

struct SnapshotTopic {
  uint32_t topic_id = 0;
  int64_t dropped_below_ms = 0;  // keys older than this may be missing (DedupWindow::dropped_below)
  std::vector<SnapshotPartition> partitions;
};

inline constexpr uint32_t kMaxSnapshotRecordBytes = 16u << 20;

// Writes the keys of `topics` held by `window` to `path`. Errors name the file.
Status write_dedup_snapshot(storage::FileSystem& fs, const std::string& path, const DedupWindow& window,
                            const std::vector<SnapshotTopic>& topics, int64_t now_ms);

// Reads `path`. For each topic record, `on_topic` returns which of its partitions' keys to
// take (index = partition; shorter or empty: none); `on_keys` then gets those keys, in
// pieces, in the order they were written. kCorruption, naming the file and position, when
// the file is damaged or torn: the caller must then drop whatever on_keys gave it.
Status read_dedup_snapshot(storage::FileSystem& fs, const std::string& path,
                           const std::function<std::vector<bool>(const SnapshotTopic&)>& on_topic,
                           const std::function<void(uint32_t topic_id, std::span<const DedupDigestEntry>)>& on_keys);

}  // namespace causeway::core
