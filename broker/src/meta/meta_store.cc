// MetaStore: topics and group offsets in LMDB. See meta_store.h for the API contract and
// docs/meta-store.md for the databases, key layouts and value encodings.
#include "meta/meta_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "causeway/common/coding.h"
#include "causeway/schemas/meta_generated.h"
#include "causeway/lmdb/lmdb_env.h"
#include "meta/verified_value.h"

namespace causeway::meta {

namespace fbs = ::causeway::schemas;
using lmdb::Cursor;
using lmdb::Txn;

struct MetaStore::Dbs {
  lmdb::Dbi info;           // "info" -> MetaInfo
  lmdb::Dbi topics;         // name -> TopicRecord
  lmdb::Dbi topic_ids;      // topic_id (u32 BE) -> TopicIdRecord
  lmdb::Dbi group_offsets;  // topic_id (u32 BE), group length (u16 BE), group, partition (u32 BE) -> GroupOffsetRecord
  lmdb::Dbi subscriptions;  // name -> SubscriptionRecord
  lmdb::Dbi group_acks;     // key as group_offsets -> GroupAcksRecord
  lmdb::Dbi replays;        // name -> ReplayRecord
  lmdb::Dbi tokens;         // token id -> TokenRecord
  lmdb::Dbi acls;           // AclRecord::key() -> AclRecord
};

namespace {

constexpr std::string_view kInfoKey = "info";

// Built with append rather than `"\"" + str`: GCC 12 at -O3 reports a bogus -Wrestrict for
// a string literal prepended to a std::string temporary.
std::string quoted(std::string_view s) {
  std::string out(1, '"');
  out += lmdb::printable_key(s);
  out += '"';
  return out;
}

std::string topic_id_key(uint32_t topic_id) {
  std::string key;
  coding::put_big_endian32(key, topic_id);
  return key;
}

// Prefix of every group_offsets key of (topic, group); the partition follows it.
std::string group_prefix(uint32_t topic_id, std::string_view group) {
  std::string key;
  key.reserve(4 + 2 + group.size() + 4);
  coding::put_big_endian32(key, topic_id);
  key.push_back(static_cast<char>(group.size() >> 8));
  key.push_back(static_cast<char>(group.size() & 0xff));
  key.append(group);
  return key;
}

std::string group_offset_key(uint32_t topic_id, std::string_view group, uint32_t partition) {
  std::string key = group_prefix(topic_id, group);
  coding::put_big_endian32(key, partition);
  return key;
}

std::string group_what(uint32_t topic_id, std::string_view group, uint32_t partition) {
  return "group_offsets[topic " + std::to_string(topic_id) + ", group " + quoted(group) + ", partition " +
         std::to_string(partition) + "]";
}

Status validate_group(std::string_view group) {
  if (group.empty() || group.size() > kMaxGroupNameBytes) {
    return invalid_argument("group name has length " + std::to_string(group.size()) + " (must be 1 to " +
                            std::to_string(kMaxGroupNameBytes) + ")");
  }
  return Status();
}

std::string encode_topic(const TopicConfig& c) {
  flatbuffers::FlatBufferBuilder fbb(256);
  const auto name = fbb.CreateString(c.name.data(), c.name.size());
  const auto subject = fbb.CreateString(c.schema_subject.data(), c.schema_subject.size());
  fbs::TopicRecordBuilder b(fbb);
  b.add_name(name);
  b.add_topic_id(c.topic_id);
  b.add_partitions(c.partitions);
  b.add_durability(static_cast<uint8_t>(c.durability));
  b.add_dedup_window_ms(c.dedup_window.count());
  b.add_retention_ms(c.retention_ms.count());
  b.add_retention_bytes(c.retention_bytes);
  b.add_segment_bytes(c.segment_bytes);
  b.add_segment_ms(c.segment_ms.count());
  b.add_schema_subject(subject);
  b.add_created_ms(c.created_ms);
  b.add_validate_payloads(c.validate_payloads);
  fbb.Finish(b.Finish());
  return std::string(builder_bytes(fbb));
}

// Decodes and checks a topics value stored under `key`. A record that does not verify,
// names a different topic or holds settings validate() rejects is kCorruption.
Result<TopicConfig> decode_topic(std::string_view key, std::string_view bytes) {
  const std::string what = "topics[" + quoted(key) + "]";
  CAUSEWAY_ASSIGN_OR_RETURN(auto rec, read_verified<fbs::TopicRecord>(bytes, what));
  TopicConfig c;
  if (rec->name() == nullptr) return corruption(what + " has no name");
  c.name = rec->name()->str();
  if (c.name != key) return corruption(what + " holds topic " + quoted(c.name));
  c.topic_id = rec->topic_id();
  c.partitions = rec->partitions();
  if (rec->durability() > static_cast<uint8_t>(storage::Durability::kOs)) {
    return corruption(what + " has unknown durability " + std::to_string(rec->durability()));
  }
  c.durability = static_cast<storage::Durability>(rec->durability());
  c.dedup_window = std::chrono::milliseconds(rec->dedup_window_ms());
  c.retention_ms = std::chrono::milliseconds(rec->retention_ms());
  c.retention_bytes = rec->retention_bytes();
  c.segment_bytes = rec->segment_bytes();
  c.segment_ms = std::chrono::milliseconds(rec->segment_ms());
  if (rec->schema_subject() != nullptr) c.schema_subject = rec->schema_subject()->str();
  c.created_ms = rec->created_ms();
  c.validate_payloads = rec->validate_payloads();
  if (c.topic_id == 0) return corruption(what + " has topic_id 0");
  if (Status s = c.validate(); !s.ok()) return corruption(what + " holds invalid settings: " + std::string(s.message()));
  return c;
}

std::string encode_info(uint32_t next_topic_id) {
  flatbuffers::FlatBufferBuilder fbb(64);
  fbb.Finish(fbs::CreateMetaInfo(fbb, MetaStore::kFormatVersion, next_topic_id));
  return std::string(builder_bytes(fbb));
}

std::string encode_topic_id(std::string_view name) {
  flatbuffers::FlatBufferBuilder fbb(64);
  const auto n = fbb.CreateString(name.data(), name.size());
  fbb.Finish(fbs::CreateTopicIdRecord(fbb, n));
  return std::string(builder_bytes(fbb));
}

std::string encode_group_offset(uint64_t offset, int64_t committed_ms) {
  flatbuffers::FlatBufferBuilder fbb(64);
  fbb.Finish(fbs::CreateGroupOffsetRecord(fbb, offset, committed_ms));
  return std::string(builder_bytes(fbb));
}

// The topic with id `topic_id`, read through topic_ids and topics; nullopt if absent.
Result<std::optional<TopicConfig>> find_topic_by_id(Txn& txn, const lmdb::Dbi& topic_ids, const lmdb::Dbi& topics,
                                                    uint32_t topic_id) {
  CAUSEWAY_ASSIGN_OR_RETURN(auto id_value, txn.get(topic_ids, topic_id_key(topic_id)));
  if (!id_value) return std::optional<TopicConfig>();
  const std::string what = "topic_ids[" + std::to_string(topic_id) + "]";
  CAUSEWAY_ASSIGN_OR_RETURN(auto id_rec, read_verified<fbs::TopicIdRecord>(*id_value, what));
  if (id_rec->name() == nullptr) return corruption(what + " has no name");
  const std::string name = id_rec->name()->str();
  CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(topics, name));
  if (!value) return corruption(what + " names topic " + quoted(name) + ", which does not exist");
  CAUSEWAY_ASSIGN_OR_RETURN(TopicConfig config, decode_topic(name, *value));
  if (config.topic_id != topic_id) {
    return corruption(what + " names topic " + quoted(name) + ", whose id is " + std::to_string(config.topic_id));
  }
  return std::optional<TopicConfig>(std::move(config));
}

}  // namespace

