// File: admin/metrics.h
//
// The broker's Prometheus metrics (docs/operations.md, "Metrics"), served as text
// exposition 0.0.4 on the admin port (causeway/admin/admin_server.h). Built on prometheus-cpp's core
// (Debian's prometheus-cpp-dev): its registry holds what is counted as it happens (requests
// by kind and outcome, dedup hits, fsync latency), and what the broker already knows
// (partition offsets and sizes, group lag, delivery counters, connections) is read when
// Prometheus scrapes, so that no hot path pays for it.
//
// Thread-safety: observe_* and scrape() may run on any thread at once.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "causeway/schemas/protocol_generated.h"
#include "core/event_store.h"
#include "storage/sync_observer.h"
#include "subscribe/coordinator.h"

namespace prometheus {
class Counter;
class Histogram;
class Registry;
struct MetricFamily;
template <typename T>
class Family;
}  // namespace prometheus

namespace causeway::admin {

class BrokerMetrics {
 public:
  struct Sources {
    core::EventStore& store;
    subscribe::Coordinator& coordinator;
    std::function<uint32_t()> open_connections;  // the server's
    std::string version;
  };
  explicit BrokerMetrics(Sources sources);
  ~BrokerMetrics();
  BrokerMetrics(const BrokerMetrics&) = delete;
  BrokerMetrics& operator=(const BrokerMetrics&) = delete;

  // A data sync round covering `logs` partition logs, or a journal checkpoint
  // (storage::set_sync_observer; see install_sync_observer).
  void observe_sync(std::chrono::nanoseconds took, size_t logs, storage::SyncKind kind);
  // A response to a request of kind `request` (server::ServerOptions::on_response): counts
  // it by kind and status code, and a publish's duplicates (dedup hits).
  void observe_response(protocol::Body request, const std::vector<uint8_t>& frame);
  // One partition log append (storage::set_append_observer): its phases, by the
  // causeway_publish_phase_seconds histogram's `phase` label.
  void observe_append(const storage::AppendTiming& timing);
  // One publish request (server::ServerOptions::on_publish_written): `read` from the socket
  // read that completed it to its handling, `respond` from its acks known to its response
  // written, `total` from that read to the response written.
  void observe_publish(std::chrono::nanoseconds read, std::chrono::nanoseconds respond,
                       std::chrono::nanoseconds total);
  // A delivery's time in the broker after the append (causeway_delivery_phase_seconds):
  // the coordinator's wake and read phases, and a pushed frame's write.
  void observe_delivery(subscribe::DeliveryPhase phase, std::chrono::nanoseconds took);
  void observe_push(std::chrono::nanoseconds took);
  // Makes this object the storage's sync and append observer until it is destroyed (one at
  // a time).
  void install_sync_observer();

  // Everything, in Prometheus text exposition format 0.0.4.
  std::string scrape();

 private:
  prometheus::Counter& request_counter(protocol::Body request, protocol::ErrorCode code);
  // Scrape-time families (partitions, groups, delivery counters, connections).
  void append_state(std::vector<prometheus::MetricFamily>& out);

  Sources sources_;
  std::unique_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Counter>* auth_refusals_ = nullptr;  // rare: children made under its lock
  prometheus::Counter* dedup_hits_ = nullptr;
  prometheus::Counter* published_events_ = nullptr;
  prometheus::Histogram* fsync_ = nullptr;
  prometheus::Histogram* sync_logs_ = nullptr;
  std::array<prometheus::Counter*, 3> sync_rounds_{};  // by storage::SyncKind: fdatasync, syncfs, journal
  prometheus::Histogram* checkpoint_ = nullptr;
  prometheus::Histogram* publish_ = nullptr;
  // causeway_publish_phase_seconds by phase (the order of kPhaseNames in metrics.cc).
  std::array<prometheus::Histogram*, 7> phases_{};
  // causeway_delivery_phase_seconds: wake, read, push.
  std::array<prometheus::Histogram*, 3> delivery_{};
  // requests_ children by (kind, code), made on first use: a response never takes the
  // family's lock twice.
  static constexpr size_t kKinds = 128;
  static constexpr size_t kCodes = 128;
  std::unique_ptr<std::array<std::atomic<prometheus::Counter*>, kKinds * kCodes>> request_counters_;
};

}  // namespace causeway::admin
