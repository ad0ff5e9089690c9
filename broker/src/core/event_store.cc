// EventStore: metadata, logs and the dedup window kept consistent. See event_store.h and
// docs/meta-store.md ("Deduplication").
#include "core/event_store.h"

#include <sys/resource.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "causeway/common/blocking_result.h"
#include "core/dedup_snapshot.h"
#include "core/topic_log_config.h"

namespace causeway::core {
namespace {

constexpr size_t kLoadReadBytes = 4u << 20;

}  // namespace

EventStore::EventStore(storage::FileSystem* fs, EventStoreOptions options) : fs_(fs), options_(std::move(options)) {}

EventStore::~EventStore() {
  stop_maintenance();
  if (opened_ && logs_ && meta_ && options_.dedup_snapshot) write_dedup_snapshot_on_close();
  logs_.reset();  // syncs every log
}

void EventStore::write_dedup_snapshot_on_close() {
  const auto started = std::chrono::steady_clock::now();
  // The snapshot may only name records that are on disk: sync first.
  if (Status synced = logs_->sync_all(); !synced.ok()) {
    spdlog::warn("dedup window: no shutdown snapshot ({}); the next start reads the logs instead", synced.to_string());
    return;
  }
  // And it must hold the key of every record below the ends it records: keys enter the
  // window in the appends' completions, which may still be running on the sync threads
  // after the sync returned (docs/meta-store.md, "Shutdown snapshot").
  const auto give_up_at = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (completing_.load(std::memory_order_acquire) != 0) {
    if (std::chrono::steady_clock::now() >= give_up_at) {
      spdlog::warn("dedup window: no shutdown snapshot ({} append completion(s) still running after 30 s); the next "
                   "start reads the logs instead",
                   completing_.load());
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto topics = meta_->list_topics();
  if (!topics) {
    spdlog::warn("dedup window: no shutdown snapshot ({}); the next start reads the logs instead",
                 topics.status().to_string());
    return;
  }
  std::vector<SnapshotTopic> described;
  for (const meta::TopicConfig& t : *topics) {
    SnapshotTopic st;
    st.topic_id = t.topic_id;
    st.dropped_below_ms = dedup_.dropped_below(t.topic_id);
    for (uint32_t p = 0; p < t.partitions; ++p) {
      auto log = logs_->partition(t.name, p);
      if (!log) break;
      st.partitions.push_back(SnapshotPartition{log->log_start_offset(), log->next_offset(), log->last_lamport()});
    }
    if (st.partitions.size() == t.partitions) described.push_back(std::move(st));
  }
  const std::string path = dedup_snapshot_path();
  if (Status s = write_dedup_snapshot(*fs_, path, dedup_, described, storage::now_ms()); !s.ok()) {
    spdlog::warn("dedup window: writing the shutdown snapshot {} failed: {}; the next start reads the logs instead",
                 path, s.to_string());
    if (fs_->exists(path + ".tmp")) (void)fs_->remove(path + ".tmp");
    return;
  }
  spdlog::info("dedup window: {} key(s) of {} topic(s) written to {} in {} ms", dedup_.size(), described.size(), path,
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                   .count());
}

void EventStore::load_dedup_snapshot(int64_t now_ms, OpenReport& rep) {
  const std::string path = dedup_snapshot_path();
  // A shutdown that died while writing leaves its temporary file.
  if (fs_->exists(path + ".tmp")) (void)fs_->remove(path + ".tmp");
  if (!fs_->exists(path)) return;
  const auto started = std::chrono::steady_clock::now();
  std::map<uint32_t, const meta::TopicConfig*> by_id;
  for (const meta::TopicConfig& t : rep.topics) by_id[t.topic_id] = &t;
  // What was taken, per topic: which partitions, and their log start offsets now.
  struct Taken {
    const meta::TopicConfig* topic = nullptr;
    std::vector<bool> partitions;
    std::vector<uint64_t> start;
    std::vector<uint64_t> end;
    std::vector<size_t> keys;
  };
  std::map<uint32_t, Taken> taken;
  std::vector<DedupDigestEntry> kept;
  Status read = read_dedup_snapshot(
      *fs_, path,
      [&](const SnapshotTopic& st) -> std::vector<bool> {
        auto it = by_id.find(st.topic_id);
        if (it == by_id.end() || st.partitions.size() != it->second->partitions) return {};
        // Expiry may have dropped keys older than dropped_below_ms before the snapshot was
        // written; this open wants every key from its window start on. With a clock that
        // went back since (or jumped ahead and was corrected) the window starts earlier:
        // read the logs.
        if (now_ms - it->second->dedup_window.count() < st.dropped_below_ms) return {};
        Taken t;
        t.topic = it->second;
        for (uint32_t p = 0; p < st.partitions.size(); ++p) {
          auto log = logs_->partition(t.topic->name, p);
          // The same end: the same records below it (offsets never change). Retention may
          // have moved the start since; keys below it are dropped.
          const bool same = log && log->next_offset() == st.partitions[p].end_offset &&
                            log->last_lamport() == st.partitions[p].last_lamport &&
                            log->log_start_offset() >= st.partitions[p].start_offset;
          t.partitions.push_back(same);
          t.start.push_back(log ? log->log_start_offset() : 0);
          t.end.push_back(st.partitions[p].end_offset);
          t.keys.push_back(0);
        }
        auto [at, inserted] = taken.insert_or_assign(st.topic_id, std::move(t));
        return at->second.partitions;
      },
      [&](uint32_t topic_id, std::span<const DedupDigestEntry> entries) {
        Taken& t = taken.at(topic_id);
        const int64_t window_start = now_ms - t.topic->dedup_window.count();
        kept.clear();
        for (const DedupDigestEntry& e : entries) {
          const uint32_t p = e.entry.partition;
          if (e.entry.time_ms < window_start || e.entry.offset < t.start[p] || e.entry.offset >= t.end[p]) continue;
          kept.push_back(e);
          ++t.keys[p];
        }
        dedup_.import_entries(topic_id, kept);
      });
  if (!read.ok()) {
    // Nothing of a damaged file is used: forget what it gave, read every log instead.
    spdlog::warn("dedup window: ignoring the shutdown snapshot: {}; reading the logs instead", read.to_string());
    for (const auto& [id, t] : taken) {
      dedup_.drop_topic(id);
      dedup_.add_topic(id, t.topic->dedup_window);
    }
    taken.clear();
  }
  size_t partitions = 0, keys = 0;
  std::map<std::string_view, const Taken*> taken_by_name;
  for (const auto& [id, t] : taken) taken_by_name[t.topic->name] = &t;
  for (PartitionOpenReport& pr : rep.partitions) {
    auto it = taken_by_name.find(pr.topic);
    if (it == taken_by_name.end()) continue;
    const Taken& t = *it->second;
    if (pr.partition >= t.partitions.size() || !t.partitions[pr.partition]) continue;
    pr.dedup_from_snapshot = true;
    pr.dedup_keys_loaded = t.keys[pr.partition];
    ++partitions;
    keys += t.keys[pr.partition];
  }
  // Used once: a later start must not take keys from it (it would still be right for a
  // partition that recovers to the same end, but a fresh one is written at every clean close).
  if (Status removed = fs_->remove(path); !removed.ok()) {
    spdlog::warn("dedup window: could not remove the used snapshot {}: {}", path, removed.to_string());
  } else if (Status synced = fs_->sync_dir(options_.data_dir); !synced.ok()) {
    spdlog::warn("dedup window: could not sync {} after removing the used snapshot: {}", options_.data_dir,
                 synced.to_string());
  }
  if (read.ok()) {
    spdlog::info("dedup window: {} key(s) of {} partition(s) taken from the shutdown snapshot in {} ms", keys,
                 partitions,
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                     .count());
  }
}

void EventStore::start_maintenance() {
  const auto every = options_.dedup_expiry_interval;
  if (!options_.logs.background || every.count() <= 0) return;
  maintenance_ = std::thread([this, every] {
    std::unique_lock lk(maintenance_mu_);
    while (!maintenance_cv_.wait_for(lk, every, [this] { return maintenance_stopping_; })) {
      lk.unlock();
      const size_t expired = expire_dedup(storage::now_ms());
      if (expired > 0) spdlog::debug("dedup window: {} key(s) expired", expired);
      lk.lock();
    }
  });
}

void EventStore::stop_maintenance() {
  {
    std::lock_guard lk(maintenance_mu_);
    maintenance_stopping_ = true;
  }
  maintenance_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
}

Result<std::unique_ptr<EventStore>> EventStore::open(storage::FileSystem* fs, EventStoreOptions options,
                                                     OpenReport* report) {
  OpenReport local;
  OpenReport& rep = report ? *report : local;
  std::unique_ptr<EventStore> store(new EventStore(fs, std::move(options)));
  const std::string& dir = store->options_.data_dir;
  CAUSEWAY_RETURN_IF_ERROR(fs->create_dirs(dir));

  CAUSEWAY_ASSIGN_OR_RETURN(store->meta_, meta::MetaStore::open(dir + "/meta", store->options_.meta));

  // Before 0.2 the dedup index lived in LMDB under dedup/; it is derived data, rebuilt
  // below from the logs, so an old copy is removed.
  if (fs->exists(dir + "/dedup")) {
    spdlog::info("removing the old on-disk dedup index {}/dedup (now rebuilt from the logs on open)", dir);
    CAUSEWAY_RETURN_IF_ERROR(fs->remove_all(dir + "/dedup"));
  }

  // Sealed segments' descriptors may take at most a quarter of the open-files limit, so that
  // a small limit leaves room for partitions and connections.
  storage::LogManagerOptions logs = store->options_.logs;
  rlimit limit{};
  if (size_t& cached = logs.max_open_sealed_segments;
      cached > 0 && ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      cached > limit.rlim_cur / 4) {
    const size_t quarter = std::max<size_t>(static_cast<size_t>(limit.rlim_cur / 4), 1);
    spdlog::warn("keeping {} sealed segment files open instead of {}: a quarter of the open files limit of {}",
                 quarter, cached, static_cast<uint64_t>(limit.rlim_cur));
    cached = quarter;
  }
  logs.journal_dir = dir + "/journal";
  CAUSEWAY_ASSIGN_OR_RETURN(store->logs_,
                            storage::LogManager::open(fs, dir + "/topics", logs));

  CAUSEWAY_ASSIGN_OR_RETURN(rep.topics, store->meta_->list_topics());
  const int64_t now = storage::now_ms();
  std::vector<const meta::TopicConfig*> topic_of;  // per entry of rep.partitions
  for (const meta::TopicConfig& topic : rep.topics) {
    std::vector<storage::RecoveryReport> recoveries;
    CAUSEWAY_RETURN_IF_ERROR(store->logs_->open_topic(topic.name, topic.partitions, log_config_for(topic), &recoveries));
    store->dedup_.add_topic(topic.topic_id, topic.dedup_window);
    for (uint32_t p = 0; p < topic.partitions; ++p) {
      PartitionOpenReport pr;
      pr.topic = topic.name;
      pr.partition = p;
      pr.recovery = std::move(recoveries[p]);
      rep.partitions.push_back(std::move(pr));
      topic_of.push_back(&topic);
    }
  }
  // The dedup window: from the shutdown snapshot where it still describes the partition,
  // else read back from the log.
  store->load_dedup_snapshot(now, rep);
  for (size_t i = 0; i < rep.partitions.size(); ++i) {
    PartitionOpenReport& pr = rep.partitions[i];
    if (!pr.dedup_from_snapshot) CAUSEWAY_RETURN_IF_ERROR(store->load_dedup_keys(*topic_of[i], pr.partition, now, pr));
  }
  // Keys older than the window's start were not loaded (from the logs or the snapshot).
  for (const meta::TopicConfig& topic : rep.topics)
    store->dedup_.note_dropped_below(topic.topic_id, now - topic.dedup_window.count());
  store->opened_ = true;
  store->start_maintenance();
  return store;
}

Status EventStore::load_dedup_keys(const meta::TopicConfig& topic, uint32_t partition, int64_t now,
                                   PartitionOpenReport& report) {
  auto log = logs_->partition(topic.name, partition);
  if (!log) return internal_error("partition not open while loading its dedup keys");
  const uint64_t next = log->next_offset();
  // Records older than the window cannot be duplicates any more; skip them.
  const int64_t window_start = now - topic.dedup_window.count();
  CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t first_in_window, log->offset_for_time(window_start));
  uint64_t offset = std::max(log->log_start_offset(), first_in_window);

  std::vector<DedupInsert> inserts;
  while (offset < next) {
    // Sealed segments whose records carry no dedup key (their .nokeys marker) are not read.
    offset = log->skip_segments_without_dedup_keys(offset);
    if (offset >= next) break;
    CAUSEWAY_ASSIGN_OR_RETURN(const storage::ReadResult r, log->read(offset, kLoadReadBytes));
    if (r.batches.empty()) break;
    inserts.clear();
    // The views point into r's batches, which live until the insert below.
    CAUSEWAY_RETURN_IF_ERROR(storage::for_each_record_from(r, offset, [&](const batch::RecordView& rec) {
      ++report.dedup_records_read;
      if (!rec.dedup_key.empty() && rec.time_ms >= window_start)
        inserts.push_back(DedupInsert{rec.dedup_key, rec.offset, rec.lamport, rec.time_ms});
      offset = rec.offset + 1;
      return true;
    }));
    dedup_.insert(topic.topic_id, partition, inserts);
    report.dedup_keys_loaded += inserts.size();
  }
  return Status();
}

Status EventStore::check_fd_capacity(const meta::TopicConfig& config) const {
  if (options_.fd_reserve == 0) return Status();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return Status();
  // Under a small limit (LimitNOFILE=1024) keep a quarter free rather than refuse every create.
  const uint64_t reserve = std::min<uint64_t>(options_.fd_reserve, limit.rlim_cur / 4);
  std::error_code ec;
  uint64_t open = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::end(it);
       it.increment(ec)) {
    ++open;
  }
  if (ec) return Status();  // no /proc: the open itself will say
  // Sealed segments' descriptors come and go within the cache's capacity: count it whole.
  if (const storage::FileCache* cache = logs_->sealed_files()) {
    const uint64_t cached = cache->size();
    open = open - std::min(open, cached) + cache->capacity();
  }
  const uint64_t needed = open + config.partitions + reserve;
  if (needed <= limit.rlim_cur) return Status();
  return Status(Code::kResourceExhausted, Reason::kNone,
                "topic \"" + config.name + "\" needs " + std::to_string(config.partitions) +
                    " file descriptors (one per partition), and the broker holds " + std::to_string(open) +
                    " (counting --max-open-segment-files whole) of its limit of " + std::to_string(limit.rlim_cur) +
                    " open files while keeping " + std::to_string(reserve) +
                    " free for connections (--max-connections + 256, at most a quarter of the limit): raise the "
                    "limit to at least " +
                    std::to_string(needed) + " (ulimit -n, or LimitNOFILE= under systemd) and restart the broker, "
                    "or create fewer partitions");
}

EventStore::NameLock::NameLock(EventStore& store, std::string_view name) : store_(store), name_(name) {
  std::unique_lock lk(store_.names_mu_);
  store_.names_cv_.wait(lk, [&] { return std::find(store_.names_busy_.begin(), store_.names_busy_.end(), name_) ==
                                         store_.names_busy_.end(); });
  store_.names_busy_.push_back(name_);
}

EventStore::NameLock::~NameLock() {
  {
    std::lock_guard lk(store_.names_mu_);
    std::erase(store_.names_busy_, name_);
  }
  store_.names_cv_.notify_all();
}

Result<meta::TopicConfig> EventStore::create_topic(meta::TopicConfig config) {
  CAUSEWAY_RETURN_IF_ERROR(config.validate());
  const NameLock busy(*this, config.name);
  if (logs_->partition_count(config.name) == 0) CAUSEWAY_RETURN_IF_ERROR(check_fd_capacity(config));
  CAUSEWAY_ASSIGN_OR_RETURN(meta::TopicConfig created, meta_->create_topic(std::move(config)));
  if (logs_->partition_count(created.name) > 0) return created;  // identical re-create
  const std::string dir = logs_->topic_dir(created.name);
  if (fs_->exists(dir)) {
    // Left by a delete that crashed before removing its files: never let a new topic see them.
    const std::string aside = logs_->topics_dir() + "/.orphaned-" + created.name + "-" + std::to_string(storage::now_ms());
    spdlog::warn("moving stale directory {} of a deleted topic aside to {}", dir, aside);
    CAUSEWAY_RETURN_IF_ERROR(fs_->rename(dir, aside));
  }
  Status opened = logs_->open_topic(created.name, created.partitions, log_config_for(created), nullptr);
  if (opened.code() == Code::kAlreadyExists) return created;  // an identical create raced this one and opened it
  if (!opened.ok()) {
    // Undo the create completely: a topic in the metadata without its logs would be listed
    // yet fail every publish ("has no partition N"), and stop the next start.
    Status undone = meta_->delete_topic(created.name);
    if (undone.ok()) undone = logs_->delete_topic(created.name);
    if (!undone.ok()) {
      spdlog::error("topic {}: could not undo a failed create: {}", created.name, undone.to_string());
    }
    return opened.with_context("cannot create topic \"" + created.name + "\" (nothing was created)");
  }
  dedup_.add_topic(created.topic_id, created.dedup_window);
  CAUSEWAY_RETURN_IF_ERROR(fs_->sync_dir(logs_->topics_dir()));
  return created;
}

Status EventStore::delete_topic(std::string_view name) {
  const NameLock busy(*this, name);
  CAUSEWAY_ASSIGN_OR_RETURN(const meta::TopicConfig topic, meta_->get_topic(name));
  // The metadata commit is the point of no return; files left by a crash after it are
  // moved aside when the name is created again.
  CAUSEWAY_RETURN_IF_ERROR(meta_->delete_topic(name));
  dedup_.drop_topic(topic.topic_id);
  return logs_->delete_topic(name);
}

Result<meta::TopicConfig> EventStore::get_topic(std::string_view name) { return meta_->get_topic(name); }
Result<std::vector<meta::TopicConfig>> EventStore::list_topics() { return meta_->list_topics(); }

Result<storage::AppendResult> EventStore::append(const meta::TopicConfig& topic, uint32_t partition,
                                                 std::span<const batch::RecordInput> records,
                                                 uint64_t observed_lamport, int64_t now_ms) {
  return wait_for_callback<Result<storage::AppendResult>>(
      [&](auto done) { append_async(topic, partition, records, observed_lamport, now_ms, std::move(done)); });
}

void EventStore::append_async(const meta::TopicConfig& topic, uint32_t partition,
                              std::span<const batch::RecordInput> records, uint64_t observed_lamport,
                              int64_t now_ms, storage::PartitionLog::AppendCallback done) {
  auto log = logs_->partition(topic.name, partition);
  if (!log) return done(not_found("topic \"" + topic.name + "\" has no partition " + std::to_string(partition)));
  // Keys enter the window when the append completes, and only if it succeeded: before the
  // completion reports the events stored, never for events a failed sync may have lost
  // (docs/meta-store.md, "Insert"). Hashed now: the records' bytes are the caller's only
  // until this returns. `offset` holds the record's index in the batch until then.
  std::vector<DedupDigestInsert> keys;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].dedup_key.empty()) continue;
    DedupDigestInsert k = DedupWindow::digest_of(records[i].dedup_key);
    k.offset = i;
    keys.push_back(k);
  }
  // Subscribers learn of the events once they are durable, before the publisher's ack.
  completing_.fetch_add(1, std::memory_order_relaxed);
  log->append_async(records, logs_->clock(), observed_lamport, now_ms,
                    [this, topic_id = topic.topic_id, topic_name = topic.name, partition, keys = std::move(keys),
                     done = std::move(done)](Result<storage::AppendResult> r) mutable {
                      struct Finished {  // however this returns
                        std::atomic<uint64_t>& completing;
                        ~Finished() { completing.fetch_sub(1, std::memory_order_release); }
                      } finished{completing_};
                      if (r && !keys.empty()) {
                        for (DedupDigestInsert& k : keys) {
                          k.lamport = r->first_lamport + k.offset;
                          k.offset = r->base_offset + k.offset;
                          k.time_ms = r->time_ms;
                        }
                        dedup_.insert_digests(topic_id, partition, keys);
                      }
                      if (r) notifier_.notify(topic_name, partition, r->last_offset + 1);
                      done(std::move(r));
                    });
}

std::optional<DedupEntry> EventStore::find_duplicate(const meta::TopicConfig& topic, std::string_view key,
                                                    int64_t now_ms) const {
  return dedup_.find(topic.topic_id, key, now_ms - topic.dedup_window.count());
}

void EventStore::find_duplicates(const meta::TopicConfig& topic, std::span<const std::string_view> keys, int64_t now_ms,
                                 std::vector<std::optional<DedupEntry>>& out) const {
  dedup_.find_many(topic.topic_id, keys, now_ms - topic.dedup_window.count(), out);
}

size_t EventStore::expire_dedup(int64_t now_ms) { return dedup_.expire(now_ms); }

}  // namespace causeway::core
