// Coordinator rule targets: a subscription with a target is consumed by the broker
// itself. Its group gets one internal member whose sink publishes each pushed batch to the
// target topic (TopicForwarder, here) or POSTs each event to an HTTP endpoint
// (HttpForwarder, http_forwarder.cc) and, once that is done, acks the events that were
// delivered and nacks the ones that were refused, so forwarding reuses the group's
// delivery machinery whole: committed offsets, ack deadlines, redelivery with backoff,
// max attempts and the dead-letter topic. See coordinator.h and docs/targets.md.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <utility>

#include "storage/log_manager.h"
#include "subscribe/coordinator_state.h"
#include "subscribe/http_target.h"
#include "subscribe/target_sink.h"

namespace causeway::subscribe {
namespace {

// Connection ids of internal members: far above the server's (which count up from 1), so
// that no client connection can speak for them.
constexpr uint64_t kInternalConnectionBase = uint64_t{1} << 62;

constexpr std::string_view kSourceTopicHeader = "causeway-source-topic";
constexpr std::string_view kSourcePartitionHeader = "causeway-source-partition";
constexpr std::string_view kSourceOffsetHeader = "causeway-source-offset";
constexpr std::string_view kReplayHeader = "causeway-replay";

// Why a refusal of the target topic is for good: the event can never be stored there
// (a schema-bound topic refusing its payload, a payload over the topic's limit).
bool refused_for_good(const Status& s) { return s.code() == Code::kInvalidArgument; }

}  // namespace

bool Coordinator::through_gate(const std::shared_ptr<ForwardGate>& gate,
                               const std::function<void(Coordinator&)>& record) {
  Coordinator* co = nullptr;
  {
    std::lock_guard lk(gate->mu);
    co = gate->co;
    if (co == nullptr) return false;
    ++gate->recording;
  }
  // Without the gate's lock: forward_done takes the coordinator's mutex, and the sync
  // threads' completions must not wait for it. close_forward_gate waits for `recording`
  // to drop before the coordinator can go away.
  record(*co);
  std::lock_guard lk(gate->mu);
  --gate->recording;
  gate->idle.notify_all();
  return true;
}

std::string Coordinator::target_input(const meta::SubscriptionConfig& config, const rules::InputTransform* transform,
                                      std::string_view topic, const batch::RecordView& record) {
  const nlohmann::json view = event_document(topic, record, &payload_schemas_);
  if (transform == nullptr) return view.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return transform->apply(view, config.name);
}

void Coordinator::build_forward_copies(const meta::SubscriptionConfig& config, const rules::InputTransform* transform,
                                       std::string_view topic, uint32_t partition, std::string_view dedup_prefix,
                                       std::string_view replay, std::span<const batch::RecordView> records,
                                       std::deque<std::string>& texts, std::vector<std::vector<batch::Header>>& headers,
                                       std::vector<core::PublishEvent>& events) {
  const size_t n = records.size();
  headers.assign(n, {});
  events.assign(n, {});
  const std::string& partition_text = texts.emplace_back(std::to_string(partition));
  for (size_t i = 0; i < n; ++i) {
    const batch::RecordView& rec = records[i];
    std::string& dedup = texts.emplace_back(dedup_prefix);
    dedup += std::to_string(rec.offset);
    const std::string& offset_text = texts.emplace_back(std::to_string(rec.offset));
    // An event forwarded before (a chain T -> T2 -> T3) names its nearest source, and a
    // replayed one the replay that sent it this time (a live forward keeps the name).
    for (const batch::Header& h : rec.headers) {
      if (h.name != kSourceTopicHeader && h.name != kSourcePartitionHeader && h.name != kSourceOffsetHeader &&
          (replay.empty() || h.name != kReplayHeader))
        headers[i].push_back(h);
    }
    headers[i].push_back({kSourceTopicHeader, topic});
    headers[i].push_back({kSourcePartitionHeader, partition_text});
    headers[i].push_back({kSourceOffsetHeader, offset_text});
    if (!replay.empty()) headers[i].push_back({kReplayHeader, replay});
    events[i].record = batch::RecordInput{rec.key, dedup, rec.source, rec.type, headers[i], rec.schema_id, rec.payload};
    if (transform != nullptr) {
      events[i].record.payload = texts.emplace_back(target_input(config, transform, topic, rec));
      events[i].record.schema_id = 0;
    }
  }
}

class Coordinator::TopicForwarder final : public TargetSink,
                                          public std::enable_shared_from_this<Coordinator::TopicForwarder> {
 public:
  TopicForwarder(Coordinator& co, uint64_t connection_id, meta::SubscriptionConfig config,
                 std::shared_ptr<const rules::InputTransform> transform, uint32_t source_topic_id)
      : TargetSink(connection_id, std::move(config), std::move(transform)),
        co_(co),
        gate_(co.forward_gate_),
        source_topic_id_(source_topic_id) {}

  bool has_room() override { return true; }
  std::string kind() const override { return "topic"; }
  std::string destination() const override { return config().target_topic; }

  // Publishes the batch to the target topic with one request (publish_async only appends
  // and returns; the completion runs after the covering sync), keeping what the event
  // was and adding where it came from. The dedup key names the subscription, the source
  // topic's id, partition and offset, so a batch forwarded again (after a crash before
  // the acks were committed, or an ack deadline that passed) is stored once.
  // With an input transformation the payload is what it makes of the event (JSON or
  // text, without a schema id).
  PushResult push(const DeliveryBatch& batch) override {
    if (closed_.load()) return PushResult::kClosed;
    {
      std::lock_guard lk(gate_->mu);
      if (gate_->co == nullptr) return PushResult::kClosed;
      ++gate_->outstanding;
    }
    const meta::SubscriptionConfig& sub = config();
    const size_t n = batch.events.size();
    const std::string id_prefix =
        "fwd/" + sub.name + "/" + std::to_string(source_topic_id_) + "/" + std::to_string(batch.partition) + "/";
    std::vector<batch::RecordView> records;
    records.reserve(n);
    uint64_t lamport = 0;
    std::vector<uint64_t> offsets;
    offsets.reserve(n);
    for (const DeliveredRecord& e : batch.events) {
      records.push_back(e.record);
      offsets.push_back(e.record.offset);
      lamport = std::max(lamport, e.record.lamport);
    }
    std::deque<std::string> texts;
    std::vector<std::vector<batch::Header>> headers;
    std::vector<core::PublishEvent> events;
    co_.build_forward_copies(sub, transform(), batch.topic, batch.partition, id_prefix, "", records, texts, headers,
                             events);
    auto outcome = std::make_shared<ForwardOutcome>();
    outcome->member_id = std::string(batch.member_id);
    outcome->partition = batch.partition;
    // Stamped above every forwarded event: each copy is a causal child of its original.
    co_.publish_.publish_async(
        sub.target_topic, events, lamport, 0,
        [self = shared_from_this(), outcome, offsets = std::move(offsets)](Result<std::vector<core::EventAck>> r) {
          for (size_t i = 0; i < offsets.size(); ++i) {
            const Status s = !r ? r.status() : i < r->size() ? (*r)[i].status : internal_error("no ack");
            if (s.ok()) {
              outcome->stored.push_back(offsets[i]);
            } else {
              outcome->refused.push_back({offsets[i],
                                          "forwarding to topic \"" + self->config().target_topic + "\" failed: " + s.to_string(),
                                          refused_for_good(s)});
            }
          }
          // The completion may run on a log's sync thread: the acks take the coordinator's
          // mutex, so they go to the storage pool.
          const std::shared_ptr<ForwardGate>& gate = self->gate_;
          std::lock_guard lk(gate->mu);
          if (gate->co == nullptr) {
            --gate->outstanding;
            gate->idle.notify_all();
            return;
          }
          gate->co->executor_([self, outcome] {
            through_gate(self->gate_, [&](Coordinator& co) { co.forward_done(self, std::move(*outcome)); });
            std::lock_guard inner(self->gate_->mu);
            --self->gate_->outstanding;
            self->gate_->idle.notify_all();
          });
        });
    return PushResult::kQueued;
  }

 private:
  Coordinator& co_;
  const std::shared_ptr<ForwardGate> gate_;
  const uint32_t source_topic_id_;
};

// The target topic must exist, and following the targets of every subscription from it
// must not lead back to this subscription's topic (a loop would forward for ever: each
// copy is a new event, with its own dedup key, in the next topic).
Status Coordinator::check_target(const meta::SubscriptionConfig& config) {
  if (config.has_input_transform()) {
    CAUSEWAY_RETURN_IF_ERROR(
        rules::InputTransform::create(config.input_path, config.input_paths, config.input_template).status());
  }
  if (!config.http.url.empty()) {
    CAUSEWAY_RETURN_IF_ERROR(HttpEndpoint::parse(config.http.url).status());
    return validate_http_headers(config.http.headers);
  }
  auto target = store_.get_topic(config.target_topic);
  if (!target && target.error().code() == Code::kNotFound) {
    return not_found("target topic \"" + config.target_topic + "\" of subscription \"" + config.name +
                     "\" does not exist; create it first (causeway topic create " + config.target_topic + ")");
  }
  if (!target) return target.error();
  CAUSEWAY_ASSIGN_OR_RETURN(const std::vector<meta::SubscriptionConfig> all, store_.meta().list_subscriptions(""));
  std::multimap<std::string, const meta::SubscriptionConfig*> edges;  // topic -> subscriptions forwarding from it
  for (const auto& s : all)
    if (!s.target_topic.empty() && s.name != config.name) edges.emplace(s.topic, &s);
  // Depth-first from the target topic, remembering the path for the message.
  std::vector<std::pair<std::string, std::string>> path;  // (subscription, topic it forwards to)
  std::set<std::string> seen;
  std::function<bool(const std::string&)> reaches = [&](const std::string& topic) -> bool {
    if (topic == config.topic) return true;
    if (!seen.insert(topic).second) return false;
    for (auto [it, end] = edges.equal_range(topic); it != end; ++it) {
      path.emplace_back(it->second->name, it->second->target_topic);
      if (reaches(it->second->target_topic)) return true;
      path.pop_back();
    }
    return false;
  };
  if (reaches(config.target_topic)) {
    std::string chain = config.topic + " -> " + config.target_topic + " (this subscription)";
    for (const auto& [sub, topic] : path) chain += " -> " + topic + " (subscription " + sub + ")";
    return invalid_argument("subscription \"" + config.name + "\" would forward events in a loop: " + chain +
                            "; every event would be forwarded for ever. Pick another target topic");
  }
  return Status();
}

// A target that cannot start is retried by the sweeper once a second, and says why at
// most once per 30 s (a deleted source topic would otherwise log every sweep).
void Coordinator::target_failed(const std::string& name, const std::string& why) {
  const auto now = Clock::now();
  bool log = false;
  {
    std::lock_guard lk(mu_);
    targets_.try_emplace(name);
    TargetRetry& r = target_retries_[name];
    r.next = now + std::chrono::seconds(1);
    if (r.logged == Clock::time_point() || now - r.logged >= std::chrono::seconds(30)) {
      r.logged = now;
      log = true;
    }
  }
  if (log) spdlog::warn("subscription {}: {}; retrying every second", name, why);
}

// One call per subscription at a time (a create, the sweeper and start() may ask together):
// a call that finds another running asks it to look once more and returns, so that two
// calls never each join a forwarder.
void Coordinator::ensure_target(const std::string& name) {
  {
    std::lock_guard lk(mu_);
    auto [it, first] = targets_starting_.try_emplace(name, false);
    if (!first) {
      it->second = true;
      return;
    }
  }
  for (;;) {
    start_target(name);
    std::lock_guard lk(mu_);
    auto it = targets_starting_.find(name);
    if (!std::exchange(it->second, false)) {
      targets_starting_.erase(it);
      return;
    }
  }
}

bool Coordinator::target_is_running_locked(std::string_view name, const std::shared_ptr<TargetSink>& forwarder,
                                           int64_t created_ms) const {
  if (!forwarder || forwarder->is_closed() || forwarder->config().created_ms != created_ms) return false;
  auto g = groups_.find(name);
  if (g == groups_.end() || g->second->config.created_ms != created_ms) return false;
  for (const auto& [id, m] : g->second->members)
    if (m.sink == forwarder) return true;
  return false;
}

// A forwarder that is replaced or stopped leaves its group at once, as a closed
// connection's members do: left there it would keep its partitions (an HTTP forwarder
// whose queue was full when it closed is never pushed again, so never found closed).
void Coordinator::retire_target_locked(std::string_view name, const std::shared_ptr<TargetSink>& forwarder) {
  forwarder->close();
  auto it = groups_.find(name);
  if (it == groups_.end()) return;
  const std::shared_ptr<Group> g = it->second;
  std::vector<uint64_t> gone;
  for (const auto& [id, m] : g->members)
    if (m.sink == forwarder) gone.push_back(id);
  if (gone.empty()) return;
  for (uint64_t id : gone) remove_member_locked(*g, id);
  for (uint32_t p = 0; p < g->partitions.size(); ++p) schedule_pump_locked(g, p);
}

void Coordinator::start_target(const std::string& name) {
  auto config = store_.meta().get_subscription(name);
  if (!config && config.error().code() != Code::kNotFound) {
    target_failed(name, "reading it failed (" + config.status().to_string() + ")");
    return;
  }
  if (!config || !config->has_target()) {
    std::lock_guard lk(mu_);
    stop_target_locked(name);
    return;
  }
  auto topic = store_.get_topic(config->topic);
  if (!topic) {
    target_failed(name, "its topic " + config->topic + " cannot be read (" + topic.error().to_string() + ")");
    return;
  }
  std::shared_ptr<const rules::InputTransform> transform;
  if (config->has_input_transform()) {
    auto made = rules::InputTransform::create(config->input_path, config->input_paths, config->input_template);
    if (!made) {
      target_failed(name, "its input transformation is not valid: " + made.status().to_string());
      return;
    }
    transform = std::move(*made);
  }
  // Parsed before taking mu_: a stored URL that does not parse (a subscription written by
  // an older broker) is reported through target_failed, which takes mu_.
  std::optional<HttpEndpoint> endpoint;
  if (!config->http.url.empty()) {
    auto parsed = HttpEndpoint::parse(config->http.url);
    if (!parsed) {
      target_failed(name, parsed.status().to_string());
      return;
    }
    endpoint = std::move(*parsed);
  }
  std::shared_ptr<TargetSink> target;
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    if (auto t = targets_.find(name); t != targets_.end() && target_is_running_locked(name, t->second, config->created_ms)) {
      target_retries_.erase(name);
      return;  // this incarnation's forwarder is a member already
    }
    const uint64_t connection = kInternalConnectionBase + next_internal_connection_++;
    if (endpoint) {
      target = make_http_forwarder(connection, *config, transform, std::move(*endpoint), topic->topic_id);
    } else {
      target = std::make_shared<TopicForwarder>(*this, connection, *config, transform, topic->topic_id);
    }
  }
  const std::string where = target->kind() + ":" + target->destination();
  auto joined = join(target, name, config->topic, target->credit_events(), 0, false, meta::SubscriptionConfig{},
                     "causeway target " + where);
  if (!joined) {
    target->close();
    target_failed(name, "forwarding to " + where + " cannot start: " + joined.status().to_string());
    return;
  }
  target->start();
  std::lock_guard lk(mu_);
  target_retries_.erase(name);
  auto& slot = targets_[name];
  if (slot && slot != target) retire_target_locked(name, slot);
  slot = target;
  spdlog::info("subscription {}: forwarding matching events of {} to {}", name, config->topic, where);
}

