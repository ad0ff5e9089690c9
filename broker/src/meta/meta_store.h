// File: meta/meta_store.h
//
// MetaStore: the broker's durable metadata in one LMDB environment — topics (with the
// counter that assigns topic ids) and consumer groups' committed offsets. Databases, key
// layouts and value encodings are the contract in docs/meta-store.md.
//
// Durability: the environment uses LMDB's default synchronous commits, so every method
// that changes state returns after the change is on disk (fsync). Call them from the
// storage thread, never from a network thread (STYLE.md section 4).
//
// Thread-safety: all methods may be called concurrently from any thread. Writes are
// serialised by LMDB (one write transaction at a time); reads run on consistent snapshots
// and do not block writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "causeway/common/status.h"
#include "meta/topic_config.h"

namespace causeway::lmdb {
class Env;
struct Dbi;
}  // namespace causeway::lmdb

namespace causeway::meta {

inline constexpr size_t kMaxGroupNameBytes = 255;
// A subscription's pattern text (the pattern parser's own bound, rules::kMaxPatternBytes).
inline constexpr size_t kMaxSubscriptionPatternBytes = 64 * 1024;

struct PartitionOffset {
  uint32_t partition = 0;
  uint64_t offset = 0;  // the next offset the group will consume
};

struct GroupOffset {
  uint32_t partition = 0;
  uint64_t offset = 0;
  int64_t committed_ms = 0;  // when it was committed (broker wall clock)

  friend bool operator==(const GroupOffset&, const GroupOffset&) = default;
};

// A durable named subscription (docs/subscriptions.md). The group that consumes it has
// the subscription's name.
enum class StartKind : uint8_t { kEarliest = 0, kLatest = 1, kOffset = 2, kTime = 3, kLamport = 4 };

// An HTTP rule target (docs/targets.md, "HTTP targets"). The meta store bounds the
// sizes only: the subscription coordinator validates the URL and the headers.
struct HttpTargetConfig {
  std::string url;                 // empty: no HTTP target
  uint32_t rate_per_second = 0;    // 0: no limit
  uint32_t concurrency = 8;        // requests at a time, 1 to kMaxHttpConcurrency
  std::chrono::milliseconds timeout{5000};
  // Static request headers, in order. The values often hold credentials: never logged.
  std::vector<std::pair<std::string, std::string>> headers;
  friend bool operator==(const HttpTargetConfig&, const HttpTargetConfig&) = default;
};

inline constexpr uint32_t kMaxHttpConcurrency = 256;
inline constexpr size_t kMaxHttpTargetBytes = 16384;  // URL plus headers

struct SubscriptionConfig {
  std::string name;   // 1-249 bytes of [A-Za-z0-9._-]
  std::string topic;
  StartKind start = StartKind::kLatest;
  uint64_t start_value = 0;  // offset, time (ms since epoch) or Lamport stamp
  std::chrono::milliseconds ack_deadline{30000};
  uint32_t max_attempts = 10;
  std::chrono::milliseconds backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
  std::chrono::milliseconds max_age{0};  // 0: no limit
  std::string dead_letter_topic;         // empty on input: "<topic>.dlq"
  int64_t created_ms = 0;
  // An event pattern (docs/patterns.md), as text; empty: every event. The meta store
  // bounds its size only: the subscription coordinator parses and validates it.
  std::string pattern;
  // The rule target (docs/targets.md): empty, the group's members consume the events; a
  // topic name, the broker forwards each matching event there itself.
  std::string target_topic;
  // Or an HTTP endpoint the broker POSTs each matching event to.
  HttpTargetConfig http;
  // What a target receives (docs/targets.md, "Input transformation"): all empty, the
  // event as patterns see it. Validated by the coordinator (rules::InputTransform).
  std::string input_path;
  std::string input_template;
  std::map<std::string, std::string> input_paths;

