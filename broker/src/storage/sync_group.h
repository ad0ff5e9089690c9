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
// dirty data). Measured, and the choice against a shared journal: docs/broker.md,
// "Syncs shared across partitions".
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
};

class SyncGroup {
 public:
  using Executor = std::function<void(std::function<void()>)>;
  using Done = std::function<void(const Status&, const SyncRound&)>;

  // `fs_sync` syncs the file system holding every segment that will be requested.
  // `completions` runs the `done` callbacks of shared rounds, so the next round starts at
  // once (null: they run on the group's thread).
  SyncGroup(std::unique_ptr<FileSystemSync> fs_sync, Executor completions);
  // Runs the rounds already requested, then stops the thread.
  ~SyncGroup();
  SyncGroup(const SyncGroup&) = delete;
  SyncGroup& operator=(const SyncGroup&) = delete;

  // Makes everything written to `segment` so far durable in the next round, then runs
  // `done` with its outcome. After the group has stopped (a log kept past its LogManager)
  // the segment is synced on the group's behalf by a thread of its own.
  void request(std::shared_ptr<Segment> segment, Done done);

  // Whether a shared round covers files under `path` (same file system).
  bool covers(const std::string& path) const;

  uint64_t shared_rounds() const;  // rounds that covered several logs with one syncfs
  bool shares() const;             // false once a shared round failed (log by log since)

 private:
  struct Request {
    std::shared_ptr<Segment> segment;
    Done done;
  };
  void run();

  const std::unique_ptr<FileSystemSync> fs_sync_;
  const Executor completions_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::vector<Request> pending_;
  bool stopping_ = false;
  bool stopped_ = false;  // the thread has exited
  bool share_ = true;
  uint64_t shared_rounds_ = 0;
  std::thread thread_;
};

}  // namespace causeway::storage