MetaStore::MetaStore(std::unique_ptr<lmdb::Env> env, std::unique_ptr<Dbs> dbs, MetaStoreOptions options)
    : env_(std::move(env)), dbs_(std::move(dbs)), options_(std::move(options)) {}

MetaStore::~MetaStore() = default;

int64_t MetaStore::now_ms() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<MetaStore>> MetaStore::open(const std::string& dir, const MetaStoreOptions& options) {
  lmdb::EnvOptions env_options;
  env_options.initial_map_bytes = options.initial_map_bytes;
  env_options.max_map_bytes = options.max_map_bytes;
  env_options.max_readers = options.max_readers;
  env_options.max_dbs = 16;
  env_options.flags = 0;  // synchronous commits: a returned write is on disk
  CAUSEWAY_ASSIGN_OR_RETURN(auto env, lmdb::Env::open(dir, env_options));

  auto dbs = std::make_unique<Dbs>();
  const Status status = env->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->info, txn.open_dbi("info", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->topics, txn.open_dbi("topics", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->topic_ids, txn.open_dbi("topic_ids", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->group_offsets, txn.open_dbi("group_offsets", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->subscriptions, txn.open_dbi("subscriptions", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->group_acks, txn.open_dbi("group_acks", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->replays, txn.open_dbi("replays", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->tokens, txn.open_dbi("tokens", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->acls, txn.open_dbi("acls", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(auto info, txn.get(dbs->info, kInfoKey));
    if (!info) return txn.put(dbs->info, kInfoKey, encode_info(1));  // a new store
    CAUSEWAY_ASSIGN_OR_RETURN(auto rec, read_verified<fbs::MetaInfo>(*info, "info[\"info\"]"));
    if (rec->format_version() != kFormatVersion) {
      return failed_precondition("meta store " + dir + " has format version " +
                                 std::to_string(rec->format_version()) + "; this broker reads version " +
                                 std::to_string(kFormatVersion));
    }
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return std::unique_ptr<MetaStore>(new MetaStore(std::move(env), std::move(dbs), options));
}

Result<TopicConfig> MetaStore::create_topic(TopicConfig config) {
  CAUSEWAY_RETURN_IF_ERROR(config.validate());
  TopicConfig result;
  const Status status = env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto existing_value, txn.get(dbs_->topics, config.name));
    if (existing_value) {
      CAUSEWAY_ASSIGN_OR_RETURN(TopicConfig existing, decode_topic(config.name, *existing_value));
      const std::string diff = describe_differences(existing, config);
      if (!diff.empty()) {
        return already_exists("topic " + quoted(config.name) + " already exists with different settings (existing vs requested): " + diff);
      }
      result = std::move(existing);
      return Status();  // idempotent create; the empty transaction commits harmlessly
    }
    CAUSEWAY_ASSIGN_OR_RETURN(auto info_value, txn.get(dbs_->info, kInfoKey));
    if (!info_value) return corruption("info[\"info\"] is missing");
    CAUSEWAY_ASSIGN_OR_RETURN(auto info, read_verified<fbs::MetaInfo>(*info_value, "info[\"info\"]"));
    const uint32_t id = info->next_topic_id();
    if (id == 0) return resource_exhausted("topic ids are exhausted (all 4294967295 have been used)");
    CAUSEWAY_ASSIGN_OR_RETURN(auto id_taken, txn.get(dbs_->topic_ids, topic_id_key(id)));
    if (id_taken) return corruption("info next_topic_id " + std::to_string(id) + " is already in use");

    TopicConfig created = config;
    created.topic_id = id;
    created.created_ms = now_ms();
    const uint32_t next = id == std::numeric_limits<uint32_t>::max() ? 0 : id + 1;  // 0 = exhausted
    CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->topics, created.name, encode_topic(created)));
    CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->topic_ids, topic_id_key(id), encode_topic_id(created.name)));
    CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->info, kInfoKey, encode_info(next)));
    result = std::move(created);
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return result;
}

Result<TopicConfig> MetaStore::get_topic(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicNameBytes) return Status(Code::kNotFound, Reason::kTopicNotFound, "topic " + quoted(name) + " not found");
  TopicConfig result;
  const Status status = env_->read([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->topics, name));
    if (!value) return Status(Code::kNotFound, Reason::kTopicNotFound, "topic " + quoted(name) + " not found");
    CAUSEWAY_ASSIGN_OR_RETURN(result, decode_topic(name, *value));
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return result;
}

Result<TopicConfig> MetaStore::get_topic_by_id(uint32_t topic_id) {
  TopicConfig result;
  const Status status = env_->read([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto found, find_topic_by_id(txn, dbs_->topic_ids, dbs_->topics, topic_id));
    if (!found) return not_found("topic id " + std::to_string(topic_id) + " not found");
    result = std::move(*found);
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return result;
}

Result<std::vector<TopicConfig>> MetaStore::list_topics() {
  std::vector<TopicConfig> out;
  const Status status = env_->read([&](Txn& txn) -> Status {
    out.clear();
    CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->topics));
    std::string_view key, value;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(key, value));
    while (found) {
      CAUSEWAY_ASSIGN_OR_RETURN(TopicConfig config, decode_topic(key, value));
      out.push_back(std::move(config));
      CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, value));
    }
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return out;  // LMDB orders keys bytewise, which is the order of names
}

