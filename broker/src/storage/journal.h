// File: storage/journal.h
//
// The sync journal: where a shared sync round makes many partitions' small appends durable
// with one sequential write and one fdatasync. A round of a SyncGroup (storage/sync_group.h)
// that covers many logs, each with a few hundred new bytes, would otherwise be one syncfs
// that writes at least one 4 KiB block per dirty file (1,000 separate block writes at 1,000
// keyed partitions, 13-23 ms on our VM). Instead the group copies each log's new bytes (the
// range of its active segment since the log's last round) into journal records, appends
// them to the journal file and fdatasyncs it alone; the segment files keep the same bytes in
// the page cache and reach the disk later, at a checkpoint (BookKeeper's journal + ledger
// storage, with the ledger written first and synced late). Format, replay and checkpoints:
// docs/log-format.md, "Sync journal".
//
// A record says "these bytes are at this position of this segment file"; replaying one
// writes them there again. Records only ever hold bytes that were already written to their
// segment, segments are append-only, so replaying a record over a file that already holds
// its bytes changes nothing and replaying records in any order yields the same files.
//
// Checkpoint: start a new journal file, sync the whole file system (every segment write
// that any record of the older files copied happened before, so it is now on disk), then
// delete the older files. Each record carries its partition's incarnation (a random number
// kept in the partition directory, new for every directory created), so that a record of a
// deleted topic is never replayed into a topic created again under its name at the same
// paths; retention deletes only sealed segments, which their seal synced, and replay skips
// records whose file is gone.
//
// Thread-safety: a Journal is used by one thread at a time (the sync group's).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/common/status.h"
#include "storage/file_system.h"

namespace causeway::storage {

// One range of one segment file to make durable through the journal.
struct JournalEntry {
  std::string segment_path;  // absolute; must lie under the journal's topics directory
  uint64_t incarnation = 0;  // of the segment's partition directory (partition_incarnation)
  uint64_t position = 0;     // where `bytes` start in the segment file
  std::string bytes;
};

// What replay at open found and did; the caller logs it.
struct JournalReplayReport {
  size_t files = 0;            // journal files read
  size_t records = 0;          // valid records found
  size_t replayed = 0;         // records written back to their segment file
  size_t skipped_missing = 0;  // records whose partition or segment file is gone
  size_t skipped_other = 0;    // records of an earlier partition at the same path (deleted topic)
  uint64_t bytes = 0;          // bytes written back
  // Set when a file ended in a record that is cut short or fails its checksum (a write the
  // crash interrupted): which file, and where its valid records end.
  std::vector<std::string> torn;
};

class Journal {
 public:
  // Largest range one record may hold (replay refuses larger ones as damage). The sync
  // group journals far smaller ranges (SyncGroupOptions::journal_range_limit).
  static constexpr uint64_t kMaxRecordBytes = 16u << 20;

  // Replays the journal files found in `dir` (if any) into the segment files under
  // `topics_dir`, syncs every file it wrote, deletes the journal files, and starts a new one.
  // Call before any partition log under `topics_dir` is opened. `report` may be null.
  static Result<std::unique_ptr<Journal>> open(FileSystem* fs, std::string dir, std::string topics_dir,
                                               JournalReplayReport* report);
  // The replay alone (open's first step): for tools and tests. With `fs_sync` (a sync of
  // the file system holding the topics, opened before the replay writes anything), one
  // sync() makes every segment file it covers durable; without it, or for a file it does
  // not cover, each file written gets its own fdatasync.
  static Status replay(FileSystem* fs, const std::string& dir, const std::string& topics_dir,
                       JournalReplayReport* report, FileSystemSync* fs_sync = nullptr);

  // Appends one record per entry to the current file and fdatasyncs it. On failure the
  // records may or may not be durable, and the journal refuses further commits.
  Status commit(std::span<const JournalEntry> entries);

  // Checkpoint, first half: later commits go to a new file. Returns the older files'
  // paths, to be deleted (remove()) once everything written before this call is on disk.
  // On failure the current file stays current.
  Result<std::vector<std::string>> rotate();
  // Whether a replay would find any record: the current file has one, or older files wait
  // for a checkpoint.
  bool holds_records() const noexcept { return size_ > kEmptyFileBytes || !older_.empty(); }
  // Checkpoint, second half: deletes the given (older) files.
  Status remove(const std::vector<std::string>& paths);

  // Bytes in the current file (what a replay would read after a crash now), and the size
  // of a file with no record yet (its header).
  uint64_t current_bytes() const noexcept { return size_; }
  static constexpr uint64_t kEmptyFileBytes = 8;
  uint64_t empty_bytes() const noexcept { return kEmptyFileBytes; }
  const std::string& dir() const noexcept { return dir_; }

 private:
  Journal(FileSystem* fs, std::string dir, std::string topics_dir);
  Status start_file(uint64_t number);

  FileSystem* const fs_;
  const std::string dir_;
  const std::string topics_dir_;
  std::unique_ptr<File> file_;
  std::string file_path_;
  uint64_t number_ = 0;       // of the current file
  uint64_t next_number_ = 0;  // for the next one
  uint64_t size_ = 0;
  std::vector<std::string> older_;  // rotated away, not yet removed
  std::string buffer_;              // reused by commit()
  Status failed_;
};

// The name of journal file `number` (20 digits, so that lexical order is numeric order).
std::string journal_file_name(uint64_t number);

// The incarnation of the partition directory `dir`: a random number kept in its
// `incarnation` file, written (atomically, synced) when the directory first gets one. A
// missing or damaged file gets a new number when `create` (replay, which runs first, has
// refused a damaged one that a record needed), else is kNotFound / kCorruption / the I/O
// error.
Result<uint64_t> partition_incarnation(FileSystem* fs, const std::string& dir, bool create);

}  // namespace causeway::storage
