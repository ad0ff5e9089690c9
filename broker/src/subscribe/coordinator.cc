// Coordinator: groups, assignment, delivery, redelivery, dead letters and commits. See
// coordinator.h and docs/subscriptions.md.
#include "subscribe/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>

#include "causeway/common/coding.h"
#include "causeway/schemas/protocol_generated.h"

namespace causeway::subscribe {

namespace {
constexpr size_t kMaxDeadLettersInProgress = 16;  // per partition
// A failed dead-letter publish is retried after 1 s, doubling per consecutive failure of
// the partition up to this; the error is logged at most once per kDeadLetterLogInterval.
constexpr auto kDeadLetterFirstRetry = std::chrono::seconds(1);
constexpr auto kDeadLetterMaxRetry = std::chrono::seconds(60);
constexpr auto kDeadLetterLogInterval = std::chrono::seconds(30);
}  // namespace

struct Coordinator::Member {
  uint64_t id = 0;
  std::string member_id;  // wire form
  std::string client_name;
  uint64_t connection_id = 0;
  std::shared_ptr<DeliverySink> sink;
  CreditWindow credit;
  Clock::time_point last_seen;
  std::vector<uint32_t> partitions;
};

struct Coordinator::PartitionState {
  PartitionDelivery delivery;
  uint64_t owner = 0;        // member id, 0 = none
  uint64_t epoch = 0;        // bumped whenever the owner changes
  uint64_t end_offset = 0;   // appended and durable (from on_append, or the log at load)
  bool pump_scheduled = false;
  bool pumping = false;
  bool repump = false;
  // Consecutive failed dead-letter publishes (0 after a success), for the retry backoff,
  // and the throttled error log.
  uint32_t dead_letter_failures = 0;
  Clock::time_point dead_letter_logged_at;
  uint64_t dead_letter_failures_unlogged = 0;
};

struct Coordinator::Group {
  meta::SubscriptionConfig config;
  meta::TopicConfig topic;
  std::vector<PartitionState> partitions;
  std::map<uint64_t, Member> members;  // by id: join order
  bool deleted = false;
  // The latest flush snapshot (flush_gen_) after which everything applied to this group
  // was on disk, and the error of the latest flush that failed to write it
  // (commit_durably reads both).
  uint64_t durable_gen = 0;
  Status commit_error;
};

namespace {

std::string random_instance() {
  std::random_device rd;
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", rd());
  return buf;
}

std::vector<uint8_t> finish(flatbuffers::FlatBufferBuilder& b, protocol::Body type, flatbuffers::Offset<void> body) {
  auto msg = protocol::CreateMessage(b, 0, type, body);
  protocol::FinishMessageBuffer(b, msg);
  std::vector<uint8_t> frame(4 + b.GetSize());
  coding::encode_fixed32(reinterpret_cast<char*>(frame.data()), static_cast<uint32_t>(b.GetSize()));
  std::memcpy(frame.data() + 4, b.GetBufferPointer(), b.GetSize());
  return frame;
}

uint64_t record_bytes(const batch::RecordView& r) {
  uint64_t n = r.key.size() + r.dedup_key.size() + r.source.size() + r.type.size() + r.payload.size() + 48;
  for (const auto& h : r.headers) n += h.name.size() + h.value.size() + 8;
  return n;
}

// An upper bound on the bytes one record adds to a Delivery frame (record_bytes plus the
// FlatBuffers tables, vtables, length prefixes and padding around each field and header).
uint64_t delivered_event_bytes(const batch::RecordView& r) { return record_bytes(r) + 128 + 32 * r.headers.size(); }

struct Planned {
  batch::RecordView record;
  uint32_t attempt = 1;
};

// A record copied out of its batch, so that the batch can be dropped at once: a
// redelivery keeps only the events it sends, never the (possibly megabytes of) batches
// around them. `view` points into `bytes`, whose heap block does not move with the object.
struct OwnedRecord {
  std::unique_ptr<char[]> bytes;
  batch::RecordView view;

  static OwnedRecord copy_of(const batch::RecordView& r) {
    size_t n = r.key.size() + r.dedup_key.size() + r.source.size() + r.type.size() + r.payload.size();
    for (const auto& h : r.headers) n += h.name.size() + h.value.size();
    OwnedRecord o;
    o.bytes = std::make_unique_for_overwrite<char[]>(std::max<size_t>(n, 1));
    char* p = o.bytes.get();
    const auto put = [&p](std::string_view s) {
      if (!s.empty()) std::memcpy(p, s.data(), s.size());
      const std::string_view kept(p, s.size());
      p += s.size();
      return kept;
    };
    o.view.offset = r.offset;
    o.view.lamport = r.lamport;
    o.view.time_ms = r.time_ms;
    o.view.schema_id = r.schema_id;
    o.view.key = put(r.key);
    o.view.dedup_key = put(r.dedup_key);
    o.view.source = put(r.source);
    o.view.type = put(r.type);
    o.view.headers.reserve(r.headers.size());
    for (const auto& h : r.headers) o.view.headers.push_back(batch::Header{put(h.name), put(h.value)});
    o.view.payload = put(r.payload);
    return o;
  }
};

// Reads the events at `offsets` (ascending, waiting for redelivery) into `out`, reading
// each batch that holds any of them once, and stopping once about `max_bytes` of events
// are copied (at least one). An offset the log does not hold (a gap) is left out.
Status read_retries(const storage::PartitionLog& log, const std::vector<uint64_t>& offsets, uint64_t max_bytes,
                    std::vector<OwnedRecord>& out) {
  uint64_t copied = 0;
  size_t next = 0;
  while (next < offsets.size() && (out.empty() || copied < max_bytes)) {
    auto read = log.read(offsets[next], 1, 1);  // the batch holding offsets[next]
    if (!read) return read.error();
    if (read->batches.empty()) return Status();  // at or past the end: nothing to redeliver
    const uint64_t batch_end = read->batches.back().header.next_offset();
    CAUSEWAY_RETURN_IF_ERROR(
        storage::for_each_record_from(*read, offsets[next], [&](const batch::RecordView& rec) {
          while (next < offsets.size() && offsets[next] < rec.offset) ++next;  // not in the log
          if (next == offsets.size()) return false;
          if (rec.offset != offsets[next]) return true;
          out.push_back(OwnedRecord::copy_of(rec));
          copied += record_bytes(rec);
          ++next;
          return copied < max_bytes;
        }));
    // Whatever this batch did not hold (or the byte bound left) is not read again now.
    if (copied >= max_bytes) break;
    while (next < offsets.size() && offsets[next] < batch_end) ++next;
  }
  return Status();
}

}  // namespace

Coordinator::Coordinator(core::EventStore& store, core::PublishPipeline& publish, Executor executor,
                         CoordinatorOptions options)
    : store_(store), publish_(publish), executor_(std::move(executor)), options_(options), instance_(random_instance()) {}

Coordinator::~Coordinator() { stop(); }

void Coordinator::start() {
  std::lock_guard lk(mu_);
  if (sweeper_.joinable() || stopping_) return;
  sweeper_ = std::thread([this] {
    std::unique_lock sweeper_lock(mu_);
    while (!stopping_) {
      sweep_cv_.wait_for(sweeper_lock, options_.sweep_interval);
      if (stopping_) break;
      sweeper_lock.unlock();
      sweep();
      flush_commits();
      sweeper_lock.lock();
    }
  });
}

void Coordinator::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  sweep_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  flush_commits();
}

