// LogManager: the partition logs of every open topic, the broker clock, background syncs
// and retention. See log_manager.h.
#include "storage/log_manager.h"

#include <spdlog/spdlog.h>

#include <asio/post.hpp>
#include <asio/thread_pool.hpp>

#include "storage/journal.h"
#include "storage/sync_group.h"

namespace causeway::storage {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

LogManager::LogManager(FileSystem* fs, std::string topics_dir, LogManagerOptions options)
    : fs_(fs),
      topics_dir_(std::move(topics_dir)),
      options_(options),
      sealed_files_(options.max_open_sealed_segments > 0
                        ? std::make_shared<FileCache>(fs, options.max_open_sealed_segments)
                        : nullptr) {}

Result<std::unique_ptr<LogManager>> LogManager::open(FileSystem* fs, std::string topics_dir,
                                                     LogManagerOptions options) {
  if (options.flush_interval.count() <= 0) return invalid_argument("flush interval must be positive");
  if (options.retention_check_interval.count() <= 0)
    return invalid_argument("retention check interval must be positive");
  CAUSEWAY_RETURN_IF_ERROR(fs->create_dirs(topics_dir));
  if (options.sync_threads > 64) return invalid_argument("sync threads must be at most 64");
  if (options.journal_range_limit > Journal::kMaxRecordBytes)
    return invalid_argument("the sync journal's range limit must be at most " + std::to_string(Journal::kMaxRecordBytes) +
                            " bytes");
  if (options.journal_checkpoint_bytes == 0 || options.journal_checkpoint_interval.count() <= 0)
    return invalid_argument("the sync journal's checkpoint size and interval must be positive");
  std::unique_ptr<LogManager> m(new LogManager(fs, std::move(topics_dir), options));
  // Before any log opens: a crash may have left records whose bytes only the journal kept.
  // Replayed even when this run will not journal, since a later one that does must not
  // find records older than what the logs have become.
  const auto log_replay = [](const JournalReplayReport& rep, const std::string& dir) {
    if (rep.records == 0 && rep.torn.empty()) return;  // an orderly stop's empty file
    spdlog::info("sync journal {}: replayed {} record(s) ({} bytes) from {} file(s); skipped {} for segments gone "
                 "since and {} of earlier partitions at the same paths (topics deleted and created again)",
                 dir, rep.replayed, rep.bytes, rep.files, rep.skipped_missing, rep.skipped_other);
    for (const std::string& t : rep.torn) spdlog::warn("sync journal: a crash cut the last record of {}", t);
  };
  // The shared syncs' handle, opened first: its opening syncfs reports a writeback error
  // from before this start (then logs sync one by one), and the replay then uses it.
  const bool share = options.sync_threads > 0 && options.share_syncs;
  Result<std::unique_ptr<FileSystemSync>> fs_sync =
      share ? fs->open_file_system_sync(m->topics_dir_)
            : Result<std::unique_ptr<FileSystemSync>>(failed_precondition("syncs are not shared"));
  if (!options.journal_dir.empty()) {
    JournalReplayReport& rep = m->journal_replay_;
    Status replayed =
        Journal::replay(fs, options.journal_dir, m->topics_dir_, &rep, fs_sync ? fs_sync->get() : nullptr);
    log_replay(rep, options.journal_dir);
    CAUSEWAY_RETURN_IF_ERROR(replayed.with_context("replaying the sync journal " + options.journal_dir));
  }
  if (options.sync_threads > 0) m->sync_pool_ = std::make_unique<asio::thread_pool>(options.sync_threads);
  if (share) {
    if (fs_sync) {
      SyncGroupOptions group;
      if (!options.journal_dir.empty() && options.sync_journal) {
        JournalReplayReport rep;  // empty: replayed above
        CAUSEWAY_ASSIGN_OR_RETURN(group.journal, Journal::open(fs, options.journal_dir, m->topics_dir_, &rep));
        group.journal_range_limit = options.journal_range_limit;
        group.journal_min_logs = std::max<size_t>(options.journal_min_logs, 2);
        group.checkpoint_bytes = options.journal_checkpoint_bytes;
        group.checkpoint_interval = options.journal_checkpoint_interval;
        // Checkpoints on a thread of their own, through a handle of their own.
        if (auto checkpoint_sync = fs->open_file_system_sync(m->topics_dir_)) {
          group.checkpoint_sync = std::move(*checkpoint_sync);
        } else {
          spdlog::warn("sync journal checkpoints run between sync rounds: {}", checkpoint_sync.error().to_string());
        }
      }
      spdlog::debug("partition logs share syncs: one syncfs of the file system holding {} (or one write of the sync "
                    "journal {}) for all that ask at once",
                    m->topics_dir_, group.journal ? options.journal_dir : "(none)");
      m->sync_group_ = std::make_unique<SyncGroup>(std::move(*fs_sync), m->pool_executor(), std::move(group));
    } else {
      spdlog::warn("partition logs sync one by one: {}", fs_sync.error().to_string());
    }
  }
  if (options.background) m->background_ = std::thread([p = m.get()] { p->background_loop(); });
  return m;
}

LogManager::~LogManager() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (background_.joinable()) background_.join();
  Status s = sync_all();
  if (!s.ok()) spdlog::error("final sync of logs failed: {}", s.to_string());
  if (sync_pool_) {
    // Logs still referenced elsewhere lead their own syncs from now on.
    for (const auto& log : all_logs()) {
      log->set_sync_group(nullptr);
      log->set_sync_executor(nullptr);
    }
    sync_group_.reset();  // its completions run on the pool
    sync_pool_->join();
  }
}

