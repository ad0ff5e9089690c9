// EventStore: metadata, logs and the dedup index kept consistent. See event_store.h and
// docs/meta-store.md ("Reconciliation").
#include "core/event_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace causeway::core {
namespace {

// Bounds one reconciliation insert so a long tail does not become one huge transaction.
constexpr size_t kReconcileChunk = 4096;
constexpr size_t kReconcileReadBytes = 4u << 20;
constexpr size_t kExpirePerTopic = 100'000;

}  // namespace

EventStore::EventStore(storage::FileSystem* fs, EventStoreOptions options) : fs_(fs), options_(std::move(options)) {}

EventStore::~EventStore() {
  logs_.reset();  // syncs every log first
  if (dedup_) {
    Status s = dedup_->sync();
    if (!s.ok()) spdlog::warn("dedup index sync on close: {}", s.to_string());
  }
}

Result<std::unique_ptr<EventStore>> EventStore::open(storage::FileSystem* fs, EventStoreOptions options,
                                                     OpenReport* report) {
  OpenReport local;
  OpenReport& rep = report ? *report : local;
  std::unique_ptr<EventStore> store(new EventStore(fs, std::move(options)));
  const std::string& dir = store->options_.data_dir;
  CAUSEWAY_RETURN_IF_ERROR(fs->create_dirs(dir));

  CAUSEWAY_ASSIGN_OR_RETURN(store->meta_, meta::MetaStore::open(dir + "/meta", store->options_.meta));

  const std::string dedup_dir = dir + "/dedup";
  auto dedup = meta::DedupIndex::open(dedup_dir);
  if (!dedup && dedup.error().code() == Code::kCorruption) {
    // The dedup index is derived from the logs: rebuild it rather than refuse to start.
    spdlog::warn("dedup index {} is unreadable ({}); rebuilding it from the logs", dedup_dir,
                 dedup.error().to_string());
    CAUSEWAY_RETURN_IF_ERROR(meta::DedupIndex::destroy(dedup_dir));
    dedup = meta::DedupIndex::open(dedup_dir);
    rep.dedup_index_rebuilt = true;
  }
  if (!dedup) return dedup.error().with_context("open dedup index " + dedup_dir);
  store->dedup_ = std::move(*dedup);

  CAUSEWAY_ASSIGN_OR_RETURN(store->logs_,
                            storage::LogManager::open(fs, dir + "/topics", store->options_.logs));

  CAUSEWAY_ASSIGN_OR_RETURN(rep.topics, store->meta_->list_topics());
  // Keys of topics deleted by a delete_topic that crashed before dropping them.
  CAUSEWAY_ASSIGN_OR_RETURN(const std::vector<uint32_t> indexed_ids, store->dedup_->topic_ids());
  for (uint32_t id : indexed_ids) {
    const bool live = std::any_of(rep.topics.begin(), rep.topics.end(),
                                  [id](const meta::TopicConfig& t) { return t.topic_id == id; });
    if (!live) {
      spdlog::info("dropping dedup keys of deleted topic id {}", id);
      CAUSEWAY_RETURN_IF_ERROR(store->dedup_->drop_topic(id));
    }
  }
  const int64_t now = storage::now_ms();
  for (const meta::TopicConfig& topic : rep.topics) {
    std::vector<storage::RecoveryReport> recoveries;
    CAUSEWAY_RETURN_IF_ERROR(store->logs_->open_topic(topic.name, topic.partitions, topic.log_config(), &recoveries));
    for (uint32_t p = 0; p < topic.partitions; ++p) {
      PartitionOpenReport pr;
      pr.topic = topic.name;
      pr.partition = p;
      pr.recovery = std::move(recoveries[p]);
      CAUSEWAY_RETURN_IF_ERROR(store->reconcile_dedup(topic, p, now, pr));
      rep.partitions.push_back(std::move(pr));
    }
  }
  CAUSEWAY_RETURN_IF_ERROR(store->dedup_->sync());
  return store;
}

Status EventStore::reconcile_dedup(const meta::TopicConfig& topic, uint32_t partition, int64_t now,
                                   PartitionOpenReport& report) {
  auto log = logs_->partition(topic.name, partition);
  if (!log) return internal_error("partition not open during reconciliation");
  const uint64_t next = log->next_offset();
  CAUSEWAY_ASSIGN_OR_RETURN(uint64_t checkpoint, dedup_->checkpoint(topic.topic_id, partition));
  if (checkpoint > next) {
    // The log lost its tail (a torn write after an OS crash): forget the keys it took along.
    CAUSEWAY_ASSIGN_OR_RETURN(report.dedup_keys_dropped, dedup_->truncate_partition(topic.topic_id, partition, next));
    checkpoint = next;
  }
  // Records older than the window cannot be duplicates any more; skip them.
  const int64_t window_start = now - topic.dedup_window.count();
  CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t first_in_window, log->offset_for_time(window_start));
  uint64_t offset = std::max({checkpoint, log->log_start_offset(), first_in_window});

  std::vector<std::string> keys;
  std::vector<meta::DedupInsert> inserts;
  uint64_t covered = offset;
  const auto flush = [&]() -> Status {
    if (inserts.empty()) return Status();
    Status s = dedup_->insert(topic.topic_id, partition, inserts, covered);
    report.dedup_keys_reindexed += inserts.size();
    inserts.clear();
    keys.clear();
    return s;
  };
  while (offset < next) {
    CAUSEWAY_ASSIGN_OR_RETURN(const storage::ReadResult r, log->read(offset, kReconcileReadBytes));
    if (r.batches.empty()) break;
    keys.reserve(keys.size() + 1024);
    CAUSEWAY_RETURN_IF_ERROR(storage::for_each_record_from(r, offset, [&](const storage::RecordView& rec) {
      if (!rec.dedup_key.empty() && rec.time_ms >= window_start) {
        keys.emplace_back(rec.dedup_key);
        inserts.push_back(meta::DedupInsert{{}, rec.offset, rec.lamport, rec.time_ms});
      }
      offset = rec.offset + 1;
      return true;
    }));
    covered = offset;
    // keys may have reallocated: bind the views now, just before use.
    for (size_t i = 0; i < inserts.size(); ++i) inserts[i].key = keys[i];
    if (inserts.size() >= kReconcileChunk) CAUSEWAY_RETURN_IF_ERROR(flush());
  }
  CAUSEWAY_RETURN_IF_ERROR(flush());
  return Status();
}