CoordinatorStats Coordinator::stats() const {
  std::lock_guard lk(mu_);
  CoordinatorStats s = stats_;
  s.in_flight = 0;
  for (const auto& [name, g] : groups_)
    for (const auto& p : g->partitions) s.in_flight += p.delivery.in_flight().size();
  return s;
}

Clock::duration Coordinator::redelivery_delay(const Group& g, uint32_t attempt) const {
  return retry_delay(g.config.backoff, g.config.max_backoff, attempt);
}

// ---------------------------------------------------------------- subscriptions

Result<meta::SubscriptionConfig> Coordinator::create_subscription(meta::SubscriptionConfig config) {
  // The meta store decides between an identical re-create (returns the existing one) and a
  // different one (kAlreadyExists).
  CAUSEWAY_ASSIGN_OR_RETURN(const meta::TopicConfig topic, store_.get_topic(config.topic));
  std::vector<meta::PartitionOffset> start;
  for (uint32_t p = 0; p < topic.partitions; ++p) {
    auto log = store_.partition(topic.name, p);
    if (!log) return unavailable("topic \"" + topic.name + "\" is not open yet; retry");
    uint64_t offset = 0;
    switch (config.start) {
      case meta::StartKind::kEarliest: offset = log->log_start_offset(); break;
      case meta::StartKind::kLatest: offset = log->high_watermark(); break;
      case meta::StartKind::kOffset:
        // As Kafka's auto.offset.reset would: below the log start resumes at the log start
        // (earliest), past the end at the end (latest).
        offset = std::clamp(config.start_value, log->log_start_offset(), log->high_watermark());
        break;
      case meta::StartKind::kTime: {
        CAUSEWAY_ASSIGN_OR_RETURN(offset, log->offset_for_time(static_cast<int64_t>(config.start_value)));
        break;
      }
      case meta::StartKind::kLamport: {
        CAUSEWAY_ASSIGN_OR_RETURN(offset, log->offset_for_lamport(config.start_value));
        break;
      }
    }
    start.push_back(meta::PartitionOffset{p, offset});
  }
  // An existing subscription is returned (or refused) as it is; a new one must have a
  // dead-letter topic it can publish to.
  auto existing = store_.meta().get_subscription(config.name);
  if (!existing && existing.error().code() == Code::kNotFound) {
    CAUSEWAY_RETURN_IF_ERROR(validate_dead_letter_topic(config));
  }
  return store_.meta().create_subscription(std::move(config), start);
}

Status Coordinator::validate_dead_letter_topic(const meta::SubscriptionConfig& config) {
  const bool is_default = config.dead_letter_topic.empty();
  const std::string dlq = is_default ? config.topic + ".dlq" : config.dead_letter_topic;
  if (dlq == config.topic) {
    return invalid_argument("dead-letter topic \"" + dlq + "\" is the subscription's own topic; pass another --dead-letter");
  }
  auto topic = store_.get_topic(dlq);
  if (topic) return Status();
  if (topic.error().code() != Code::kNotFound) return topic.error();
  if (!is_default) {
    return not_found("dead-letter topic \"" + dlq + "\" of subscription \"" + config.name +
                     "\" does not exist; create it (causeway topic create " + dlq +
                     ") or pass an existing topic with --dead-letter");
  }
  // The default "<topic>.dlq" is created now, so that dead letters do not depend on
  // creating a topic later.
  meta::TopicConfig dlq_config;
  dlq_config.name = dlq;
  dlq_config.partitions = 1;
  auto created = store_.create_topic(dlq_config);
  if (!created && created.error().code() != Code::kAlreadyExists) {
    return Status(created.error().code(), "cannot create the dead-letter topic \"" + dlq + "\" of subscription \"" +
                                              config.name + "\": " + std::string(created.error().message()) +
                                              "; create a topic and pass it with --dead-letter");
  }
  return Status();
}

Status Coordinator::delete_subscription(std::string_view name) {
  CAUSEWAY_RETURN_IF_ERROR(store_.meta().delete_subscription(name));
  std::lock_guard lk(mu_);
  auto it = groups_.find(name);
  if (it != groups_.end()) erase_group_locked(it->second);
  return Status();
}

void Coordinator::insert_group_locked(const std::shared_ptr<Group>& g) {
  groups_.emplace(g->config.name, g);
  groups_by_topic_[g->topic.name].push_back(g);
}

// The group stops: no more pumps, its members get "no active group" and join again.
void Coordinator::erase_group_locked(const std::shared_ptr<Group>& group) {
  const std::shared_ptr<Group> g = group;  // `group` may be the map's own copy, erased below
  g->deleted = true;
  if (auto it = groups_.find(g->config.name); it != groups_.end() && it->second == g) groups_.erase(it);
  if (auto it = groups_by_topic_.find(g->topic.name); it != groups_by_topic_.end()) {
    std::erase(it->second, g);
    if (it->second.empty()) groups_by_topic_.erase(it);
  }
}

Result<meta::SubscriptionConfig> Coordinator::get_subscription(std::string_view name) {
  return store_.meta().get_subscription(name);
}

Result<std::vector<meta::SubscriptionConfig>> Coordinator::list_subscriptions(std::string_view topic) {
  return store_.meta().list_subscriptions(topic);
}

// ---------------------------------------------------------------- groups