Status MetaStore::delete_topic(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicNameBytes) return Status(Code::kNotFound, Reason::kTopicNotFound, "topic " + quoted(name) + " not found");
  size_t offsets_removed = 0;
  uint32_t topic_id = 0;
  const Status status = env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->topics, name));
    if (!value) return Status(Code::kNotFound, Reason::kTopicNotFound, "topic " + quoted(name) + " not found");
    CAUSEWAY_ASSIGN_OR_RETURN(TopicConfig config, decode_topic(name, *value));
    topic_id = config.topic_id;
    const std::string prefix = topic_id_key(topic_id);
    std::vector<std::string> offset_keys;
    {
      CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->group_offsets));
      std::string_view key, ignored;
      CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.seek(prefix, key, ignored));
      while (found && key.starts_with(prefix)) {
        offset_keys.emplace_back(key);
        CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, ignored));
      }
    }  // the cursor closes before the transaction ends
    for (const std::string& key : offset_keys) {
      CAUSEWAY_RETURN_IF_ERROR(txn.del(dbs_->group_offsets, key).status());
      CAUSEWAY_RETURN_IF_ERROR(txn.del(dbs_->group_acks, key).status());
    }
    offsets_removed = offset_keys.size();
    CAUSEWAY_RETURN_IF_ERROR(txn.del(dbs_->topics, name).status());
    CAUSEWAY_RETURN_IF_ERROR(txn.del(dbs_->topic_ids, prefix).status());
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  spdlog::info("meta: deleted topic {} (id {}) and {} committed offset(s)", lmdb::printable_key(name), topic_id,
               offsets_removed);
  return Status();
}

Status MetaStore::commit_offsets(std::string_view group, uint32_t topic_id, std::span<const PartitionOffset> offsets) {
  CAUSEWAY_RETURN_IF_ERROR(validate_group(group));
  const int64_t committed_ms = now_ms();
  return env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto topic, find_topic_by_id(txn, dbs_->topic_ids, dbs_->topics, topic_id));
    if (!topic) return not_found("topic id " + std::to_string(topic_id) + " not found");
    for (const PartitionOffset& po : offsets) {
      if (po.partition >= topic->partitions) {
        return invalid_argument("partition " + std::to_string(po.partition) + " out of range (topic " +
                                quoted(topic->name) + " has " + std::to_string(topic->partitions) + " partitions)");
      }
      CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->group_offsets, group_offset_key(topic_id, group, po.partition),
                                       encode_group_offset(po.offset, committed_ms)));
    }
    return Status();
  });
}

Result<std::optional<uint64_t>> MetaStore::committed_offset(std::string_view group, uint32_t topic_id,
                                                            uint32_t partition) {
  CAUSEWAY_RETURN_IF_ERROR(validate_group(group));
  std::optional<uint64_t> result;
  const Status status = env_->read([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->group_offsets, group_offset_key(topic_id, group, partition)));
    if (!value) return Status();
    CAUSEWAY_ASSIGN_OR_RETURN(
        auto rec, read_verified<fbs::GroupOffsetRecord>(*value, group_what(topic_id, group, partition)));
    result = rec->offset();
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return result;
}

Result<std::vector<GroupOffset>> MetaStore::list_offsets(std::string_view group, uint32_t topic_id) {
  CAUSEWAY_RETURN_IF_ERROR(validate_group(group));
  std::vector<GroupOffset> out;
  const std::string prefix = group_prefix(topic_id, group);
  const Status status = env_->read([&](Txn& txn) -> Status {
    out.clear();
    CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->group_offsets));
    std::string_view key, value;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.seek(prefix, key, value));
    while (found && key.starts_with(prefix)) {
      if (key.size() != prefix.size() + 4) {
        return corruption("group_offsets key of topic " + std::to_string(topic_id) + ", group " + quoted(group) +
                          " has length " + std::to_string(key.size()) + ", expected " +
                          std::to_string(prefix.size() + 4));
      }
      GroupOffset go;
      go.partition = coding::decode_big_endian32(key.data() + prefix.size());
      CAUSEWAY_ASSIGN_OR_RETURN(
          auto rec, read_verified<fbs::GroupOffsetRecord>(value, group_what(topic_id, group, go.partition)));
      go.offset = rec->offset();
      go.committed_ms = rec->committed_ms();
      out.push_back(go);
      CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, value));
    }
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return out;
}


// ---------------------------------------------------------------- subscriptions

namespace {

bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

Status validate_name(std::string_view what, std::string_view name) {
  const Reason reason = what == "subscription" ? Reason::kInvalidSubscriptionName : Reason::kInvalidTopicName;
  if (name.empty() || name.size() > kMaxTopicNameBytes) {
    return Status(Code::kInvalidArgument, reason, std::string(what) + " name has length " + std::to_string(name.size()) + " (must be 1 to " +
                            std::to_string(kMaxTopicNameBytes) + ")");
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!is_name_char(name[i])) {
      return Status(Code::kInvalidArgument, reason, std::string(what) + " name " + quoted(name) + " has an invalid character at position " +
                              std::to_string(i) + " (allowed: A-Z a-z 0-9 . _ -)");
    }
  }
  if (name == "." || name == "..") return Status(Code::kInvalidArgument, reason, std::string(what) + " name " + quoted(name) + " is reserved");
  return Status();
}

std::string encode_subscription(const SubscriptionConfig& c) {
  flatbuffers::FlatBufferBuilder fbb(256);
  const auto name = fbb.CreateString(c.name);
  const auto topic = fbb.CreateString(c.topic);
  const auto dlq = fbb.CreateString(c.dead_letter_topic);
  const auto pattern = c.pattern.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(c.pattern);
  const auto target_topic =
      c.target_topic.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(c.target_topic);
  const auto name_values = [&](const auto& pairs) {
    std::vector<flatbuffers::Offset<fbs::NameValue>> v;
    for (const auto& [n, value] : pairs) v.push_back(fbs::CreateNameValue(fbb, fbb.CreateString(n), fbb.CreateString(value)));
    return fbb.CreateVector(v);
  };
  const auto opt_string = [&](const std::string& text) {
    return text.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(text);
  };
  const auto http_url = opt_string(c.http.url);
  const auto http_headers = c.http.headers.empty() ? flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbs::NameValue>>>()
                                                   : name_values(c.http.headers);
  const auto input_path = opt_string(c.input_path);
  const auto input_template = opt_string(c.input_template);
  const auto input_paths = c.input_paths.empty() ? flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbs::NameValue>>>()
                                                 : name_values(c.input_paths);
  fbs::SubscriptionRecordBuilder b(fbb);
  b.add_name(name);
  b.add_topic(topic);
  b.add_start_kind(static_cast<uint8_t>(c.start));
  b.add_start_value(c.start_value);
  b.add_ack_deadline_ms(static_cast<uint32_t>(c.ack_deadline.count()));
  b.add_max_attempts(c.max_attempts);
  b.add_backoff_ms(static_cast<uint32_t>(c.backoff.count()));
  b.add_max_backoff_ms(static_cast<uint32_t>(c.max_backoff.count()));
  b.add_max_age_ms(static_cast<uint64_t>(c.max_age.count()));
  b.add_dead_letter_topic(dlq);
  b.add_created_ms(c.created_ms);
  if (!c.pattern.empty()) b.add_pattern(pattern);
  if (!c.target_topic.empty()) b.add_target_topic(target_topic);
  if (!c.http.url.empty()) {
    b.add_http_url(http_url);
    b.add_http_rate_per_second(c.http.rate_per_second);
    b.add_http_concurrency(c.http.concurrency);
    b.add_http_timeout_ms(static_cast<uint32_t>(c.http.timeout.count()));
    if (!c.http.headers.empty()) b.add_http_headers(http_headers);
  }
  if (!c.input_path.empty()) b.add_input_path(input_path);
  if (!c.input_template.empty()) b.add_input_template(input_template);
  if (!c.input_paths.empty()) b.add_input_paths(input_paths);
  fbb.Finish(b.Finish());
  return std::string(builder_bytes(fbb));
}

