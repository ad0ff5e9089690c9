// Coordinator: subscriptions, group loading and description, and the notifications that
// wake delivery (appends, closed connections, drained sinks). The other jobs are in
// membership.cc, acks.cc, delivery_pump.cc and dead_letters.cc. See coordinator.h and
// docs/subscriptions.md.
#include "subscribe/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>

#include "subscribe/coordinator_state.h"

namespace causeway::subscribe {
namespace {

std::string random_instance() {
  std::random_device rd;
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", rd());
  return buf;
}

}  // namespace

Coordinator::Coordinator(core::EventStore& store, core::PublishPipeline& publish, Executor executor,
                         CoordinatorOptions options)
    : store_(store),
      publish_(publish),
      executor_(std::move(executor)),
      options_(options),
      instance_(random_instance()),
      payload_schemas_(options_.payload_schema),
      read_cache_(options_.read_cache_bytes) {
  forward_gate_->co = this;
}

Coordinator::~Coordinator() { stop(); }

void Coordinator::start() {
  {
    std::lock_guard lk(mu_);
    if (sweeper_.joinable() || stopping_) return;
    start_sweeper_locked();
  }
  // The stored subscriptions with a target start forwarding (an unreadable list is
  // retried by nobody: it means the meta store is broken, and the broker says so).
  auto all = store_.meta().list_subscriptions("");
  if (!all) {
    spdlog::error("rule targets cannot start: listing the subscriptions failed: {}", all.status().to_string());
    return;
  }
  for (const auto& s : *all)
    if (s.has_target()) ensure_target(s.name);
  resume_replays();
}

void Coordinator::start_sweeper_locked() {
  sweeper_ = std::thread([this] {
    std::unique_lock sweeper_lock(mu_);
    while (!stopping_) {
      sweep_cv_.wait_for(sweeper_lock, options_.sweep_interval);
      if (stopping_) break;
      sweeper_lock.unlock();
      sweep();
      flush_commits();
      compile_topic_patterns();
      ensure_targets();
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
  stop_replays();
  close_http_targets();
  close_forward_gate();
  flush_commits();
}

CoordinatorStats Coordinator::stats() const {
  std::lock_guard lk(mu_);
  CoordinatorStats s = stats_;
  s.in_flight = 0;
  for (const auto& [name, g] : groups_)
    for (const auto& p : g->partitions) s.in_flight += p.delivery.in_flight().size();
  const ReadCache::Stats reads = read_cache_.stats();
  s.shared_reads = reads.hits;
  s.log_reads = reads.misses;
  return s;
}

Clock::duration Coordinator::redelivery_delay(const Group& g, uint32_t attempt) const {
  return retry_delay(g.config.backoff, g.config.max_backoff, attempt);
}

// ---------------------------------------------------------------- subscriptions

Result<meta::SubscriptionConfig> Coordinator::create_subscription(meta::SubscriptionConfig config) {
  // The meta store decides between an identical re-create (returns the existing one) and a
  // different one (kAlreadyExists).
  if (!config.pattern.empty()) CAUSEWAY_RETURN_IF_ERROR(EventFilter::compile(config.pattern).status());
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
  // The same pattern spelled with other spacing or key order is an identical re-create.
  if (existing && same_pattern(existing->pattern, config.pattern)) config.pattern = existing->pattern;
  if (!config.has_target()) return store_.meta().create_subscription(std::move(config), start);
  // A target: checked for loops and created as one step, so that two creates cannot each
  // pass the check and close a loop together; then it starts forwarding.
  CAUSEWAY_RETURN_IF_ERROR(config.validate());
  Result<meta::SubscriptionConfig> created = internal_error("not created");
  {
    std::lock_guard create_lock(target_create_mu_);
    CAUSEWAY_RETURN_IF_ERROR(check_target(config));
    created = store_.meta().create_subscription(std::move(config), start);
  }
  // An identical re-create returns the stored subscription, whose target already runs (or
  // is retried by the sweeper): only a new incarnation starts one. A second forwarder
  // would join the group beside the first.
  if (created && (!existing || existing->created_ms != created->created_ms)) ensure_target(created->name);
  return created;
}

Result<meta::SubscriptionConfig> Coordinator::update_subscription_pattern(std::string_view name, std::string pattern) {
  std::shared_ptr<const EventFilter> filter;
  if (!pattern.empty()) {
    CAUSEWAY_ASSIGN_OR_RETURN(filter, EventFilter::compile(pattern));
  }
  std::lock_guard update_lock(pattern_update_mu_);
  CAUSEWAY_ASSIGN_OR_RETURN(meta::SubscriptionConfig updated,
                            store_.meta().update_subscription_pattern(name, std::move(pattern)));
  std::lock_guard lk(mu_);
  // A group being loaded may have read the old pattern: it reads again before it is used.
  ++load_invalidations_;
  if (auto it = groups_.find(name); it != groups_.end() && it->second->config.created_ms == updated.created_ms) {
    // Reads planned from now on use the new filter; events read before are decided.
    Group& g = *it->second;
    g.config.pattern = updated.pattern;
    g.filter = std::move(filter);
    patterns_changed_locked(g.topic.name);
    spdlog::info("group {}: pattern {}", g.config.name, g.filter ? "changed" : "removed (every event)");
  }
  return updated;
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
  CAUSEWAY_ASSIGN_OR_RETURN(const meta::SubscriptionConfig deleted, store_.meta().delete_subscription(name));
  if (options_.on_subscription_deleted_for_test) options_.on_subscription_deleted_for_test();
  {
    // A create of the same name may have committed since, and started its own target and
    // group: only what belongs to the deleted incarnation goes. (A target that could not
    // start yet has no incarnation; the sweeper's next try stops it if nothing is left.)
    std::lock_guard lk(mu_);
    stop_target_locked(name, deleted.created_ms);
    auto it = groups_.find(name);
    if (it != groups_.end() && it->second->config.created_ms == deleted.created_ms) erase_group_locked(it->second);
  }
  // Its running replays stop now rather than at their next chunk.
  fail_replays_of(name, deleted.created_ms, "subscription \"" + std::string(name) + "\" was deleted");
  return Status();
}

void Coordinator::insert_group_locked(const std::shared_ptr<Group>& g) {
  groups_.emplace(g->config.name, g);
  groups_by_topic_[g->topic.name].push_back(g);
  // Every change a flush must write turns a partition dirty, under the mutex: list the
  // group then (a reset at load may already have).
  const std::weak_ptr<Group> weak = g;
  const auto list = [this, weak] {
    auto group = weak.lock();
    if (!group || group->dirty_listed) return;
    group->dirty_listed = true;
    dirty_groups_.push_back(group);
  };
  for (PartitionState& ps : g->partitions) {
    ps.delivery.set_on_dirty(list);
    if (ps.delivery.take_dirty()) ps.delivery.mark_dirty();  // dirty from the reset: listed now
  }
  if (g->filter) patterns_changed_locked(g->topic.name);
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
  if (g->filter) patterns_changed_locked(g->topic.name);
}

// A filtered group of `topic` was loaded or dropped, or changed its pattern: the topic's
// compiled patterns no longer fit, and its filtered groups match on their own until the
// sweeper compiles them together again (compile_topic_patterns).
void Coordinator::patterns_changed_locked(std::string_view topic) {
  auto it = groups_by_topic_.find(topic);
  if (it != groups_by_topic_.end()) {
    for (const std::shared_ptr<Group>& g : it->second) g->patterns = nullptr;
  }
  auto change = pattern_changes_.find(topic);
  if (change == pattern_changes_.end()) change = pattern_changes_.emplace(std::string(topic), 0).first;
  ++change->second;
}

// Outside the mutex: compiling N patterns takes about N × 1 µs (bench/micro pattern_bench,
// BM_Pattern_CompileTogether), and the sweeper compiles a topic at most once per sweep
// however many of its groups load meanwhile.
void Coordinator::compile_topic_patterns() {
  struct Work {
    std::string topic;
    uint64_t change = 0;
    std::vector<std::shared_ptr<Group>> groups;
    std::vector<std::shared_ptr<const rules::Pattern>> patterns;
    std::shared_ptr<const TopicPatterns> compiled;
  };
  std::vector<Work> work;
  {
    std::lock_guard lk(mu_);
    for (const auto& [topic, change] : pattern_changes_) {
      Work w{topic, change, {}, {}, nullptr};
      if (auto it = groups_by_topic_.find(topic); it != groups_by_topic_.end()) {
        for (const std::shared_ptr<Group>& g : it->second) {
          if (!g->filter) continue;
          w.groups.push_back(g);
          w.patterns.push_back(g->filter->pattern());
        }
      }
      work.push_back(std::move(w));
    }
  }
  for (Work& w : work) {
    if (w.patterns.empty()) continue;
    auto c = TopicPatterns::compile(w.patterns);
    if (c) {
      w.compiled = std::move(*c);
    } else {
      // Each pattern compiled alone, so this is not expected; the groups match alone.
      spdlog::warn("topic {}: its {} patterns do not compile together ({}); each group matches on its own", w.topic,
                   w.patterns.size(), c.error().to_string());
    }
  }
  std::lock_guard lk(mu_);
  for (Work& w : work) {
    auto change = pattern_changes_.find(w.topic);
    if (change == pattern_changes_.end() || change->second != w.change) continue;  // changed again: next sweep
    pattern_changes_.erase(change);
    if (!w.compiled) continue;
    for (uint32_t slot = 0; slot < w.groups.size(); ++slot) {
      w.groups[slot]->patterns = w.compiled;
      w.groups[slot]->slot = slot;
    }
  }
}

Result<meta::SubscriptionConfig> Coordinator::get_subscription(std::string_view name) {
  return store_.meta().get_subscription(name);
}

std::optional<std::string> Coordinator::loaded_topic_of(std::string_view subscription) {
  std::lock_guard lk(mu_);
  const auto it = groups_.find(subscription);
  if (it == groups_.end() || it->second->deleted) return std::nullopt;
  return it->second->config.topic;
}

Result<std::vector<meta::SubscriptionConfig>> Coordinator::list_subscriptions(std::string_view topic) {
  return store_.meta().list_subscriptions(topic);
}

// ---------------------------------------------------------------- groups

Result<std::shared_ptr<Coordinator::Group>> Coordinator::load_group(std::string_view name) {
  // LMDB and log reads outside the mutex; a concurrent loader may win, then its group is used.
  uint64_t invalidations = 0;
  {
    std::lock_guard lk(mu_);
    invalidations = load_invalidations_;
  }
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
  if (!config.pattern.empty()) {
    auto filter = EventFilter::compile(config.pattern);
    if (!filter) {
      // Stored by a broker whose pattern rules differed: deliver nothing rather than everything.
      return failed_precondition("subscription \"" + config.name + "\" has a stored pattern this broker refuses (" +
                                 std::string(filter.error().message()) +
                                 "); change it with causeway subscription update --pattern");
    }
    g->filter = std::move(*filter);
  }
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
  {
    std::lock_guard lk(mu_);
    if (auto it = groups_.find(name); it != groups_.end()) return it->second;
    if (load_invalidations_ == invalidations) {
      insert_group_locked(g);
      // Appends that completed between the reads above and this insert were not seen by
      // on_append (the group was not in groups_ yet): catch up with the logs now.
      for (uint32_t p = 0; p < g->partitions.size(); ++p) {
        if (auto log = store_.partition(g->topic.name, p))
          g->partitions[p].end_offset = std::max(g->partitions[p].end_offset, log->high_watermark());
      }
      return g;
    }
  }
  // What was read may be stale (its topic deleted or its pattern updated meanwhile, when
  // there was no group to drop or update yet): read it again. Such changes are rare
  // admin requests.
  return load_group(name);
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
    pd.matched = ps.matched;
    pd.filtered = ps.filtered;
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

void Coordinator::topic_deleted(std::string_view topic) {
  // A re-create may have committed already; groups loaded from it stay.
  auto current = store_.get_topic(topic);
  std::lock_guard lk(mu_);
  ++load_invalidations_;
  auto it = groups_by_topic_.find(topic);
  if (it == groups_by_topic_.end()) return;
  std::vector<std::shared_ptr<Group>> stale;
  for (const std::shared_ptr<Group>& g : it->second)
    if (!current || g->topic.topic_id != current->topic_id) stale.push_back(g);
  for (const std::shared_ptr<Group>& g : stale) {
    spdlog::info("group {}: topic {} was deleted; dropping the group (its members join again)", g->config.name, topic);
    erase_group_locked(g);
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
    if (ps.owner != 0) {
      if (options_.on_delivery_timing && ps.notified_at == Clock::time_point{}) ps.notified_at = Clock::now();
      schedule_pump_locked(g, partition);
    }
  }
}

void Coordinator::sink_drained(uint64_t connection_id) {
  std::lock_guard lk(mu_);
  for (auto& [name, g] : groups_) {
    for (const auto& [id, m] : g->members)
      if (m.connection_id == connection_id) schedule_member_pumps_locked(g, m);
  }
}

void Coordinator::sink_drained(uint64_t connection_id, std::string_view subscription) {
  std::lock_guard lk(mu_);
  auto g = groups_.find(subscription);
  if (g == groups_.end()) return;
  for (const auto& [id, m] : g->second->members)
    if (m.connection_id == connection_id) schedule_member_pumps_locked(g->second, m);
}

}  // namespace causeway::subscribe
