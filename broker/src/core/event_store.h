// File: core/event_store.h
//
// The broker's durable state behind one facade: topic metadata (meta/meta_store.h), the
// partition logs (storage/log_manager.h) and the deduplication window
// (core/dedup_window.h), kept consistent with each other. On open it recovers every
// topic's logs and loads the dedup window from them (docs/meta-store.md,
// "Deduplication"). The log is the source of truth: every record carries its own dedup
// key, so a key is durable exactly when its event is.
//
// Directory layout under the data dir: `topics/` (logs), `meta/` (LMDB).
//
// Background work: the log manager syncs `os` logs and enforces retention, and the store's
// own maintenance thread drops dedup keys past their topic's window every
// dedup_expiry_interval. Both start with open() and stop with the destructor, and both are
// off when options.logs.background is false.
//
// Thread-safety: all methods may be called from any thread. append() blocks until the
// topic's durability is met (append_async() completes then instead, but may lead a sync on
// the calling thread), and create/delete do file-system work: none of them belongs on a
// network thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "causeway/common/status.h"
#include "core/append_notifier.h"
#include "core/dedup_window.h"
#include "meta/meta_store.h"
#include "meta/topic_config.h"
#include "storage/file_system.h"
#include "storage/log_manager.h"

namespace causeway::core {

struct EventStoreOptions {
  std::string data_dir = "./causeway-data";
  // logs.background is the switch for all of the store's background work (tests that
  // drive time by hand turn it off and call expire_dedup and run_maintenance themselves).
  storage::LogManagerOptions logs;
  meta::MetaStoreOptions meta;
  // How often the maintenance thread drops expired dedup keys; 0: never.
  std::chrono::milliseconds dedup_expiry_interval{1000};
  // File descriptors a topic create must leave free for everything else (connections,
  // segment rolls, LMDB, the registry): a create whose partitions (about one descriptor each)
  // would leave fewer under the process's RLIMIT_NOFILE is refused, naming the limit (at most
  // a quarter of the limit is kept). 0: no check. The daemon sets --max-connections + 256.
  uint32_t fd_reserve = 0;
  // Write the dedup window to <data_dir>/dedup-window.snapshot when the store closes, for
  // the next open to load instead of reading the logs (core/dedup_snapshot.h).
  bool dedup_snapshot = true;
};

// What open() found, per partition, for the daemon to log.
struct PartitionOpenReport {
  std::string topic;
  uint32_t partition = 0;
  storage::RecoveryReport recovery;
  size_t dedup_keys_loaded = 0;  // keys within the topic's window, read back from the log
  bool dedup_from_snapshot = false;  // ... or taken from the shutdown snapshot
  uint64_t dedup_records_read = 0;   // records read back for it (0 from the snapshot)
};

struct OpenReport {
  std::vector<meta::TopicConfig> topics;
  std::vector<PartitionOpenReport> partitions;
};

class EventStore {
 public:
  // Opens or creates the data directory and starts the background work. Errors name the
  // file or directory at fault.
  static Result<std::unique_ptr<EventStore>> open(storage::FileSystem* fs, EventStoreOptions options,
                                                  OpenReport* report);
  // Stops the background work, syncs the logs, writes the dedup window's snapshot (when
  // the store opened completely), then closes the logs and LMDB.
  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Creates a topic (metadata first, then its partition directories). Creating an
  // identical topic again returns it; a different one with the same name is kAlreadyExists.
  // Creates and deletes of one name run one at a time (others wait): several services that
  // each ensure their topic at start, or dead-letter topics created on demand, create the
  // same name at once.
  Result<meta::TopicConfig> create_topic(meta::TopicConfig config);
  // Removes the topic's metadata, dedup keys and files. kNotFound if absent.
  Status delete_topic(std::string_view name);
  Result<meta::TopicConfig> get_topic(std::string_view name);
  Result<std::vector<meta::TopicConfig>> list_topics();