Result<SubscriptionConfig> decode_subscription(std::string_view key, std::string_view bytes) {
  const std::string what = "subscriptions[" + quoted(key) + "]";
  CAUSEWAY_ASSIGN_OR_RETURN(auto rec, read_verified<fbs::SubscriptionRecord>(bytes, what));
  SubscriptionConfig c;
  if (rec->name() == nullptr || rec->topic() == nullptr) return corruption(what + " has no name or topic");
  c.name = rec->name()->str();
  if (c.name != key) return corruption(what + " holds subscription " + quoted(c.name));
  c.topic = rec->topic()->str();
  if (rec->start_kind() > static_cast<uint8_t>(StartKind::kLamport))
    return corruption(what + " has unknown start kind " + std::to_string(rec->start_kind()));
  c.start = static_cast<StartKind>(rec->start_kind());
  c.start_value = rec->start_value();
  c.ack_deadline = std::chrono::milliseconds(rec->ack_deadline_ms());
  c.max_attempts = rec->max_attempts();
  c.backoff = std::chrono::milliseconds(rec->backoff_ms());
  c.max_backoff = std::chrono::milliseconds(rec->max_backoff_ms());
  c.max_age = std::chrono::milliseconds(static_cast<int64_t>(rec->max_age_ms()));
  if (rec->dead_letter_topic() != nullptr) c.dead_letter_topic = rec->dead_letter_topic()->str();
  c.created_ms = rec->created_ms();
  if (rec->pattern() != nullptr) c.pattern = rec->pattern()->str();
  if (rec->target_topic() != nullptr) c.target_topic = rec->target_topic()->str();
  if (rec->http_url() != nullptr && rec->http_url()->size() > 0) {
    c.http.url = rec->http_url()->str();
    c.http.rate_per_second = rec->http_rate_per_second();
    c.http.concurrency = rec->http_concurrency();
    c.http.timeout = std::chrono::milliseconds(rec->http_timeout_ms());
    if (rec->http_headers() != nullptr) {
      for (const fbs::NameValue* h : *rec->http_headers()) {
        if (h == nullptr || h->name() == nullptr || h->value() == nullptr) return corruption(what + " has an empty HTTP header");
        c.http.headers.emplace_back(h->name()->str(), h->value()->str());
      }
    }
  }
  if (rec->input_path() != nullptr) c.input_path = rec->input_path()->str();
  if (rec->input_template() != nullptr) c.input_template = rec->input_template()->str();
  if (rec->input_paths() != nullptr) {
    for (const fbs::NameValue* p : *rec->input_paths()) {
      if (p == nullptr || p->name() == nullptr || p->value() == nullptr) return corruption(what + " has an empty input path");
      c.input_paths.emplace(p->name()->str(), p->value()->str());
    }
  }
  if (Status s = c.validate(); !s.ok()) return corruption(what + " holds invalid settings: " + std::string(s.message()));
  return c;
}

std::string encode_acks(std::span<const uint64_t> offsets) {
  flatbuffers::FlatBufferBuilder fbb(64 + offsets.size() * 8);
  const auto v = fbb.CreateVector(offsets.data(), offsets.size());
  fbb.Finish(fbs::CreateGroupAcksRecord(fbb, v));
  return std::string(builder_bytes(fbb));
}

// Deletes every key of `dbi` that starts with `prefix`.
Status delete_prefix(Txn& txn, const lmdb::Dbi& dbi, std::string_view prefix) {
  std::vector<std::string> keys;
  {
    CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbi));
    std::string_view key, ignored;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.seek(prefix, key, ignored));
    while (found && key.starts_with(prefix)) {
      keys.emplace_back(key);
      CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, ignored));
    }
  }
  for (const std::string& key : keys) CAUSEWAY_RETURN_IF_ERROR(txn.del(dbi, key).status());
  return Status();
}

}  // namespace