// stop(): waits for the forward publishes in flight to record their outcome (acks after
// stopping_ are refused, so those events are forwarded again after a restart and
// deduplicated by the target), then closes the gate. A publish still pending after the
// bound (a schema lookup that hangs) is dropped when it completes.
void Coordinator::close_forward_gate() {
  std::unique_lock lk(forward_gate_->mu);
  if (!forward_gate_->idle.wait_for(lk, std::chrono::seconds(30), [&] { return forward_gate_->outstanding == 0; })) {
    spdlog::error("{} forward publish(es) did not complete within 30 s of the stop; their events are forwarded "
                  "again after the restart",
                  forward_gate_->outstanding);
  }
  forward_gate_->co = nullptr;
  forward_gate_->idle.wait(lk, [&] { return forward_gate_->recording == 0; });  // short: no I/O
}

void Coordinator::stop_target_locked(std::string_view name) {
  if (auto t = targets_.find(name); t != targets_.end()) {
    if (t->second) retire_target_locked(name, t->second);
    targets_.erase(t);
  }
  if (auto r = target_retries_.find(name); r != target_retries_.end()) target_retries_.erase(r);
}

void Coordinator::stop_target_locked(std::string_view name, int64_t created_ms) {
  auto t = targets_.find(name);
  if (t != targets_.end() && t->second && t->second->config().created_ms == created_ms) stop_target_locked(name);
}

