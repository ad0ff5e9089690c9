// File: storage/sync_group.h
//
// One commit round for many partition logs. With one fdatasync per log, N partitions
// written at once cost N journal commits and N device flushes in a row (130-350 us each on
// our VM), so an `fsync` topic whose events spread over 1,000 partitions published at 3% of
// one partition's rate. A SyncGroup runs the sync rounds of every log that shares it on one
// thread: logs that need a sync while a round runs join the next round, and a round that
// covers several logs is a single syncfs of their file system (one journal commit and one
// flush for all of them: 1,000 files written in ~5 ms instead of ~150 ms), while a round
// covering one log is that log's own fdatasync (cheapest alone, and blind to other files'
// dirty data). Measured: docs/broker.md, "Syncs shared across partitions".
//
// With a journal (storage/journal.h), a round whose logs each ask for only a few new bytes
// (journal_range_limit) copies those bytes into one journal write and fdatasyncs the journal
// file alone, instead of a syncfs that writes a block per dirty file; the segment files
// reach the disk at the next checkpoint (every checkpoint_bytes of journal or
// checkpoint_interval, and at the group's end): a new journal file, one syncfs, then the
// older journal files go. After any failed syncfs the journal stops and keeps its files,
// which the next start replays.
//
// Errors: syncfs cannot say which file failed, so a failed shared round fails every log in
// it, and the group then syncs log by log for good (each log's own fdatasync, in parallel on
// the completion executor): each file's own fdatasync reports the writeback errors pending
// on it, so a log outside the failed round still learns of a loss.
//
// Thread-safety: request() may be called from any thread, even under a lock that `done`
// takes: `done` never runs inside request(), but on the group's thread (a round of one log)
// or on the completion executor (each log of a shared round), never under the group's lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "causeway/common/status.h"
#include "storage/file_system.h"
#include "storage/segment.h"

namespace causeway::storage {

// What the round that covered a request did (for the append observer).
struct SyncRound {
  std::chrono::steady_clock::time_point start{};
  std::chrono::steady_clock::time_point end{};
  size_t logs = 0;  // requests the round covered
  bool journaled = false;  // this request's bytes went to the journal
};

// What a request asks to make durable: bytes [from, to) of the segment file are new since
// the log's last round (everything below `from` is durable already, in its file or in the
// journal). `journal`: the bytes may go to the journal instead of syncing the file.
struct SyncRange {
  uint64_t from = 0;
  uint64_t to = 0;
  bool journal = false;
  uint64_t incarnation = 0;  // of the log's directory (partition_incarnation), for its records
};

class Journal;

struct SyncGroupOptions {
  // Null: shared rounds are always one syncfs.
  std::unique_ptr<Journal> journal;
  // A log's new bytes go to the journal only up to this much; a larger range fills its own
  // blocks and is as cheap to sync in place.
  uint64_t journal_range_limit = 32u << 10;
  // Rounds of fewer logs are one syncfs (a few block writes cost less than writing their
  // bytes a second time), unless the journal holds records since its last checkpoint.
  size_t journal_min_logs = 128;
  // Checkpoint when the journal file holds this many bytes, or when this long has passed
  // since the last checkpoint and it holds any record.
  uint64_t checkpoint_bytes = 64u << 20;
  std::chrono::milliseconds checkpoint_interval{5000};
  // A second handle on the file system for checkpoints, which then run on a thread of
  // their own while rounds go on (a checkpoint's syncfs writes back every segment's dirty
  // pages: 20-100 ms at 1,000 partitions, during which no round could run). A handle of
  // its own because syncfs reports a writeback error once per open file description: the
  // checkpoint's and a concurrent round's each learn of it. Null: checkpoints run on the
  // group's thread.
  std::unique_ptr<FileSystemSync> checkpoint_sync;
};

class SyncGroup {
 public:
  using Executor = std::function<void(std::function<void()>)>;
  using Done = std::function<void(const Status&, const SyncRound&)>;

  // `fs_sync` syncs the file system holding every segment that will be requested.
  // `completions` runs the `done` callbacks of shared rounds, so the next round starts at
  // once (null: they run on the group's thread).
  SyncGroup(std::unique_ptr<FileSystemSync> fs_sync, Executor completions, SyncGroupOptions options = {});
  // Runs the rounds already requested, then stops the thread, then checkpoints the journal
  // (so that an orderly stop leaves nothing to replay).
  ~SyncGroup();
  SyncGroup(const SyncGroup&) = delete;
  SyncGroup& operator=(const SyncGroup&) = delete;

  // Makes everything written to `segment` so far durable in the next round, then runs
  // `done` with its outcome. After the group has stopped (a log kept past its LogManager)
  // the segment is synced on the group's behalf by a thread of its own.
  void request(std::shared_ptr<Segment> segment, SyncRange range, Done done);
  void request(std::shared_ptr<Segment> segment, Done done) { request(std::move(segment), SyncRange{}, std::move(done)); }

  // Makes every segment write so far durable in its own file and empties the journal (a
  // checkpoint), waiting for it. OK at once without a journal. Not from the group's
  // completions.
  Status checkpoint();

