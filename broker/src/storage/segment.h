// File: storage/segment.h
//
// One segment of a partition log: a `.log` file of batches plus its sparse `.index`
// (offset -> position) and `.timeindex` (time/Lamport -> position), kept in memory and
// written to disk when the segment is sealed. Format: docs/log-format.md.
//
// Thread-safety: none of its own. The owning PartitionLog serialises appends, sealing and
// index lookups under its mutex; read_batches() only touches the file (pread) and may run
// concurrently with appends, given a `end_position` the caller snapshotted under the mutex.
// sync() and start_writeback() may run concurrently with seal().
//
// Descriptors: a segment holds its `.log` file open while it is active. With a FileCache
// (storage/file_cache.h), a sealed segment hands its descriptor to the cache and reads
// through it, so sealed segments share a bounded number of descriptors; without one it
// keeps its own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "causeway/common/status.h"
#include "causeway/common/batch_format.h"
#include "storage/file_cache.h"
#include "storage/file_system.h"

namespace causeway::storage {

struct OffsetIndexEntry {
  uint32_t relative_offset = 0;
  uint32_t position = 0;
};
inline constexpr size_t kOffsetIndexEntrySize = 8;

struct TimeIndexEntry {
  int64_t max_time_before_ms = 0;
  uint64_t first_lamport = 0;
  uint32_t relative_offset = 0;
  uint32_t position = 0;
};
inline constexpr size_t kTimeIndexEntrySize = 24;

// "00000000000000004096"
std::string segment_file_stem(uint64_t base_offset);
// Parses a 20-digit stem; nullopt if the name is not one.
std::optional<uint64_t> parse_segment_stem(std::string_view stem);

// Why a recovery scan stopped before the end of the file.
struct ScanStop {
  uint64_t position = 0;   // byte position of the first bad or short batch
  uint64_t file_size = 0;  // size of the file when the scan began; file_size - position were dropped
  std::string reason;      // "short batch header", "batch crc mismatch", ...
  bool torn = false;       // true if the batch was simply incomplete at end of file
};

// One batch read from a segment: its decoded header and its bytes (header included).
struct StoredBatch {
  batch::BatchHeader header;
  std::string bytes;
};

class Segment {
 public:
  // Creates an empty segment file (must not exist) and syncs the directory.
  // `cache` (may be null, else outliving the segment) takes the descriptor once sealed.
  static Result<std::unique_ptr<Segment>> create(FileSystem* fs, const std::string& dir,
                                                 uint64_t base_offset, uint32_t index_interval_bytes,
                                                 FileCache* cache = nullptr);

  // Opens the active segment: scans every batch from byte 0 ignoring any index files,
  // rebuilds the indexes, and truncates (and syncs) the file at the first short or invalid
  // batch. `stop` (if given) receives why the scan stopped early; unset if it did not.
  // Zeros from there to the end of the file are preallocated space, not a torn write: kept
  // for the next appends and not reported (docs/log-format.md, "Preallocation").
  static Result<std::unique_ptr<Segment>> recover(FileSystem* fs, const std::string& dir,
                                                  uint64_t base_offset, uint32_t index_interval_bytes,
                                                  std::optional<ScanStop>* stop, FileCache* cache = nullptr);

  // Opens a sealed segment: loads its index files if they check out (else rebuilds them by
  // scanning and reports that in `rebuilt_index`), then verifies every batch from the last
  // index entry to the end of file. Any short or invalid batch there is kCorruption naming
  // the file and position: sealed segments were synced before they were sealed.
  static Result<std::unique_ptr<Segment>> open_sealed(FileSystem* fs, const std::string& dir,
                                                      uint64_t base_offset, uint32_t index_interval_bytes,
                                                      bool* rebuilt_index, FileCache* cache = nullptr);
  // Forgets the descriptor in the cache, if the segment handed it there.
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  // Appends one encoded batch at the end (header.base_offset must equal next_offset()).
  // On a failed write the file is cut back to its previous size; if that fails too the
  // segment is unusable and the returned error says so. Keeps the file's allocated size
  // ahead of its batches (File::allocate, a chunk at a time: a quarter of the segment so
  // far, 64 KiB to kPreallocateBytes), so that a sync of an append commits no size change;
  // where that fails the file grows with each append as before.
  //
  // `defer` (write-behind, for a log whose syncs go to the sync journal): the bytes are kept
  // in memory instead of written, up to kMaxUnwrittenBytes, and reach the file at the next
  // flush(), which sync(), seal(), trim_preallocated() and any append that does not defer
  // run first. Reads see them meanwhile. docs/log-format.md, "Write-behind".
  Status append(const batch::BatchHeader& header, std::string_view batch_bytes, bool defer = false);

