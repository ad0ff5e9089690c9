// See admin/metrics.h and docs/operations.md ("Metrics").
#include "admin/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstring>
#include <mutex>
#include <string>
#include <tuple>

#include "causeway/wire/response.h"
#include "storage/sync_observer.h"

namespace causeway::admin {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// The sync observer is a plain function (storage has no metrics): it reaches the metrics
// through this, set by install_sync_observer and cleared by the destructor.
std::mutex g_installed_mu;
std::atomic<BrokerMetrics*> g_installed{nullptr};

void observe_installed_sync(std::chrono::nanoseconds took, size_t logs, storage::SyncKind kind) {
  if (BrokerMetrics* m = g_installed.load(std::memory_order_acquire)) m->observe_sync(took, logs, kind);
}
void observe_installed_append(const storage::AppendTiming& timing) {
  if (BrokerMetrics* m = g_installed.load(std::memory_order_acquire)) m->observe_append(timing);
}

// A publish's phases take from a few microseconds (a handoff between threads) to a sync's
// tens of milliseconds on a busy disk.
const prometheus::Histogram::BucketBoundaries kPhaseBuckets = {
    0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00015, 0.0002,
    0.00025,  0.0003,    0.0004,   0.0005,  0.00075,  0.001,   0.0015, 0.002,   0.0025,
    0.005,    0.0075,    0.01,     0.025,   0.05,     0.1,     0.25,   1.0};

// causeway_publish_phase_seconds's phases, in a publish's order (docs/broker.md, "Where a
// publish's time goes").
enum Phase : size_t { kRead, kWrite, kSyncWait, kGather, kSync, kComplete, kRespond, kPhases };
constexpr std::array<const char*, kPhases> kPhaseNames = {"read",   "write",    "sync_wait", "gather",
                                                          "sync",   "complete", "respond"};

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// fdatasync here takes 0.1-0.2 ms on an idle disk and tens of ms on a busy or slow one.
const prometheus::Histogram::BucketBoundaries kSyncBuckets = {0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                              0.0025,   0.005,   0.01,   0.025,   0.05,   0.1,
                                                              0.25,     0.5,     1.0,    2.5};

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void add_gauge(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

void add_counter(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  f.metric.push_back(std::move(m));
}

}  // namespace

BrokerMetrics::BrokerMetrics(Sources sources)
    : sources_(std::move(sources)),
      registry_(std::make_unique<prometheus::Registry>()),
      request_counters_(std::make_unique<std::array<std::atomic<prometheus::Counter*>, kKinds * kCodes>>()) {
  for (auto& c : *request_counters_) c.store(nullptr, std::memory_order_relaxed);
  requests_ = &prometheus::BuildCounter()
                   .Name("causeway_requests_total")
                   .Help("Requests answered, by request kind and the response's status code (Ok or the error)")
                   .Register(*registry_);
  auth_refusals_ = &prometheus::BuildCounter()
                        .Name("causeway_auth_refusals_total")
                        .Help("Requests refused because the principal may not make them (permission_denied) or its "
                              "credentials failed (unauthenticated), by request kind (docs/security.md)")
                        .Register(*registry_);
  dedup_hits_ = &prometheus::BuildCounter()
                     .Name("causeway_dedup_hits_total")
                     .Help("Published events answered as duplicates of a stored dedup key (not stored again)")
                     .Register(*registry_)
                     .Add({});
  published_events_ = &prometheus::BuildCounter()
                           .Name("causeway_published_events_total")
                           .Help("Events acknowledged to publishers (stored, or duplicates)")
                           .Register(*registry_)
                           .Add({});
  fsync_ = &prometheus::BuildHistogram()
                .Name("causeway_fsync_seconds")
                .Help("Duration of each data sync round: a partition log's fdatasync, one syncfs shared by the logs "
                      "that asked at once, or one write and fdatasync of the sync journal for them, covering every "
                      "append since their last")
                .Register(*registry_)
                .Add({}, kSyncBuckets);
  sync_logs_ = &prometheus::BuildHistogram()
                    .Name("causeway_sync_round_logs")
                    .Help("Partition logs covered by each data sync round: 1 is a log's own fdatasync, more are "
                          "one syncfs shared by the logs that asked at once (docs/broker.md, \"Syncs shared across "
                          "partitions\")")
                    .Register(*registry_)
                    .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024,
                                                                     4096, 16384});
  auto& rounds = prometheus::BuildCounter()
                     .Name("causeway_sync_rounds_total")
                     .Help("Data sync rounds by how they made their logs durable: fdatasync (one log's file), syncfs "
                           "(the file system, for the logs that asked at once) or journal (their new bytes written "
                           "to the sync journal, docs/broker.md \"The sync journal\")")
                     .Register(*registry_);
  sync_rounds_ = {&rounds.Add({{"kind", "fdatasync"}}), &rounds.Add({{"kind", "syncfs"}}),
                  &rounds.Add({{"kind", "journal"}})};
  checkpoint_ = &prometheus::BuildHistogram()
                     .Name("causeway_sync_journal_checkpoint_seconds")
                     .Help("The syncfs of each sync journal checkpoint, after which the older journal files go")
                     .Register(*registry_)
                     .Add({}, kSyncBuckets);
  publish_ = &prometheus::BuildHistogram()
                  .Name("causeway_publish_seconds")
                  .Help("A publish request's time in the broker: from the socket read that completed it to its "
                        "response written to the socket")
                  .Register(*registry_)
                  .Add({}, kPhaseBuckets);
  auto& phases = prometheus::BuildHistogram()
                     .Name("causeway_publish_phase_seconds")
                     .Help("Where a publish's time in the broker goes, by phase (docs/broker.md): read, respond per "
                           "request; write, sync_wait, gather, sync, complete per partition append (the last four "
                           "only with fsync durability)")
                     .Register(*registry_);
  static_assert(std::tuple_size_v<decltype(phases_)> == kPhases);
  for (size_t i = 0; i < kPhases; ++i) phases_[i] = &phases.Add({{"phase", kPhaseNames[i]}}, kPhaseBuckets);
  auto& delivery = prometheus::BuildHistogram()
                       .Name("causeway_delivery_phase_seconds")
                       .Help("Where a delivery's time in the broker goes after the append (docs/broker.md): wake "
                             "(an append with news for a partition's owner to its pump starting, per pump run), "
                             "read (one round's read, per round), push (a Delivery frame encoded to written to the "
                             "socket, per frame)")
                       .Register(*registry_);
  delivery_[0] = &delivery.Add({{"phase", "wake"}}, kPhaseBuckets);
  delivery_[1] = &delivery.Add({{"phase", "read"}}, kPhaseBuckets);
  delivery_[2] = &delivery.Add({{"phase", "push"}}, kPhaseBuckets);
}

