// File: subscribe/coordinator.h
//
// The broker side of subscriptions (docs/subscriptions.md): durable named subscriptions
// (stored in the MetaStore), consumer-group membership and partition assignment, per
// partition delivery state (subscribe/partition_delivery.h), credit-based flow control per
// member, redelivery on nack and ack-deadline expiry, the dead-letter topic, and batched
// commits of each partition's contiguous acked prefix to LMDB.
//
// Threads: all public methods are thread-safe (one mutex guards every group). After stop()
// member requests are refused with kUnavailable and change nothing. Methods that
// read LMDB or the log (join, create/describe) run on storage threads, as the handlers do.
// Delivery work (reading the log, handing DeliveryBatches to sinks) and dead-letter
// publishes run through the `Executor` given at construction (the server's storage pool).
//
// The implementation is split by job: coordinator.cc (subscriptions, group loading,
// description, notifications), membership.cc (join, leave, credit, heartbeats, assignment,
// the shared member lookup), acks.cc (acks, nacks, deadlines, durable acks, the sweeper and
// commits), delivery_pump.cc (plan / read / select / emit), dead_letters.cc, targets.cc
// and http_forwarder.cc (rule targets: subscriptions the broker forwards to another topic
// or an HTTP endpoint itself); the state
// they share is in coordinator_state.h. The groups of a topic share their reads and
// pattern matching through shared_reads.h (docs/subscriptions.md, "Shared reads and
// matching").
//
// One mutex guards every group. Every critical section is memory-only (log reads, LMDB
// commits and dead-letter publishes run outside it); what it costs under many groups is
// measured by bench/micro/coordinator_bench (docs/subscriptions.md, "One mutex"). One sweeper
// thread drives the timers: session timeouts, ack deadlines, retry delays and commits.
// Nothing here blocks a network thread: connection_closed() and on_append() only update
// memory and schedule work.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "causeway/common/status.h"
#include "core/event_store.h"
#include "core/publish_pipeline.h"
#include "meta/meta_store.h"
#include "subscribe/event_filter.h"
#include "subscribe/http_target.h"
#include "subscribe/partition_delivery.h"
#include "subscribe/shared_reads.h"

namespace causeway::rules {
class InputTransform;
}  // namespace causeway::rules

