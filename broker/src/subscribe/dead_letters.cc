// Coordinator dead letters: an event that ran out of attempts, outlived the subscription's
// max age or cannot fit in a Delivery frame is published to the dead-letter topic with
// headers saying why, then acked for the group. A failed publish is retried with a growing
// delay. See coordinator.h and docs/subscriptions.md ("Dead letters").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <span>

#include "subscribe/coordinator_state.h"

namespace causeway::subscribe {
namespace {

// A failed dead-letter publish is retried after 1 s, doubling per consecutive failure of
// the partition up to this; the error is logged at most once per kDeadLetterLogInterval.
constexpr auto kDeadLetterFirstRetry = std::chrono::seconds(1);
constexpr auto kDeadLetterMaxRetry = std::chrono::seconds(60);
constexpr auto kDeadLetterLogInterval = std::chrono::seconds(30);

}  // namespace

void Coordinator::dead_letter(std::shared_ptr<Group> g, uint32_t partition, uint64_t offset, uint32_t attempts,
                              std::string reason) {
  const Status outcome = publish_dead_letter(*g, partition, offset, attempts, reason);
  std::lock_guard lk(mu_);
  dead_letter_done_locked(g, partition, offset, reason, outcome);
}

// Publishes the event at `offset` to the group's dead-letter topic (creating the default
// "<topic>.dlq" when it went missing), with its key, source, type, headers and payload kept
// and causeway-dlq-* headers added. Idempotent: its dedup key names the subscription,
// partition and offset, so a crash between the publish and the ack's commit stores it once.
Status Coordinator::publish_dead_letter(const Group& g, uint32_t partition, uint64_t offset, uint32_t attempts,
                                        const std::string& reason) {
  return publish_dead_letter(g.config, g.topic.name, partition, offset, attempts, reason, "");
}

Status Coordinator::publish_dead_letter(const meta::SubscriptionConfig& config, const std::string& topic_name,
                                        uint32_t partition, uint64_t offset, uint32_t attempts,
                                        const std::string& reason, std::string_view replay) {
  const std::string& dlq = config.dead_letter_topic;
  auto log = store_.partition(topic_name, partition);
  if (!log) return not_found("source partition " + topic_name + "/" + std::to_string(partition) + " is gone");
  auto topic = store_.get_topic(dlq);
  if (!topic && topic.error().code() == Code::kNotFound && dlq == topic_name + ".dlq") {
    // The default dead-letter topic is created when missing (e.g. deleted since the
    // subscription was created); a topic the user named is theirs to create.
    meta::TopicConfig dlq_config;
    dlq_config.name = dlq;
    dlq_config.partitions = 1;
    CAUSEWAY_RETURN_IF_ERROR(store_.create_topic(dlq_config).status());
  } else if (!topic && topic.error().code() == Code::kNotFound) {
    return not_found("dead-letter topic \"" + dlq + "\" does not exist; create it (causeway topic create " + dlq + ")");
  } else if (!topic) {
    return topic.error();
  }
  CAUSEWAY_ASSIGN_OR_RETURN(const OwnedRecord owned, read_record(*log, offset));
  const batch::RecordView& rec = owned.view;
  const std::string attempts_text = std::to_string(attempts);
  const std::string partition_text = std::to_string(partition);
  const std::string offset_text = std::to_string(offset);
  const std::string lamport_text = std::to_string(rec.lamport);
  const std::string time_text = std::to_string(rec.time_ms);
  std::vector<batch::Header> headers = rec.headers;
  headers.push_back({"causeway-dlq-reason", reason});
  headers.push_back({"causeway-dlq-attempts", attempts_text});
  headers.push_back({"causeway-dlq-subscription", config.name});
  headers.push_back({"causeway-dlq-topic", topic_name});
  headers.push_back({"causeway-dlq-partition", partition_text});
  headers.push_back({"causeway-dlq-offset", offset_text});
  headers.push_back({"causeway-dlq-lamport", lamport_text});
  headers.push_back({"causeway-dlq-time-ms", time_text});
  if (!rec.dedup_key.empty()) headers.push_back({"causeway-dlq-dedup-key", rec.dedup_key});
  if (!replay.empty()) headers.push_back({"causeway-replay", replay});
  // A replay's dead letter is another event than the live one's: its key names the replay.
  const std::string dedup = replay.empty() ? "dlq/" + config.name + "/" + partition_text + "/" + offset_text
                                           : "dlq/" + config.name + "/replay/" + std::string(replay) + "/" +
                                                 partition_text + "/" + offset_text;
  core::PublishEvent e;
  e.record = batch::RecordInput{rec.key, dedup, rec.source, rec.type, headers, rec.schema_id, rec.payload};
  CAUSEWAY_ASSIGN_OR_RETURN(const std::vector<core::EventAck> acks,
                            publish_.publish(dlq, std::span<const core::PublishEvent>(&e, 1), rec.lamport, 0));
  return acks[0].status;
}

// Records a dead-letter publish's outcome: the offset counts as acked, or it waits for a
// retry with a growing delay (the partition's other events keep flowing meanwhile, up to
// the window), logged at most once per interval, so that a dead-letter topic that stays
// broken neither spins nor floods the log but is never silent.
void Coordinator::dead_letter_done_locked(const std::shared_ptr<Group>& g, uint32_t partition, uint64_t offset,
                                          const std::string& reason, const Status& outcome) {
  const std::string& dlq = g->config.dead_letter_topic;
  PartitionState& ps = g->partitions[partition];
  const auto now = Clock::now();
  if (outcome.ok()) {
    ps.delivery.dead_lettered(offset);
    ++stats_.dead_lettered;
    ++g->dead_lettered;
    spdlog::info("group {}: {}/{} offset {} dead-lettered to {}: {}", g->config.name, g->topic.name, partition, offset,
                 dlq, reason);
    if (ps.dead_letter_failures > 0) {
      spdlog::info("group {}: dead-lettering {}/{} to {} works again after {} failure(s)", g->config.name,
                   g->topic.name, partition, dlq, ps.dead_letter_failures);
    }
    ps.dead_letter_failures = 0;
  } else {
    ++stats_.dead_letter_failures;
    ++ps.dead_letter_failures;
    const auto delay = std::min<Clock::duration>(
        kDeadLetterMaxRetry, kDeadLetterFirstRetry * (uint64_t{1} << std::min<uint32_t>(ps.dead_letter_failures - 1, 6)));
    if (ps.dead_letter_failures == 1 || now - ps.dead_letter_logged_at >= kDeadLetterLogInterval) {
      spdlog::error("group {}: dead-lettering {}/{} offset {} to {} failed: {}; retrying in {} ms ({} failure(s) in a "
                    "row, {} not logged)",
                    g->config.name, g->topic.name, partition, offset, dlq, outcome.to_string(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(delay).count(), ps.dead_letter_failures,
                    ps.dead_letter_failures_unlogged);
      ps.dead_letter_logged_at = now;
      ps.dead_letter_failures_unlogged = 0;
    } else {
      ++ps.dead_letter_failures_unlogged;
    }
    ps.delivery.dead_letter_failed(offset, now + delay, reason);
    schedule_timer_locked(g, partition, now + delay);
  }
  schedule_pump_locked(g, partition);
}

}  // namespace causeway::subscribe