void BrokerMetrics::observe_delivery(subscribe::DeliveryPhase phase, std::chrono::nanoseconds took) {
  delivery_[phase == subscribe::DeliveryPhase::kWake ? 0 : 1]->Observe(seconds(took));
}

void BrokerMetrics::observe_push(std::chrono::nanoseconds took) { delivery_[2]->Observe(seconds(took)); }

BrokerMetrics::~BrokerMetrics() {
  std::lock_guard lk(g_installed_mu);
  if (g_installed.load() == this) {
    storage::set_sync_observer(nullptr);
    storage::set_append_observer(nullptr);
    g_installed.store(nullptr, std::memory_order_release);
  }
}

void BrokerMetrics::install_sync_observer() {
  std::lock_guard lk(g_installed_mu);
  g_installed.store(this, std::memory_order_release);
  storage::set_sync_observer(&observe_installed_sync);
  storage::set_append_observer(&observe_installed_append);
}

void BrokerMetrics::observe_append(const storage::AppendTiming& t) {
  phases_[kWrite]->Observe(seconds(t.write));
  if (!t.durable_wait) return;
  phases_[kSyncWait]->Observe(seconds(t.sync_wait));
  phases_[kGather]->Observe(seconds(t.gather));
  phases_[kSync]->Observe(seconds(t.sync));
  phases_[kComplete]->Observe(seconds(t.complete));
}

void BrokerMetrics::observe_publish(std::chrono::nanoseconds read, std::chrono::nanoseconds respond,
                                    std::chrono::nanoseconds total) {
  phases_[kRead]->Observe(seconds(read));
  phases_[kRespond]->Observe(seconds(respond));
  publish_->Observe(seconds(total));
}

void BrokerMetrics::observe_sync(std::chrono::nanoseconds took, size_t logs, storage::SyncKind kind) {
  if (kind == storage::SyncKind::kCheckpoint) {
    checkpoint_->Observe(std::chrono::duration<double>(took).count());
    return;
  }
  fsync_->Observe(std::chrono::duration<double>(took).count());
  sync_logs_->Observe(static_cast<double>(logs));
  sync_rounds_[static_cast<size_t>(kind) % sync_rounds_.size()]->Increment();
}