namespace causeway::subscribe {

// What DeliverySink::push did with a batch.
enum class PushResult {
  kQueued,  // queued; the connection has room for more
  kFull,    // queued, but the connection's queue of pushed bytes is now at its cap
  kClosed,  // the connection is gone or closing: the batch was dropped
};

// One event of a DeliveryBatch: a view of the record as the log holds it, and which
// delivery attempt this is (1 = first).
struct DeliveredRecord {
  batch::RecordView record;
  uint32_t attempt = 1;
};

// Events of one partition for one member, as the delivery pump hands them over. Neutral:
// the sink decides how they travel (the server encodes a Delivery frame, see
// server::encode_delivery). Every view is valid only during DeliverySink::push.
struct DeliveryBatch {
  std::string_view subscription;
  std::string_view topic;
  uint32_t partition = 0;
  std::string_view member_id;
  std::vector<DeliveredRecord> events;  // ascending offsets for new events; retries in their order
};

// Where a member's deliveries go: the member's connection. The sink bounds the bytes
// of pushed batches waiting for the connection's writer (docs/subscriptions.md, "Flow
// control and memory"): once they reach its cap, push() answers kFull and has_room()
// false, and when the writer has drained them below its low-water mark the sink's owner
// calls Coordinator::sink_drained(connection_id()) (once per time it reported full), so
// that the parked partitions are pumped again. Thread-safe.
class DeliverySink {
 public:
  virtual ~DeliverySink() = default;
  virtual uint64_t connection_id() const = 0;
  // Takes the batch (encoding or copying what it keeps: the views die when push returns).
  virtual PushResult push(const DeliveryBatch& batch) = 0;
  // False when the queue is at its cap; then a sink_drained() call is owed.
  virtual bool has_room() = 0;
  // True once the connection has closed (or is closing); it never opens again.
  virtual bool is_closed() const = 0;
  // True for the broker's own members (rule targets, targets.cc): they have no session to
  // time out, and only they may join a subscription that has a target.
  virtual bool internal() const { return false; }
};

// Where a delivery's time goes in the coordinator (docs/broker.md, "Where a publish's time
// goes"): kWake from an append that gave a partition's owner something to read to the
// pump starting on a storage thread (per pump run), kRead one round's read of the log or
// of another group's shared read (per round).
enum class DeliveryPhase { kWake, kRead };

struct CoordinatorOptions {
  std::chrono::milliseconds session_timeout{10000};
  std::chrono::milliseconds sweep_interval{100};
  // Credit a member may ask for, and what it gets when it asks for 0.
  uint32_t default_credit_events = 1000;
  uint32_t default_credit_bytes = 8u << 20;
  uint32_t max_credit_events = 100000;
  uint32_t max_credit_bytes = 256u << 20;
  // Delivered-but-not-committed offsets per partition; reading pauses above it.
  uint64_t max_window = 65536;
  uint32_t max_members_per_group = 1024;
  // Per connection: the groups it may be a member of, its memberships (a connection may
  // join one group several times), and the credit all its memberships together may hold.
  // Beyond them a join (or a credit change) is refused with kResourceExhausted.
  uint32_t max_groups_per_connection = 64;
  uint32_t max_members_per_connection = 256;
  uint64_t max_connection_credit_events = 200000;
  uint64_t max_connection_credit_bytes = 512ull << 20;
  // The largest frame a client accepts (the broker's --max-frame-bytes). An event whose
  // Delivery frame would be larger cannot be delivered and goes to the dead-letter topic.
  uint32_t max_frame_bytes = 64u << 20;
  // For tests: runs while a group loads, after it read the logs' ends and before it is
  // visible to on_append (the window in which a wake-up could be missed).
  std::function<void()> on_group_load_for_test;
  // For tests: runs in delete_subscription after the delete committed, before the
  // coordinator lets go of the subscription's target, group and replays.
  std::function<void()> on_subscription_deleted_for_test;
  // For tests: runs in join(create_if_missing) when the subscription was absent, before
  // the join creates it.
  std::function<void()> on_join_create_for_test;
  // Largest Delivery frame built (bytes of records); one bigger record still goes alone.
  uint32_t max_delivery_bytes = 1u << 20;
  uint32_t max_delivery_events = 1000;
  // The registered schemas of FlatBuffers payloads, for patterns that read them (null:
  // such payloads have no "data"). Called from storage threads; may block.
  PayloadSchemas::Lookup payload_schema;
  // Recent reads kept for the other groups of a topic (subscribe/shared_reads.h): the
  // bytes of batches and records held at most (chunks being delivered come on top). It
  // fills up only with groups that lag behind the others or do not read at all.
  uint64_t read_cache_bytes = 64ull << 20;
  // For the metrics: sees each pump run's timing, on a storage thread without the
  // coordinator's mutex held; must be cheap. Null: not measured.
  std::function<void(DeliveryPhase, std::chrono::nanoseconds)> on_delivery_timing;
};

struct JoinResult {
  std::string member_id;
  uint32_t session_timeout_ms = 0;
};

struct MemberDescription {
  std::string member_id;
  std::string client_name;
  std::vector<uint32_t> partitions;
  uint32_t unacked_events = 0;
  uint64_t unacked_bytes = 0;
  uint32_t credit_events = 0;
  uint32_t credit_bytes = 0;
};

struct PartitionDescription {
  uint32_t partition = 0;
  std::string member_id;
  uint64_t committed_offset = 0;
  uint64_t end_offset = 0;
  uint32_t in_flight = 0;
  uint32_t acked_above = 0;
  // New events read since the group was loaded that the pattern matched / filtered out
  // (without a pattern every event matches).
  uint64_t matched = 0;
  uint64_t filtered = 0;
};

// A rule target's counters since the broker started (docs/targets.md).
struct TargetDescription {
  std::string kind;         // "topic" or "http"
  std::string destination;  // the target topic, or the endpoint's URL (its query hidden)
  uint64_t delivered = 0;
  uint64_t retried = 0;
  uint64_t dead_lettered = 0;
  uint32_t in_flight = 0;
  std::string last_error;
  int64_t last_error_ms = 0;
};

struct GroupDescription {
  meta::SubscriptionConfig subscription;
  std::vector<MemberDescription> members;
  std::vector<PartitionDescription> partitions;
};

// Counters for tests and the describe output.
struct CoordinatorStats {
  uint64_t delivered = 0;
  uint64_t redelivered = 0;
  uint64_t acked = 0;
  uint64_t dead_lettered = 0;
  uint64_t dead_letter_failures = 0;  // dead-letter publishes that failed (and were retried)
  uint64_t in_flight = 0;  // across every group, now
  // Reads of new events: served from another group's read, or read from the log.
  uint64_t shared_reads = 0;
  uint64_t log_reads = 0;
};

struct ReadPlan;  // one delivery round's plan (coordinator_state.h)

class Coordinator {
 public:
  using Executor = std::function<void(std::function<void()>)>;