Result<std::shared_ptr<Coordinator::Group>> Coordinator::load_group(std::string_view name) {
  // LMDB and log reads outside the mutex; a concurrent loader may win, then its group is used.
  CAUSEWAY_ASSIGN_OR_RETURN(meta::SubscriptionConfig config, store_.meta().get_subscription(name));
  auto topic = store_.get_topic(config.topic);
  if (!topic) {
    return not_found("topic \"" + config.topic + "\" of subscription \"" + config.name +
                     "\" does not exist (it was deleted); delete the subscription or create the topic");
  }
  {
    std::lock_guard lk(mu_);
    auto it = groups_.find(name);
    if (it != groups_.end()) {
      const Group& cached = *it->second;
      if (cached.config.created_ms == config.created_ms && cached.topic.topic_id == topic->topic_id) return it->second;
      // The subscription or its topic was deleted and re-created since this group was
      // loaded: its state belongs to the old one. Drop it and load the new one.
      spdlog::info("group {}: subscription or topic {} was re-created; reloading the group", config.name, config.topic);
      erase_group_locked(it->second);
    }
  }
  auto g = std::make_shared<Group>();
  g->config = config;
  g->topic = *topic;
  g->partitions.resize(topic->partitions);
  for (uint32_t p = 0; p < topic->partitions; ++p) {
    auto log = store_.partition(topic->name, p);
    if (!log) return unavailable("topic \"" + topic->name + "\" is not open yet; retry");
    CAUSEWAY_ASSIGN_OR_RETURN(auto committed, store_.meta().committed_offset(name, topic->topic_id, p));
    CAUSEWAY_ASSIGN_OR_RETURN(auto above, store_.meta().acked_above(name, topic->topic_id, p));
    const uint64_t end = log->high_watermark();
    uint64_t position = committed.value_or(log->log_start_offset());
    if (position > end) {
      // An `os` topic lost its unsynced tail in a power loss after the group had acked into
      // it: offsets from `end` on will be reused by new events, which must not be skipped.
      spdlog::warn("group {}: committed offset {} of {}/{} is past the log's end {} (the log lost its tail); "
                   "resuming at {}",
                   name, position, topic->name, p, end, end);
      position = end;
    }
    std::erase_if(above, [end](uint64_t o) { return o >= end; });
    g->partitions[p].delivery.reset(position, above, log->log_start_offset());
    g->partitions[p].end_offset = end;
  }
  if (options_.on_group_load_for_test) options_.on_group_load_for_test();
  std::lock_guard lk(mu_);
  if (auto it = groups_.find(name); it != groups_.end()) return it->second;
  insert_group_locked(g);
  // Appends that completed between the reads above and this insert were not seen by
  // on_append (the group was not in groups_ yet): catch up with the logs now.
  for (uint32_t p = 0; p < g->partitions.size(); ++p) {
    if (auto log = store_.partition(g->topic.name, p))
      g->partitions[p].end_offset = std::max(g->partitions[p].end_offset, log->high_watermark());
  }
  return g;
}

Result<JoinResult> Coordinator::join(std::shared_ptr<DeliverySink> sink, std::string_view subscription,
                                     std::string_view topic, uint32_t credit_events, uint32_t credit_bytes,
                                     bool create_if_missing, const meta::SubscriptionConfig& create_settings,
                                     std::string client_name) {
  {
    std::lock_guard lk(mu_);  // checked again below; this one keeps a stopping broker from creating anything
    if (stopping_) return unavailable("the broker is shutting down; subscribe again after it restarts");
  }
  if (credit_events > options_.max_credit_events || credit_bytes > options_.max_credit_bytes) {
    return invalid_argument("credit " + std::to_string(credit_events) + " events / " + std::to_string(credit_bytes) +
                            " bytes is above the broker's maximum of " + std::to_string(options_.max_credit_events) +
                            " events / " + std::to_string(options_.max_credit_bytes) + " bytes");
  }
  auto existing = store_.meta().get_subscription(subscription);
  if (!existing && existing.error().code() == Code::kNotFound && create_if_missing) {
    meta::SubscriptionConfig config = create_settings;
    config.name = std::string(subscription);
    config.topic = std::string(topic);
    auto created = create_subscription(config);
    if (!created && created.error().code() != Code::kAlreadyExists) return created.error();
  } else if (!existing) {
    if (existing.error().code() == Code::kNotFound) {
      return not_found("subscription \"" + std::string(subscription) +
                       "\" does not exist; create it (causeway subscription create) or subscribe with create_if_missing");
    }
    return existing.error();
  }
  CAUSEWAY_ASSIGN_OR_RETURN(std::shared_ptr<Group> g, load_group(subscription));
  if (!topic.empty() && g->config.topic != topic) {
    return invalid_argument("subscription \"" + g->config.name + "\" is on topic \"" + g->config.topic +
                            "\", not \"" + std::string(topic) + "\"");
  }
  std::lock_guard lk(mu_);
  if (stopping_) return unavailable("the broker is shutting down; subscribe again after it restarts");
  if (g->deleted) return not_found("subscription \"" + std::string(subscription) + "\" was deleted");
  // A member tied to a connection that already closed would hold partitions that nobody
  // is ever pushed (connection_closed for it may already have run).
  if (sink->is_closed()) return unavailable("the connection is closing; subscribe again on a new connection");
  if (g->members.size() >= options_.max_members_per_group) {
    return resource_exhausted("group \"" + g->config.name + "\" already has " + std::to_string(g->members.size()) +
                              " members (the maximum)");
  }
  const uint64_t events = credit_events == 0 ? options_.default_credit_events : credit_events;
  const uint64_t bytes = credit_bytes == 0 ? options_.default_credit_bytes : credit_bytes;
  CAUSEWAY_RETURN_IF_ERROR(check_connection_limits_locked(sink->connection_id(), *g, events, bytes, nullptr));
  Member m;
  m.id = next_member_++;
  m.member_id = instance_ + "-" + std::to_string(m.id);
  m.client_name = std::move(client_name);
  m.connection_id = sink->connection_id();
  m.sink = std::move(sink);
  m.credit.max_events = credit_events == 0 ? options_.default_credit_events : credit_events;
  m.credit.max_bytes = credit_bytes == 0 ? options_.default_credit_bytes : credit_bytes;
  m.last_seen = Clock::now();
  JoinResult result{m.member_id, static_cast<uint32_t>(options_.session_timeout.count())};
  g->members.emplace(m.id, std::move(m));
  rebalance_locked(*g);
  for (uint32_t p = 0; p < g->partitions.size(); ++p) schedule_pump_locked(g, p);
  spdlog::info("group {}: member {} joined ({} member(s))", g->config.name, result.member_id, g->members.size());
  return result;
}

Status Coordinator::check_connection_limits_locked(uint64_t connection_id, const Group& joining,
                                                   uint64_t credit_events, uint64_t credit_bytes,
                                                   const Member* replacing) const {
  uint64_t memberships = 0;
  uint64_t groups = 0;
  bool in_joining = false;
  uint64_t events = credit_events;
  uint64_t bytes = credit_bytes;
  for (const auto& [name, g] : groups_) {
    bool member_here = false;
    for (const auto& [id, m] : g->members) {
      if (m.connection_id != connection_id) continue;
      member_here = true;
      if (&m == replacing) continue;
      ++memberships;
      events += m.credit.max_events;
      bytes += m.credit.max_bytes;
    }
    if (member_here) {
      ++groups;
      if (g.get() == &joining) in_joining = true;
    }
  }
  if (replacing == nullptr) {
    if (memberships >= options_.max_members_per_connection) {
      return resource_exhausted("this connection already holds " + std::to_string(memberships) +
                                " group memberships (the maximum per connection); leave one or use another connection");
    }
    if (!in_joining && groups >= options_.max_groups_per_connection) {
      return resource_exhausted("this connection is already a member of " + std::to_string(groups) +
                                " groups (the maximum per connection); leave one or use another connection");
    }
  }
  if (events > options_.max_connection_credit_events || bytes > options_.max_connection_credit_bytes) {
    return resource_exhausted("the credit of this connection's memberships would total " + std::to_string(events) +
                              " events / " + std::to_string(bytes) + " bytes, above the per-connection maximum of " +
                              std::to_string(options_.max_connection_credit_events) + " events / " +
                              std::to_string(options_.max_connection_credit_bytes) + " bytes; ask for less credit");
  }
  return Status();
}