  bool has_target() const { return !target_topic.empty() || !http.url.empty(); }
  bool has_input_transform() const { return !input_path.empty() || !input_template.empty() || !input_paths.empty(); }

  // kInvalidArgument naming the bad field.
  Status validate() const;
  friend bool operator==(const SubscriptionConfig&, const SubscriptionConfig&) = default;
};

// Acked offsets above a group's committed offset that are persisted per partition; more
// than this are kept in memory only (they may be redelivered after a restart).
inline constexpr size_t kMaxPersistedAcksAbove = 4096;

struct PartitionAckState {
  uint32_t partition = 0;
  uint64_t committed = 0;              // next offset to consume: everything below is acked
  std::vector<uint64_t> acked_above;   // sorted, all > committed
};

// One group's commit: see MetaStore::commit_ack_states.
struct GroupAckCommit {
  std::string group;               // the subscription's name
  int64_t subscription_created_ms = 0;
  uint32_t topic_id = 0;
  std::vector<PartitionAckState> states;
};

// A bearer token (docs/security.md, "Tokens and ACLs"). Only the SHA-256 of its secret is
// stored; the token itself ("<id>.<secret>") is shown once, when it is created.
struct TokenRecord {
  std::string id;             // "cwt_" + 16 hex digits
  std::string principal;      // 1-128 chars of [A-Za-z0-9._@-]
  std::string secret_sha256;  // 32 bytes
  std::string description;    // at most 256 bytes
  int64_t created_ms = 0;
  Status validate() const;
};

// A principal named in an ACL: 1-256 bytes without control characters.
Status validate_principal(std::string_view principal);

// What an ACL allows on a topic.
// kRegistryRead and kRegistryWrite are about schema registry subjects (the REST API), the
// others about topics.
enum class AclOperation : uint8_t { kPublish = 1, kSubscribe = 2, kAdmin = 3, kRegistryRead = 4, kRegistryWrite = 5 };
// "publish", "subscribe", "admin", "registry-read", "registry-write".
std::string_view acl_operation_name(AclOperation op);
inline constexpr bool is_registry_operation(AclOperation op) {
  return op == AclOperation::kRegistryRead || op == AclOperation::kRegistryWrite;
}

// An allow rule: `principal` may do `operation` on topic `topic`, or with `prefix` on every
// topic whose name starts with `topic` (an empty prefix: every topic). For the registry
// operations `topic` is a subject name (or prefix).
struct AclRecord {
  std::string principal;  // a token's principal, or a certificate subject ("CN=orders,O=Acme")
  AclOperation operation = AclOperation::kPublish;
  bool prefix = false;
  std::string topic;  // or subject
  int64_t created_ms = 0;
  // Unique per entry (created_ms aside): the LMDB key.
  std::string key() const;
  bool matches(std::string_view topic_name) const {
    return prefix ? topic_name.substr(0, topic.size()) == topic : topic_name == topic;
  }
  bool is_registry() const { return is_registry_operation(operation); }
  Status validate() const;
};
inline constexpr size_t kMaxAclSubjectBytes = 255;  // the registry's subject limit
inline constexpr size_t kMaxTokens = 10000;
inline constexpr size_t kMaxAcls = 100000;

// An archive replay (docs/targets.md, "Archive replay"): a past range of a subscription's
// topic re-delivered to its rule target. The range is fixed per partition when the replay
// starts; `next` is its durable cursor ([start, next) is done).
enum class ReplayState : uint8_t { kRunning = 0, kCompleted = 1, kCancelled = 2, kFailed = 3 };
// "running", "completed", "cancelled", "failed".
std::string_view replay_state_name(ReplayState state);

struct ReplayPartition {
  uint32_t partition = 0;
  uint64_t start = 0;
  uint64_t end = 0;  // one past the last offset of the range
  uint64_t next = 0;
  uint64_t delivered = 0;
  uint64_t dead_lettered = 0;
  uint64_t filtered = 0;  // left out by the pattern or the Lamport bound
  friend bool operator==(const ReplayPartition&, const ReplayPartition&) = default;
};

struct ReplayRecord {
  std::string name;  // the rules of a subscription's name
  std::string subscription;
  int64_t subscription_created_ms = 0;
  std::string topic;
  uint32_t topic_id = 0;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  uint64_t to_lamport = 0;  // 0: no bound
  ReplayState state = ReplayState::kRunning;
  std::string error;
  int64_t created_ms = 0;
  int64_t finished_ms = 0;
  std::vector<ReplayPartition> partitions;