prometheus::Counter& BrokerMetrics::request_counter(protocol::Body request, protocol::ErrorCode code) {
  const size_t kind = static_cast<size_t>(request) % kKinds;
  const size_t c = static_cast<size_t>(code) % kCodes;
  std::atomic<prometheus::Counter*>& slot = (*request_counters_)[kind * kCodes + c];
  if (prometheus::Counter* counter = slot.load(std::memory_order_acquire)) return *counter;
  const char* code_name = protocol::EnumNameErrorCode(code);
  prometheus::Counter& made = requests_->Add(
      {{"request", protocol::EnumNameBody(request)},
       {"code", code_name[0] != '\0' ? std::string(code_name) : "code_" + std::to_string(static_cast<int>(code))}});
  slot.store(&made, std::memory_order_release);  // Add returns the same child for the same labels
  return made;
}

void BrokerMetrics::observe_response(protocol::Body request, const std::vector<uint8_t>& frame) {
  if (frame.size() < 8) return;
  const protocol::Message* m = protocol::GetMessage(frame.data() + 4);
  if (m->body() == nullptr) return;
  const protocol::Status* status = wire::response_status_of(*m);
  const protocol::ErrorCode code = status != nullptr ? status->code() : protocol::ErrorCode::Ok;
  request_counter(request, code).Increment();
  if (status != nullptr && (status->reason() == static_cast<uint16_t>(Reason::kPermissionDenied) ||
                            status->code() == protocol::ErrorCode::Unauthenticated ||
                            status->reason() == static_cast<uint16_t>(Reason::kUnauthenticated))) {
    const bool denied = status->reason() == static_cast<uint16_t>(Reason::kPermissionDenied);
    auth_refusals_
        ->Add({{"request", protocol::EnumNameBody(request)}, {"reason", denied ? "permission_denied" : "unauthenticated"}})
        .Increment();
  }
  if (m->body_type() == protocol::Body::PublishResponse) {
    if (const auto* acks = m->body_as_PublishResponse()->acks()) {
      double stored = 0;
      double duplicates = 0;
      // The message sits 4 bytes into the frame, behind its length prefix: its 8-byte
      // structs are not aligned there, so each is copied out before it is read.
      for (uint32_t i = 0; i < acks->size(); ++i) {
        protocol::EventAck a;
        std::memcpy(&a, acks->Data() + size_t{i} * sizeof(protocol::EventAck), sizeof(a));
        if (a.code() != protocol::ErrorCode::Ok) continue;
        ++stored;
        if (a.duplicate()) ++duplicates;
      }
      published_events_->Increment(stored);
      if (duplicates > 0) dedup_hits_->Increment(duplicates);
    }
  }
}