void Coordinator::rebalance_locked(Group& g) {
  std::vector<uint64_t> ids;
  for (auto& [id, m] : g.members) {
    ids.push_back(id);
    m.partitions.clear();
  }
  for (uint32_t p = 0; p < g.partitions.size(); ++p) {
    PartitionState& ps = g.partitions[p];
    const uint64_t owner = ids.empty() ? 0 : ids[p % ids.size()];
    if (owner != ps.owner) {
      // The new owner gets what was not yet delivered. What is in flight to the old owner
      // stays with it until it acks or nacks it, its deadline passes or it leaves, so a
      // rebalance does not hand the same events to two members at once.
      ps.owner = owner;
      ++ps.epoch;
    }
    if (owner != 0) g.members[owner].partitions.push_back(p);
  }
}

void Coordinator::remove_member_locked(Group& g, uint64_t member,
                                       const std::function<bool(uint32_t, uint64_t)>& was_processed) {
  auto it = g.members.find(member);
  if (it == g.members.end()) return;
  spdlog::info("group {}: member {} left", g.config.name, it->second.member_id);
  const auto now = Clock::now();
  for (uint32_t p = 0; p < g.partitions.size(); ++p) {
    if (!was_processed) {
      g.partitions[p].delivery.release_member(member, now);
      continue;
    }
    g.partitions[p].delivery.release_member(member, now,
                                            [&was_processed, p](uint64_t offset) { return was_processed(p, offset); });
  }
  g.members.erase(it);
  rebalance_locked(g);
}

Result<Coordinator::Member*> Coordinator::find_member_locked(Group& g, uint64_t connection_id,
                                                             std::string_view member_id) {
  for (auto& [id, m] : g.members) {
    if (m.member_id == member_id) {
      if (m.connection_id != connection_id) break;  // only the connection that joined speaks for a member
      m.last_seen = Clock::now();
      return &m;
    }
  }
  return unavailable(std::string(kUnknownMemberMarker) + " \"" + std::string(member_id.substr(0, 64)) +
                     "\" in group \"" + g.config.name +
                     "\" (it expired, left, or joined on another connection); subscribe again");
}

namespace {
Status no_group(std::string_view name) {
  return not_found("subscription \"" + std::string(name.substr(0, 255)) + "\" has no active group on this broker; subscribe first");
}

Status shutting_down() { return unavailable("the broker is shutting down; the request changed nothing"); }
}  // namespace

Status Coordinator::heartbeat(uint64_t connection_id, std::string_view subscription, std::string_view member_id) {
  std::lock_guard lk(mu_);
  if (stopping_) return shutting_down();
  auto it = groups_.find(subscription);
  if (it == groups_.end()) return no_group(subscription);
  return find_member_locked(*it->second, connection_id, member_id).status();
}

Status Coordinator::leave(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
                          bool release_unprocessed, const std::map<uint32_t, std::set<uint64_t>>& processing) {
  std::lock_guard lk(mu_);
  if (stopping_) return shutting_down();
  auto it = groups_.find(subscription);
  if (it == groups_.end()) return no_group(subscription);
  auto g = it->second;
  CAUSEWAY_ASSIGN_OR_RETURN(Member * m, find_member_locked(*g, connection_id, member_id));
  if (release_unprocessed) {
    // Decided here, under the mutex, so that an event pushed after the member listed what
    // it is processing (it never saw that one) is released too.
    remove_member_locked(*g, m->id, [&processing](uint32_t partition, uint64_t offset) {
      auto p = processing.find(partition);
      return p != processing.end() && p->second.count(offset) > 0;
    });
  } else {
    remove_member_locked(*g, m->id);
  }
  for (uint32_t p = 0; p < g->partitions.size(); ++p) schedule_pump_locked(g, p);
  return Status();
}

Status Coordinator::set_credit(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
                               uint32_t credit_events, uint32_t credit_bytes) {
  if (credit_events > options_.max_credit_events || credit_bytes > options_.max_credit_bytes)
    return invalid_argument("credit above the broker's maximum");
  std::lock_guard lk(mu_);
  if (stopping_) return shutting_down();
  auto it = groups_.find(subscription);
  if (it == groups_.end()) return no_group(subscription);
  CAUSEWAY_ASSIGN_OR_RETURN(Member * m, find_member_locked(*it->second, connection_id, member_id));
  const uint32_t events = credit_events == 0 ? options_.default_credit_events : credit_events;
  const uint32_t bytes = credit_bytes == 0 ? options_.default_credit_bytes : credit_bytes;
  CAUSEWAY_RETURN_IF_ERROR(check_connection_limits_locked(connection_id, *it->second, events, bytes, m));
  m->credit.max_events = events;
  m->credit.max_bytes = bytes;
  schedule_member_pumps_locked(it->second, *m);
  return Status();
}

namespace {

bool is_in_flight_to(const auto& ps, uint64_t offset, uint64_t member) {
  auto it = ps.delivery.in_flight().find(offset);
  return it != ps.delivery.in_flight().end() && it->second.member == member;
}

Status not_assigned(uint32_t partition, const auto& m) {
  return failed_precondition("partition " + std::to_string(partition) + " " +
                             std::string(Coordinator::kNotAssignedMarker) + " \"" + m.member_id +
                             "\" (and the offset is not in flight to it); the event will be redelivered");
}

// Collects per-offset failures into one Status naming the first and counting the rest.
struct Failures {
  Status first;
  uint32_t count = 0;
  void add(Status s) {
    if (count++ == 0) first = std::move(s);
  }
  Status status(std::string_view verb, size_t total) const {
    if (count == 0) return Status();
    return Status(first.code(), std::to_string(count) + " of " + std::to_string(total) + " " + std::string(verb) +
                                    "(s) refused; first: " + std::string(first.message()));
  }
};

}  // namespace