  // Appends one batch to a partition and, once it succeeded, puts its dedup keys into the
  // window (before `done` runs; docs/meta-store.md, "Insert"). Returns once the topic's
  // durability is met. Does not check for duplicates: callers look keys up first
  // (find_duplicate) and hold back concurrent publishes of the same key until `done`.
  Result<storage::AppendResult> append(const meta::TopicConfig& topic, uint32_t partition,
                                       std::span<const batch::RecordInput> records, uint64_t observed_lamport,
                                       int64_t now_ms);
  // The same, completing through `done` (storage::PartitionLog::append_async's contract:
  // exactly once, possibly before returning, possibly on another storage thread).
  void append_async(const meta::TopicConfig& topic, uint32_t partition, std::span<const batch::RecordInput> records,
                    uint64_t observed_lamport, int64_t now_ms, storage::PartitionLog::AppendCallback done);

  // The stored event for a dedup key within the topic's window, if any.
  std::optional<DedupEntry> find_duplicate(const meta::TopicConfig& topic, std::string_view key, int64_t now_ms) const;
  // The same for many keys: out[i] answers keys[i].
  void find_duplicates(const meta::TopicConfig& topic, std::span<const std::string_view> keys, int64_t now_ms,
                       std::vector<std::optional<DedupEntry>>& out) const;

  // Drops dedup keys older than each topic's window; returns how many. The maintenance
  // thread calls it every dedup_expiry_interval.
  size_t expire_dedup(int64_t now_ms);

  std::shared_ptr<storage::PartitionLog> partition(std::string_view topic, uint32_t partition) const {
    return logs_->partition(topic, partition);
  }
  storage::LogManager& logs() noexcept { return *logs_; }
  meta::MetaStore& meta() noexcept { return *meta_; }
  const DedupWindow& dedup() const noexcept { return dedup_; }
  LamportClock& clock() noexcept { return logs_->clock(); }
  // Told of every successful append once it is durable (subscriptions wake on it).
  AppendNotifier& append_notifier() noexcept { return notifier_; }
  const std::string& data_dir() const noexcept { return options_.data_dir; }

 private:
  EventStore(storage::FileSystem* fs, EventStoreOptions options);
  // ResourceExhausted when creating `config` would leave fewer than fd_reserve descriptors.
  Status check_fd_capacity(const meta::TopicConfig& config) const;
  // Puts the dedup keys of one partition's records within the window into dedup_.
  Status load_dedup_keys(const meta::TopicConfig& topic, uint32_t partition, int64_t now_ms,
                         PartitionOpenReport& report);
  // Takes the keys of the partitions the shutdown snapshot still describes (same end
  // offset) from it, marks their reports, and removes the file.
  void load_dedup_snapshot(int64_t now_ms, OpenReport& report);
  // On close: writes the snapshot of every topic's window (a warning when it cannot).
  void write_dedup_snapshot_on_close();
  std::string dedup_snapshot_path() const { return options_.data_dir + "/dedup-window.snapshot"; }
  // The maintenance thread: expire_dedup every dedup_expiry_interval until stopped.
  void start_maintenance();
  void stop_maintenance();

  // Topic names being created or deleted: a second create or delete of one waits for the
  // first. Without this, a create that found another's half-made directory moved it aside
  // as stale, and a create racing a delete opened logs over files being removed.
  class NameLock {
   public:
    NameLock(EventStore& store, std::string_view name);
    ~NameLock();
    NameLock(const NameLock&) = delete;
    NameLock& operator=(const NameLock&) = delete;

   private:
    EventStore& store_;
    std::string name_;
  };
  std::mutex names_mu_;  // guards names_busy_
  std::condition_variable names_cv_;
  std::vector<std::string> names_busy_;  // a handful at most: creates and deletes are rare

  storage::FileSystem* const fs_;
  const EventStoreOptions options_;
  std::unique_ptr<meta::MetaStore> meta_;
  DedupWindow dedup_;
  std::unique_ptr<storage::LogManager> logs_;
  AppendNotifier notifier_;
  // Appends whose completion (append_async's wrapper, and the `done` it calls) has not
  // returned: their keys may not be in dedup_ yet though their records are in the logs, so
  // the shutdown snapshot waits for none to be left (a sync alone does not: a log's sync
  // returns once the records are durable, while the completions may still be running).
  std::atomic<uint64_t> completing_{0};

  std::mutex maintenance_mu_;  // guards maintenance_stopping_
  std::condition_variable maintenance_cv_;
  bool maintenance_stopping_ = false;
  std::thread maintenance_;
  bool opened_ = false;  // open() finished: only then does the window describe the logs
};

}  // namespace causeway::core