  Coordinator(core::EventStore& store, core::PublishPipeline& publish, Executor executor, CoordinatorOptions options);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Starts the sweeper and the rule targets of the stored subscriptions. stop() stops
  // scheduling work, joins the sweeper and commits what was acked; idempotent.
  void start();
  void stop();

  // Subscriptions. create resolves the start position of every partition now (so "latest"
  // means latest at creation). Errors: kInvalidArgument (also an invalid pattern, naming
  // its bad part, and a target that would forward events in a loop), kNotFound (topic,
  // target topic), kAlreadyExists. A subscription with a target starts forwarding at once.
  Result<meta::SubscriptionConfig> create_subscription(meta::SubscriptionConfig config);
  // Replaces the subscription's pattern (empty: every event). It applies to the events the
  // group reads from now on: those already delivered or waiting for redelivery stay
  // (docs/subscriptions.md, "Filtered subscriptions"). Errors: kInvalidArgument, kNotFound.
  Result<meta::SubscriptionConfig> update_subscription_pattern(std::string_view name, std::string pattern);
  Status delete_subscription(std::string_view name);
  Result<meta::SubscriptionConfig> get_subscription(std::string_view name);
  // The topic of a subscription whose group is loaded (it has or had members since the
  // broker started), from memory; nullopt otherwise (then get_subscription reads it). A
  // deleted subscription's group is dropped, so this never names a previous incarnation's.
  std::optional<std::string> loaded_topic_of(std::string_view subscription);
  // The target's counters of a subscription with a target (nullopt otherwise, or when its
  // group is not loaded).
  std::optional<TargetDescription> describe_target(std::string_view name);
  Result<std::vector<meta::SubscriptionConfig>> list_subscriptions(std::string_view topic);

  // Joins the group of `subscription` (on `topic`; must match the subscription's topic),
  // creating the subscription with `create_settings` when absent and create_if_missing.
  // Errors: kNotFound (subscription or topic), kInvalidArgument (topic mismatch, bad credit,
  // invalid pattern), kFailedPrecondition (the subscription exists with another pattern
  // than a non-empty create_settings.pattern), kResourceExhausted (too many members).
  // `announce`, if given, runs once the member exists and before any delivery to it can be
  // pushed (under the coordinator's lock, so it must only queue): the server answers the
  // join there, so that on the connection the answer naming the member id precedes the
  // member's first Delivery (docs/wire-protocol.md, "Subscribe").
  Result<JoinResult> join(std::shared_ptr<DeliverySink> sink, std::string_view subscription, std::string_view topic,
                          uint32_t credit_events, uint32_t credit_bytes, bool create_if_missing,
                          const meta::SubscriptionConfig& create_settings, std::string client_name,
                          const std::function<void(const JoinResult&)>& announce = {});
  // Member requests. Errors: kNotFound with Reason::kSubscriptionNotFound (subscription not
  // active), kUnavailable with Reason::kUnknownGroupMember for a member id that is unknown,
  // expired or owned by another connection.
  Status heartbeat(uint64_t connection_id, std::string_view subscription, std::string_view member_id);
  // Leaves the group; what was in flight to the member is redelivered at once (to the
  // members that own its partitions now). Each of those deliveries counts as an attempt,
  // unless `release_unprocessed`: then only the offsets in `processing` (per partition; the
  // events the member's application was working on) count, and the rest go back with
  // their attempt count unchanged.
  Status leave(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
               bool release_unprocessed = false, const std::map<uint32_t, std::set<uint64_t>>& processing = {});
  Status set_credit(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
                    uint32_t credit_events, uint32_t credit_bytes);
  // Acks (or nacks) offsets of one partition. Every offset is checked; valid ones are applied
  // and `accepted` counts them. The Status names the first bad offset and how many were bad
  // (kFailedPrecondition with Reason::kNotAssigned for a partition the member does not own).
  Status ack(uint64_t connection_id, std::string_view subscription, std::string_view member_id, uint32_t partition,
             const std::vector<uint64_t>& offsets, uint32_t& accepted);
  // A nack waits `delay` (0: the subscription's backoff for the attempt) before the
  // redelivery; a `permanent` one sends the events to the dead-letter topic at once, with
  // `reason` as the reason (a rule target's endpoint refused them for good).
  Status nack(uint64_t connection_id, std::string_view subscription, std::string_view member_id, uint32_t partition,
              const std::vector<uint64_t>& offsets, std::chrono::milliseconds delay, std::string reason,
              uint32_t& accepted, bool permanent = false);