Status Coordinator::ack(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
                        uint32_t partition, const std::vector<uint64_t>& offsets, uint32_t& accepted) {
  accepted = 0;
  std::lock_guard lk(mu_);
  if (stopping_) return shutting_down();
  auto it = groups_.find(subscription);
  if (it == groups_.end()) return no_group(subscription);
  auto g = it->second;
  CAUSEWAY_ASSIGN_OR_RETURN(Member * m, find_member_locked(*g, connection_id, member_id));
  if (partition >= g->partitions.size()) return not_assigned(partition, *m);
  PartitionState& ps = g->partitions[partition];
  Failures failures;
  for (uint64_t offset : offsets) {
    if (ps.owner != m->id && !is_in_flight_to(ps, offset, m->id)) {
      failures.add(not_assigned(partition, *m));
      continue;
    }
    auto bytes = ps.delivery.ack(m->id, offset);
    if (!bytes) {
      failures.add(bytes.error());
      continue;
    }
    m->credit.release(*bytes);
    ++accepted;
  }
  stats_.acked += accepted;
  if (accepted > 0) schedule_member_pumps_locked(g, *m);
  return failures.status("ack", offsets.size());
}

Status Coordinator::nack(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
                         uint32_t partition, const std::vector<uint64_t>& offsets, std::chrono::milliseconds delay,
                         std::string reason, uint32_t& accepted) {
  accepted = 0;
  std::lock_guard lk(mu_);
  if (stopping_) return shutting_down();
  auto it = groups_.find(subscription);
  if (it == groups_.end()) return no_group(subscription);
  auto g = it->second;
  CAUSEWAY_ASSIGN_OR_RETURN(Member * m, find_member_locked(*g, connection_id, member_id));
  if (partition >= g->partitions.size()) return not_assigned(partition, *m);
  PartitionState& ps = g->partitions[partition];
  const auto now = Clock::now();
  Failures failures;
  for (uint64_t offset : offsets) {
    if (ps.owner != m->id && !is_in_flight_to(ps, offset, m->id)) {
      failures.add(not_assigned(partition, *m));
      continue;
    }
    auto f = ps.delivery.in_flight().find(offset);
    const uint32_t attempt = f != ps.delivery.in_flight().end() ? f->second.attempt : 1;
    // An explicit delay wins; otherwise the subscription's backoff for this attempt.
    const auto wait = delay.count() > 0 ? Clock::duration(delay) : redelivery_delay(*g, attempt);
    auto bytes = ps.delivery.nack(m->id, offset, now + wait, reason.empty() ? "nacked" : reason);
    if (!bytes) {
      failures.add(bytes.error());
      continue;
    }
    m->credit.release(*bytes);
    ++accepted;
  }
  if (accepted > 0) {
    schedule_member_pumps_locked(g, *m);
    schedule_pump_locked(g, partition);
  }
  return failures.status("nack", offsets.size());
}

Status Coordinator::extend_deadline(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
                                    uint32_t partition, const std::vector<uint64_t>& offsets,
                                    std::chrono::milliseconds extend, uint32_t& accepted) {
  accepted = 0;
  std::lock_guard lk(mu_);
  if (stopping_) return shutting_down();
  auto it = groups_.find(subscription);
  if (it == groups_.end()) return no_group(subscription);
  auto g = it->second;
  CAUSEWAY_ASSIGN_OR_RETURN(Member * m, find_member_locked(*g, connection_id, member_id));
  if (partition >= g->partitions.size()) return not_assigned(partition, *m);
  PartitionState& ps = g->partitions[partition];
  const auto deadline = Clock::now() + extend;
  Failures failures;
  for (uint64_t offset : offsets) {
    Status s = ps.delivery.extend(m->id, offset, deadline);
    if (!s.ok()) {
      failures.add(ps.owner != m->id && !is_in_flight_to(ps, offset, m->id) ? not_assigned(partition, *m) : s);
      continue;
    }
    ++accepted;
  }
  return failures.status("deadline extension", offsets.size());
}

Status Coordinator::commit_durably(uint64_t connection_id, std::string_view subscription, std::string_view member_id) {
  std::shared_ptr<Group> g;
  uint64_t needed = 0;
  {
    std::lock_guard lk(mu_);
    if (stopping_) return shutting_down();
    auto it = groups_.find(subscription);
    if (it == groups_.end()) return no_group(subscription);
    g = it->second;
    CAUSEWAY_RETURN_IF_ERROR(find_member_locked(*g, connection_id, member_id).status());
    // Whatever was applied to the group so far is in the next snapshot.
    needed = flush_gen_ + 1;
  }
  const auto outcome = [&]() -> std::optional<Status> {
    std::lock_guard lk(mu_);
    if (g->deleted) {
      return failed_precondition("subscription \"" + g->config.name +
                                 "\" was deleted or re-created before its acks were committed; they are void");
    }
    if (g->durable_gen >= needed) return Status();
    return std::nullopt;
  };
  // As leveldb's group commit: whoever holds flush_mu_ writes everything dirty, so a
  // durable ack that waited here for another one's flush usually finds its own acks
  // already written and returns without a second LMDB commit.
  std::lock_guard flush_lock(flush_mu_);
  if (auto done = outcome()) return *done;
  flush_commits_locked();
  if (auto done = outcome()) return *done;
  std::lock_guard lk(mu_);
  if (stopping_) return shutting_down();
  return g->commit_error.ok() ? internal_error("group \"" + g->config.name + "\" was not committed by the flush")
                              : Status(g->commit_error.code(), "committing the acks of group \"" + g->config.name +
                                                                   "\" failed: " +
                                                                   std::string(g->commit_error.message()) +
                                                                   "; they stay applied and a later commit retries them");
}

Result<GroupDescription> Coordinator::describe_group(std::string_view name) {
  CAUSEWAY_ASSIGN_OR_RETURN(std::shared_ptr<Group> g, load_group(name));
  GroupDescription d;
  std::lock_guard lk(mu_);
  d.subscription = g->config;
  for (const auto& [id, m] : g->members) {
    d.members.push_back(MemberDescription{m.member_id, m.client_name, m.partitions, m.credit.events, m.credit.bytes,
                                          m.credit.max_events, static_cast<uint32_t>(m.credit.max_bytes)});
  }
  for (uint32_t p = 0; p < g->partitions.size(); ++p) {
    const PartitionState& ps = g->partitions[p];
    PartitionDescription pd;
    pd.partition = p;
    if (auto m = g->members.find(ps.owner); m != g->members.end()) pd.member_id = m->second.member_id;
    pd.committed_offset = ps.delivery.committed();
    auto log = store_.partition(g->topic.name, p);
    pd.end_offset = log ? log->high_watermark() : ps.end_offset;
    pd.in_flight = static_cast<uint32_t>(ps.delivery.in_flight().size());
    pd.acked_above = static_cast<uint32_t>(ps.delivery.acked_above().size());
    d.partitions.push_back(std::move(pd));
  }
  return d;
}

void Coordinator::connection_closed(uint64_t connection_id) {
  std::lock_guard lk(mu_);
  for (auto& [name, g] : groups_) {
    std::vector<uint64_t> gone;
    for (const auto& [id, m] : g->members)
      if (m.connection_id == connection_id) gone.push_back(id);
    if (gone.empty()) continue;
    for (uint64_t id : gone) remove_member_locked(*g, id);
    for (uint32_t p = 0; p < g->partitions.size(); ++p) schedule_pump_locked(g, p);
  }
}