Status SubscriptionConfig::validate() const {
  CAUSEWAY_RETURN_IF_ERROR(validate_name("subscription", name));
  if (name.size() > kMaxGroupNameBytes) return invalid_argument("subscription name is longer than 255 bytes");
  CAUSEWAY_RETURN_IF_ERROR(validate_name("topic", topic));
  if (!dead_letter_topic.empty()) CAUSEWAY_RETURN_IF_ERROR(validate_name("dead-letter topic", dead_letter_topic));
  if (dead_letter_topic == topic) return invalid_argument("the dead-letter topic must differ from the topic");
  if (static_cast<uint8_t>(start) > static_cast<uint8_t>(StartKind::kLamport))
    return invalid_argument("unknown start position kind");
  if (ack_deadline.count() < 10 || ack_deadline.count() > 3'600'000)
    return invalid_argument("ack deadline " + std::to_string(ack_deadline.count()) + "ms out of range (10ms to 1h)");
  if (max_attempts < 1 || max_attempts > 1000)
    return invalid_argument("max attempts " + std::to_string(max_attempts) + " out of range (1 to 1000)");
  if (backoff.count() < 0 || backoff.count() > 3'600'000)
    return invalid_argument("backoff " + std::to_string(backoff.count()) + "ms out of range (0 to 1h)");
  if (max_backoff.count() < backoff.count() || max_backoff.count() > 86'400'000)
    return invalid_argument("max backoff " + std::to_string(max_backoff.count()) + "ms out of range (backoff to 24h)");
  if (max_age.count() < 0) return invalid_argument("max age is negative");
  if (pattern.size() > kMaxSubscriptionPatternBytes)
    return invalid_argument("pattern of " + std::to_string(pattern.size()) + " bytes is longer than the " +
                            std::to_string(kMaxSubscriptionPatternBytes) + " allowed");
  if (!target_topic.empty()) {
    CAUSEWAY_RETURN_IF_ERROR(validate_name("target topic", target_topic));
    if (target_topic == topic) {
      return invalid_argument("target topic \"" + target_topic +
                              "\" is the subscription's own topic: every forwarded event would be forwarded again, in a loop; "
                              "pick another target topic");
    }
    if (target_topic == dead_letter_topic)
      return invalid_argument("the target topic must differ from the dead-letter topic");
  }
  if (!http.url.empty()) {
    if (!target_topic.empty()) return invalid_argument("a subscription has one target: a topic or an HTTP endpoint, not both");
    if (http.concurrency < 1 || http.concurrency > kMaxHttpConcurrency)
      return invalid_argument("HTTP concurrency " + std::to_string(http.concurrency) + " out of range (1 to " +
                              std::to_string(kMaxHttpConcurrency) + ")");
    if (http.timeout.count() < 10 || http.timeout.count() > 600'000)
      return invalid_argument("HTTP timeout " + std::to_string(http.timeout.count()) + "ms out of range (10ms to 10min)");
    if (http.timeout >= ack_deadline) {
      return invalid_argument("HTTP timeout " + std::to_string(http.timeout.count()) + "ms must be shorter than the ack deadline (" +
                              std::to_string(ack_deadline.count()) +
                              "ms): a request still running at the deadline would be sent again; raise --ack-deadline or "
                              "lower --request-timeout");
    }
    size_t bytes = http.url.size();
    for (const auto& [n, v] : http.headers) bytes += n.size() + v.size();
    if (bytes > kMaxHttpTargetBytes)
      return invalid_argument("HTTP target of " + std::to_string(bytes) + " bytes (URL and headers) is over the " +
                              std::to_string(kMaxHttpTargetBytes) + " allowed");
  } else if (!http.headers.empty()) {
    return invalid_argument("HTTP headers are given without an HTTP target");
  }
  if (has_input_transform() && !has_target())
    return invalid_argument("an input transformation needs a topic or HTTP target; subscribers get whole events");
  if (input_path.size() + input_template.size() > kMaxSubscriptionPatternBytes)
    return invalid_argument("input transformation longer than " + std::to_string(kMaxSubscriptionPatternBytes) + " bytes");
  return Status();
}

Result<SubscriptionConfig> MetaStore::create_subscription(SubscriptionConfig config,
                                                          std::span<const PartitionOffset> start) {
  if (config.dead_letter_topic.empty()) config.dead_letter_topic = config.topic + ".dlq";
  if (config.dead_letter_topic.size() > kMaxTopicNameBytes)
    return invalid_argument("topic name too long to derive a dead-letter topic name; pass one explicitly");
  CAUSEWAY_RETURN_IF_ERROR(config.validate());
  SubscriptionConfig result;
  const Status status = env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto existing_value, txn.get(dbs_->subscriptions, config.name));
    if (existing_value) {
      CAUSEWAY_ASSIGN_OR_RETURN(SubscriptionConfig existing, decode_subscription(config.name, *existing_value));
      SubscriptionConfig cmp = config;
      cmp.created_ms = existing.created_ms;
      if (!(cmp == existing)) {
        return already_exists("subscription " + quoted(config.name) + " already exists on topic " +
                              quoted(existing.topic) + " with different settings; delete it first or use its settings");
      }
      result = std::move(existing);
      return Status();
    }
    CAUSEWAY_ASSIGN_OR_RETURN(auto topic_value, txn.get(dbs_->topics, config.topic));
    if (!topic_value) return Status(Code::kNotFound, Reason::kTopicNotFound, "topic " + quoted(config.topic) + " not found");
    CAUSEWAY_ASSIGN_OR_RETURN(TopicConfig topic, decode_topic(config.topic, *topic_value));
    SubscriptionConfig created = config;
    created.created_ms = now_ms();
    CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->subscriptions, created.name, encode_subscription(created)));
    // A name reused after a delete starts from its own start position, not old state.
    CAUSEWAY_RETURN_IF_ERROR(delete_prefix(txn, dbs_->group_offsets, group_prefix(topic.topic_id, created.name)));
    CAUSEWAY_RETURN_IF_ERROR(delete_prefix(txn, dbs_->group_acks, group_prefix(topic.topic_id, created.name)));
    for (const PartitionOffset& po : start) {
      if (po.partition >= topic.partitions) return invalid_argument("start partition out of range");
      CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->group_offsets, group_offset_key(topic.topic_id, created.name, po.partition),
                                       encode_group_offset(po.offset, created.created_ms)));
    }
    result = std::move(created);
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return result;
}

Result<SubscriptionConfig> MetaStore::get_subscription(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicNameBytes) return Status(Code::kNotFound, Reason::kSubscriptionNotFound, "subscription " + quoted(name) + " not found");
  SubscriptionConfig result;
  const Status status = env_->read([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->subscriptions, name));
    if (!value) return Status(Code::kNotFound, Reason::kSubscriptionNotFound, "subscription " + quoted(name) + " not found");
    CAUSEWAY_ASSIGN_OR_RETURN(result, decode_subscription(name, *value));
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return result;
}

Result<SubscriptionConfig> MetaStore::update_subscription_pattern(std::string_view name, std::string pattern) {
  if (name.empty() || name.size() > kMaxTopicNameBytes) return Status(Code::kNotFound, Reason::kSubscriptionNotFound, "subscription " + quoted(name) + " not found");
  SubscriptionConfig result;
  const Status status = env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->subscriptions, name));
    if (!value) return Status(Code::kNotFound, Reason::kSubscriptionNotFound, "subscription " + quoted(name) + " not found");
    CAUSEWAY_ASSIGN_OR_RETURN(SubscriptionConfig config, decode_subscription(name, *value));
    config.pattern = std::move(pattern);
    CAUSEWAY_RETURN_IF_ERROR(config.validate());
    CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->subscriptions, config.name, encode_subscription(config)));
    result = std::move(config);
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return result;
}

Result<std::vector<SubscriptionConfig>> MetaStore::list_subscriptions(std::string_view topic) {
  std::vector<SubscriptionConfig> out;
  const Status status = env_->read([&](Txn& txn) -> Status {
    out.clear();
    CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->subscriptions));
    std::string_view key, value;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(key, value));
    while (found) {
      CAUSEWAY_ASSIGN_OR_RETURN(SubscriptionConfig config, decode_subscription(key, value));
      if (topic.empty() || config.topic == topic) out.push_back(std::move(config));
      CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, value));
    }
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return out;
}

