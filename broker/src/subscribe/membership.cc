// Coordinator membership: joining, leaving, credit, heartbeats, partition assignment and
// the member lookup every member request shares. See coordinator.h.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "subscribe/coordinator_state.h"

namespace causeway::subscribe {

// The member lookup and its errors, shared by every member request.

Status no_active_group(std::string_view name) {
  return Status(Code::kNotFound, Reason::kSubscriptionNotFound,
                "subscription \"" + std::string(name.substr(0, 255)) + "\" has no active group on this broker; subscribe first");
}

Status shutting_down() { return unavailable("the broker is shutting down; the request changed nothing"); }

Result<JoinResult> Coordinator::join(std::shared_ptr<DeliverySink> sink, std::string_view subscription,
                                     std::string_view topic, uint32_t credit_events, uint32_t credit_bytes,
                                     bool create_if_missing, const meta::SubscriptionConfig& create_settings,
                                     std::string client_name,
                                     const std::function<void(const JoinResult&)>& announce) {
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
    if (options_.on_join_create_for_test) options_.on_join_create_for_test();
    meta::SubscriptionConfig config = create_settings;
    config.name = std::string(subscription);
    config.topic = std::string(topic);
    existing = create_subscription(config);
    if (!existing && existing.error().code() != Code::kAlreadyExists) return existing.error();
    // Another subscriber created it first, with other settings: the pattern check below
    // applies to what it created, as if it had been there before this join.
    if (!existing) existing = store_.meta().get_subscription(subscription);
  }
  if (!existing) {
    if (existing.error().code() == Code::kNotFound) {
      return not_found("subscription \"" + std::string(subscription) +
                       "\" does not exist; create it (causeway subscription create) or subscribe with create_if_missing");
    }
    return existing.error();
  } else if (!create_settings.pattern.empty() && !same_pattern(existing->pattern, create_settings.pattern)) {
    // An ad-hoc filtered subscriber must not silently get another filter's events.
    return failed_precondition("subscription \"" + std::string(subscription) + "\" exists with " +
                               (existing->pattern.empty() ? std::string("no pattern") : "another pattern") +
                               "; subscribe without a pattern to use its own, change it with causeway subscription "
                               "update " + std::string(subscription) + " --pattern, or pick another subscription name");
  }
  CAUSEWAY_ASSIGN_OR_RETURN(std::shared_ptr<Group> g, load_group(subscription));
  if (!topic.empty() && g->config.topic != topic) {
    return invalid_argument("subscription \"" + g->config.name + "\" is on topic \"" + g->config.topic +
                            "\", not \"" + std::string(topic) + "\"");
  }
  if (!g->config.target_topic.empty() && !sink->internal()) {
    return failed_precondition("subscription \"" + g->config.name + "\" forwards its events to topic \"" +
                               g->config.target_topic + "\" (its target), so subscribers cannot join it; subscribe to " +
                               g->config.target_topic + " or create another subscription");
  }
  if (!g->config.http.url.empty() && !sink->internal()) {
    return failed_precondition("subscription \"" + g->config.name +
                               "\" sends its events to an HTTP endpoint (its target), so subscribers cannot join it; "
                               "create another subscription on topic " + g->config.topic);
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
  m.internal = m.sink->internal();
  JoinResult result{m.member_id, static_cast<uint32_t>(options_.session_timeout.count())};
  schedule_timer_locked(g, kSessionTimer, m.last_seen + options_.session_timeout + std::chrono::milliseconds(1));
  g->members.emplace(m.id, std::move(m));
  rebalance_locked(*g);
  // A pump selects events for the new member only after taking mu_, which this join holds
  // until it returns, so whatever `announce` queues is queued before the member's first
  // Delivery: a client never gets events for a member id it has not been told yet.
  if (announce) announce(result);
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
  return Status(Code::kUnavailable, Reason::kUnknownGroupMember,
                "unknown group member \"" + std::string(member_id.substr(0, 64)) + "\" in group \"" + g.config.name +
                    "\" (it expired, left, or joined on another connection); subscribe again");
}

Result<Coordinator::MemberRef> Coordinator::member_locked(uint64_t connection_id, std::string_view subscription,
                                                           std::string_view member_id) {
  if (stopping_) return shutting_down();
  auto it = groups_.find(subscription);
  if (it == groups_.end()) return no_active_group(subscription);
  CAUSEWAY_ASSIGN_OR_RETURN(Member * m, find_member_locked(*it->second, connection_id, member_id));
  return MemberRef{it->second, m};
}

Status Coordinator::heartbeat(uint64_t connection_id, std::string_view subscription, std::string_view member_id) {
  std::lock_guard lk(mu_);
  return member_locked(connection_id, subscription, member_id).status();  // finding it renews its session
}

Status Coordinator::leave(uint64_t connection_id, std::string_view subscription, std::string_view member_id,
                          bool release_unprocessed, const std::map<uint32_t, std::set<uint64_t>>& processing) {
  std::lock_guard lk(mu_);
  CAUSEWAY_ASSIGN_OR_RETURN(const MemberRef ref, member_locked(connection_id, subscription, member_id));
  const std::shared_ptr<Group>& g = ref.group;
  Member* m = ref.member;
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
  CAUSEWAY_ASSIGN_OR_RETURN(const MemberRef ref, member_locked(connection_id, subscription, member_id));
  Member* m = ref.member;
  const uint32_t events = credit_events == 0 ? options_.default_credit_events : credit_events;
  const uint32_t bytes = credit_bytes == 0 ? options_.default_credit_bytes : credit_bytes;
  CAUSEWAY_RETURN_IF_ERROR(check_connection_limits_locked(connection_id, *ref.group, events, bytes, m));
  m->credit.max_events = events;
  m->credit.max_bytes = bytes;
  schedule_member_pumps_locked(ref.group, *m);
  return Status();
}

}  // namespace causeway::subscribe