void Coordinator::on_append(std::string_view topic, uint32_t partition, uint64_t end_offset) {
  std::lock_guard lk(mu_);
  auto by_topic = groups_by_topic_.find(topic);
  if (by_topic == groups_by_topic_.end()) return;
  for (const auto& g : by_topic->second) {
    if (partition >= g->partitions.size()) continue;
    PartitionState& ps = g->partitions[partition];
    if (end_offset > ps.end_offset) ps.end_offset = end_offset;
    if (ps.owner != 0) schedule_pump_locked(g, partition);
  }
}

void Coordinator::sink_drained(uint64_t connection_id) {
  std::lock_guard lk(mu_);
  for (auto& [name, g] : groups_) {
    for (const auto& [id, m] : g->members)
      if (m.connection_id == connection_id) schedule_member_pumps_locked(g, m);
  }
}

// ---------------------------------------------------------------- delivery

void Coordinator::schedule_pump_locked(const std::shared_ptr<Group>& g, uint32_t partition) {
  if (stopping_ || g->deleted) return;
  PartitionState& ps = g->partitions[partition];
  if (ps.owner == 0) return;
  // Nothing to read and nothing to redeliver: an ack or credit change need not wake the
  // partition (the sweeper wakes it when a waiting event becomes ready).
  if (ps.delivery.next_read() >= ps.end_offset && ps.delivery.waiting().empty()) return;
  if (ps.pumping) {
    ps.repump = true;
    return;
  }
  if (ps.pump_scheduled) return;
  ps.pump_scheduled = true;
  executor_([this, g, partition] { pump(g, partition); });
}

void Coordinator::schedule_member_pumps_locked(const std::shared_ptr<Group>& g, const Member& m) {
  for (uint32_t p : m.partitions) schedule_pump_locked(g, p);
}

void Coordinator::pump(std::shared_ptr<Group> g, uint32_t partition) {
  std::unique_lock lk(mu_);
  PartitionState& ps = g->partitions[partition];
  ps.pump_scheduled = false;
  if (ps.pumping || stopping_ || g->deleted) return;
  ps.pumping = true;
  auto log = store_.partition(g->topic.name, partition);
  constexpr int kMaxRounds = 64;  // then yield the storage thread and come back
  int round = 0;
  for (; round < kMaxRounds && log && !stopping_ && !g->deleted; ++round) {
    ps.repump = false;
    auto mit = g->members.find(ps.owner);
    if (mit == g->members.end()) break;
    Member& m = mit->second;
    const auto now = Clock::now();
    if (!m.credit.fits(0)) break;
    // The connection's queue of pushed frames is at its cap: park until the sink reports
    // it drained (sink_drained), however much credit the member granted.
    if (!m.sink->has_room()) break;
    const uint32_t room = std::min(m.credit.max_events - m.credit.events, options_.max_delivery_events);
    std::vector<uint64_t> retries = ps.delivery.ready(now, room);
    uint64_t from = 0;
    uint64_t max_new = 0;
    if (retries.empty()) {
      from = ps.delivery.next_read();
      if (from >= ps.end_offset || ps.delivery.window() >= options_.max_window) break;
      max_new = std::min<uint64_t>({room, ps.end_offset - from, options_.max_window - ps.delivery.window()});
    }
    const uint64_t epoch = ps.epoch;
    const uint64_t member = m.id;
    const uint64_t end_snapshot = ps.end_offset;
    const uint64_t byte_room = m.credit.events == 0 ? options_.max_delivery_bytes
                                                    : std::min<uint64_t>(m.credit.max_bytes - std::min(m.credit.max_bytes, m.credit.bytes),
                                                                         options_.max_delivery_bytes);
    lk.unlock();

    // Read outside the mutex: file reads may block.
    storage::ReadResult read;              // new events: the batches they are in
    std::vector<OwnedRecord> redeliveries;  // retries: copies of just those events
    std::vector<batch::RecordView> records;
    Status read_status;
    if (!retries.empty()) {
      read_status = read_retries(*log, retries, byte_room, redeliveries);
      records.reserve(redeliveries.size());
      for (const OwnedRecord& r : redeliveries) records.push_back(r.view);
    } else {
      auto r = log->read(from, std::max<uint64_t>(byte_room, 1), max_new);
      if (r) {
        read = std::move(*r);
        read_status = storage::for_each_record_from(read, from, [&](const batch::RecordView& rec) {
          if (records.size() >= max_new || rec.offset >= end_snapshot) return false;
          records.push_back(rec);
          return true;
        });
      } else {
        read_status = r.error();
      }
    }
    lk.lock();
    if (!read_status.ok()) {
      if (read_status.code() == Code::kOutOfRange) {
        // Retention removed what the group had not consumed (new reads or redeliveries):
        // resume at the log start, giving back the credit of events that are gone.
        const uint64_t start = log->log_start_offset();
        spdlog::warn("group {}: {}/{} offset {} is below the log start; skipping to {}", g->config.name,
                     g->topic.name, partition, retries.empty() ? from : retries.front(), start);
        const uint64_t before = ps.delivery.committed();
        for (const auto& [holder, bytes] : ps.delivery.drop_below(start)) {
          if (auto h = g->members.find(holder); h != g->members.end()) h->second.credit.release(bytes);
        }
        if (ps.delivery.committed() == before) break;  // nothing was dropped: do not spin
        continue;
      }
      spdlog::error("group {}: reading {}/{}: {}", g->config.name, g->topic.name, partition, read_status.to_string());
      break;
    }
    if (ps.epoch != epoch || ps.owner != member || g->deleted) continue;  // reassigned meanwhile: plan again
    auto mit2 = g->members.find(member);
    if (mit2 == g->members.end()) break;
    Member& mm = mit2->second;
    const auto now2 = Clock::now();
    const int64_t wall_now = storage::now_ms();
    std::vector<Planned> planned;
    uint64_t frame_bytes = 0;
    bool progressed = false;
    for (const batch::RecordView& rec : records) {
      const bool is_retry = !retries.empty();
      if (!is_retry) {
        if (rec.offset < ps.delivery.next_read() || rec.offset >= ps.end_offset) continue;
        if (ps.delivery.is_acked(rec.offset)) {
          ps.delivery.skip_acked(rec.offset);
          progressed = true;
          continue;
        }
      } else if (ps.delivery.waiting().count(rec.offset) == 0) {
        continue;
      }
      const uint32_t done = is_retry ? ps.delivery.waiting().at(rec.offset).attempts_done : 0;
      // The event's time comes from the log's bytes: the age is computed without overflow.
      int64_t age_ms = 0;
      const bool age_overflows = __builtin_sub_overflow(wall_now, rec.time_ms, &age_ms);
      const bool too_old =
          g->config.max_age.count() > 0 && (age_overflows ? rec.time_ms < 0 : age_ms > g->config.max_age.count());
      // An event whose Delivery frame would exceed the clients' max_frame_bytes can never
      // be delivered (the client would close the connection): dead-letter it at once.
      const uint64_t frame_bound = delivered_event_bytes(rec) + 256 + g->config.name.size() + g->topic.name.size() +
                                   mm.member_id.size();
      const bool too_big = frame_bound > options_.max_frame_bytes;
      if (done >= g->config.max_attempts || too_old || too_big) {
        // Each dead letter is a blocking publish on the storage pool: a few per partition
        // at a time, so that a backlog of expired events cannot queue thousands of them
        // ahead of heartbeats and acks. The rest wait for the next pump.
        if (ps.delivery.dead_lettering() >= kMaxDeadLettersInProgress) break;
        std::string reason;
        if (too_big) {
          reason = "event of about " + std::to_string(frame_bound) + " bytes does not fit in a Delivery frame (max_frame_bytes " +
                   std::to_string(options_.max_frame_bytes) + ")";
        } else if (too_old) {
          reason = "max age " + std::to_string(g->config.max_age.count()) + "ms exceeded";
        } else {
          reason = "max attempts (" + std::to_string(g->config.max_attempts) + ") reached; last error: " +
                   ps.delivery.waiting().at(rec.offset).last_reason;
        }
        if (!is_retry) ps.delivery.defer_new(rec.offset, Waiting{done, now2, rec.time_ms, reason});
        ps.delivery.start_dead_letter(rec.offset);
        executor_([this, g, partition, offset = rec.offset, done, reason] { dead_letter(g, partition, offset, done, reason); });
        progressed = true;
        continue;
      }
      const uint64_t size = record_bytes(rec);
      // One Delivery frame carries about max_delivery_bytes (at least one record), so that
      // a large credit window never produces a frame above the client's max_frame_bytes.
      if (!planned.empty() && frame_bytes + size > options_.max_delivery_bytes) break;
      if (!mm.credit.fits(size)) break;
      mm.credit.take(size);
      frame_bytes += size;
      InFlight f{member, done + 1, now2 + g->config.ack_deadline, size, rec.time_ms};
      if (is_retry) {
        ps.delivery.redeliver(rec.offset, f);
        ++stats_.redelivered;
      } else {
        ps.delivery.deliver_new(rec.offset, f);
      }
      ++stats_.delivered;
      planned.push_back(Planned{rec, done + 1});
      progressed = true;
    }
    if (!planned.empty()) {
      std::shared_ptr<DeliverySink> sink = mm.sink;
      const std::string member_id = mm.member_id;
      lk.unlock();
      flatbuffers::FlatBufferBuilder b(1024);
      std::vector<flatbuffers::Offset<protocol::DeliveredEvent>> events;
      events.reserve(planned.size());
      for (const Planned& p : planned) {
        const auto& r = p.record;
        std::vector<flatbuffers::Offset<protocol::Header>> headers;
        for (const auto& h : r.headers) {
          headers.push_back(protocol::CreateHeader(
              b, b.CreateString(h.name.data(), h.name.size()),
              b.CreateVector(reinterpret_cast<const uint8_t*>(h.value.data()), h.value.size())));
        }
        events.push_back(protocol::CreateDeliveredEvent(
            b, r.offset, r.lamport, r.time_ms, p.attempt,
            b.CreateVector(reinterpret_cast<const uint8_t*>(r.key.data()), r.key.size()),
            b.CreateVector(reinterpret_cast<const uint8_t*>(r.dedup_key.data()), r.dedup_key.size()),
            b.CreateString(r.source.data(), r.source.size()), b.CreateString(r.type.data(), r.type.size()),
            b.CreateVector(headers), r.schema_id,
            b.CreateVector(reinterpret_cast<const uint8_t*>(r.payload.data()), r.payload.size())));
      }
      auto body = protocol::CreateDelivery(b, b.CreateString(g->config.name), b.CreateString(g->topic.name), partition,
                                           0, 0, 0, b.CreateString(member_id), b.CreateVector(events));
      const PushResult pushed = sink->push(finish(b, protocol::Body::Delivery, body.Union()));
      lk.lock();
      if (pushed == PushResult::kClosed) {
        // The connection is gone: its member leaves now, as on a leave, so that its
        // partitions go to the other members and what it held is redelivered.
        if (g->members.count(member) > 0 && !g->deleted) {
          spdlog::info("group {}: member {} is gone (its connection closed)", g->config.name, member_id);
          remove_member_locked(*g, member);
          for (uint32_t p = 0; p < g->partitions.size(); ++p) schedule_pump_locked(g, p);
        }
        break;
      }
      if (pushed == PushResult::kFull) break;  // parked until sink_drained
    }
    if (!progressed) break;
  }
  ps.pumping = false;
  if (ps.repump || round == kMaxRounds) schedule_pump_locked(g, partition);
}