Result<SubscriptionConfig> MetaStore::delete_subscription(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicNameBytes) return Status(Code::kNotFound, Reason::kSubscriptionNotFound, "subscription " + quoted(name) + " not found");
  SubscriptionConfig deleted;
  const Status written = env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->subscriptions, name));
    if (!value) return Status(Code::kNotFound, Reason::kSubscriptionNotFound, "subscription " + quoted(name) + " not found");
    CAUSEWAY_ASSIGN_OR_RETURN(SubscriptionConfig config, decode_subscription(name, *value));
    deleted = config;
    CAUSEWAY_ASSIGN_OR_RETURN(auto topic_value, txn.get(dbs_->topics, config.topic));
    if (topic_value) {
      CAUSEWAY_ASSIGN_OR_RETURN(TopicConfig topic, decode_topic(config.topic, *topic_value));
      CAUSEWAY_RETURN_IF_ERROR(delete_prefix(txn, dbs_->group_offsets, group_prefix(topic.topic_id, name)));
      CAUSEWAY_RETURN_IF_ERROR(delete_prefix(txn, dbs_->group_acks, group_prefix(topic.topic_id, name)));
    }
    return txn.del(dbs_->subscriptions, name).status();
  });
  if (!written.ok()) return written;
  return deleted;
}

Status MetaStore::commit_ack_states(std::span<const GroupAckCommit> commits, std::vector<Status>& results) {
  for (const GroupAckCommit& c : commits) CAUSEWAY_RETURN_IF_ERROR(validate_group(c.group));
  const int64_t committed_ms = now_ms();
  return env_->write([&](Txn& txn) -> Status {
    results.assign(commits.size(), Status());  // the write may run again after a map resize
    for (size_t i = 0; i < commits.size(); ++i) {
      const GroupAckCommit& c = commits[i];
      // The identity check sits inside the write transaction: a delete or re-create
      // commits either before it (and is seen here) or after it (and clears what we wrote).
      CAUSEWAY_ASSIGN_OR_RETURN(auto sub_value, txn.get(dbs_->subscriptions, c.group));
      if (!sub_value) {
        results[i] = failed_precondition("subscription " + quoted(c.group) + " was deleted; its group state is stale");
        continue;
      }
      // A record that does not decode fails this group only: the others still commit.
      Result<SubscriptionConfig> decoded_sub = decode_subscription(c.group, *sub_value);
      if (!decoded_sub) {
        results[i] = decoded_sub.error();
        continue;
      }
      const SubscriptionConfig& sub = *decoded_sub;
      if (sub.created_ms != c.subscription_created_ms) {
        results[i] = failed_precondition("subscription " + quoted(c.group) + " was re-created (created_ms " +
                             std::to_string(sub.created_ms) + ", group loaded from " +
                             std::to_string(c.subscription_created_ms) + "); its group state is stale");
        continue;
      }
      CAUSEWAY_ASSIGN_OR_RETURN(auto topic_value, txn.get(dbs_->topics, sub.topic));
      std::optional<TopicConfig> topic;
      if (topic_value) {
        Result<TopicConfig> decoded_topic = decode_topic(sub.topic, *topic_value);
        if (!decoded_topic) {
          results[i] = decoded_topic.error();
          continue;
        }
        topic = std::move(*decoded_topic);
      }
      if (!topic || topic->topic_id != c.topic_id) {
        results[i] = failed_precondition("topic " + quoted(sub.topic) + " of subscription " + quoted(c.group) +
                             " was deleted or re-created (topic id " + std::to_string(c.topic_id) +
                             " is gone); its group state is stale");
        continue;
      }
      for (const PartitionAckState& st : c.states) {
        if (st.partition >= topic->partitions) continue;
        const std::string key = group_offset_key(c.topic_id, c.group, st.partition);
        CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->group_offsets, key, encode_group_offset(st.committed, committed_ms)));
        if (st.acked_above.empty()) {
          CAUSEWAY_RETURN_IF_ERROR(txn.del(dbs_->group_acks, key).status());
        } else {
          const size_t n = std::min(st.acked_above.size(), kMaxPersistedAcksAbove);
          CAUSEWAY_RETURN_IF_ERROR(
              txn.put(dbs_->group_acks, key, encode_acks(std::span<const uint64_t>(st.acked_above.data(), n))));
        }
      }
    }
    return Status();
  });
}

Result<std::vector<uint64_t>> MetaStore::acked_above(std::string_view group, uint32_t topic_id, uint32_t partition) {
  CAUSEWAY_RETURN_IF_ERROR(validate_group(group));
  std::vector<uint64_t> out;
  const Status status = env_->read([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->group_acks, group_offset_key(topic_id, group, partition)));
    if (!value) return Status();
    CAUSEWAY_ASSIGN_OR_RETURN(
        auto rec, read_verified<fbs::GroupAcksRecord>(*value, "group_acks of " + group_what(topic_id, group, partition)));
    if (rec->offsets() != nullptr) out.assign(rec->offsets()->begin(), rec->offsets()->end());
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return out;
}

// ---------------------------------------------------------------- replays

std::string_view replay_state_name(ReplayState state) {
  switch (state) {
    case ReplayState::kRunning: return "running";
    case ReplayState::kCompleted: return "completed";
    case ReplayState::kCancelled: return "cancelled";
    case ReplayState::kFailed: return "failed";
  }
  return "unknown";
}

uint64_t ReplayRecord::total() const {
  uint64_t n = 0;
  for (const ReplayPartition& p : partitions) n += p.end - p.start;
  return n;
}

uint64_t ReplayRecord::scanned() const {
  uint64_t n = 0;
  for (const ReplayPartition& p : partitions) n += p.next - p.start;
  return n;
}

Status ReplayRecord::validate() const {
  Status s = validate_name("replay", name);
  if (!s.ok()) return invalid_argument(std::string(s.message()));
  CAUSEWAY_RETURN_IF_ERROR(validate_name("subscription", subscription));
  CAUSEWAY_RETURN_IF_ERROR(validate_name("topic", topic));
  if (static_cast<uint8_t>(state) > static_cast<uint8_t>(ReplayState::kFailed)) return invalid_argument("unknown replay state");
  if (from_ms < 0 || to_ms < from_ms) return invalid_argument("replay range ends before it starts");
  if (partitions.size() > kMaxPartitions) return invalid_argument("replay has too many partitions");
  for (const ReplayPartition& p : partitions) {
    if (p.start > p.end || p.next < p.start || p.next > p.end)
      return invalid_argument("replay partition " + std::to_string(p.partition) + " has a cursor outside its range");
  }
  return Status();
}