  // Whether logs whose last round was journaled defer their segment writes (with a
  // journal: docs/log-format.md, "Write-behind"); such a segment is registered with
  // track() once it holds unwritten bytes, and every checkpoint flushes it before its
  // syncfs. A flush that fails keeps the journal's files, as a failed syncfs does.
  bool write_behind() const noexcept { return journal_limit_ > 0; }
  void track(std::shared_ptr<Segment> segment);

  // Whether a shared round covers files under `path` (same file system).
  bool covers(const std::string& path) const;

  uint64_t shared_rounds() const;     // rounds that covered several logs with one syncfs or journal write
  uint64_t journaled_rounds() const;  // of those, the ones made durable by the journal
  uint64_t checkpoints() const;       // journal checkpoints that completed
  bool shares() const;                // false once a shared round failed (log by log since)
  bool journals() const;              // a journal is set and has not failed

 private:
  struct Request {
    std::shared_ptr<Segment> segment;
    SyncRange range;
    Done done;
  };
  void run();
  // A shared round; returns whether it used the journal.
  void run_shared(std::vector<Request>& round, std::unique_lock<std::mutex>& lk);
  // Completes the requests of a round with `s`.
  void complete(std::vector<Request*>& requests, const Status& s, SyncRound info);
  // Rotates the journal, syncs the file system, removes the older files. Group thread (or
  // the destructor after it) only; `lk` unlocked.
  Status checkpoint_now();
  void file_system_sync_failed_locked(const Status& s);
  // The journal (or a sync it relies on) failed: no more journaling, and no journal file
  // is removed in this run.
  void stop_journal_locked(const Status& s);
  Status kept_journal_error() const;
  // A checkpoint that failed without stopping the journal is tried again from then.
  std::chrono::steady_clock::time_point retry_checkpoint_at_{};
  // Runs a checkpoint if one was asked for or is due (releasing lk meanwhile), or with a
  // checkpoint_sync handle starts it on the checkpoint thread and finishes one that thread
  // completed.
  void checkpoint_due_locked(std::unique_lock<std::mutex>& lk);
  // A checkpoint's middle part, after the rotation: write what tracked segments deferred
  // and sync the file system through `sync`.
  Status flush_and_sync(FileSystemSync& sync, const std::vector<std::shared_ptr<Segment>>& segments);
  // A checkpoint's end, after flush_and_sync returned `s`: forgets the segments found
  // flushed, removes the older journal files. Group thread; `lk` unlocked.
  Status finish_checkpoint(Status s, const std::vector<std::string>& older,
                           std::vector<std::shared_ptr<Segment>>& segments);
  // The checkpoint thread (checkpoint_sync).
  void run_checkpoints();
  // Puts segments taken from tracked_ back: all, those release_if_clean() keeps (not
  // flushed), or none. `mu_` not held.
  enum class Retrack { kAll, kUnflushed, kNone };
  void retrack(std::vector<std::shared_ptr<Segment>>& segments, Retrack which);
  // A checkpoint could not start its new journal file: tried again in 1 s.
  void rotation_failed_locked(const Status& s);
  // Forgets tracked segments no checkpoint will come for: all of them once the journal
  // stopped (their bytes reach their files at their logs' next sync, roll or close, and the
  // kept journal has them), and those found flushed while the journal holds no record. At
  // most once per checkpoint_interval; group thread, `lk` held (released meanwhile).
  void prune_tracked_locked(std::unique_lock<std::mutex>& lk);
  std::chrono::steady_clock::time_point pruned_at_{};
  struct CheckpointJob {
    std::vector<std::string> older;  // journal files to remove once it succeeded
    std::vector<std::shared_ptr<Segment>> segments;
    uint64_t requested = 0;  // checkpoint() requests it answers
    Status status;           // set by the checkpoint thread
  };

  const std::unique_ptr<FileSystemSync> fs_sync_;
  const Executor completions_;
  SyncGroupOptions options_;  // options_.journal is used on the group's thread only
  const uint64_t journal_limit_;
  mutable std::mutex mu_;  // guards everything below
  // Segments that deferred writes since a checkpoint last found them flushed (track()).
  std::vector<std::shared_ptr<Segment>> tracked_;
  std::condition_variable cv_;
  std::condition_variable checkpoint_cv_;  // signalled when checkpoints_done_ moves
  std::vector<Request> pending_;
  bool stopping_ = false;
  bool stopped_ = false;  // the thread has exited
  bool share_ = true;
  bool journal_ok_ = false;  // a journal is set and neither it nor a checkpoint failed
  // A sync of the file system (a round's or a checkpoint's) or of the journal failed: no
  // journal file may be removed in this run (fs_failure_ says why).
  bool keep_journal_ = false;
  Status fs_failure_;
  uint64_t shared_rounds_ = 0;
  uint64_t journaled_rounds_ = 0;
  uint64_t checkpoint_requests_ = 0;
  uint64_t checkpoints_done_ = 0;  // requests answered (with checkpoint_status_)
  uint64_t checkpoints_ = 0;       // successful checkpoints
  Status checkpoint_status_;
  std::chrono::steady_clock::time_point last_checkpoint_;
  // With checkpoint_sync: the job the checkpoint thread runs or has finished (done), and
  // its own wake-up.
  std::optional<CheckpointJob> job_;
  bool job_done_ = false;
  bool checkpointer_stopping_ = false;
  std::condition_variable checkpointer_cv_;
  std::thread checkpointer_;
  std::thread thread_;
};

}  // namespace causeway::storage