  uint64_t total() const;    // events in the range
  uint64_t scanned() const;  // of them, done
  // kInvalidArgument naming the bad field.
  Status validate() const;
  friend bool operator==(const ReplayRecord&, const ReplayRecord&) = default;
};

// Replay records kept; at the limit, creating one deletes the oldest finished one.
inline constexpr size_t kMaxReplayRecords = 1000;

struct MetaStoreOptions {
  // LMDB map: starts at initial_map_bytes and doubles on demand up to max_map_bytes; a
  // write that needs more fails with kResourceExhausted.
  uint64_t initial_map_bytes = 16ull << 20;
  uint64_t max_map_bytes = 4ull << 30;
  unsigned max_readers = 126;
  // Wall clock in ms since the Unix epoch (topic created_ms, offset committed_ms). Empty
  // means std::chrono::system_clock.
  std::function<int64_t()> now_ms;
};

class MetaStore {
 public:
  // On-disk format version this code reads and writes (MetaInfo.format_version).
  static constexpr uint32_t kFormatVersion = 1;

  // Opens the store in `dir`, creating the directory and an empty store if absent.
  // Errors: kCorruption when the files are not a valid LMDB environment or a record fails
  // verification; kFailedPrecondition when the store has a newer format_version or `dir`
  // is already open in this process; kIOError/kResourceExhausted from the OS.
  static Result<std::unique_ptr<MetaStore>> open(const std::string& dir, const MetaStoreOptions& options = {});
  ~MetaStore();
  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  // Creates a topic and returns it with its topic_id and created_ms assigned (the values
  // passed in are ignored). The id comes from a persistent counter and is never reused.
  // If a topic of that name exists with the same settings (describe_differences is
  // empty), returns the existing topic unchanged: creating is idempotent.
  // Errors: kInvalidArgument from TopicConfig::validate; kAlreadyExists naming each
  // differing setting; kResourceExhausted when the id space or the map is exhausted.
  Result<TopicConfig> create_topic(TopicConfig config);

  // kNotFound if there is no such topic.
  Result<TopicConfig> get_topic(std::string_view name);
  Result<TopicConfig> get_topic_by_id(uint32_t topic_id);
  // All topics, sorted by name.
  Result<std::vector<TopicConfig>> list_topics();

  // Deletes the topic and every group's committed offsets for it, in one transaction.
  // kNotFound if there is no such topic. The topic's dedup entries live in the DedupIndex:
  // the caller drops them there (DedupIndex::drop_topic(topic_id)); because ids are never
  // reused, entries left behind by a crash in between are unreachable and can be dropped
  // later.
  Status delete_topic(std::string_view name);

  // Stores, in one transaction, the committed offset of `group` for each listed partition
  // of topic `topic_id` (a later entry for the same partition wins). Offsets may move
  // backwards (a reset). Errors: kInvalidArgument for an empty or longer than 255-byte
  // group or a partition outside the topic; kNotFound if the topic does not exist.
  Status commit_offsets(std::string_view group, uint32_t topic_id, std::span<const PartitionOffset> offsets);
  // The committed offset, or nullopt if the group never committed one for that partition
  // (or the topic does not exist).
  Result<std::optional<uint64_t>> committed_offset(std::string_view group, uint32_t topic_id, uint32_t partition);
  // Every committed offset of the group for the topic, sorted by partition.
  Result<std::vector<GroupOffset>> list_offsets(std::string_view group, uint32_t topic_id);