  // Moves the ack deadline of offsets in flight to the member to now + extend. Errors as ack().
  Status extend_deadline(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
                         uint32_t partition, const std::vector<uint64_t>& offsets, std::chrono::milliseconds extend,
                         uint32_t& accepted);

  // A durable ack's second half (docs/subscriptions.md, "Durable acks"): returns once the
  // group's committed state, with every ack applied to it before this call, is written
  // to LMDB. Runs a commit flush, or joins one that took its snapshot after this call
  // (many durable acks share one LMDB commit, as publishes share one fsync). Blocks on
  // the LMDB write: call it from a storage thread, never a network thread. Errors: as
  // heartbeat() for the member; kFailedPrecondition when the subscription was deleted or
  // re-created meanwhile (the acks are void); the commit's error (e.g. kIoError) when the
  // write failed (the acks stay applied and a later flush retries them); kUnavailable
  // while the broker stops (its final flush commits them unless it crashes first).
  Status commit_durably(uint64_t connection_id, std::string_view subscription, std::string_view member_id);

  Result<GroupDescription> describe_group(std::string_view name);

  // A connection closed: its members leave at once.
  void connection_closed(uint64_t connection_id);
  // Topic `topic` was deleted (call it after the delete committed; the server's delete
  // handler does). The groups loaded from that topic are dropped: their members get
  // NotFound and join again, and the group loads from the topic of that name if it was
  // re-created. Without this a live group went on with the old topic's offsets, and a
  // re-created topic's events below them were never delivered. Reads LMDB: call it from
  // a storage thread.
  void topic_deleted(std::string_view topic);
  // A partition grew (from core::AppendNotifier).
  void on_append(std::string_view topic, uint32_t partition, uint64_t end_offset);
  // The connection's sink, which reported full, has drained below its low-water mark:
  // pumps the partitions of its members again. Takes the mutex: call it from a storage
  // thread, never with the sink's own lock held.
  void sink_drained(uint64_t connection_id);
  // The same for a sink that belongs to one subscription's group only (rule targets): looks
  // at that group, not at every group.
  void sink_drained(uint64_t connection_id, std::string_view subscription);

  // Archive replays (replays.cc; docs/targets.md, "Archive replay"): re-deliver a past
  // range of a subscription's topic to its rule target, in offset order per partition,
  // marked with the replay's name, without touching the subscription's own position.
  // start_replay fixes the range per partition now (events stored at or after from_ms and
  // before to_ms, 0: now, and with Lamport stamps up to to_lamport, 0: any) and returns at
  // once; the replay runs on threads of its own, keeps a durable cursor per partition, and
  // resumes after a restart. Errors: kInvalidArgument (name, range, a subscription without
  // a target), kNotFound (subscription), kAlreadyExists (name), kResourceExhausted (too
  // many running). cancel_replay stops a running one (kFailedPrecondition if it is over).
  struct ReplayRequest {
    std::string name;
    std::string subscription;
    int64_t from_ms = 0;
    int64_t to_ms = 0;
    uint64_t to_lamport = 0;
  };
  Result<meta::ReplayRecord> start_replay(ReplayRequest request);
  Result<std::vector<meta::ReplayRecord>> list_replays(std::string_view subscription);
  Result<meta::ReplayRecord> describe_replay(std::string_view name);
  Result<meta::ReplayRecord> cancel_replay(std::string_view name);