Status LogManager::open_topic(std::string_view topic, uint32_t partitions, const LogConfig& config,
                              std::vector<RecoveryReport>* reports) {
  if (partitions == 0) return invalid_argument("a topic needs at least one partition");
  {
    std::lock_guard lk(mu_);
    if (topics_.count(topic)) return already_exists("topic \"" + std::string(topic) + "\" is already open");
  }
  std::vector<std::shared_ptr<PartitionLog>> logs;
  for (uint32_t p = 0; p < partitions; ++p) {
    RecoveryReport report;
    auto log = PartitionLog::open(fs_, topic_dir(topic) + "/" + std::to_string(p), config, &report, sealed_files_);
    if (!log) return log.error().with_context("topic \"" + std::string(topic) + "\" partition " + std::to_string(p));
    clock_.observe(report.last_lamport);
    if (sync_pool_) (*log)->set_sync_executor(pool_executor());
    // A partition directory on another file system (a mount point, a symlink) is not
    // covered by the shared syncfs: it syncs on its own.
    if (sync_group_ && sync_group_->covers((*log)->dir())) {
      (*log)->set_sync_group(sync_group_.get());
    } else if (sync_group_) {
      spdlog::warn("{} is not on the file system of {}: it syncs on its own", (*log)->dir(), topics_dir_);
    }
    if (reports) reports->push_back(std::move(report));
    logs.push_back(std::move(*log));
  }
  // The partition directories' entries (a new topic's) must be on disk before anything is
  // acked in them: replay skips the records of a partition directory it does not find.
  CAUSEWAY_RETURN_IF_ERROR(fs_->sync_dir(topic_dir(topic)));
  CAUSEWAY_RETURN_IF_ERROR(fs_->sync_dir(topics_dir_));
  std::lock_guard lk(mu_);
  if (!topics_.emplace(std::string(topic), std::move(logs)).second)
    return already_exists("topic \"" + std::string(topic) + "\" is already open");
  return Status();
}

Status LogManager::close_topic(std::string_view topic) {
  std::vector<std::shared_ptr<PartitionLog>> logs;
  return close_topic(topic, logs);
}

Status LogManager::close_topic(std::string_view topic, std::vector<std::shared_ptr<PartitionLog>>& logs) {
  {
    std::lock_guard lk(mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end()) return not_found("topic \"" + std::string(topic) + "\" is not open");
    logs = std::move(it->second);
    topics_.erase(it);
  }
  Status synced = sync_logs(logs);
  // Whoever still holds one of these logs (a reader, an append that raced the close) syncs
  // it on its own thread from now on, not through the pool or group this manager owns.
  for (auto& log : logs) {
    log->set_sync_group(nullptr);
    log->set_sync_executor(nullptr);
  }
  return synced;
}

