// File: storage/partition_log.h
//
// A partition's append-only log: a directory of segments (storage/segment.h), the active
// one taking appends. Assigns offsets and Lamport stamps, rolls segments by size and age,
// makes appends durable by the configured mode (group commit for `fsync`), serves reads
// by offset, time and Lamport stamp, enforces retention, and recovers on open.
// Format and recovery rules: docs/log-format.md.
//
// Thread-safety: every method is safe to call from any thread. Appends are serialised by
// an internal mutex. In `fsync` mode an append's completion waits for a sync that covers
// its batch; concurrent appends share one fdatasync, run by whichever appender finds no
// sync leader for the log (leveldb's writer-queue leader, made asynchronous: followers do
// not block, their completions run on the leader's thread), by a task on the sync
// executor when one is set (set_sync_executor), or by a sync group shared with other logs
// when one is set (set_sync_group: one syncfs for all logs that ask at once). Without an executor append_async() may
// block for fdatasyncs on the thread that becomes leader; append() and sync() always block
// until durable and never belong on a network thread. Reads take the mutex only to look
// up positions; file reads run outside it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "causeway/common/lamport_clock.h"
#include "causeway/common/status.h"
#include "causeway/common/batch_format.h"
#include "storage/file_system.h"
#include "storage/log_config.h"
#include "storage/segment.h"

namespace causeway::storage {

class SyncGroup;

// What open() found and did; the caller logs it.
struct RecoveryReport {
  size_t segments = 0;
  uint64_t log_start_offset = 0;
  uint64_t next_offset = 0;
  uint64_t last_lamport = 0;
  uint64_t size_bytes = 0;
  // Set when the active segment's tail was cut: where, why, and how many bytes went.
  std::optional<ScanStop> truncated;
  uint64_t truncated_bytes = 0;
  // Sealed segments whose index files were missing or bad and were rebuilt.
  std::vector<std::string> rebuilt_indexes;
  // Leftover files removed (temporary files, indexes whose log is gone).
  std::vector<std::string> removed_files;
};

struct AppendResult {
  uint64_t base_offset = 0;
  uint64_t last_offset = 0;
  uint64_t first_lamport = 0;
  uint64_t last_lamport = 0;
  int64_t time_ms = 0;
};

struct ReadResult {
  std::vector<StoredBatch> batches;  // whole verified batches; the first may start below the offset asked for
  uint64_t log_start_offset = 0;
  uint64_t high_watermark = 0;  // next offset readers may see
};

class PartitionLog {
 public:
  // Opens (creating if absent) the log in `dir` and recovers it. Fails with kCorruption
  // naming the file if a sealed segment is damaged, kInvalidArgument for a bad config or a
  // stray `.log` file name, kIOError for OS failures. `report` may be null. With
  // `sealed_files`, sealed segments keep no descriptor of their own and read through that
  // cache (storage/file_cache.h), shared with other logs; without, each keeps one.
  static Result<std::unique_ptr<PartitionLog>> open(FileSystem* fs, std::string dir, LogConfig config,
                                                    RecoveryReport* report,
                                                    std::shared_ptr<FileCache> sealed_files = nullptr);
  ~PartitionLog();
  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;

  // Appends `records` as one batch with consecutive offsets, stamping them
  // clock.tick_n(observed_lamport, n), ... and broker time now_ms. Returns once the
  // configured durability is met. Errors: kInvalidArgument for records the format cannot
  // hold (nothing written); kOutOfRange when a stamp would pass kMaxLamport (nothing
  // written, the clock unchanged); kResourceExhausted when the disk is full (nothing written);
  // kIOError if the write or sync failed. After a failed sync the log refuses all further
  // appends (kFailedPrecondition) until reopened, because the kernel may have dropped the
  // dirty pages (the "fsyncgate" lesson); recovery then finds what really is on disk.
  Result<AppendResult> append(std::span<const batch::RecordInput> records, LamportClock& clock,
                              uint64_t observed_lamport, int64_t now_ms);

  // The same append, completing through `done` instead of blocking: `done` runs exactly
  // once with what append() would return, once the durability is met. It may run before
  // append_async returns (`os` mode, errors, or when this thread leads the sync), or later
  // on another appender's thread; it runs without the log's mutex held and must not block
  // for long (it holds up the acks of the appends behind it). `records` need only live
  // until append_async returns.
  using AppendCallback = std::function<void(Result<AppendResult>)>;
  void append_async(std::span<const batch::RecordInput> records, LamportClock& clock, uint64_t observed_lamport,
                    int64_t now_ms, AppendCallback done);