  CoordinatorStats stats() const;

  // Writes the committed offsets and acks that changed, of every group, in one LMDB
  // transaction. The sweeper calls it every sweep and stop() once more; tests call it directly.
  void flush_commits();
  // Compiles the patterns of the filtered groups of each topic where they changed into one
  // matcher that the topic's groups share (docs/subscriptions.md, "Shared reads and
  // matching"); until then those groups match on their own. The sweeper calls it every
  // sweep; tests call it directly.
  void compile_topic_patterns();

 private:
  struct Member;
  struct PartitionState;
  struct Group;
  struct Selection;
  // A member request's target, found under the mutex (member_locked).
  struct MemberRef {
    std::shared_ptr<Group> group;
    Member* member = nullptr;
  };

  Result<std::shared_ptr<Group>> load_group(std::string_view name);
  void insert_group_locked(const std::shared_ptr<Group>& g);
  void erase_group_locked(const std::shared_ptr<Group>& g);
  // A filtered group of `topic` came, went or changed its pattern (Group::patterns).
  void patterns_changed_locked(std::string_view topic);
  Status check_connection_limits_locked(uint64_t connection_id, const Group& joining, uint64_t credit_events,
                                        uint64_t credit_bytes, const Member* replacing) const;
  Status validate_dead_letter_topic(const meta::SubscriptionConfig& config);
  Result<Member*> find_member_locked(Group& g, uint64_t connection_id, std::string_view member_id);
  // The opening every member request shares: refuses while stopping, finds the active
  // group of `subscription` and the member, which only its own connection may speak for.
  Result<MemberRef> member_locked(uint64_t connection_id, std::string_view subscription, std::string_view member_id);
  void remove_member_locked(Group& g, uint64_t member, const std::function<bool(uint32_t, uint64_t)>& was_processed = {});
  void flush_commits_locked();  // flush_mu_ held
  void rebalance_locked(Group& g);
  void schedule_pump_locked(const std::shared_ptr<Group>& g, uint32_t partition);
  void schedule_member_pumps_locked(const std::shared_ptr<Group>& g, const Member& m);
  // The delivery pump (delivery_pump.cc): plan a read under the mutex, read outside it,
  // select what to deliver (and what to dead-letter) under it, emit a batch outside it.
  void pump(std::shared_ptr<Group> g, uint32_t partition);
  std::optional<ReadPlan> plan_read_locked(Group& g, PartitionState& ps) const;
  bool skip_lost_events_locked(Group& g, PartitionState& ps, uint32_t partition, const storage::PartitionLog& log,
                               const ReadPlan& plan, const Status& read_error);
  Selection select_locked(const std::shared_ptr<Group>& g, PartitionState& ps, uint32_t partition, Member& m,
                          const ReadPlan& plan, std::span<const batch::RecordView> records,
                          const std::vector<uint8_t>& matched);
  bool emit_locked(const std::shared_ptr<Group>& g, uint32_t partition, Member& m, std::vector<DeliveredRecord> events,
                   std::unique_lock<std::mutex>& lk);
  // Dead letters (dead_letters.cc): publish the event to the dead-letter topic (storage
  // pool, no mutex), then record the outcome.
  void dead_letter(std::shared_ptr<Group> g, uint32_t partition, uint64_t offset, uint32_t attempts, std::string reason);
  Status publish_dead_letter(const Group& g, uint32_t partition, uint64_t offset, uint32_t attempts,
                             const std::string& reason);
  void dead_letter_done_locked(const std::shared_ptr<Group>& g, uint32_t partition, uint64_t offset,
                               const std::string& reason, const Status& outcome);
  // The sweeper's timers (acks.cc): work due at a time, so that a sweep costs what is
  // due, not what exists. `partition` kSessionTimer: the group's member sessions.
  static constexpr uint32_t kSessionTimer = UINT32_MAX;
  // How long after a failed read (other than retention's kOutOfRange) its pump tries again.
  static constexpr std::chrono::seconds kReadRetryDelay{1};
  struct Timer {
    Clock::time_point at;
    std::weak_ptr<Group> group;
    uint32_t partition = 0;
    bool operator>(const Timer& o) const { return at > o.at; }
  };
  void schedule_timer_locked(const std::shared_ptr<Group>& g, uint32_t partition, Clock::time_point at);
  void partition_due_locked(const std::shared_ptr<Group>& g, uint32_t partition, Clock::time_point now);
  void sessions_due_locked(const std::shared_ptr<Group>& g, Clock::time_point now);
  void start_sweeper_locked();
  void sweep();
  Clock::duration redelivery_delay(const Group& g, uint32_t attempt) const;
  // Rule targets (targets.cc, http_forwarder.cc): subscriptions the broker consumes
  // itself, through an internal member whose sink publishes each batch to the target
  // topic (TopicForwarder) or POSTs each event to an HTTP endpoint (HttpForwarder), and
  // acks (or nacks) the events once that is done.
  class TargetSink;
  class TopicForwarder;
  class HttpForwarder;
  struct ForwardOutcome;
  // Forward publishes complete on the logs' sync threads, and HTTP workers run on threads
  // of their own, possibly while the broker stops: they reach the coordinator through
  // this gate, which stop() closes once none is left (waiting a bounded time), so that no
  // completion outlives it.
  struct ForwardGate {
    std::mutex mu;
    std::condition_variable idle;
    Coordinator* co = nullptr;  // null once closed
    uint64_t outstanding = 0;   // forward publishes not recorded yet, and HTTP workers alive
    uint64_t recording = 0;     // of those, outcomes being recorded now (forward_done)
  };
  // Runs `record` with the coordinator if the gate is still open (without the gate's
  // lock held); returns false once it is closed.
  static bool through_gate(const std::shared_ptr<ForwardGate>& gate, const std::function<void(Coordinator&)>& record);
  void close_forward_gate();
  // stop(): closes every HTTP target (their workers then end within a request timeout).
  void close_http_targets();
  Status check_target(const meta::SubscriptionConfig& config);
  // Joins an internal member for subscription `name` unless one of its incarnation is
  // there; retried by the sweeper (ensure_targets) while it fails. One at a time per name.
  void ensure_target(const std::string& name);
  void start_target(const std::string& name);  // one attempt of ensure_target
  // Whether `forwarder` is of incarnation `created_ms`, open, and a member of its group.
  bool target_is_running_locked(std::string_view name, const std::shared_ptr<TargetSink>& forwarder,
                                int64_t created_ms) const;
  // Closes `forwarder` and removes its member from the group of `name`.
  void retire_target_locked(std::string_view name, const std::shared_ptr<TargetSink>& forwarder);
  void ensure_targets();
  void target_failed(const std::string& name, const std::string& why);
  void stop_target_locked(std::string_view name);
  // The same, only if the target is of incarnation `created_ms` of the subscription.
  void stop_target_locked(std::string_view name, int64_t created_ms);
  void forward_done(const std::shared_ptr<TargetSink>& target, ForwardOutcome outcome);
  // http_forwarder.cc: makes an HTTP target's sink (its workers start with
  // TargetSink::start, once it has joined).
  std::shared_ptr<TargetSink> make_http_forwarder(uint64_t connection_id, const meta::SubscriptionConfig& config,
                                                  std::shared_ptr<const rules::InputTransform> transform,
                                                  HttpEndpoint endpoint, uint32_t source_topic_id);
  // Builds the copies a topic target publishes for `records`, events of partition
  // `partition` of `topic` (targets.cc): each keeps what the event was, adds where it came
  // from (and `replay`'s name, when not empty), and has the dedup key `dedup_prefix` +
  // offset. The copies' views point into `texts` and `headers`, which must outlive them.
  void build_forward_copies(const meta::SubscriptionConfig& config, const rules::InputTransform* transform,
                            std::string_view topic, uint32_t partition, std::string_view dedup_prefix,
                            std::string_view replay, std::span<const batch::RecordView> records,
                            std::deque<std::string>& texts, std::vector<std::vector<batch::Header>>& headers,
                            std::vector<core::PublishEvent>& events);
  // The pacer of a subscription's HTTP target, shared by its forwarder and its replays so
  // that --rate bounds everything the broker sends there (http_forwarder.cc).
  std::shared_ptr<RequestPacer> http_pacer(const meta::SubscriptionConfig& config);
  // Publishes the event at `offset` of `topic`/`partition` to the subscription's dead-letter
  // topic (dead_letters.cc); `replay` names the replay that gave up on it (empty: none).
  Status publish_dead_letter(const meta::SubscriptionConfig& config, const std::string& topic, uint32_t partition,
                             uint64_t offset, uint32_t attempts, const std::string& reason, std::string_view replay);
  // Replays (replays.cc). start() resumes the running ones; stop() stops them (they stay
  // running in the meta store, to resume at the next start).
  class ReplayRun;
  void resume_replays();
  void stop_replays();
  Status launch_replay_locked(const meta::ReplayRecord& record);  // replay_mu_ held
  void replay_ended(const std::string& name);  // a run's last worker, once it wrote the end
  // Fails the running replays of incarnation `created_ms` of `subscription`.
  void fail_replays_of(std::string_view subscription, int64_t created_ms, const std::string& why);
  // What a target sends for an event (docs/targets.md): the event as patterns see it, or
  // what the subscription's input transformation makes of it.
  std::string target_input(const meta::SubscriptionConfig& config, const rules::InputTransform* transform,
                           std::string_view topic, const batch::RecordView& record);