  // Subscriptions. create_subscription stores `config` (dead_letter_topic defaulted,
  // created_ms set) together with the initial committed offset of each partition, in one
  // transaction; an identical create returns the existing one; a different one with the
  // same name is kAlreadyExists. kNotFound if the topic does not exist.
  Result<SubscriptionConfig> create_subscription(SubscriptionConfig config, std::span<const PartitionOffset> start);
  Result<SubscriptionConfig> get_subscription(std::string_view name);
  // Replaces the subscription's pattern (empty: none); returns the updated subscription.
  // kNotFound if absent.
  Result<SubscriptionConfig> update_subscription_pattern(std::string_view name, std::string pattern);
  // Sorted by name; all when `topic` is empty.
  Result<std::vector<SubscriptionConfig>> list_subscriptions(std::string_view topic);
  // Removes the subscription, its group's committed offsets and persisted acks, and returns
  // what was deleted (its created_ms names the incarnation). kNotFound if absent.
  Result<SubscriptionConfig> delete_subscription(std::string_view name);

  // Archive replays. create_replay stores a new one (created_ms set), deleting the oldest
  // finished one when kMaxReplayRecords are stored (kResourceExhausted if none is
  // finished); kAlreadyExists when the name is taken. put_replay overwrites a stored one
  // (kNotFound if absent). list_replays: sorted by name; all when `subscription` is empty.
  Result<ReplayRecord> create_replay(ReplayRecord record);
  Status put_replay(const ReplayRecord& record);
  Result<ReplayRecord> get_replay(std::string_view name);
  Result<std::vector<ReplayRecord>> list_replays(std::string_view subscription);

  // Bearer tokens: put_token stores a new one (kAlreadyExists if the id is taken,
  // kResourceExhausted beyond kMaxTokens); delete_token removes one (kNotFound if absent).
  Status put_token(const TokenRecord& token);
  Status delete_token(std::string_view id);
  Result<std::vector<TokenRecord>> list_tokens();
  // ACLs: add_acl stores an entry (false when an identical one is there; kResourceExhausted
  // beyond kMaxAcls); remove_acl deletes one (false when there was none).
  Result<bool> add_acl(const AclRecord& acl);
  Result<bool> remove_acl(const AclRecord& acl);
  Result<std::vector<AclRecord>> list_acls();

  // Stores committed offsets and the acked offsets above them (at most
  // kMaxPersistedAcksAbove each) of several groups in one transaction (one sweep's commits).
  // Each commit names the subscription it was loaded from (created_ms) and the topic id it
  // reads; a commit whose subscription was deleted or re-created since, or whose topic was
  // deleted or re-created (another topic_id), writes nothing and gets kFailedPrecondition in
  // `results` (same order as `commits`): the caller's group state is stale and must be
  // dropped, never written into the new subscription. A commit whose subscription or topic
  // record does not decode gets kCorruption in `results` and writes nothing; the others in
  // the transaction still commit. The returned Status is for the
  // transaction itself (kInvalidArgument for a bad group name; LMDB errors).
  Status commit_ack_states(std::span<const GroupAckCommit> commits, std::vector<Status>& results);
  // The persisted acked offsets above the committed offset of one partition (sorted).
  Result<std::vector<uint64_t>> acked_above(std::string_view group, uint32_t topic_id, uint32_t partition);

 private:
  struct Dbs;
  MetaStore(std::unique_ptr<lmdb::Env> env, std::unique_ptr<Dbs> dbs, MetaStoreOptions options);
  int64_t now_ms() const;

  std::unique_ptr<lmdb::Env> env_;
  std::unique_ptr<Dbs> dbs_;
  MetaStoreOptions options_;
};

}  // namespace causeway::meta
