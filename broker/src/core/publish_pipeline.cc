// Publish semantics: partitioning, deduplication (stored, in-flight, within a request),
// one append per partition. See publish_pipeline.h and docs/wire-protocol.md.
#include "core/publish_pipeline.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>

#include "causeway/common/blocking_result.h"

namespace causeway::core {

uint32_t partition_for_key(std::string_view key, uint32_t partitions) {
  return static_cast<uint32_t>(XXH3_64bits(key.data(), key.size()) % partitions);
}

// The state of one publish_async call, shared by its pending completions: one per
// partition append and one per event waiting on another request's dedup key, plus one held
// by publish_async itself until it has issued everything.
struct PublishPipeline::Operation {
  std::vector<EventAck> acks;
  std::vector<std::pair<size_t, size_t>> same_as;  // (event, earlier event with the same key)
  // The events append_by_partition stores, grouped by partition in request order; each
  // append's completion answers a range of it. Written before the first append.
  std::vector<size_t> order;
  std::atomic<size_t> pending{1};
  Completion done;

  void release() {
    if (pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    for (const auto& [i, earlier] : same_as) {
      acks[i] = acks[earlier];
      if (acks[i].status.ok()) acks[i].duplicate = true;
    }
    Completion d = std::move(done);
    d(std::move(acks));
  }
};

Result<std::vector<EventAck>> PublishPipeline::publish(std::string_view topic, std::span<const PublishEvent> events,
                                                       uint64_t client_lamport, uint32_t round_robin_hint) {
  return wait_for_callback<Result<std::vector<EventAck>>>(
      [&](auto done) { publish_async(topic, events, client_lamport, round_robin_hint, std::move(done)); });
}

PublishPipeline::InFlightKey PublishPipeline::in_flight_key(uint32_t topic_id, std::string_view dedup_key) {
  const XXH128_hash_t h = XXH3_128bits(dedup_key.data(), dedup_key.size());
  return InFlightKey{topic_id, h.low64, h.high64};
}

void PublishPipeline::resolve_in_flight(const InFlightKey& key, const std::optional<EventAck>& ack) {
  std::vector<Waiter> waiters;
  {
    // From here on, publishers of this key find it in the dedup window (it entered the
    // window before this completion ran, if its append succeeded).
    InFlightShard& s = shard(key);
    std::lock_guard lk(s.mu);
    auto it = s.keys.find(key);
    if (it == s.keys.end()) return;
    waiters = std::move(it->second);
    s.keys.erase(it);
  }
  for (auto& w : waiters) w(ack);
}

namespace {

// Records a schema check's verdict in the event's ack; `resolved` if it refused the event.
void apply_schema_check(SchemaCheck c, EventAck& ack, uint8_t& resolved) {
  switch (c.verdict) {
    case SchemaVerdict::kOk: return;
    case SchemaVerdict::kNotAVersion:
      ack.status = Status(Code::kFailedPrecondition, Reason::kSchemaMismatch, c.message);
      break;
    case SchemaVerdict::kInvalidPayload:
      ack.status = Status(Code::kInvalidArgument, Reason::kInvalidPayload, c.message);
      break;
    case SchemaVerdict::kUnavailable: ack.status = unavailable(std::move(c.message)); break;
  }
  resolved = 1;
}

}  // namespace

// A request's events copied out of its frame, for a publish that continues after a schema
// lookup (the frame's bytes are reused as soon as publish_async returns). One arena holds
// every byte, reserved up front so the views into it stay valid.
struct PublishPipeline::Deferred {
  meta::TopicConfig topic;
  std::string arena;
  std::vector<std::vector<batch::Header>> headers;
  std::vector<PublishEvent> events;
  std::vector<uint32_t> partition_of;
  std::vector<uint8_t> resolved;  // bytes, not vector<bool>: lookups complete on several threads
  uint64_t client_lamport = 0;
  std::shared_ptr<Operation> op;
  std::atomic<size_t> lookups_pending{0};
  std::atomic<size_t>* budget;  // the pipeline's deferred_bytes_, charged `charged`
  const size_t charged;