  // Writes the bytes that appends deferred to the file (nothing to do when none are). On
  // failure they stay in memory (reads still see them) and the segment refuses appends:
  // they may have been acknowledged through the sync journal, which then must not be
  // emptied (SyncGroup keeps it).
  Status flush();
  // Whether appends deferred bytes that no flush() wrote yet.
  bool holds_unwritten() const;
  // A sync group that checkpoints must flush this segment: true the first time it holds
  // unwritten bytes since release_if_clean() (the caller then registers it with the group).
  bool needs_tracking();
  // After a checkpoint: true, and forgets that it was registered, if it holds no unwritten
  // bytes; false if it must stay registered.
  bool release_if_clean();
  static constexpr size_t kMaxUnwrittenBytes = 1u << 20;

  // fdatasync of the `.log` file, after flush() (nothing to do once it is sealed: sealing
  // synced it).
  Status sync();
  // Reads `n` bytes of the `.log` file at `position` into `out`, for the sync journal; false
  // (and nothing read) once a sealed segment gave its descriptor to the cache, since sealing
  // synced it. Safe to call
  // concurrently with append() for bytes already appended.
  Result<bool> read_unsealed(uint64_t position, size_t n, std::string& out) const;
  // Starts (does not wait for) writeback of a byte range of the `.log` file.
  void start_writeback(uint64_t offset, uint64_t length);

  // Cuts the preallocated tail, syncs the log, writes both index files (each synced) and
  // marks the segment sealed: a sealed `.log` file holds exactly its batches. Then hands
  // the descriptor to the cache, if there is one.
  Status seal();

  // Cuts the preallocated tail of the active segment and syncs (an orderly close), so that
  // the next open finds the file ending at its last batch.
  Status trim_preallocated();

  // Bytes the file takes beyond its last batch (preallocated, reading as zeros).
  uint64_t preallocated_bytes() const noexcept { return allocated_ > size_ ? allocated_ - size_ : 0; }

  static constexpr uint64_t kPreallocateBytes = 1u << 20;  // the largest preallocation chunk
  // With set_zero_fill, a chunk is written with zeros while the log appends at least
  // kZeroFillFrom and less than kZeroFillBelow bytes a second (the bytes appended since the
  // previous allocation over the time since; never the segment's first chunk).
  static constexpr uint64_t kZeroFillFromBytesPerSecond = 1u << 20;
  static constexpr uint64_t kZeroFillBelowBytesPerSecond = 32u << 20;

  // Marks the segment removed and deletes the `.log` (dropping its cached descriptor
  // first), then the index files. The caller syncs the directory.
  Status remove_files();

  // Reads whole batches, starting with the batch that contains `offset`, until adding the
  // next batch would exceed max_bytes (at least one batch is returned if any exists before
  // end_position) or end_position is reached. Each batch is verified; a bad one is
  // kCorruption naming the file and position. `start_position` comes from
  // position_for_offset(). Safe to call concurrently with append().
  // Likewise stops once the batches hold max_records records at or above `offset`.
  Status read_batches(uint64_t offset, uint64_t start_position, uint64_t end_position,
                      size_t max_bytes, std::vector<StoredBatch>& out,
                      uint64_t max_records = UINT64_MAX) const;

  // Position to start scanning for `offset` (index lookup; needs the owner's lock).
  uint64_t position_for_offset(uint64_t offset) const;
  // Position to start scanning for the first record with time >= t / Lamport >= L.
  uint64_t position_for_time(int64_t time_ms) const;
  uint64_t position_for_lamport(uint64_t lamport) const;

  uint64_t base_offset() const noexcept { return base_offset_; }
  uint64_t next_offset() const noexcept { return next_offset_; }
  uint64_t size_bytes() const noexcept { return size_; }
  bool empty() const noexcept { return next_offset_ == base_offset_; }
  bool sealed() const noexcept { return sealed_; }
  // Highest record time in the segment (INT64_MIN when empty).
  int64_t max_time_ms() const noexcept { return max_time_ms_; }
  // Time of the first batch (for age-based rolling); INT64_MIN when empty.
  int64_t first_time_ms() const noexcept { return first_time_ms_; }
  // Lamport stamp of the last record (0 when empty).
  uint64_t last_lamport() const noexcept { return last_lamport_; }
  // Whether a record of this segment may carry a dedup key. A segment created in this run
  // knows (its appender calls note_dedup_keys() before appending a batch with one); a
  // recovered active segment, and a sealed one without the `.nokeys` marker, may. Sealing a
  // segment that holds none writes the marker (docs/log-format.md, "Directory layout"), so
  // that loading the dedup window after a crash skips the segment.
  bool may_hold_dedup_keys() const noexcept { return may_hold_dedup_keys_; }
  // Whether preallocated space is also written with zeros while appends come at a moderate
  // rate (an `fsync` log's active segment): docs/log-format.md, "Preallocation". Set before
  // the first append.
  void set_zero_fill(bool on) noexcept { zero_fill_ = on; }
  void note_dedup_keys() noexcept { may_hold_dedup_keys_ = true; }
  uint64_t first_lamport() const noexcept { return first_lamport_; }
  const std::string& log_path() const noexcept { return log_path_; }
  const std::vector<OffsetIndexEntry>& offset_index() const noexcept { return offset_index_; }
  const std::vector<TimeIndexEntry>& time_index() const noexcept { return time_index_; }
  // Whether the segment holds its own descriptor: it is active, or there is no cache.
  bool holds_descriptor() const;
  // Its files are being deleted (retention, or its topic's deletion): from now on a read
  // that would have to open the file again is kOutOfRange (the records are gone) instead
  // of a failed open or, should the path be used again, another file's records.
  void mark_removed() noexcept { removed_.store(true); }