Result<meta::TopicConfig> EventStore::create_topic(meta::TopicConfig config) {
  CAUSEWAY_RETURN_IF_ERROR(config.validate());
  CAUSEWAY_ASSIGN_OR_RETURN(meta::TopicConfig created, meta_->create_topic(std::move(config)));
  if (logs_->partition_count(created.name) > 0) return created;  // identical re-create
  const std::string dir = logs_->topic_dir(created.name);
  if (fs_->exists(dir)) {
    // Left by a delete that crashed before removing its files: never let a new topic see them.
    const std::string aside = logs_->topics_dir() + "/.orphaned-" + created.name + "-" + std::to_string(storage::now_ms());
    spdlog::warn("moving stale directory {} of a deleted topic aside to {}", dir, aside);
    CAUSEWAY_RETURN_IF_ERROR(fs_->rename(dir, aside));
  }
  CAUSEWAY_RETURN_IF_ERROR(logs_->open_topic(created.name, created.partitions, created.log_config(), nullptr));
  CAUSEWAY_RETURN_IF_ERROR(fs_->sync_dir(logs_->topics_dir()));
  return created;
}

Status EventStore::delete_topic(std::string_view name) {
  CAUSEWAY_ASSIGN_OR_RETURN(const meta::TopicConfig topic, meta_->get_topic(name));
  // The metadata commit is the point of no return; files left by a crash after it are
  // moved aside when the name is created again.
  CAUSEWAY_RETURN_IF_ERROR(meta_->delete_topic(name));
  CAUSEWAY_RETURN_IF_ERROR(dedup_->drop_topic(topic.topic_id));
  return logs_->delete_topic(name);
}

Result<meta::TopicConfig> EventStore::get_topic(std::string_view name) { return meta_->get_topic(name); }
Result<std::vector<meta::TopicConfig>> EventStore::list_topics() { return meta_->list_topics(); }

Result<storage::AppendResult> EventStore::append(const meta::TopicConfig& topic, uint32_t partition,
                                                 std::span<const storage::RecordInput> records,
                                                 uint64_t observed_lamport, int64_t now_ms) {
  auto log = logs_->partition(topic.name, partition);
  if (!log)
    return not_found("topic \"" + topic.name + "\" has no partition " + std::to_string(partition));
  const uint32_t topic_id = topic.topic_id;
  meta::DedupIndex* dedup = dedup_.get();
  const auto index_keys = [topic_id, partition, dedup](const storage::AppendResult& r,
                                                       std::span<const storage::RecordInput> recs) -> Status {
    std::vector<meta::DedupInsert> inserts;
    for (size_t i = 0; i < recs.size(); ++i) {
      if (recs[i].dedup_key.empty()) continue;
      inserts.push_back(meta::DedupInsert{recs[i].dedup_key, r.base_offset + i, r.first_lamport + i, r.time_ms});
    }
    if (inserts.empty()) return Status();
    return dedup->insert(topic_id, partition, inserts, r.last_offset + 1);
  };
  auto appended = log->append(records, logs_->clock(), observed_lamport, now_ms, index_keys);
  if (appended) notifier_.notify(topic.name, partition, appended->last_offset + 1);  // durable: wake subscribers
  return appended;
}

Result<std::optional<meta::DedupEntry>> EventStore::find_duplicate(const meta::TopicConfig& topic,
                                                                    std::string_view key, int64_t now_ms) {
  return dedup_->lookup(topic.topic_id, key, now_ms - topic.dedup_window.count());
}

Result<size_t> EventStore::expire_dedup(int64_t now_ms) {
  CAUSEWAY_ASSIGN_OR_RETURN(const auto topics, meta_->list_topics());
  size_t total = 0;
  for (const auto& t : topics) {
    CAUSEWAY_ASSIGN_OR_RETURN(const size_t n, dedup_->expire(t.topic_id, now_ms - t.dedup_window.count(), kExpirePerTopic));
    total += n;
  }
  return total;
}

}  // namespace causeway::core