namespace {

std::string encode_replay(const ReplayRecord& r) {
  flatbuffers::FlatBufferBuilder fbb(256 + r.partitions.size() * 64);
  std::vector<flatbuffers::Offset<fbs::ReplayPartitionRecord>> parts;
  parts.reserve(r.partitions.size());
  for (const ReplayPartition& p : r.partitions) {
    parts.push_back(fbs::CreateReplayPartitionRecord(fbb, p.partition, p.start, p.end, p.next, p.delivered,
                                                     p.dead_lettered, p.filtered));
  }
  const auto partitions = fbb.CreateVector(parts);
  const auto name = fbb.CreateString(r.name);
  const auto subscription = fbb.CreateString(r.subscription);
  const auto topic = fbb.CreateString(r.topic);
  const auto error = fbb.CreateString(r.error);
  fbb.Finish(fbs::CreateReplayRecord(fbb, name, subscription, r.subscription_created_ms, topic, r.topic_id, r.from_ms,
                                     r.to_ms, r.to_lamport, static_cast<uint8_t>(r.state), error, r.created_ms,
                                     r.finished_ms, partitions));
  return std::string(builder_bytes(fbb));
}

Result<ReplayRecord> decode_replay(std::string_view key, std::string_view bytes) {
  const std::string what = "replays[" + quoted(key) + "]";
  CAUSEWAY_ASSIGN_OR_RETURN(auto rec, read_verified<fbs::ReplayRecord>(bytes, what));
  if (rec->name() == nullptr || rec->subscription() == nullptr || rec->topic() == nullptr)
    return corruption(what + " has no name, subscription or topic");
  ReplayRecord r;
  r.name = rec->name()->str();
  if (r.name != key) return corruption(what + " holds replay " + quoted(r.name));
  r.subscription = rec->subscription()->str();
  r.subscription_created_ms = rec->subscription_created_ms();
  r.topic = rec->topic()->str();
  r.topic_id = rec->topic_id();
  r.from_ms = rec->from_ms();
  r.to_ms = rec->to_ms();
  r.to_lamport = rec->to_lamport();
  r.state = static_cast<ReplayState>(rec->state());
  if (rec->error() != nullptr) r.error = rec->error()->str();
  r.created_ms = rec->created_ms();
  r.finished_ms = rec->finished_ms();
  if (rec->partitions() != nullptr) {
    for (const fbs::ReplayPartitionRecord* p : *rec->partitions()) {
      if (p == nullptr) return corruption(what + " has an empty partition entry");
      r.partitions.push_back({p->partition(), p->start(), p->end(), p->next(), p->delivered(), p->dead_lettered(),
                              p->filtered()});
    }
  }
  if (Status s = r.validate(); !s.ok()) return corruption(what + " is invalid: " + std::string(s.message()));
  return r;
}

Status replay_not_found(std::string_view name) {
  return not_found("replay " + quoted(name) + " not found (causeway replay list shows the replays)");
}

}  // namespace

Result<ReplayRecord> MetaStore::create_replay(ReplayRecord record) {
  record.created_ms = now_ms();
  CAUSEWAY_RETURN_IF_ERROR(record.validate());
  const Status status = env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto existing, txn.get(dbs_->replays, record.name));
    if (existing) {
      return already_exists("replay " + quoted(record.name) +
                            " exists (replay names are never reused; causeway replay describe " + record.name + ")");
    }
    // At the limit, the oldest finished replay makes room.
    size_t count = 0;
    std::optional<std::pair<int64_t, std::string>> oldest_finished;
    {
      CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->replays));
      std::string_view key, value;
      CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(key, value));
      while (found) {
        ++count;
        CAUSEWAY_ASSIGN_OR_RETURN(ReplayRecord r, decode_replay(key, value));
        if (r.state != ReplayState::kRunning && (!oldest_finished || r.created_ms < oldest_finished->first))
          oldest_finished = std::make_pair(r.created_ms, r.name);
        CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, value));
      }
    }
    if (count >= kMaxReplayRecords) {
      if (!oldest_finished) {
        return resource_exhausted(std::to_string(count) + " replays are running, the most the broker keeps (" +
                                  std::to_string(kMaxReplayRecords) + "); cancel one first");
      }
      CAUSEWAY_RETURN_IF_ERROR(txn.del(dbs_->replays, oldest_finished->second).status());
    }
    return txn.put(dbs_->replays, record.name, encode_replay(record));
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return record;
}

Status MetaStore::put_replay(const ReplayRecord& record) {
  CAUSEWAY_RETURN_IF_ERROR(record.validate());
  return env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto existing, txn.get(dbs_->replays, record.name));
    if (!existing) return replay_not_found(record.name);
    return txn.put(dbs_->replays, record.name, encode_replay(record));
  });
}

Result<ReplayRecord> MetaStore::get_replay(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicNameBytes) return replay_not_found(name);
  ReplayRecord result;
  const Status status = env_->read([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->replays, name));
    if (!value) return replay_not_found(name);
    CAUSEWAY_ASSIGN_OR_RETURN(result, decode_replay(name, *value));
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return result;
}

Result<std::vector<ReplayRecord>> MetaStore::list_replays(std::string_view subscription) {
  std::vector<ReplayRecord> out;
  const Status status = env_->read([&](Txn& txn) -> Status {
    out.clear();
    CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->replays));
    std::string_view key, value;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(key, value));
    while (found) {
      CAUSEWAY_ASSIGN_OR_RETURN(ReplayRecord r, decode_replay(key, value));
      if (subscription.empty() || r.subscription == subscription) out.push_back(std::move(r));
      CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, value));
    }
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return out;
}

// ---------------------------------------------------------------- tokens and ACLs

namespace {

bool principal_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-' || c == '@';
}

std::string encode_token(const TokenRecord& t) {
  flatbuffers::FlatBufferBuilder fbb(256);
  const auto* sha = reinterpret_cast<const uint8_t*>(t.secret_sha256.data());
  fbb.Finish(fbs::CreateTokenRecord(fbb, fbb.CreateString(t.id), fbb.CreateString(t.principal),
                                    fbb.CreateVector(sha, t.secret_sha256.size()), fbb.CreateString(t.description),
                                    t.created_ms));
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

Result<TokenRecord> decode_token(std::string_view key, std::string_view bytes) {
  const std::string what = "tokens[" + quoted(key) + "]";
  CAUSEWAY_ASSIGN_OR_RETURN(auto rec, read_verified<fbs::TokenRecord>(bytes, what));
  TokenRecord t;
  t.id = rec->id() ? rec->id()->str() : "";
  t.principal = rec->principal() ? rec->principal()->str() : "";
  if (rec->secret_sha256()) t.secret_sha256.assign(rec->secret_sha256()->begin(), rec->secret_sha256()->end());
  t.description = rec->description() ? rec->description()->str() : "";
  t.created_ms = rec->created_ms();
  if (t.id != key) return corruption(what + " holds token " + quoted(t.id));
  if (Status s = t.validate(); !s.ok()) return corruption(what + ": " + std::string(s.message()));
  return t;
}

std::string encode_acl(const AclRecord& a) {
  flatbuffers::FlatBufferBuilder fbb(256);
  fbb.Finish(fbs::CreateAclRecord(fbb, fbb.CreateString(a.principal), static_cast<uint8_t>(a.operation), a.prefix,
                                  fbb.CreateString(a.topic), a.created_ms));
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

Result<AclRecord> decode_acl(std::string_view key, std::string_view bytes) {
  const std::string what = "acls[" + quoted(key) + "]";
  CAUSEWAY_ASSIGN_OR_RETURN(auto rec, read_verified<fbs::AclRecord>(bytes, what));
  AclRecord a;
  a.principal = rec->principal() ? rec->principal()->str() : "";
  a.operation = static_cast<AclOperation>(rec->operation());
  a.prefix = rec->prefix();
  a.topic = rec->topic() ? rec->topic()->str() : "";
  a.created_ms = rec->created_ms();
  if (Status s = a.validate(); !s.ok()) return corruption(what + ": " + std::string(s.message()));
  if (a.key() != key) return corruption(what + " holds another entry");
  return a;
}

Result<size_t> count_entries(Txn& txn, lmdb::Dbi dbi) {
  CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbi));
  size_t n = 0;
  std::string_view key, value;
  CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(key, value));
  while (found) {
    ++n;
    CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, value));
  }
  return n;
}

}  // namespace