 private:
  Segment(FileSystem* fs, std::string dir, uint64_t base_offset, uint32_t index_interval_bytes,
          std::shared_ptr<File> file, FileCache* cache);
  // The segment's own handle, or null once it went to the cache.
  std::shared_ptr<File> own_file() const;
  // A handle to read through: its own, or the cache's.
  Result<std::shared_ptr<File>> file_for_read() const;
  // A sealed segment's descriptor goes to the cache (when there is one).
  void hand_descriptor_to_cache();

  // Scans batches from `from` to end of file, adding them to the in-memory state.
  // Returns the position where a valid run of batches ends and, via `stop`, why it ended
  // before end of file (unset when it reached end of file exactly).
  Result<uint64_t> scan_from(uint64_t from, std::optional<ScanStop>& stop);
  void track_batch(const batch::BatchHeader& header, uint64_t position);
  // Reads [pos, pos + n) of the segment's bytes: the file's, and the unwritten ones kept
  // in memory past it (write-behind). Returns how many bytes there were.
  Result<size_t> read_span(const File& file, uint64_t pos, size_t n, char* dst) const;
  // flush() with buf_mu_ held.
  Status flush_locked();
  // Whether every byte of the file in [from, to) is zero.
  Result<bool> zeros_from(uint64_t from, uint64_t to) const;
  Status load_indexes();
  Status write_index_files();
  // Writes zeros over [from, to), just allocated, with set_zero_fill at a moderate rate.
  void zero_fill_ahead(uint64_t from, uint64_t to);

  FileSystem* fs_;
  std::string dir_;
  std::string log_path_;
  uint64_t base_offset_;
  uint32_t index_interval_bytes_;
  FileCache* const cache_;
  const uint64_t cache_key_ = FileCache::new_key();
  std::atomic<bool> removed_{false};
  // The open `.log` file; null once a sealed segment handed it to cache_. Written only by
  // seal() (and the opening functions); file_mu_ guards it against the reads, syncs and
  // writeback hints that may run concurrently with seal(). Appends, truncation and the
  // recovery scans run where seal() cannot and use it directly.
  mutable std::mutex file_mu_;
  std::shared_ptr<File> file_;
  uint64_t size_ = 0;
  // Write-behind (append with `defer`): bytes [unwritten_from_, unwritten_from_ +
  // unwritten_.size()) of the segment are in unwritten_ and not yet in the file, which
  // holds everything before them. buf_mu_ guards these three against concurrent reads,
  // flushes and the sync group's checkpoint; appends take it too (after the owner's lock).
  mutable std::mutex buf_mu_;
  std::string unwritten_;
  uint64_t unwritten_from_ = 0;
  bool tracked_ = false;  // registered with a sync group that flushes it (needs_tracking)
  bool flush_failed_ = false;
  uint64_t next_offset_;
  uint64_t last_indexed_position_ = 0;
  int64_t max_time_ms_;
  int64_t first_time_ms_;
  uint64_t first_lamport_ = 0;
  uint64_t last_lamport_ = 0;
  bool sealed_ = false;
  bool broken_ = false;  // a failed write could not be undone; refuse further appends
  // The file's size: size_ plus the preallocated tail (0 until the first preallocation).
  uint64_t allocated_ = 0;
  bool preallocate_ = true;  // false once File::allocate failed for this segment
  bool zero_fill_ = false;   // set_zero_fill; false again once a zero write failed
  // When the last chunk was allocated, and where the batches ended then: the bytes
  // appended since, over the time since, are the append rate (zero_fill_ahead).
  std::chrono::steady_clock::time_point allocated_at_{};
  uint64_t allocated_at_end_ = 0;
  bool may_hold_dedup_keys_ = true;
  std::vector<OffsetIndexEntry> offset_index_;
  std::vector<TimeIndexEntry> time_index_;
};

}  // namespace causeway::storage