void Coordinator::dead_letter(std::shared_ptr<Group> g, uint32_t partition, uint64_t offset, uint32_t attempts,
                              std::string reason) {
  const std::string& dlq = g->config.dead_letter_topic;
  Status status;
  auto log = store_.partition(g->topic.name, partition);
  if (!log) status = not_found("source partition is gone");
  if (status.ok()) {
    auto topic = store_.get_topic(dlq);
    if (!topic && topic.error().code() == Code::kNotFound && dlq == g->topic.name + ".dlq") {
      // The default dead-letter topic is created when missing (e.g. deleted since the
      // subscription was created); a topic the user named is theirs to create.
      meta::TopicConfig config;
      config.name = dlq;
      config.partitions = 1;
      auto created = store_.create_topic(config);
      if (!created) status = created.error();
    } else if (!topic && topic.error().code() == Code::kNotFound) {
      status = not_found("dead-letter topic \"" + dlq + "\" does not exist; create it (causeway topic create " + dlq + ")");
    } else if (!topic) {
      status = topic.error();
    }
  }
  if (status.ok()) {
    auto r = log->read(offset, 1, 1);
    if (!r) {
      status = r.error();
    } else {
      std::optional<batch::RecordView> rec;
      (void)storage::for_each_record_from(*r, offset, [&](const batch::RecordView& v) {
        if (v.offset == offset) rec = v;
        return false;
      });
      if (!rec) {
        status = not_found("offset " + std::to_string(offset) + " not in the log");
      } else {
        const std::string attempts_text = std::to_string(attempts);
        const std::string partition_text = std::to_string(partition);
        const std::string offset_text = std::to_string(offset);
        const std::string lamport_text = std::to_string(rec->lamport);
        const std::string time_text = std::to_string(rec->time_ms);
        std::vector<batch::Header> headers = rec->headers;
        headers.push_back({"causeway-dlq-reason", reason});
        headers.push_back({"causeway-dlq-attempts", attempts_text});
        headers.push_back({"causeway-dlq-subscription", g->config.name});
        headers.push_back({"causeway-dlq-topic", g->topic.name});
        headers.push_back({"causeway-dlq-partition", partition_text});
        headers.push_back({"causeway-dlq-offset", offset_text});
        headers.push_back({"causeway-dlq-lamport", lamport_text});
        headers.push_back({"causeway-dlq-time-ms", time_text});
        if (!rec->dedup_key.empty()) headers.push_back({"causeway-dlq-dedup-key", rec->dedup_key});
        // Idempotent across a crash between the publish and the commit of the ack.
        const std::string dedup = "dlq/" + g->config.name + "/" + partition_text + "/" + offset_text;
        core::PublishEvent e;
        e.record = batch::RecordInput{rec->key, dedup, rec->source, rec->type, headers, rec->schema_id, rec->payload};
        auto acks = publish_.publish(dlq, std::span<const core::PublishEvent>(&e, 1), rec->lamport, 0);
        if (!acks) {
          status = acks.error();
        } else if (!(*acks)[0].status.ok()) {
          status = (*acks)[0].status;
        }
      }
    }
  }
  std::lock_guard lk(mu_);
  PartitionState& ps = g->partitions[partition];
  const auto now = Clock::now();
  if (status.ok()) {
    ps.delivery.dead_lettered(offset);
    ++stats_.dead_lettered;
    spdlog::info("group {}: {}/{} offset {} dead-lettered to {}: {}", g->config.name, g->topic.name, partition, offset,
                 dlq, reason);
    if (ps.dead_letter_failures > 0) {
      spdlog::info("group {}: dead-lettering {}/{} to {} works again after {} failure(s)", g->config.name,
                   g->topic.name, partition, dlq, ps.dead_letter_failures);
    }
    ps.dead_letter_failures = 0;
  } else {
    // Retried with a growing delay (the partition's other events keep flowing meanwhile,
    // up to the window), and logged at most once per interval, so that a dead-letter topic
    // that stays broken neither spins nor floods the log but is never silent.
    ++stats_.dead_letter_failures;
    ++ps.dead_letter_failures;
    const auto delay = std::min<Clock::duration>(
        kDeadLetterMaxRetry, kDeadLetterFirstRetry * (uint64_t{1} << std::min<uint32_t>(ps.dead_letter_failures - 1, 6)));
    if (ps.dead_letter_failures == 1 || now - ps.dead_letter_logged_at >= kDeadLetterLogInterval) {
      spdlog::error("group {}: dead-lettering {}/{} offset {} to {} failed: {}; retrying in {} ms ({} failure(s) in a "
                    "row, {} not logged)",
                    g->config.name, g->topic.name, partition, offset, dlq, status.to_string(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(delay).count(), ps.dead_letter_failures,
                    ps.dead_letter_failures_unlogged);
      ps.dead_letter_logged_at = now;
      ps.dead_letter_failures_unlogged = 0;
    } else {
      ++ps.dead_letter_failures_unlogged;
    }
    ps.delivery.dead_letter_failed(offset, now + delay, reason);
  }
  schedule_pump_locked(g, partition);
}

// ---------------------------------------------------------------- timers and commits

void Coordinator::sweep() {
  std::lock_guard lk(mu_);
  const auto now = Clock::now();
  for (auto& [name, g] : groups_) {
    std::vector<uint64_t> expired;
    for (const auto& [id, m] : g->members)
      if (m.last_seen + options_.session_timeout < now) expired.push_back(id);
    for (uint64_t id : expired) {
      spdlog::info("group {}: member {} missed its session timeout", g->config.name, g->members[id].member_id);
      remove_member_locked(*g, id);
    }
    for (uint32_t p = 0; p < g->partitions.size(); ++p) {
      PartitionState& ps = g->partitions[p];
      bool wake = !expired.empty();
      const auto delay = [this, &group = *g](uint32_t attempt) { return redelivery_delay(group, attempt); };
      for (const auto& [member, bytes] : ps.delivery.expire(now, delay)) {
        auto m = g->members.find(member);
        if (m != g->members.end()) m->second.credit.release(bytes);
        wake = true;
      }
      if (wake || ps.delivery.next_ready_at() <= now) schedule_pump_locked(g, p);
    }
  }
}

void Coordinator::flush_commits() {
  std::lock_guard flush_lock(flush_mu_);
  flush_commits_locked();
}

void Coordinator::flush_commits_locked() {
  std::vector<meta::GroupAckCommit> commits;
  std::vector<std::shared_ptr<Group>> owners;  // per commit
  uint64_t gen = 0;
  {
    std::lock_guard lk(mu_);
    gen = ++flush_gen_;
    for (auto& [name, g] : groups_) {
      meta::GroupAckCommit c{name, g->config.created_ms, g->topic.topic_id, {}};
      for (uint32_t i = 0; i < g->partitions.size(); ++i) {
        PartitionDelivery& d = g->partitions[i].delivery;
        if (!d.take_dirty()) continue;
        meta::PartitionAckState st;
        st.partition = i;
        st.committed = d.committed();
        st.acked_above.assign(d.acked_above().begin(), d.acked_above().end());
        c.states.push_back(std::move(st));
      }
      if (!c.states.empty()) {
        commits.push_back(std::move(c));
        owners.push_back(g);
      } else {
        // Nothing changed since the last flush, and that one (flushes run one at a time)
        // wrote this group or marked it dirty again on failure: it is all on disk.
        g->durable_gen = gen;
      }
    }
  }
  if (commits.empty()) return;
  // One LMDB transaction (one fsync) for every group that changed since the last sweep.
  std::vector<Status> results;
  const Status s = store_.meta().commit_ack_states(commits, results);
  std::lock_guard lk(mu_);
  for (size_t i = 0; i < commits.size(); ++i) {
    const std::shared_ptr<Group>& g = owners[i];
    if (!s.ok()) {
      spdlog::error("group {}: committing offsets failed: {}", g->config.name, s.to_string());
      // Mark dirty again so the next sweep retries.
      for (const auto& st : commits[i].states) g->partitions[st.partition].delivery.mark_dirty();
      g->commit_error = s;
    } else if (!results[i].ok() && results[i].code() != Code::kFailedPrecondition) {
      // This group's own records could not be read (corruption): it retries alone, the
      // others committed.
      spdlog::error("group {}: committing offsets failed: {}", g->config.name, results[i].to_string());
      for (const auto& st : commits[i].states) g->partitions[st.partition].delivery.mark_dirty();
      g->commit_error = results[i];
    } else if (results[i].ok()) {
      g->durable_gen = gen;
      g->commit_error = Status();
    } else {
      // Deleted or re-created while this state was in memory: it must not reach the new
      // subscription. The group stops; its members get "no active group" and join again,
      // which loads the new one.
      spdlog::warn("group {}: dropping its in-memory state: {}", g->config.name, results[i].to_string());
      erase_group_locked(g);
    }
  }
}

}  // namespace causeway::subscribe
