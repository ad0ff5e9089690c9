// Publish semantics: partitioning, deduplication (stored, in-flight, within a request),
// one append per partition. See publish_pipeline.h and docs/wire-protocol.md.
#include "core/publish_pipeline.h"

#include <xxhash.h>

#include <unordered_map>

namespace causeway::core {

uint32_t partition_for_key(std::string_view key, uint32_t partitions) {
  return static_cast<uint32_t>(XXH3_64bits(key.data(), key.size()) % partitions);
}

Result<std::vector<EventAck>> PublishPipeline::publish(std::string_view topic_name,
                                                       std::span<const PublishEvent> events,
                                                       uint64_t client_lamport, uint32_t round_robin_hint) {
  CAUSEWAY_ASSIGN_OR_RETURN(const meta::TopicConfig topic, store_.get_topic(topic_name));
  const int64_t now = storage::now_ms();
  std::vector<EventAck> acks(events.size());
  std::vector<bool> resolved(events.size(), false);
  const uint32_t keyless_partition = round_robin_hint % topic.partitions;

  // 1. Partition and validate each event.
  std::vector<uint32_t> partition_of(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const PublishEvent& e = events[i];
    if (e.partition >= 0) {
      if (static_cast<uint32_t>(e.partition) >= topic.partitions) {
        acks[i].status = invalid_argument("partition " + std::to_string(e.partition) + " does not exist; topic \"" +
                                          topic.name + "\" has " + std::to_string(topic.partitions));
        resolved[i] = true;
        continue;
      }
      partition_of[i] = static_cast<uint32_t>(e.partition);
    } else if (!e.record.key.empty()) {
      partition_of[i] = partition_for_key(e.record.key, topic.partitions);
    } else {
      partition_of[i] = keyless_partition;
    }
    auto size = storage::encoded_record_size(e.record);
    if (!size) {
      acks[i].status = size.error();
      resolved[i] = true;
    }
  }

  // 2. Deduplicate: within the request, against keys in flight elsewhere, against the index.
  std::unordered_map<std::string_view, size_t> first_with_key;  // dedup key -> event index
  std::vector<std::pair<size_t, size_t>> same_as;                // (event, earlier event in request)
  std::vector<std::pair<size_t, std::shared_ptr<InFlight>>> waits;  // events waiting on other requests
  std::vector<std::pair<InFlightKey, std::shared_ptr<InFlight>>> owned;  // keys this request stores
  for (size_t i = 0; i < events.size(); ++i) {
    if (resolved[i] || events[i].record.dedup_key.empty()) continue;
    const std::string_view key = events[i].record.dedup_key;
    if (auto it = first_with_key.find(key); it != first_with_key.end()) {
      same_as.emplace_back(i, it->second);
      resolved[i] = true;
      continue;
    }
    first_with_key.emplace(key, i);
    InFlightKey ik{topic.topic_id, std::string(key)};
    {
      std::lock_guard lk(in_flight_mu_);
      auto it = in_flight_.find(ik);
      if (it != in_flight_.end()) {
        waits.emplace_back(i, it->second);
        resolved[i] = true;
        continue;
      }
      auto entry = std::make_shared<InFlight>();
      in_flight_.emplace(ik, entry);
      owned.emplace_back(std::move(ik), std::move(entry));
    }
    auto dup = store_.find_duplicate(topic, key, now);
    if (!dup) {
      acks[i].status = dup.error();
      resolved[i] = true;
    } else if (dup->has_value()) {
      const meta::DedupEntry& d = **dup;
      acks[i] = EventAck{Status(), d.partition, d.offset, d.lamport, true};
      resolved[i] = true;
    }
  }

  // 3. One append per partition for everything still unresolved, in request order.
  std::map<uint32_t, std::vector<size_t>> by_partition;
  for (size_t i = 0; i < events.size(); ++i)
    if (!resolved[i]) by_partition[partition_of[i]].push_back(i);
  for (const auto& [partition, idx] : by_partition) {
    std::vector<storage::RecordInput> records;
    records.reserve(idx.size());
    for (size_t i : idx) records.push_back(events[i].record);
    auto appended = store_.append(topic, partition, records, client_lamport, now);
    for (size_t k = 0; k < idx.size(); ++k) {
      EventAck& a = acks[idx[k]];
      if (appended) {
        a = EventAck{Status(), partition, appended->base_offset + k, appended->first_lamport + k, false};
      } else {
        a.status = appended.error();
        a.partition = partition;
      }
    }
  }

  // 4. Publish outcomes of keys this request owned, then answer the ones that waited.
  for (auto& [ik, entry] : owned) {
    const size_t i = first_with_key.at(ik.second);
    {
      std::lock_guard lk(entry->mu);
      if (acks[i].status.ok()) entry->ack = acks[i];
      entry->done = true;
    }
    entry->cv.notify_all();
    std::lock_guard lk(in_flight_mu_);
    in_flight_.erase(ik);
  }
  for (auto& [i, entry] : waits) {
    std::unique_lock lk(entry->mu);
    entry->cv.wait(lk, [&] { return entry->done; });
    if (entry->ack) {
      acks[i] = *entry->ack;
      acks[i].duplicate = true;
    } else {
      // The first attempt failed: nothing was stored under this key. Report it; a retry
      // by the client will store it.
      acks[i].status = unavailable("a concurrent publish of the same dedup key failed; retry");
    }
  }
  for (const auto& [i, earlier] : same_as) {
    acks[i] = acks[earlier];
    if (acks[i].status.ok()) acks[i].duplicate = true;
  }
  return acks;
}

}  // namespace causeway::core