  // Makes everything appended so far durable (group-committed with concurrent appenders).
  Status sync();
  // The same, completing through `done` (which may run before this returns, or on a sync
  // thread), so that many logs' syncs can share a round (LogManager::sync_all).
  void sync_async(std::function<void(const Status&)> done);

  // Where sync rounds run. Without an executor (the default) the appender that finds no
  // sync running leads syncs on its own thread until no waiter is left. With one, each
  // round is a task posted to it, so appenders never wait for a disk flush and a network
  // thread may append. The executor must run tasks on other threads, and outlive the log
  // or be replaced (set_sync_executor(nullptr)) before it stops; this call waits for a
  // running leader to finish.
  using SyncExecutor = std::function<void(std::function<void()>)>;
  void set_sync_executor(SyncExecutor executor);

  // Shares this log's syncs with other logs (storage/sync_group.h): each round's sync joins
  // the group's next round, which covers every log that asked since the last one with one
  // syncfs. A round that gathers appends first (the commit delay) gathers on the thread
  // that completed the last round, or on the sync executor when an appender starts it, so
  // set one too; completions run where the group runs them. The group must
  // outlive the log or be replaced (nullptr: sync on its own again) before it stops; this
  // call waits for a running round to finish.
  void set_sync_group(SyncGroup* group);

  // Reads whole batches from the segment holding `offset` up to about max_bytes and
  // max_records records at or above `offset` (at least one batch if any is visible; the
  // last batch may overshoot max_records, callers trim). Empty when offset >=
  // high_watermark. kOutOfRange when offset < log_start_offset.
  Result<ReadResult> read(uint64_t offset, size_t max_bytes, uint64_t max_records = UINT64_MAX) const;

  // First offset whose record time is >= time_ms / Lamport stamp is >= lamport; the high
  // watermark when there is none yet.
  Result<uint64_t> offset_for_time(int64_t time_ms) const;
  Result<uint64_t> offset_for_lamport(uint64_t lamport) const;

  // Its files are about to be deleted with its topic: reads that need to open a sealed
  // segment's file again answer kOutOfRange from now on (Segment::mark_removed).
  void mark_files_deleted();

  // Deletes whole sealed segments past the retention limits (docs/log-format.md,
  // "Retention"). Returns how many were deleted.
  Result<size_t> enforce_retention(int64_t now_ms);

  uint64_t log_start_offset() const;
  // Next offset to be assigned.
  uint64_t next_offset() const;
  // The first offset at or after `from` whose segment may hold a dedup key: sealed
  // segments known to hold none (Segment::may_hold_dedup_keys) are skipped.
  uint64_t skip_segments_without_dedup_keys(uint64_t from) const;
  // Next offset readers may see: durable appends in `fsync` mode, written ones in `os` mode.
  uint64_t high_watermark() const;
  // Next offset known to be on stable storage.
  uint64_t durable_offset() const;
  uint64_t last_lamport() const;
  uint64_t size_bytes() const;
  size_t segment_count() const;
  const std::string& dir() const noexcept { return dir_; }
  const LogConfig& config() const noexcept { return config_; }