Status validate_principal(std::string_view principal) {
  if (principal.empty() || principal.size() > 256)
    return invalid_argument("a principal is 1-256 bytes, not " + std::to_string(principal.size()));
  for (const char c : principal) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return invalid_argument("principal " + quoted(principal) + " holds a control character");
  }
  return Status();
}

Status TokenRecord::validate() const {
  if (id.size() != 20 || id.rfind("cwt_", 0) != 0) return invalid_argument("token id " + quoted(id) + " is not cwt_ and 16 hex digits");
  if (principal.empty() || principal.size() > 128 ||
      !std::all_of(principal.begin(), principal.end(), principal_char)) {
    return invalid_argument("token principal " + quoted(principal) +
                            " must be 1-128 characters of A-Z a-z 0-9 . _ - @");
  }
  if (principal == "anonymous") return invalid_argument("\"anonymous\" is the name of clients without credentials");
  if (secret_sha256.size() != 32) return invalid_argument("token secret digest is not 32 bytes");
  if (description.size() > 256) return invalid_argument("token description is longer than 256 bytes");
  return Status();
}

std::string_view acl_operation_name(AclOperation op) {
  switch (op) {
    case AclOperation::kPublish: return "publish";
    case AclOperation::kSubscribe: return "subscribe";
    case AclOperation::kAdmin: return "admin";
    case AclOperation::kRegistryRead: return "registry-read";
    case AclOperation::kRegistryWrite: return "registry-write";
  }
  return "unknown";
}

std::string AclRecord::key() const {
  std::string k = principal;
  k += '\x1f';
  k += std::to_string(static_cast<int>(operation));
  k += '\x1f';
  k += prefix ? 'p' : 'l';
  k += '\x1f';
  k += topic;
  return k;
}

Status AclRecord::validate() const {
  CAUSEWAY_RETURN_IF_ERROR(validate_principal(principal));
  if (static_cast<int>(operation) < 1 || static_cast<int>(operation) > 5)
    return invalid_argument("ACL operation " + std::to_string(static_cast<int>(operation)) +
                            " is not publish (1), subscribe (2), admin (3), registry-read (4) or registry-write (5)");
  // Subjects may be longer than topic names (the registry takes up to 255 bytes).
  const char* what = is_registry() ? "subject" : "topic";
  const size_t max = is_registry() ? kMaxAclSubjectBytes : kMaxTopicNameBytes;
  if (topic.size() > max) return invalid_argument(std::string("ACL ") + what + " is longer than " + std::to_string(max) + " bytes");
  if (!prefix && topic.empty())
    return invalid_argument(std::string("an ACL names a ") + what + ", or a prefix (which may be empty: every " + what + ")");
  for (const char c : topic) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return invalid_argument(std::string("ACL ") + what + " holds a control character");
  }
  return Status();
}

Status MetaStore::put_token(const TokenRecord& token) {
  CAUSEWAY_RETURN_IF_ERROR(token.validate());
  return env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto existing, txn.get(dbs_->tokens, token.id));
    if (existing) return already_exists("token " + token.id + " exists");
    CAUSEWAY_ASSIGN_OR_RETURN(size_t count, count_entries(txn, dbs_->tokens));
    if (count >= kMaxTokens)
      return resource_exhausted(std::to_string(count) + " tokens exist, the most the broker keeps; revoke unused ones");
    return txn.put(dbs_->tokens, token.id, encode_token(token));
  });
}

Status MetaStore::delete_token(std::string_view id) {
  return env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(bool deleted, txn.del(dbs_->tokens, id));
    if (!deleted) return not_found("token " + quoted(id) + " not found (causeway auth token list shows the tokens)");
    return Status();
  });
}

Result<std::vector<TokenRecord>> MetaStore::list_tokens() {
  std::vector<TokenRecord> out;
  const Status status = env_->read([&](Txn& txn) -> Status {
    out.clear();
    CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->tokens));
    std::string_view key, value;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(key, value));
    while (found) {
      CAUSEWAY_ASSIGN_OR_RETURN(TokenRecord t, decode_token(key, value));
      out.push_back(std::move(t));
      CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, value));
    }
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return out;
}

Result<bool> MetaStore::add_acl(const AclRecord& acl) {
  CAUSEWAY_RETURN_IF_ERROR(acl.validate());
  bool added = false;
  const Status status = env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto existing, txn.get(dbs_->acls, acl.key()));
    if (existing) return Status();
    CAUSEWAY_ASSIGN_OR_RETURN(size_t count, count_entries(txn, dbs_->acls));
    if (count >= kMaxAcls)
      return resource_exhausted(std::to_string(count) + " ACLs exist, the most the broker keeps; use prefixes");
    added = true;
    return txn.put(dbs_->acls, acl.key(), encode_acl(acl));
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return added;
}

Result<bool> MetaStore::remove_acl(const AclRecord& acl) {
  CAUSEWAY_RETURN_IF_ERROR(acl.validate());
  bool removed = false;
  const Status status = env_->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(removed, txn.del(dbs_->acls, acl.key()));
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return removed;
}

Result<std::vector<AclRecord>> MetaStore::list_acls() {
  std::vector<AclRecord> out;
  const Status status = env_->read([&](Txn& txn) -> Status {
    out.clear();
    CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->acls));
    std::string_view key, value;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(key, value));
    while (found) {
      CAUSEWAY_ASSIGN_OR_RETURN(AclRecord a, decode_acl(key, value));
      out.push_back(std::move(a));
      CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, value));
    }
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return out;
}

}  // namespace causeway::meta