  // What a Deferred of `in` holds, as charged against the pipeline's budget.
  static size_t bytes_of(std::span<const PublishEvent> in) {
    size_t total = 0;
    for (const PublishEvent& e : in) {
      const batch::RecordInput& r = e.record;
      total += sizeof(PublishEvent) + sizeof(EventAck) + sizeof(uint32_t) + 1 + r.key.size() + r.dedup_key.size() +
               r.source.size() + r.type.size() + r.payload.size();
      for (const batch::Header& h : r.headers) total += sizeof(batch::Header) + h.name.size() + h.value.size();
    }
    return total;
  }
  // Charges `bytes` against `budget` unless that would pass `max`.
  static bool try_charge(std::atomic<size_t>& budget, size_t bytes, size_t max) {
    size_t cur = budget.load(std::memory_order_relaxed);
    do {
      if (bytes > max || cur > max - bytes) return false;
    } while (!budget.compare_exchange_weak(cur, cur + bytes, std::memory_order_relaxed));
    return true;
  }

  // `bytes` (bytes_of(in)) already charged to `b`; released by the destructor.
  Deferred(const meta::TopicConfig& t, std::span<const PublishEvent> in, std::atomic<size_t>& b, size_t bytes)
      : topic(t), headers(in.size()), budget(&b), charged(bytes) {
    size_t total = 0;
    for (const PublishEvent& e : in) {
      const batch::RecordInput& r = e.record;
      total += r.key.size() + r.dedup_key.size() + r.source.size() + r.type.size() + r.payload.size();
      for (const batch::Header& h : r.headers) total += h.name.size() + h.value.size();
    }
    arena.reserve(total);
    auto keep = [this](std::string_view v) {
      const size_t at = arena.size();
      arena.append(v);
      return std::string_view(arena.data() + at, v.size());
    };
    events.resize(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      const batch::RecordInput& r = in[i].record;
      for (const batch::Header& h : r.headers) headers[i].push_back(batch::Header{keep(h.name), keep(h.value)});
      events[i].partition = in[i].partition;
      events[i].record = batch::RecordInput{keep(r.key),  keep(r.dedup_key), keep(r.source), keep(r.type),
                                              headers[i],   r.schema_id,        keep(r.payload)};
    }
  }
  ~Deferred() { budget->fetch_sub(charged, std::memory_order_relaxed); }
  Deferred(const Deferred&) = delete;
  Deferred& operator=(const Deferred&) = delete;
};

// Step 1 for one event: its partition, its size, and (on a schema-bound topic) its schema
// check, answered from the checker's cache or left for a lookup (`lookups`).
void PublishPipeline::route_event(const meta::TopicConfig& topic, const PublishEvent& e, size_t i,
                                  uint32_t keyless_partition, Routing& r) {
  EventAck& ack = r.op->acks[i];
  const auto refuse = [&](Status why) {
    ack.status = std::move(why);
    r.resolved[i] = 1;
  };
  if (e.partition < -1) {
    return refuse(invalid_argument("partition " + std::to_string(e.partition) +
                                   " is not a partition number (-1 chooses by key or round robin)"));
  }
  if (e.partition >= 0) {
    if (static_cast<uint32_t>(e.partition) >= topic.partitions) {
      return refuse(invalid_argument("partition " + std::to_string(e.partition) + " does not exist; topic \"" +
                                     topic.name + "\" has " + std::to_string(topic.partitions)));
    }
    r.partition_of[i] = static_cast<uint32_t>(e.partition);
  } else if (!e.record.key.empty()) {
    r.partition_of[i] = partition_for_key(e.record.key, topic.partitions);
  } else {
    r.partition_of[i] = keyless_partition;
  }
  if (auto size = batch::encoded_record_size(e.record); !size) return refuse(size.error());
  if (topic.schema_subject.empty()) return;
  // Schema-bound topic: a refused event gets its own error; the rest of the request is
  // stored as usual (docs/wire-protocol.md, "Schema-bound topics").
  if (schemas_ == nullptr) {
    return refuse(unavailable("topic \"" + topic.name + "\" is bound to schema subject \"" + topic.schema_subject +
                              "\" but this broker runs without a schema registry (--registry-listen off "
                              "and no --registry-url)"));
  }
  std::optional<SchemaCheck> c = schemas_->try_check(topic.schema_subject, e.record.schema_id,
                                                     std::string_view(e.record.payload), topic.validate_payloads);
  if (c) return apply_schema_check(std::move(*c), ack, r.resolved[i]);
  // Bounded: one request does not start lookups of more than a few ids.
  if (std::find(r.lookup_ids.begin(), r.lookup_ids.end(), e.record.schema_id) == r.lookup_ids.end()) {
    if (r.lookup_ids.size() >= kMaxLookupsPerRequest) {
      return refuse(unavailable("schema id " + std::to_string(e.record.schema_id) +
                                " is not cached and this request already waits on " +
                                std::to_string(kMaxLookupsPerRequest) + " schema registry lookups; retry"));
    }
    r.lookup_ids.push_back(e.record.schema_id);
  }
  r.lookups.push_back(i);
}

void PublishPipeline::publish_async(std::string_view topic_name, std::span<const PublishEvent> events,
                                    uint64_t client_lamport, uint32_t round_robin_hint, Completion done) {
  if (client_lamport > kMaxClientLamport && client_lamport > store_.clock().now()) {
    // Refused for the whole request, before anything is stored: the broker's clock would
    // take this value, and every later stamp (of every client) would be near the end of
    // the stamp space. A clock the broker itself has reached (a client echoing stamps it
    // received) is always accepted, so no client can lock the others out.
    return done(invalid_argument("client Lamport clock " + std::to_string(client_lamport) + " is above the limit " +
                                 std::to_string(kMaxClientLamport) +
                                 " (2^62) and above the broker's clock; nothing was stored (docs/wire-protocol.md, "
                                 "\"Lamport clocks\")"));
  }
  Result<meta::TopicConfig> found = store_.get_topic(topic_name);
  if (!found) return done(found.error());
  const meta::TopicConfig& topic = *found;
  Routing r;
  r.op = std::make_shared<Operation>();
  r.op->acks.resize(events.size());
  r.op->done = std::move(done);
  r.resolved.assign(events.size(), 0);
  r.partition_of.assign(events.size(), 0);
  // 1. Partition and validate each event.
  const uint32_t keyless_partition = round_robin_hint % topic.partitions;
  for (size_t i = 0; i < events.size(); ++i) route_event(topic, events[i], i, keyless_partition, r);
  if (r.lookups.empty()) return store_checked(topic, events, r.partition_of, r.resolved, client_lamport, r.op);
  defer_for_lookups(topic, events, client_lamport, std::move(r));
}

// Some events wait for a registry lookup, off this thread. The request continues (dedup
// and appends) on the thread that completes the last lookup; until then nothing of it is
// stored, and this thread goes on serving other requests. Bounded: the bytes held this way
// across every connection (docs/registry.md).
void PublishPipeline::defer_for_lookups(const meta::TopicConfig& topic, std::span<const PublishEvent> events,
                                        uint64_t client_lamport, Routing r) {
  const size_t bytes = Deferred::bytes_of(events);
  if (!Deferred::try_charge(deferred_bytes_, bytes, max_deferred_bytes_)) {
    for (size_t i = 0; i < events.size(); ++i)
      if (!r.resolved[i]) r.op->acks[i].status = unavailable("schema registry lookups backlog full; retry");
    return r.op->release();
  }
  auto d = std::make_shared<Deferred>(topic, events, deferred_bytes_, bytes);
  d->partition_of = std::move(r.partition_of);
  d->resolved = std::move(r.resolved);
  d->client_lamport = client_lamport;
  d->op = std::move(r.op);
  d->lookups_pending.store(r.lookups.size(), std::memory_order_relaxed);
  for (size_t i : r.lookups) {
    const batch::RecordInput& rec = d->events[i].record;
    schemas_->check_async(d->topic.schema_subject, rec.schema_id, rec.payload, d->topic.validate_payloads,
                          [this, d, i](SchemaCheck c) {
                            apply_schema_check(std::move(c), d->op->acks[i], d->resolved[i]);
                            if (d->lookups_pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
                            continue_deferred(*d);
                          });
  }
}

void PublishPipeline::continue_deferred(Deferred& d) {
  // The topic may have been deleted, or deleted and recreated, during the lookup: its
  // events must not go into a topic the client did not publish to.
  Result<meta::TopicConfig> now = store_.get_topic(d.topic.name);
  if (!now || now->topic_id != d.topic.topic_id) {
    for (size_t i = 0; i < d.events.size(); ++i) {
      if (d.resolved[i]) continue;
      d.op->acks[i].status =
          !now ? not_found("topic \"" + d.topic.name + "\" was deleted while its schema ids were looked up")
               : failed_precondition("topic \"" + d.topic.name +
                                     "\" was deleted and recreated while its schema ids were looked up; retry");
      d.resolved[i] = 1;
    }
    return d.op->release();
  }
  store_checked(d.topic, d.events, d.partition_of, d.resolved, d.client_lamport, d.op);
}

void PublishPipeline::store_checked(const meta::TopicConfig& topic, std::span<const PublishEvent> events,
                                    const std::vector<uint32_t>& partition_of, std::vector<uint8_t>& resolved,
                                    uint64_t client_lamport, const std::shared_ptr<Operation>& op) {
  const int64_t now = storage::now_ms();
  // Keys this request stores, by event index; resolved when that event's append completes.
  auto owned = std::make_shared<OwnedKeys>();
  deduplicate(topic, events, resolved, now, op, *owned);
  append_by_partition(topic, events, partition_of, resolved, client_lamport, now, op, owned);
  op->release();
}

// 2. Deduplicate: within the request, against keys in flight elsewhere, against the dedup
// window. An event whose key another request is storing is answered with that request's
// outcome, through a waiter. Keys this request goes on to store are left in `owned`.
void PublishPipeline::deduplicate(const meta::TopicConfig& topic, std::span<const PublishEvent> events,
                                  std::vector<uint8_t>& resolved, int64_t now, const std::shared_ptr<Operation>& op,
                                  OwnedKeys& owned) {
  std::vector<EventAck>& acks = op->acks;
  std::vector<size_t> to_look_up;  // owned keys, to look up in the dedup window
  for (size_t i = 0; i < events.size(); ++i)
    if (!resolved[i] && !events[i].record.dedup_key.empty()) to_look_up.push_back(i);
  if (to_look_up.empty()) return;
  // A key twice in the request: the later events are answered with the first one's outcome.
  absl::flat_hash_map<std::string_view, size_t> first_with_key;  // dedup key -> event index
  first_with_key.reserve(to_look_up.size());
  owned.resize(events.size());
  size_t kept = 0;
  for (size_t i : to_look_up) {
    const std::string_view key = events[i].record.dedup_key;
    auto [it, first] = first_with_key.try_emplace(key, i);
    if (!first) {
      op->same_as.emplace_back(i, it->second);
      resolved[i] = 1;
      continue;
    }
    const InFlightKey ik = in_flight_key(topic.topic_id, key);
    if (!claim_in_flight(ik, op, i)) {
      resolved[i] = 1;
      continue;
    }
    owned[i] = ik;
    to_look_up[kept++] = i;
  }
  to_look_up.resize(kept);
  // Every key this request now owns, looked up in the dedup window at once (one lock per
  // shard of the window, not one per key).
  std::vector<std::string_view> keys;
  keys.reserve(to_look_up.size());
  for (size_t i : to_look_up) keys.push_back(events[i].record.dedup_key);
  std::vector<std::optional<DedupEntry>> found;
  store_.find_duplicates(topic, keys, now, found);
  for (size_t k = 0; k < to_look_up.size(); ++k) {
    if (!found[k]) continue;
    const size_t i = to_look_up[k];
    acks[i] = EventAck{Status(), found[k]->partition, found[k]->offset, found[k]->lamport, true};
    resolved[i] = 1;
    const InFlightKey ik = *owned[i];
    owned[i].reset();
    resolve_in_flight(ik, acks[i]);
  }
}

// Claims `key` for event `i` of `op`; false if another request is storing it now, in which
// case event i is answered with that request's outcome when it completes.
bool PublishPipeline::claim_in_flight(const InFlightKey& key, const std::shared_ptr<Operation>& op, size_t i) {
  InFlightShard& s = shard(key);
  std::lock_guard lk(s.mu);
  auto [it, claimed] = s.keys.try_emplace(key);
  if (claimed) return true;
  op->pending.fetch_add(1, std::memory_order_relaxed);
  it->second.push_back([op, i](const std::optional<EventAck>& ack) {
    if (ack) {
      op->acks[i] = *ack;
      op->acks[i].duplicate = true;
    } else {
      // The first attempt failed: nothing was stored under this key. Report it; a retry by
      // the client will store it.
      op->acks[i].status = unavailable("a concurrent publish of the same dedup key failed; retry");
    }
    op->release();
  });
  return false;
}

// 4. One append per partition for everything still unresolved, in request order (more
// when the events would not fit in one segment); each completion answers its events and
// the waiters of the keys they own.
void PublishPipeline::append_by_partition(const meta::TopicConfig& topic, std::span<const PublishEvent> events,
                                          const std::vector<uint32_t>& partition_of,
                                          const std::vector<uint8_t>& resolved, uint64_t client_lamport, int64_t now,
                                          const std::shared_ptr<Operation>& op,
                                          const std::shared_ptr<OwnedKeys>& owned) {
  // Grouped by partition with one sort (a request of keyed events spreads over as many
  // partitions as it has events: no allocation per partition).
  std::vector<size_t>& order = op->order;
  order.clear();
  for (size_t i = 0; i < events.size(); ++i)
    if (!resolved[i]) order.push_back(i);
  const auto by_partition = [&](size_t a, size_t b) { return partition_of[a] < partition_of[b]; };
  if (!std::is_sorted(order.begin(), order.end(), by_partition)) {  // one partition: nothing to do
    // (partition, index) packed in one word: a plain sort of integers keeps request order
    // within a partition without a stable sort's indirection through partition_of.
    thread_local std::vector<uint64_t> keys;
    keys.clear();
    for (size_t i : order) keys.push_back((uint64_t{partition_of[i]} << 32) | i);
    std::sort(keys.begin(), keys.end());
    for (size_t k = 0; k < keys.size(); ++k) order[k] = static_cast<size_t>(keys[k] & 0xFFFFFFFFu);
    if (keys.capacity() > (1u << 16)) std::vector<uint64_t>().swap(keys);
  }
  std::vector<batch::RecordInput> records;
  // Appends order[from, from + n), all of one partition.
  const auto append_chunk = [&](uint32_t partition, size_t from, size_t n) {
    records.clear();
    for (size_t k = from; k < from + n; ++k) records.push_back(events[order[k]].record);
    op->pending.fetch_add(1, std::memory_order_relaxed);
    // The store puts the events' keys into the window before this completion runs (if the
    // append succeeded), so waiters answered here find them there from then on.
    store_.append_async(
        topic, partition, records, client_lamport, now,
        [this, op, owned, partition, from, n](Result<storage::AppendResult> appended) {
          const std::span<const size_t> idx(op->order.data() + from, n);
          for (size_t k = 0; k < idx.size(); ++k) {
            EventAck& a = op->acks[idx[k]];
            if (appended) {
              a = EventAck{Status(), partition, appended->base_offset + k, appended->first_lamport + k, false};
            } else {
              a.status = appended.error();
              a.partition = partition;
            }
          }
          // Partitions complete on different threads; each touches only its own keys.
          for (size_t i : idx) {
            if (i >= owned->size() || !(*owned)[i]) continue;
            resolve_in_flight(*(*owned)[i],
                              op->acks[i].status.ok() ? std::optional<EventAck>(op->acks[i]) : std::nullopt);
          }
          op->release();
        });
  };
  // A log takes no batch larger than one of its segments, so a partition's events go in
  // batches that fit, in request order (each completes on its own; a crash may keep the
  // first and not the next, as for two requests). An event that alone is too large is
  // refused by the log, naming the limit. Segments at least as large as the largest batch
  // the format allows (the default 1 GiB) take any batch: no event is sized twice then.
  const bool may_split = topic.segment_bytes < batch::kBatchHeaderSize + uint64_t{batch::kMaxBatchBodyBytes};
  for (size_t run = 0; run < order.size();) {
    const uint32_t partition = partition_of[order[run]];
    size_t end = run;
    while (end < order.size() && partition_of[order[end]] == partition) ++end;
    if (!may_split) {
      append_chunk(partition, run, end - run);
      run = end;
      continue;
    }
    size_t chunk = run;
    uint64_t bytes = batch::kBatchHeaderSize;
    for (size_t k = run; k < end; ++k) {
      Result<size_t> size = batch::encoded_record_size(events[order[k]].record);
      const uint64_t need = size.ok() ? *size : 0;  // a record the format cannot hold fails in its append
      if (k > chunk && bytes + need > topic.segment_bytes) {
        append_chunk(partition, chunk, k - chunk);
        chunk = k;
        bytes = batch::kBatchHeaderSize;
      }
      bytes += need;
    }
    append_chunk(partition, chunk, end - chunk);
    run = end;
  }
}

}  // namespace causeway::core