 private:
  PartitionLog(FileSystem* fs, std::string dir, LogConfig config, std::shared_ptr<FileCache> sealed_files);
  Status recover(RecoveryReport& report);
  Status roll_locked(std::unique_lock<std::mutex>& lk);
  Status wait_for_roll_locked(std::unique_lock<std::mutex>& lk);
  // Writes one encoded batch (body from batch::encode_batch_body) to the active segment, rolling
  // first if due. Leaves durability to the caller.
  Result<AppendResult> write_batch_locked(std::unique_lock<std::mutex>& lk, std::string& batch,
                                          std::span<const batch::RecordInput> records, LamportClock& clock,
                                          uint64_t observed_lamport, int64_t now_ms);
  // Makes this thread (or a task on the sync executor) the sync leader.
  void start_leader_locked(std::unique_lock<std::mutex>& lk);
  // Completes ready waiters, runs one sync if any are left, completes again; returns
  // whether waiters remain.
  bool sync_round_locked(std::unique_lock<std::mutex>& lk);
  // With a sync group: completes ready waiters, then (gathering first if due: on this
  // thread if `may_block`, else on the executor) hands one sync of everything written so
  // far to the group; its completion applies the outcome and begins the next round. Ends
  // leading_ when no waiter is left.
  void begin_group_round_locked(std::unique_lock<std::mutex>& lk, bool may_block);
  void submit_group_round_locked(std::unique_lock<std::mutex>& lk,
                                 std::chrono::steady_clock::time_point gather_start);
  // A sync of `seg` up to `upto` / `position` ended with `s`: durable and visible offsets,
  // the failure, and the group-commit bookkeeping.
  // Waits for a roll in progress first.
  void apply_sync_locked(std::unique_lock<std::mutex>& lk, const Status& s, const std::shared_ptr<Segment>& seg,
                         uint64_t upto, uint64_t position, uint64_t group,
                         std::chrono::steady_clock::time_point gather_start,
                         std::chrono::steady_clock::time_point sync_start,
                         std::chrono::steady_clock::time_point sync_end);
  // Whether the next round should wait for more appends (gather_group_locked would wait).
  bool wants_gather_locked() const;
  void complete_ready_locked(std::unique_lock<std::mutex>& lk);
  void gather_group_locked(std::unique_lock<std::mutex>& lk);
  uint64_t last_lamport_locked() const;
  Result<uint64_t> find_offset(bool by_time, int64_t time_ms, uint64_t lamport) const;

  FileSystem* const fs_;
  const std::string dir_;
  const LogConfig config_;
  const std::shared_ptr<FileCache> sealed_files_;  // may be null; outlives segments_

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable roll_cv_;  // signalled when a roll finishes
  std::vector<std::shared_ptr<Segment>> segments_;  // by base offset; back() is active
  uint64_t visible_next_offset_ = 0;
  uint64_t visible_position_ = 0;  // in the active segment
  uint64_t durable_next_offset_ = 0;
  // Appends (and sync() calls) waiting for durable_next_offset_ to reach `target`, in
  // target order. Non-empty only while leading_ (a leader will complete them).
  struct SyncWaiter {
    uint64_t target;
    std::function<void(const Status&)> done;
    // Appends only (not sync() calls): when append_async began and when its batch was
    // written, for the append observer (storage/sync_observer.h).
    std::chrono::steady_clock::time_point began{};
    std::chrono::steady_clock::time_point written{};
  };
  std::deque<SyncWaiter> sync_waiters_;
  bool leading_ = false;
  std::condition_variable idle_cv_;  // signalled when leading_ turns false
  SyncExecutor sync_executor_;
  SyncGroup* sync_group_ = nullptr;
  size_t last_round_logs_ = 0;  // logs the last group round covered
  // The segment and position up to which the last successful group round made this log
  // durable (in the file or in the group's journal): the next round asks from there.
  std::shared_ptr<Segment> covered_segment_;
  uint64_t covered_position_ = 0;
  uint64_t incarnation_ = 0;  // of dir_ (storage/journal.h, partition_incarnation)
  bool last_round_journaled_ = false;  // the last group round took this log's bytes to the journal
  bool rolling_ = false;  // a roll is sealing the old segment with the mutex released
  bool gathering_ = false;  // a sync leader waits on arrival_cv_ for more appends
  std::condition_variable arrival_cv_;
  Status failed_;
  // Group commit bookkeeping (see gather_group_locked).
  uint64_t appends_since_sync_ = 0;
  uint64_t last_group_size_ = 0;
  uint64_t arrived_during_sync_ = 0;
  std::chrono::steady_clock::duration last_sync_duration_{};
  // The last sync round: when its fdatasync started and ended, and how long it gathered.
  std::chrono::steady_clock::time_point last_sync_start_{};
  std::chrono::steady_clock::time_point last_sync_end_{};
  std::chrono::steady_clock::duration last_gather_{};
  uint64_t writeback_position_ = 0;  // `os` mode: writeback started up to here in the active segment

  static constexpr std::chrono::microseconds kCommitQuietGap{15};
  static constexpr uint64_t kWritebackBytes = 1u << 20;
};

// Calls fn for every record of every batch in `result` at or above `from_offset`.
Status for_each_record_from(const ReadResult& result, uint64_t from_offset,
                            const std::function<bool(const batch::RecordView&)>& fn);

}  // namespace causeway::storage