Status LogManager::delete_topic(std::string_view topic) {
  std::vector<std::shared_ptr<PartitionLog>> logs;
  Status closed = close_topic(topic, logs);
  if (!closed.ok() && closed.code() != Code::kNotFound) return closed;
  // A reader may still hold a log: its reads of sealed segments must not open the files
  // of a topic created again under the same name. (The sync journal's records of these
  // partitions need nothing: a topic created again under the name has new partition
  // incarnations, and replay skips records of others.)
  for (const auto& log : logs) log->mark_files_deleted();
  const std::string dir = topic_dir(topic);
  if (!fs_->exists(dir)) return Status();
  CAUSEWAY_RETURN_IF_ERROR(fs_->remove_all(dir));
  return fs_->sync_dir(topics_dir_);
}

Status LogManager::checkpoint_journal() { return sync_group_ ? sync_group_->checkpoint() : Status(); }

std::shared_ptr<PartitionLog> LogManager::partition(std::string_view topic, uint32_t partition) const {
  std::lock_guard lk(mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end() || partition >= it->second.size()) return nullptr;
  return it->second[partition];
}

uint32_t LogManager::partition_count(std::string_view topic) const {
  std::lock_guard lk(mu_);
  auto it = topics_.find(topic);
  return it == topics_.end() ? 0 : static_cast<uint32_t>(it->second.size());
}

std::vector<std::string> LogManager::open_topics() const {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  for (const auto& [name, logs] : topics_) out.push_back(name);
  return out;
}

std::vector<std::shared_ptr<PartitionLog>> LogManager::all_logs() const {
  std::lock_guard lk(mu_);
  std::vector<std::shared_ptr<PartitionLog>> out;
  for (const auto& [name, logs] : topics_) out.insert(out.end(), logs.begin(), logs.end());
  return out;
}

PartitionLog::SyncExecutor LogManager::pool_executor() const {
  return [pool = sync_pool_.get()](std::function<void()> task) { asio::post(*pool, std::move(task)); };
}

Status LogManager::sync_all() { return sync_logs(all_logs()); }

Status LogManager::sync_logs(const std::vector<std::shared_ptr<PartitionLog>>& logs) {
  // Started together and then awaited, so that with a sync group the logs share rounds
  // (one syncfs for all of them) instead of one fdatasync after another.
  struct Pending {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
    Status first;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = logs.size();
  for (const auto& log : logs) {
    log->sync_async([pending](const Status& s) {
      std::lock_guard lk(pending->mu);
      if (!s.ok() && pending->first.ok()) pending->first = s;
      if (--pending->left == 0) pending->cv.notify_all();
    });
  }
  std::unique_lock lk(pending->mu);
  pending->cv.wait(lk, [&] { return pending->left == 0; });
  return pending->first;
}

Status LogManager::run_maintenance(int64_t now, bool retention) {
  const std::vector<std::shared_ptr<PartitionLog>> logs = all_logs();
  std::vector<std::shared_ptr<PartitionLog>> dirty;
  for (const auto& log : logs) {
    if (log->config().durability == Durability::kOs && log->durable_offset() < log->next_offset())
      dirty.push_back(log);
  }
  Status first = sync_logs(dirty);
  for (const auto& log : logs) {
    if (retention) {
      auto removed = log->enforce_retention(now);
      if (!removed.ok() && first.ok()) first = removed.error();
      if (removed.ok() && *removed > 0)
        spdlog::info("retention removed {} segment(s) of {}; log start offset now {}", *removed, log->dir(),
                     log->log_start_offset());
    }
  }
  return first;
}

void LogManager::background_loop() {
  auto next_retention = std::chrono::steady_clock::now() + options_.retention_check_interval;
  std::unique_lock lk(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lk, options_.flush_interval, [&] { return stopping_; });
    if (stopping_) break;
    lk.unlock();
    const bool retention = std::chrono::steady_clock::now() >= next_retention;
    if (retention) next_retention = std::chrono::steady_clock::now() + options_.retention_check_interval;
    Status s = run_maintenance(now_ms(), retention);
    if (!s.ok()) spdlog::error("background log maintenance: {}", s.to_string());
    lk.lock();
  }
}

}  // namespace causeway::storage