void BrokerMetrics::append_state(std::vector<MetricFamily>& out) {
  MetricFamily info = family("causeway_build_info", "The broker's version", MetricType::Gauge);
  add_gauge(info, {{"version", sources_.version}}, 1);
  out.push_back(std::move(info));

  MetricFamily connections = family("causeway_connections", "Client connections open", MetricType::Gauge);
  add_gauge(connections, {}, sources_.open_connections ? sources_.open_connections() : 0);
  out.push_back(std::move(connections));

  MetricFamily end = family("causeway_partition_end_offset",
                            "Next offset readers will see (high watermark); its rate is the append rate",
                            MetricType::Gauge);
  MetricFamily start = family("causeway_partition_start_offset", "First offset retention kept", MetricType::Gauge);
  MetricFamily bytes = family("causeway_partition_bytes", "Bytes of the partition's segments", MetricType::Gauge);
  MetricFamily segments = family("causeway_partition_segments", "Segment files of the partition", MetricType::Gauge);
  MetricFamily topics = family("causeway_topics", "Topics", MetricType::Gauge);
  auto all = sources_.store.list_topics();
  if (all) {
    add_gauge(topics, {}, static_cast<double>(all->size()));
    for (const meta::TopicConfig& t : *all) {
      for (uint32_t p = 0; p < t.partitions; ++p) {
        auto log = sources_.store.partition(t.name, p);
        if (!log) continue;
        const std::vector<ClientMetric::Label> labels{{"topic", t.name}, {"partition", std::to_string(p)}};
        add_gauge(end, labels, static_cast<double>(log->high_watermark()));
        add_gauge(start, labels, static_cast<double>(log->log_start_offset()));
        add_gauge(bytes, labels, static_cast<double>(log->size_bytes()));
        add_gauge(segments, labels, static_cast<double>(log->segment_count()));
      }
    }
  } else {
    spdlog::warn("metrics: listing topics failed: {}", all.status().to_string());
  }
  for (MetricFamily* f : {&topics, &end, &start, &bytes, &segments}) out.push_back(std::move(*f));

  MetricFamily dedup_keys = family("causeway_dedup_window_keys",
                                   "Dedup keys held in memory over every topic's window (docs/meta-store.md, "
                                   "\"Deduplication\", for the bytes each costs)",
                                   MetricType::Gauge);
  add_gauge(dedup_keys, {}, static_cast<double>(sources_.store.dedup().size()));
  out.push_back(std::move(dedup_keys));
  MetricFamily dedup_bytes = family("causeway_dedup_window_bytes",
                                    "Heap bytes the dedup window's tables hold over every topic (slots and control "
                                    "bytes at the tables' capacity; about 61 per key in a large window)",
                                    MetricType::Gauge);
  add_gauge(dedup_bytes, {}, static_cast<double>(sources_.store.dedup().memory_bytes()));
  out.push_back(std::move(dedup_bytes));

  if (const storage::FileCache* cache = sources_.store.logs().sealed_files()) {
    MetricFamily open = family("causeway_segment_files_open",
                               "Sealed segments' descriptors held open (at most --max-open-segment-files)",
                               MetricType::Gauge);
    add_gauge(open, {}, static_cast<double>(cache->size()));
    out.push_back(std::move(open));
    MetricFamily opens = family("causeway_segment_file_opens_total",
                                "Reads of a sealed segment that had to open its file again", MetricType::Counter);
    add_counter(opens, {}, static_cast<double>(cache->opens()));
    out.push_back(std::move(opens));
  }

  MetricFamily committed = family("causeway_group_committed_offset",
                                  "A subscription's group: offset below which every event is acked", MetricType::Gauge);
  MetricFamily lag = family("causeway_group_lag", "A subscription's group: end offset minus committed offset",
                            MetricType::Gauge);
  MetricFamily in_flight = family("causeway_group_in_flight", "Events delivered and not acked yet", MetricType::Gauge);
  MetricFamily members = family("causeway_group_members", "Members of a subscription's group", MetricType::Gauge);
  auto subs = sources_.coordinator.list_subscriptions("");
  if (subs) {
    for (const meta::SubscriptionConfig& s : *subs) {
      auto g = sources_.coordinator.describe_group(s.name);
      if (!g) continue;  // e.g. its topic was deleted
      add_gauge(members, {{"group", s.name}}, static_cast<double>(g->members.size()));
      for (const subscribe::PartitionDescription& p : g->partitions) {
        const std::vector<ClientMetric::Label> labels{
            {"group", s.name}, {"topic", s.topic}, {"partition", std::to_string(p.partition)}};
        add_gauge(committed, labels, static_cast<double>(p.committed_offset));
        add_gauge(lag, labels, static_cast<double>(p.end_offset > p.committed_offset ? p.end_offset - p.committed_offset : 0));
        add_gauge(in_flight, labels, static_cast<double>(p.in_flight));
      }
    }
  }
  for (MetricFamily* f : {&members, &committed, &lag, &in_flight}) out.push_back(std::move(*f));

  const subscribe::CoordinatorStats stats = sources_.coordinator.stats();
  const auto counter = [&](std::string name, std::string help, uint64_t value) {
    MetricFamily f = family(std::move(name), std::move(help), MetricType::Counter);
    add_counter(f, {}, static_cast<double>(value));
    out.push_back(std::move(f));
  };
  counter("causeway_deliveries_total", "Events delivered to subscribers and rule targets (first attempts)", stats.delivered);
  counter("causeway_redeliveries_total", "Events delivered again (after a nack, an ack deadline or a lost member)",
          stats.redelivered);
  counter("causeway_acks_total", "Events acked", stats.acked);
  counter("causeway_dead_letters_total", "Events sent to a dead-letter topic", stats.dead_lettered);
  counter("causeway_dead_letter_failures_total", "Dead-letter publishes that failed (and were retried)",
          stats.dead_letter_failures);
}

std::string BrokerMetrics::scrape() {
  std::vector<MetricFamily> families = registry_->Collect();
  append_state(families);
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace causeway::admin