  core::EventStore& store_;
  core::PublishPipeline& publish_;
  const Executor executor_;
  const CoordinatorOptions options_;
  const std::string instance_;  // distinguishes member ids across broker restarts
  PayloadSchemas payload_schemas_;
  ReadCache read_cache_;

  mutable std::mutex mu_;  // guards everything below
  std::map<std::string, std::shared_ptr<Group>, std::less<>> groups_;
  // The same groups by topic name, so that on_append looks at its topic's groups only.
  std::map<std::string, std::vector<std::shared_ptr<Group>>, std::less<>> groups_by_topic_;
  // Topics whose filtered groups changed since their patterns were compiled together, with
  // a count of changes (a compile that raced a change is not installed).
  std::map<std::string, uint64_t, std::less<>> pattern_changes_;
  // Groups with a partition changed since the last flush took them (Group::dirty_listed):
  // a flush writes these, not every group.
  std::vector<std::weak_ptr<Group>> dirty_groups_;
  // Earliest first; an entry whose time is not its target's timer_at any more is stale.
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  uint64_t next_member_ = 1;
  // Bumped by every change that makes what a group load read stale before the group is
  // visible (a topic deleted, a pattern updated): a load that sees it move reads again.
  uint64_t load_invalidations_ = 0;
  // Subscriptions with a target, and the forwarder of each that has joined (targets.cc).
  std::map<std::string, std::shared_ptr<TargetSink>, std::less<>> targets_;
  struct TargetRetry {
    Clock::time_point next;    // the sweeper's next attempt
    Clock::time_point logged;  // the latest warning
  };
  std::map<std::string, TargetRetry, std::less<>> target_retries_;  // targets that could not start
  // Subscriptions whose ensure_target runs now, and whether another call asked meanwhile.
  std::map<std::string, bool, std::less<>> targets_starting_;
  uint64_t next_internal_connection_ = 0;
  // Checking a new target for loops and creating it is one step (targets.cc).
  std::mutex target_create_mu_;
  // Pattern updates one at a time, from their LMDB commit to the group in memory, so that
  // the group ends with the pattern committed last. Taken before mu_.
  std::mutex pattern_update_mu_;
  const std::shared_ptr<ForwardGate> forward_gate_ = std::make_shared<ForwardGate>();
  std::mutex pacers_mu_;  // guards pacers_
  // By subscription name; an entry for another incarnation or rate is replaced.
  std::map<std::string, std::shared_ptr<RequestPacer>, std::less<>> pacers_;
  std::mutex replay_mu_;  // guards replays_ and replays_stopped_; taken before a run's own
  std::map<std::string, std::shared_ptr<ReplayRun>, std::less<>> replays_;  // running ones
  bool replays_stopped_ = false;
  CoordinatorStats stats_;
  bool stopping_ = false;
  std::condition_variable sweep_cv_;
  std::thread sweeper_;
  // Snapshots taken by flush_commits (guarded by mu_): an ack applied while flush_gen_ was
  // G is in every snapshot from G + 1 on, which is what commit_durably waits for.
  uint64_t flush_gen_ = 0;
  std::mutex flush_mu_;  // one flush at a time (LMDB writes are serialised anyway)
};

}  // namespace causeway::subscribe