// Every sweep: a target whose member is gone (its group was deleted or re-created, or it
// could not join yet) joins again. Costs one look per subscription with a target.
void Coordinator::ensure_targets() {
  std::vector<std::string> missing;
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    const auto now = Clock::now();
    for (const auto& [name, forwarder] : targets_) {
      if (auto r = target_retries_.find(name); r != target_retries_.end() && r->second.next > now) continue;
      if (!forwarder || !target_is_running_locked(name, forwarder, forwarder->config().created_ms))
        missing.push_back(name);
    }
  }
  for (const std::string& name : missing) ensure_target(name);
}

void Coordinator::forward_done(const std::shared_ptr<TargetSink>& forwarder, ForwardOutcome outcome) {
  const std::string& name = forwarder->config().name;
  uint32_t accepted = 0;
  Status acked;
  if (!outcome.stored.empty()) {
    acked = ack(forwarder->connection_id(), name, outcome.member_id, outcome.partition, outcome.stored, accepted);
  }
  uint32_t retried = 0;
  std::string last_error;
  for (ForwardOutcome::Refusal& r : outcome.refused) {
    uint32_t n = 0;
    last_error = r.reason;
    // The target's own wait or the subscription's backoff for the attempt; past max
    // attempts, or refused for good, the dead-letter topic.
    (void)nack(forwarder->connection_id(), name, outcome.member_id, outcome.partition, {r.offset}, r.delay,
               std::move(r.reason), n, r.permanent);
    if (!r.permanent) retried += n;
  }
  std::lock_guard lk(mu_);
  auto g = groups_.find(name);
  if (g == groups_.end() || g->second->config.created_ms != forwarder->config().created_ms) return;
  Group& group = *g->second;
  group.target_delivered += accepted;
  group.target_retried += retried;
  if (!last_error.empty()) {
    if (group.target_last_error.empty() || storage::now_ms() - group.target_last_error_ms > 30'000) {
      spdlog::warn("subscription {}: {} event(s) of {}/{} not forwarded: {}", name, outcome.refused.size(),
                   group.topic.name, outcome.partition, last_error);
    }
    group.target_last_error = std::move(last_error);
    group.target_last_error_ms = storage::now_ms();
  }
  if (!acked.ok()) {
    // The member lost the partition meanwhile (its group was reloaded): the events come
    // again to the next member, and the dedup keys keep the target from storing them twice.
    spdlog::debug("subscription {}: acking forwarded events failed: {}", name, acked.to_string());
  }
}

std::optional<TargetDescription> Coordinator::describe_target(std::string_view name) {
  std::lock_guard lk(mu_);
  auto g = groups_.find(name);
  if (g == groups_.end() || !g->second->config.has_target()) return std::nullopt;
  const Group& group = *g->second;
  TargetDescription d;
  if (!group.config.http.url.empty()) {
    d.kind = "http";
    auto endpoint = HttpEndpoint::parse(group.config.http.url);
    d.destination = endpoint ? endpoint->display() : group.config.http.url;
  } else {
    d.kind = "topic";
    d.destination = group.config.target_topic;
  }
  d.delivered = group.target_delivered;
  d.retried = group.target_retried;
  d.dead_lettered = group.dead_lettered;
  for (const PartitionState& ps : group.partitions) d.in_flight += static_cast<uint32_t>(ps.delivery.in_flight().size());
  d.last_error = group.target_last_error;
  d.last_error_ms = group.target_last_error_ms;
  return d;
}

}  // namespace causeway::subscribe
