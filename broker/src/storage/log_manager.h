// File: storage/log_manager.h
//
// Owns the partition logs of every open topic under `<data-dir>/topics/`, the broker's
// Lamport clock (resumed above the highest stamp any log holds), and a background thread
// that syncs `os`-durability logs every flush interval and enforces retention.
// Layout: docs/log-format.md, "Directory layout".
//
// Thread-safety: all methods may be called from any thread. Partition logs are handed out
// as shared_ptr so that a topic deleted while a reader holds a partition stays valid for
// that reader. open_topic/delete_topic do file-system work: call them off network threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "causeway/common/lamport_clock.h"
#include "causeway/common/status.h"
#include "storage/file_cache.h"
#include "storage/file_system.h"
#include "storage/journal.h"
#include "storage/log_config.h"
#include "storage/partition_log.h"

namespace asio {
class thread_pool;
}  // namespace asio

namespace causeway::storage {
class SyncGroup;
}  // namespace causeway::storage

namespace causeway::storage {

struct LogManagerOptions {
  // How often `os`-durability logs are synced in the background.
  std::chrono::milliseconds flush_interval{1000};
  // How often retention runs.
  std::chrono::milliseconds retention_check_interval{std::chrono::minutes(1)};
  // Start the background thread (tests that drive everything by hand turn it off).
  bool background = true;
  // Threads that run the logs' sync rounds (PartitionLog::set_sync_executor), shared by
  // all logs. 0: appenders lead syncs on their own threads.
  size_t sync_threads = 2;
  // Share syncs across logs (storage/sync_group.h): logs that need a sync at the same time
  // are made durable by one syncfs of the data directory's file system instead of one
  // fdatasync each. Needs sync_threads > 0 and a file system that supports it
  // (FileSystem::open_file_system_sync); otherwise every log syncs on its own.
  bool share_syncs = true;
  // Descriptors kept open for sealed segments, shared by all logs (storage/file_cache.h);
  // reads of other sealed segments open theirs again. Active segments hold one each on
  // top. 0: every segment holds its own for as long as it exists.
  size_t max_open_sealed_segments = 1024;
  // The sync journal's directory (storage/journal.h): with sync_journal, shared sync
  // rounds whose logs each have a few new bytes write them there with one fdatasync
  // instead of a syncfs. Journal files found there at open are replayed first, whatever
  // the other options say. Empty: no journal. Must be on the topics directory's file system.
  std::string journal_dir;
  bool sync_journal = true;
  // Passed to the sync group (SyncGroupOptions).
  uint64_t journal_range_limit = 32u << 10;
  size_t journal_min_logs = 128;
  uint64_t journal_checkpoint_bytes = 64u << 20;
  std::chrono::milliseconds journal_checkpoint_interval{5000};
};

class LogManager {
 public:
  // `topics_dir` is created if missing.
  static Result<std::unique_ptr<LogManager>> open(FileSystem* fs, std::string topics_dir,
                                                  LogManagerOptions options);
  // Stops the background thread and syncs every log (errors are logged).
  ~LogManager();
  LogManager(const LogManager&) = delete;
  LogManager& operator=(const LogManager&) = delete;

  // Opens (creating as needed) partitions [0, partitions) of `topic` and recovers them.
  // `reports` (may be null) receives one report per partition, in order. Opening a topic
  // that is already open is kAlreadyExists. The clock observes every recovered stamp.
  Status open_topic(std::string_view topic, uint32_t partitions, const LogConfig& config,
                    std::vector<RecoveryReport>* reports);
  // Closes (syncing) and forgets a topic's logs; its files stay.
  Status close_topic(std::string_view topic);
  // Closes the topic if open and removes its directory. OK if it never existed.
  Status delete_topic(std::string_view topic);

  // The partition's log, or null when the topic is not open or has no such partition.
  std::shared_ptr<PartitionLog> partition(std::string_view topic, uint32_t partition) const;
  // Number of partitions of an open topic (0 if not open).
  uint32_t partition_count(std::string_view topic) const;
  std::vector<std::string> open_topics() const;

  // Syncs every log; returns the first error.
  Status sync_all();
  // A checkpoint of the sync journal (SyncGroup::checkpoint); OK at once without one.
  Status checkpoint_journal();
  // What open() replayed from the sync journal (logged; for tests and tools).
  const JournalReplayReport& journal_replay() const noexcept { return journal_replay_; }
  // One pass of the background work, callable by hand: sync `os` logs, and enforce retention
  // if `retention` is true.
  Status run_maintenance(int64_t now_ms, bool retention);

  LamportClock& clock() noexcept { return clock_; }
  const std::string& topics_dir() const noexcept { return topics_dir_; }
  // The shared sync rounds, or null when every log syncs on its own (tests, metrics).
  const SyncGroup* sync_group() const noexcept { return sync_group_.get(); }
  // The sealed segments' descriptors, or null when each segment holds its own (metrics).
  const FileCache* sealed_files() const noexcept { return sealed_files_.get(); }
  std::string topic_dir(std::string_view topic) const { return topics_dir_ + "/" + std::string(topic); }

 private:
  LogManager(FileSystem* fs, std::string topics_dir, LogManagerOptions options);
  // close_topic, handing over the logs it closed.
  Status close_topic(std::string_view topic, std::vector<std::shared_ptr<PartitionLog>>& logs);
  void background_loop();
  std::vector<std::shared_ptr<PartitionLog>> all_logs() const;
  // Runs tasks on sync_pool_ (which must exist): the logs' sync executor and the sync
  // group's completions.
  PartitionLog::SyncExecutor pool_executor() const;
  // Syncs `logs` concurrently; the first error.
  static Status sync_logs(const std::vector<std::shared_ptr<PartitionLog>>& logs);

  FileSystem* const fs_;
  const std::string topics_dir_;
  const LogManagerOptions options_;
  LamportClock clock_;
  const std::shared_ptr<FileCache> sealed_files_;  // null when max_open_sealed_segments is 0

  mutable std::mutex mu_;  // guards topics_ and stopping_
  std::map<std::string, std::vector<std::shared_ptr<PartitionLog>>, std::less<>> topics_;
  bool stopping_ = false;
  std::condition_variable stop_cv_;
  std::thread background_;
  std::unique_ptr<asio::thread_pool> sync_pool_;  // null when options_.sync_threads == 0
  std::unique_ptr<SyncGroup> sync_group_;         // null when syncs are not shared
  JournalReplayReport journal_replay_;
};

// Wall-clock milliseconds since the Unix epoch (the broker time stamped into records).
int64_t now_ms();

}  // namespace causeway::storage
