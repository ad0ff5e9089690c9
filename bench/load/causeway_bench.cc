// File: bench/load/causeway_bench.cc
//
// causeway-bench: end-to-end publish benchmark over loopback TCP (issue 4; STYLE.md section 8).
// The same load generator drives Causeway, NATS JetStream (libnats) and Redis Streams
// (hiredis), chosen with --target, so the load shape is identical for every system. Peer
// support is compiled in only when pkg-config found the library (CAUSEWAY_BENCH_HAVE_NATS,
// CAUSEWAY_BENCH_HAVE_HIREDIS); otherwise the binary says so for that target.
// How to run and what each row means: bench/load/README.md.
//
// Scenarios (--benchmarks takes a comma-separated list; default: all, in this order):
//
//   pub100_os_c1          publish 100 B events, durability=os, 1 connection, closed loop
//   pub100_os_c8          ... 8 connections (one Publisher each)
//   pub100_os_dedup_c1    ... every event carries a unique 32-character dedup key
//   pub100_os_dedup_c8
//   pub1k_os_c1           publish 1 KiB events, durability=os
//   pub1k_os_c8
//   pub1k_os_dedup_c1
//   pub1k_os_dedup_c8
//   pub100_fsync_c1       the same eight with durability=fsync
//   pub100_fsync_c8
//   pub100_fsync_dedup_c1
//   pub100_fsync_dedup_c8
//   pub1k_fsync_c1
//   pub1k_fsync_c8
//   pub1k_fsync_dedup_c1
//   pub1k_fsync_dedup_c8
//   lat1k_os              publish->ack latency, 1 KiB, open loop at --rate events/s spread
//   lat1k_fsync           over --latency-connections connections; durability os / fsync
//   con100_m1             consume throughput (issue 5): --consume-events 100 B events are
//   con100_m4             published first (durability os, 4 partitions), then 1 or 4 group
//   con1k_m1              members consume them from the earliest offset with a handler that
//   con1k_m4              acks every event (per-event acks, batched on the wire); events/s is
//                         unique events handled / time from the first join to the last one
//   e2e1k_os              publish->handler latency, 1 KiB, one subscriber, open loop at
//   e2e1k_fsync           --rate events/s spread over --latency-connections publishers (as
//                         lat*); durability os / fsync
//   val100_none_c1        schema validation cost (Causeway only): valid FlatBuffers payloads
//   val100_id_c1          of ~100 B of a test schema registered at start-up through the
//   val100_full_c1        registry (--registry-url, or the spawned broker's embedded one),
//   val100_none_c8        published like pub* (durability os) to an unbound topic (none), a
//   val100_id_c8          topic bound to the schema's subject with --validate id, and one with
//   val100_full_c8        --validate full; the table after the rows gives validated/unbound
//   val1k_none_c1 ...     the same six with ~1 KiB payloads
//   filt100_base          filtered delivery (issue 15): --consume-events 100 B events in 100
//   filt100_1pct          classes (class = seq % 100; Causeway: type "bench.k<class>", NATS:
//   filt100_1pct_data     subject <stream>.k<class>) are published first (os, 4 partitions);
//   filt100_100subs       then base: one unfiltered subscription reads them all; 1pct: one
//                         subscription filtered to class 0 (Causeway: a pattern on "type";
//                         JetStream: a subject filter); 1pct_data: the same class as a field
//                         of a JSON payload ({"data":{"k":[0]}}; Causeway only: JetStream
//                         filters by subject alone); 100subs: 100 subscriptions, one per
//                         class, together receiving every event once. events/s = events of
//                         the topic / time from the first join until every expected event
//                         arrived; the table after the rows gives each over base.
//   filt100_base_live     the same with the subscriptions started first and the events
//   filt100_100subs_live  published while they consume: events/s = events / time from the
//                         first publish until every event was delivered (publish + delivery)
//   fwd100_os             rule targets (issue 16; Causeway only): --consume-events 100 B
//   fwd100_fsync          events are published to a 4-partition topic (durability os /
//                         fsync) and timed (the row's note: publish events/s); then a
//                         subscription with --target topic:T2 (same partitions, durability)
//                         forwards them all: events/s = events / time from its creation until
//                         T2 holds every one. The note gives forward / publish.
//   http100_c1            HTTP targets (issue 16; Causeway only): --consume-events 100 B JSON
//   http100_c8            events are published (os, 4 partitions) and timed; then a
//   http100_c64           subscription with --target http:URL and --concurrency 1 / 8 / 64
//                         POSTs them all to an endpoint in this process (cpp-httplib, 72
//                         threads, answers 200 at once): events/s = events / time from the
//                         create until every Idempotency-Key was answered.
//   read100_parts         causal snapshots (issue 16; Causeway only): --consume-events 100 B
//   read100_lamport       events are published (os, 4 partitions); then read back whole:
//                         parts: Admin::fetch partition after partition; lamport: a
//                         client::Reader merging the partitions by Lamport stamp.
//                         events/s = events / read time; the note gives lamport / parts.
//   http100_direct_c8     the endpoint's own ceiling, no broker: 8 client threads of this
//                         process POST --consume-events bodies of the same size straight
//                         to it (cpp-httplib keep-alive clients, as the broker's workers).
//   httplat_c8            the subscription first, then events paced at min(--rate, 2000)/s
//                         for --duration: latency = publish call to the endpoint's receipt
//                         (the publish, its ack path and the broker's delivery and POST).
//   fan100_g1             fan-out (issue 18): G = 1 / 10 / 100 / 1,000 subscriptions (consumer
//   fan100_g10            groups; Redis: consumer groups; JetStream: durable push consumers),
//   fan100_g100           one member and connection each, on a 4-partition topic (os); then
//   fan100_g1000          one publisher sends --fan-rate 100 B events/s (open loop) and every
//                         group receives and acks each one. Latency = the group's handler
//                         time - the event's scheduled send (the lag), over every delivery.
//
// Throughput (pub*): every connection has one sender thread that keeps up to --window
// events outstanding (a semaphore released by the ack callback). Events acked between the
// end of the warm-up and the end of --duration count; MB is 10^6 payload bytes.
// Latency (lat*): event i of connection c is scheduled at start + (i * C + c) / rate; the
// latency is from that scheduled time to its ack callback, so a sender that falls behind
// shows up as latency (no coordinated omission). Percentiles come from the sorted vector of
// every sample after the warm-up (exact).
//
// Each scenario uses a fresh topic / stream / key, removed afterwards.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <semaphore>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <flatbuffers/idl.h>
#include <nlohmann/json.hpp>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/reader.h"
#include "causeway/client/registry_client.h"
#include "causeway/client/subscriber.h"
#include "causeway/common/units.h"

#ifdef CAUSEWAY_BENCH_HAVE_NATS
#include <nats/nats.h>
#endif
#ifdef CAUSEWAY_BENCH_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;
namespace cc = causeway::client;

// ------------------------------------------------------------------ scenarios

enum class Kind { kThroughput, kLatency, kConsume, kEndToEnd, kFilter, kForward, kHttp, kHttpLatency, kRead, kFanout };
// filt* scenarios: what the subscriptions ask for.
enum class Filter { kNone, kClass, kClassInData, kEveryClass };
bool is_latency(Kind k) {
  return k == Kind::kLatency || k == Kind::kEndToEnd || k == Kind::kHttpLatency || k == Kind::kFanout;
}
enum class Dur { kOs, kFsync };
// val* scenarios: the topic's schema binding (none: unbound, same payloads).
enum class Validate { kNone, kId, kFull };
const char* validate_name(Validate v) { return v == Validate::kNone ? "none" : v == Validate::kId ? "id" : "full"; }

const char* dur_name(Dur d) { return d == Dur::kOs ? "os" : "fsync"; }

struct Scenario {
  std::string name;
  Kind kind = Kind::kThroughput;
  std::size_t bytes = 100;
  Dur dur = Dur::kOs;
  bool dedup = false;
  int conns = 1;          // connections; members in consume scenarios
  uint32_t partitions = 0;  // 0: --partitions
  bool schema_payload = false;  // val*: a valid FlatBuffer of the bench schema, left intact
  Validate validate = Validate::kNone;
  Filter filter = Filter::kNone;  // filt*
  bool live = false;              // filt*_live: subscribe first, then publish
};

// filt*: event seq belongs to class seq % kFilterClasses.
constexpr uint64_t kFilterClasses = 100;

std::vector<Scenario> all_scenarios(int latency_conns) {
  std::vector<Scenario> out;
  for (Dur d : {Dur::kOs, Dur::kFsync}) {
    for (std::size_t bytes : {std::size_t{100}, std::size_t{1024}}) {
      for (bool dedup : {false, true}) {
        for (int c : {1, 8}) {
          std::string name = std::string("pub") + (bytes == 100 ? "100" : "1k") + "_" + dur_name(d) +
                             (dedup ? "_dedup" : "") + "_c" + std::to_string(c);
          out.push_back(Scenario{std::move(name), Kind::kThroughput, bytes, d, dedup, c});
        }
      }
    }
  }
  for (Dur d : {Dur::kOs, Dur::kFsync}) {
    out.push_back(Scenario{std::string("lat1k_") + dur_name(d), Kind::kLatency, 1024, d, false, latency_conns});
  }
  for (std::size_t bytes : {std::size_t{100}, std::size_t{1024}}) {
    for (int m : {1, 4}) {
      out.push_back(Scenario{std::string("con") + (bytes == 100 ? "100" : "1k") + "_m" + std::to_string(m),
                             Kind::kConsume, bytes, Dur::kOs, false, m, 4});
    }
  }
  for (Dur d : {Dur::kOs, Dur::kFsync}) {
    out.push_back(Scenario{std::string("e2e1k_") + dur_name(d), Kind::kEndToEnd, 1024, d, false, 1, 0});
  }
  for (std::size_t bytes : {std::size_t{100}, std::size_t{1024}}) {
    for (int c : {1, 8}) {
      for (Validate v : {Validate::kNone, Validate::kId, Validate::kFull}) {
        out.push_back(Scenario{std::string("val") + (bytes == 100 ? "100" : "1k") + "_" + validate_name(v) + "_c" +
                                   std::to_string(c),
                               Kind::kThroughput, bytes, Dur::kOs, false, c, 0, true, v});
      }
    }
  }
  for (auto [name, filter] : {std::pair{"filt100_base", Filter::kNone}, std::pair{"filt100_1pct", Filter::kClass},
                              std::pair{"filt100_1pct_data", Filter::kClassInData},
                              std::pair{"filt100_100subs", Filter::kEveryClass}}) {
    Scenario sc{name, Kind::kFilter, 100, Dur::kOs, false, 1, 4};
    sc.filter = filter;
    out.push_back(std::move(sc));
  }
  for (auto [name, filter] : {std::pair{"filt100_base_live", Filter::kNone},
                              std::pair{"filt100_100subs_live", Filter::kEveryClass}}) {
    Scenario sc{name, Kind::kFilter, 100, Dur::kOs, false, 1, 4};
    sc.filter = filter;
    sc.live = true;
    out.push_back(std::move(sc));
  }
  out.push_back(Scenario{"fwd100_os", Kind::kForward, 100, Dur::kOs, false, 1, 4});
  out.push_back(Scenario{"fwd100_fsync", Kind::kForward, 100, Dur::kFsync, false, 1, 4});
  for (int c : {1, 8, 64}) {
    Scenario sc{"http100_c" + std::to_string(c), Kind::kHttp, 100, Dur::kOs, false, c, 4};
    sc.filter = Filter::kClassInData;  // JSON payloads: the endpoint sees them as "data"
    out.push_back(std::move(sc));
  }
  out.push_back(Scenario{"http100_direct_c8", Kind::kHttp, 100, Dur::kOs, false, 8, 4});
  out.push_back(Scenario{"httplat_c8", Kind::kHttpLatency, 100, Dur::kOs, false, 8, 4});
  out.push_back(Scenario{"read100_parts", Kind::kRead, 100, Dur::kOs, false, 1, 4});
  out.push_back(Scenario{"read100_lamport", Kind::kRead, 100, Dur::kOs, false, 1, 4});
  for (int g : {1, 10, 100, 1000}) {
    out.push_back(Scenario{"fan100_g" + std::to_string(g), Kind::kFanout, 100, Dur::kOs, false, g, 4});
  }
  return out;
}

struct Config {
  std::vector<std::string> targets{"causeway"};
  std::string broker = "127.0.0.1:7450";
  std::string spawn_broker;
  std::string nats_url = "nats://127.0.0.1:4222";
  std::string redis = "127.0.0.1:6379";
  std::string benchmarks;
  double duration_s = 5;
  double warmup_s = 0.5;
  double max_total_s = 900;
  uint32_t partitions = 1;
  bool keyed = false;  // pub*/lat* on Causeway: every event carries a distinct key
  int window = 1000;
  double rate = 10000;
  int latency_conns = 4;
  double fan_rate = 1000;  // fan*: events/s published (each delivered to every group)
  double dedup_window_s = 0;  // Causeway topics' dedup window; 0: the broker's default
  int64_t linger_us = 1000;
  int64_t latency_linger_us = 0;
  uint64_t consume_events = 100000;
  std::string json;
  std::string registry_url = "http://127.0.0.1:8081";  // val*: where the bench schema is registered
  int repetitions = 1;
  // TLS (docs/security.md): the Causeway client's CA and client certificate; a NATS CA turns
  // on TLS for nats:// connections (nats-server --tls --tlscert --tlskey).
  cc::TlsOptions tls;
  std::string nats_tls_ca;
  std::string token;  // bearer token for the Causeway broker (ACL rows)
};

// The client options every Causeway connection of the bench uses.
cc::ClientOptions client_options(const Config& cfg) {
  cc::ClientOptions o;
  o.broker = cfg.broker;
  o.client_name = "causeway-bench";
  o.tls = cfg.tls;
  o.token = cfg.token;
  return o;
}

// ------------------------------------------------------------------ the val* schema

constexpr const char* kBenchSchema =
    "namespace bench;\n"
    "table Event { seq: ulong; source: string; kind: short; body: [ubyte]; }\n"
    "root_type Event;\n";
constexpr const char* kBenchSubject = "causeway-bench-value";

// A valid FlatBuffer of kBenchSchema of about `bytes` bytes (body padded to reach it),
// built by flatbuffers' own parser from JSON, as a producer with generated code would.
std::string bench_payload(std::size_t bytes) {
  flatbuffers::Parser parser;
  if (!parser.Parse(kBenchSchema)) return "";
  auto build = [&](std::size_t body) -> std::string {
    std::string json = R"({seq: 123456789, source: "causeway-bench", kind: 3, body: [)";
    for (std::size_t i = 0; i < body; ++i) {
      if (i > 0) json += ',';
      json += std::to_string(i % 251);
    }
    json += "]}";
    if (!parser.Parse(json.c_str())) return "";
    return std::string(reinterpret_cast<const char*>(parser.builder_.GetBufferPointer()), parser.builder_.GetSize());
  };
  const std::string empty = build(0);
  const std::size_t overhead = empty.size();
  return bytes > overhead ? build(bytes - overhead) : empty;
}

// ------------------------------------------------------------------ per-connection state

// Owned by the driver; completions arrive on the target's callback thread.
class ConnState {
 public:
  ConnState(int window, std::size_t latency_slots)
      : window_(window), sched_(latency_slots), lat_ns_(latency_slots, -1) {}

  std::counting_semaphore<1 << 24>& window() { return window_; }

  // Called exactly once per published seq, from any thread.
  void complete(uint64_t seq, bool ok, const char* error) {
    if (!ok) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(mu_);
      if (first_error_.empty()) first_error_ = error ? error : "unknown error";
    } else if (seq < sched_.size()) {
      lat_ns_[seq] = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sched_[seq]).count();
    }
    done_.fetch_add(1, std::memory_order_release);
    window_.release();
  }

  void set_sched(uint64_t seq, Clock::time_point t) { sched_[seq] = t; }
  Clock::time_point sched(uint64_t seq) const { return sched_[seq]; }
  int64_t lat_ns(uint64_t seq) const { return lat_ns_[seq]; }
  uint64_t done() const { return done_.load(std::memory_order_acquire); }
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  std::string first_error() {
    std::lock_guard lock(mu_);
    return first_error_;
  }
  std::atomic<uint64_t> sent{0};

 private:
  std::counting_semaphore<1 << 24> window_;
  std::vector<Clock::time_point> sched_;
  std::vector<int64_t> lat_ns_;
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> errors_{0};
  std::mutex mu_;
  std::string first_error_;
};

// One connection of a target. publish() must eventually lead to exactly one
// state->complete(seq, ...) call. The first 8 bytes of the payload hold seq.
class Conn {
 public:
  virtual ~Conn() = default;
  virtual void publish(uint64_t seq, const std::string& payload, const std::string* dedup_key) = 0;
  // Pushes anything buffered by publish() to the socket.
  virtual void flush() {}
  // Waits (bounded) for outstanding publishes and disconnects.
  virtual void close() = 0;
};

class Target {
 public:
  virtual ~Target() = default;
  virtual std::string name() const = 0;
  // Creates the scenario's topic; returns an error message or "".
  virtual std::string prepare(const Scenario& s, const std::string& topic) = 0;
  virtual std::string connect(const Scenario& s, ConnState* state, std::unique_ptr<Conn>* out) = 0;
  virtual void cleanup() = 0;
  // What this target's ack means for the scenario, when it differs from the row's name.
  virtual std::string note(const Scenario&) const { return ""; }
  // Consume and end-to-end scenarios, after prepare(): starts `members` group members
  // (one connection each) that call on_event(seq) for every event (seq = the payload's
  // first 8 bytes) and then ack it on its own (per-event acks). Returns an error or "".
  using OnEvent = std::function<void(uint64_t seq)>;
  virtual std::string start_consumers(const Scenario&, int members, OnEvent on_event) {
    (void)members;
    (void)on_event;
    return "consume scenarios are not implemented for this target";
  }
  // Stops and disconnects the members (called once after start_consumers, even on error).
  virtual void stop_consumers() {}
  // filt* scenarios, after prepare(): publishes `n` events of `bytes` bytes whose class
  // (seq % kFilterClasses) the target's filters can see, and returns once all are acked;
  // then start_filtered() starts the subscriptions the scenario's Filter asks for, each
  // calling on_event(seq) per event (and acking it). Errors as start_consumers; stop with
  // stop_consumers().
  virtual std::string preload_classes(const Scenario&, uint64_t n, std::size_t bytes) {
    (void)n;
    (void)bytes;
    return "not expressible: no server-side filter (a Redis Streams group reads every entry)";
  }
  // fwd* scenarios, after preload_classes(): makes the broker forward every event of the
  // topic to a second topic; forwarded() is how many that topic holds. Errors as above.
  virtual std::string start_forward(const Scenario&) {
    return "not measured: the bench drives no broker-side forwarding for this target";
  }
  // nullopt when the count cannot be read.
  virtual std::optional<uint64_t> forwarded() { return std::nullopt; }
  // http* scenarios, after prepare(): a subscription of the topic from its start with an
  // HTTP target `url` and `concurrency`. Errors as above.
  virtual std::string start_http(const Scenario&, const std::string& url, int concurrency) {
    (void)url;
    (void)concurrency;
    return "not measured: the bench drives no broker-side HTTP target for this target";
  }
  // read* scenarios, after preload_classes(): reads the whole topic back, partition by
  // partition or merged by Lamport stamp; returns how many events it read (or an error).
  virtual causeway::Result<uint64_t> read_back(bool merged) {
    (void)merged;
    return causeway::invalid_argument("not measured for this target");
  }
  // httplat*: publishes n JSON events {"seq":i,"pad":...} of about `bytes` bytes, event i
  // at start + i / rate, setting sent_at[i] just before its publish call; returns once all
  // are acked.
  virtual std::string publish_paced_json(uint64_t n, double rate, std::size_t bytes,
                                         std::vector<std::atomic<int64_t>>& sent_at) {
    (void)n;
    (void)rate;
    (void)bytes;
    (void)sent_at;
    return "not measured for this target";
  }
  virtual std::string start_filtered(const Scenario&, OnEvent on_event) {
    (void)on_event;
    return "not expressible: no server-side filter (a Redis Streams group reads every entry)";
  }
  // fan* scenarios, after prepare(): `groups` independent consumer groups (subscriptions)
  // of the topic, one member (one connection) each, reading from the topic's start; each
  // calls on_event(group, seq) for every event and acks it. For one group, on_event is
  // called from one thread at a time. Errors as start_consumers; stop with stop_consumers().
  using OnGroupEvent = std::function<void(int group, uint64_t seq)>;
  virtual std::string start_groups(const Scenario&, int groups, OnGroupEvent on_event) {
    (void)groups;
    (void)on_event;
    return "fan-out scenarios are not implemented for this target";
  }
};

// ------------------------------------------------------------------ causeway

class CausewayConn final : public Conn {
 public:
  CausewayConn(std::unique_ptr<cc::Publisher> pub, std::string topic, ConnState* st, uint32_t schema_id,
               uint32_t conn, bool keyed)
      : pub_(std::move(pub)), topic_(std::move(topic)), st_(st), schema_id_(schema_id), conn_(conn), keyed_(keyed) {}
  void publish(uint64_t seq, const std::string& payload, const std::string* dedup_key) override {
    cc::Event e;
    e.payload = payload;
    e.schema_id = schema_id_;
    if (dedup_key) e.dedup_key = *dedup_key;
    // --keyed: a distinct key per event, so the broker hashes events over every partition
    // (one request touches many partitions, as keyed Kafka producers do).
    if (keyed_) e.key = std::to_string(conn_) + "/" + std::to_string(seq);
    ConnState* st = st_;
    pub_->publish(topic_, std::move(e), [st, seq](const causeway::Result<cc::PublishAck>& r) {
      if (r.ok()) {
        st->complete(seq, true, nullptr);
      } else {
        st->complete(seq, false, r.status().to_string().c_str());
      }
    });
  }
  void close() override {
    (void)pub_->flush(std::chrono::seconds(30));
    (void)pub_->close();
    pub_.reset();
  }

 private:
  std::unique_ptr<cc::Publisher> pub_;
  std::string topic_;
  ConnState* st_;
  const uint32_t schema_id_;  // 0 outside val*
  const uint32_t conn_;
  const bool keyed_;
};

class CausewayTarget final : public Target {
 public:
  explicit CausewayTarget(const Config& cfg) : cfg_(cfg) {}
  std::string name() const override { return "causeway"; }
  std::string prepare(const Scenario& s, const std::string& topic) override {
    if (!admin_) {
      cc::ClientOptions o = client_options(cfg_);
      auto a = cc::Admin::connect(o);
      if (!a.ok()) return a.status().to_string();
      admin_ = std::move(a).value();
    }
    cc::TopicSpec spec;
    spec.name = topic;
    spec.partitions = s.partitions != 0 ? s.partitions : cfg_.partitions;
    spec.durability = s.dur == Dur::kOs ? cc::Durability::kOs : cc::Durability::kFsync;
    if (cfg_.dedup_window_s > 0)
      spec.dedup_window = std::chrono::milliseconds(static_cast<int64_t>(cfg_.dedup_window_s * 1000));
    schema_id_ = 0;
    if (s.schema_payload) {
      if (const std::string err = register_bench_schema(); !err.empty()) return err;
      schema_id_ = bench_schema_id_;
      if (s.validate != Validate::kNone) spec.schema_subject = kBenchSubject;
      spec.validate_payloads = s.validate == Validate::kFull;
    }
    auto r = admin_->create_topic(spec);
    if (!r.ok()) return r.status().to_string();
    topic_ = topic;
    return "";
  }
  std::string connect(const Scenario& s, ConnState* st, std::unique_ptr<Conn>* out) override {
    cc::ClientOptions o = client_options(cfg_);
    cc::PublisherOptions po;
    po.linger = std::chrono::microseconds(is_latency(s.kind) ? cfg_.latency_linger_us : cfg_.linger_us);
    auto p = cc::Publisher::connect(o, po);
    if (!p.ok()) return p.status().to_string();
    *out = std::make_unique<CausewayConn>(std::move(p).value(), topic_, st, schema_id_, next_conn_++, cfg_.keyed);
    return "";
  }
  // Registers kBenchSchema under kBenchSubject once (registering it again returns the same id).
  std::string register_bench_schema() {
    if (bench_schema_id_ != 0) return "";
    auto client = cc::RegistryClient::create({.url = cfg_.registry_url});
    if (!client.ok()) return "registry " + cfg_.registry_url + ": " + client.status().to_string();
    auto registered = (*client)->register_schema(kBenchSubject, kBenchSchema, "bench.Event");
    if (!registered.ok()) return "registering the bench schema: " + registered.status().to_string();
    bench_schema_id_ = static_cast<uint32_t>(registered->id);
    return "";
  }

  void cleanup() override {
    if (admin_ && !subscription_.empty()) (void)admin_->delete_subscription(subscription_);
    subscription_.clear();
    if (admin_)
      for (const auto& name : filter_subscriptions_) (void)admin_->delete_subscription(name);
    filter_subscriptions_.clear();
    if (admin_ && !topic_.empty()) (void)admin_->delete_topic(topic_);
    topic_.clear();
    if (admin_ && !forward_topic_.empty()) (void)admin_->delete_topic(forward_topic_);
    forward_topic_.clear();
  }

  std::string start_consumers(const Scenario&, int members, OnEvent on_event) override {
    subscription_ = "sub-" + topic_;
    cc::SubscriberOptions so;
    so.subscription = subscription_;
    so.topic = topic_;
    so.settings.start = cc::StartPosition::earliest();
    so.max_unacked_events = 4096;
    so.handler_batch = 1024;
    cc::ClientOptions o = client_options(cfg_);
    for (int m = 0; m < members; ++m) {
      auto sub = cc::Subscriber::start(o, so, [on_event](const cc::DeliveredEvent& e) -> causeway::Status {
        uint64_t seq = 0;
        if (e.payload.size() >= sizeof(seq)) std::memcpy(&seq, e.payload.data(), sizeof(seq));
        on_event(seq);
        return {};
      });
      if (!sub.ok()) return sub.status().to_string();
      members_.push_back(std::move(sub).value());
    }
    return "";
  }
  void stop_consumers() override {
    for (auto& m : members_) (void)m->close();
    members_.clear();
  }

  // Class in the type ("bench.k<class>") and, for kClassInData, in a JSON payload
  // ({"k":<class>,"seq":<seq>,"pad":"..."}); the seq travels as the key.
  std::string preload_classes(const Scenario& sc, uint64_t n, std::size_t bytes) override {
    cc::ClientOptions o = client_options(cfg_);
    cc::PublisherOptions po;
    po.linger = std::chrono::microseconds(cfg_.linger_us);
    auto p = cc::Publisher::connect(o, po);
    if (!p.ok()) return p.status().to_string();
    std::atomic<uint64_t> failed{0};
    std::string first_error;
    std::mutex mu;
    for (uint64_t seq = 0; seq < n; ++seq) {
      cc::Event e;
      const uint64_t cls = seq % kFilterClasses;
      e.key = std::to_string(seq);
      e.type = "bench.k" + std::to_string(cls);
      if (sc.filter == Filter::kClassInData) {
        e.payload = R"({"k":)" + std::to_string(cls) + R"(,"seq":)" + std::to_string(seq) + R"(,"pad":")";
        if (e.payload.size() + 2 < bytes) e.payload.append(bytes - e.payload.size() - 2, 'x');
        e.payload += "\"}";
      } else {
        e.payload.assign(bytes, 'x');
      }
      (*p)->publish(topic_, std::move(e), [&](const causeway::Result<cc::PublishAck>& r) {
        if (r.ok()) return;
        failed.fetch_add(1);
        std::lock_guard lk(mu);
        if (first_error.empty()) first_error = r.status().to_string();
      });
    }
    if (auto s = (*p)->flush(std::chrono::seconds(120)); !s.ok()) return "preload: " + s.to_string();
    (void)(*p)->close();
    std::lock_guard lk(mu);
    return failed.load() == 0 ? "" : "preload: " + first_error;
  }

  std::string start_forward(const Scenario& s) override {
    forward_topic_ = topic_ + "-fwd";
    cc::TopicSpec spec;
    spec.name = forward_topic_;
    spec.partitions = s.partitions != 0 ? s.partitions : cfg_.partitions;
    spec.durability = s.dur == Dur::kOs ? cc::Durability::kOs : cc::Durability::kFsync;
    if (auto r = admin_->create_topic(spec); !r.ok()) return r.status().to_string();
    cc::SubscriptionSpec sub;
    sub.name = "fwd-" + topic_;
    sub.topic = topic_;
    sub.start = cc::StartPosition::earliest();
    sub.target_topic = forward_topic_;
    auto created = admin_->create_subscription(sub);
    if (!created.ok()) return created.status().to_string();
    subscription_ = sub.name;
    return "";
  }
  std::string start_http(const Scenario&, const std::string& url, int concurrency) override {
    cc::SubscriptionSpec sub;
    sub.name = "http-" + topic_;
    sub.topic = topic_;
    sub.start = cc::StartPosition::earliest();
    sub.target_http.url = url;
    sub.target_http.concurrency = static_cast<uint32_t>(concurrency);
    auto created = admin_->create_subscription(sub);
    if (!created.ok()) return created.status().to_string();
    subscription_ = sub.name;
    return "";
  }
  causeway::Result<uint64_t> read_back(bool merged) override {
    uint64_t n = 0;
    if (merged) {
      cc::ClientOptions o = client_options(cfg_);
      cc::Reader::Options ro;
      ro.topics = {topic_};
      CAUSEWAY_ASSIGN_OR_RETURN(auto reader, cc::Reader::open(o, ro));
      for (;;) {
        CAUSEWAY_ASSIGN_OR_RETURN(auto e, reader->next());
        if (!e.has_value()) break;
        ++n;
      }
      return n;
    }
    CAUSEWAY_ASSIGN_OR_RETURN(const cc::TopicInfo info, admin_->describe_topic(topic_));
    for (const cc::PartitionInfo& p : info.partitions) {
      uint64_t offset = p.log_start_offset;
      for (;;) {
        CAUSEWAY_ASSIGN_OR_RETURN(cc::FetchResult r, admin_->fetch(topic_, p.partition, offset));
        if (r.events.empty()) break;
        n += r.events.size();
        offset = r.next_offset;
      }
    }
    return n;
  }
  std::string publish_paced_json(uint64_t n, double rate, std::size_t bytes,
                                 std::vector<std::atomic<int64_t>>& sent_at) override {
    cc::ClientOptions o = client_options(cfg_);
    cc::PublisherOptions po;
    po.linger = std::chrono::microseconds(cfg_.latency_linger_us);
    auto p = cc::Publisher::connect(o, po);
    if (!p.ok()) return p.status().to_string();
    std::atomic<uint64_t> failed{0};
    const auto start = Clock::now();
    for (uint64_t seq = 0; seq < n; ++seq) {
      std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(static_cast<double>(seq) / rate)));
      cc::Event e;
      e.payload = R"({"seq":)" + std::to_string(seq) + R"(,"pad":")";
      if (e.payload.size() + 2 < bytes) e.payload.append(bytes - e.payload.size() - 2, 'x');
      e.payload += "\"}";
      sent_at[seq].store(Clock::now().time_since_epoch().count());
      (*p)->publish(topic_, std::move(e), [&](const causeway::Result<cc::PublishAck>& r) {
        if (!r.ok()) failed.fetch_add(1);
      });
    }
    if (auto st = (*p)->flush(std::chrono::seconds(120)); !st.ok()) return st.to_string();
    (void)(*p)->close();
    return failed.load() == 0 ? "" : std::to_string(failed.load()) + " publishes failed";
  }
  std::optional<uint64_t> forwarded() override {
    auto t = admin_->describe_topic(forward_topic_);
    if (!t.ok()) return std::nullopt;
    uint64_t n = 0;
    for (const auto& p : t->partitions) n += p.high_watermark;
    return n;
  }

  std::string start_filtered(const Scenario& sc, OnEvent on_event) override {
    std::vector<std::string> patterns;  // one subscription each; "" = no pattern
    switch (sc.filter) {
      case Filter::kNone: patterns = {""}; break;
      case Filter::kClass: patterns = {R"({"type":["bench.k0"]})"}; break;
      case Filter::kClassInData: patterns = {R"({"data":{"k":[0]}})"}; break;
      case Filter::kEveryClass:
        for (uint64_t c = 0; c < kFilterClasses; ++c) patterns.push_back(R"({"type":["bench.k)" + std::to_string(c) + "\"]}");
        break;
    }
    cc::ClientOptions o = client_options(cfg_);
    for (std::size_t i = 0; i < patterns.size(); ++i) {
      cc::SubscriberOptions so;
      so.subscription = "sub-" + topic_ + "-" + std::to_string(i);
      filter_subscriptions_.push_back(so.subscription);
      so.topic = topic_;
      so.settings.start = cc::StartPosition::earliest();
      so.settings.pattern = patterns[i];
      so.max_unacked_events = 4096;
      so.handler_batch = 1024;
      auto sub = cc::Subscriber::start(o, so, [on_event](const cc::DeliveredEvent& e) -> causeway::Status {
        on_event(std::strtoull(e.key.c_str(), nullptr, 10));
        return {};
      });
      if (!sub.ok()) return sub.status().to_string();
      members_.push_back(std::move(sub).value());
    }
    return "";
  }

  // One subscription per group, each with one Subscriber (its own connection and handler
  // thread); per-event acks, batched on the wire by the client.
  std::string start_groups(const Scenario&, int groups, OnGroupEvent on_event) override {
    cc::ClientOptions o = client_options(cfg_);
    for (int g = 0; g < groups; ++g) {
      cc::SubscriberOptions so;
      so.subscription = "fan-" + topic_ + "-" + std::to_string(g);
      filter_subscriptions_.push_back(so.subscription);
      so.topic = topic_;
      so.settings.start = cc::StartPosition::earliest();
      auto sub = cc::Subscriber::start(o, so, [on_event, g](const cc::DeliveredEvent& e) -> causeway::Status {
        uint64_t seq = 0;
        if (e.payload.size() >= sizeof(seq)) std::memcpy(&seq, e.payload.data(), sizeof(seq));
        on_event(g, seq);
        return {};
      });
      if (!sub.ok()) return "group " + std::to_string(g) + ": " + sub.status().to_string();
      members_.push_back(std::move(sub).value());
    }
    return "";
  }

 private:
  std::vector<std::unique_ptr<cc::Subscriber>> members_;
  std::vector<std::string> filter_subscriptions_;
  const Config& cfg_;
  std::unique_ptr<cc::Admin> admin_;
  std::string topic_;
  std::string forward_topic_;  // fwd*
  std::string subscription_;
  uint32_t bench_schema_id_ = 0;  // val*: registered on first use
  uint32_t schema_id_ = 0;        // of the current scenario's events
  uint32_t next_conn_ = 0;        // distinct key prefixes across connections (--keyed)
};

// ------------------------------------------------------------------ NATS JetStream

#ifdef CAUSEWAY_BENCH_HAVE_NATS
uint64_t seq_of(const void* data, std::size_t len) {
  uint64_t seq = 0;
  if (len >= sizeof(seq)) std::memcpy(&seq, data, sizeof(seq));
  return seq;
}

// Connects to `url`; with a CA file, over TLS verifying the server's certificate chain.
// global_delivery: asynchronous subscriptions' callbacks run on libnats' shared pool of
// delivery threads instead of a thread per subscription.
natsStatus nats_connect(natsConnection** nc, const std::string& url, const std::string& tls_ca,
                        bool global_delivery = false) {
  if (tls_ca.empty() && !global_delivery) return natsConnection_ConnectTo(nc, url.c_str());
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, url.c_str());
  if (s == NATS_OK && global_delivery) s = natsOptions_UseGlobalMessageDelivery(opts, true);
  if (s == NATS_OK && !tls_ca.empty()) s = natsOptions_SetSecure(opts, true);
  if (s == NATS_OK && !tls_ca.empty()) s = natsOptions_LoadCATrustedCertificates(opts, tls_ca.c_str());
  if (s == NATS_OK) s = natsConnection_Connect(nc, opts);
  natsOptions_Destroy(opts);
  return s;
}

class NatsConn final : public Conn {
 public:
  static std::string open(const std::string& url, const std::string& tls_ca, const std::string& subject, int window,
                          ConnState* st, std::unique_ptr<Conn>* out) {
    auto c = std::unique_ptr<NatsConn>(new NatsConn(subject, st));
    natsStatus s = nats_connect(&c->nc_, url, tls_ca);
    if (s != NATS_OK) return std::string("nats connect ") + url + ": " + natsStatus_GetText(s);
    jsOptions o;
    jsOptions_Init(&o);
    o.PublishAsync.AckHandler = &NatsConn::on_ack;
    o.PublishAsync.AckHandlerClosure = c.get();
    o.PublishAsync.MaxPending = 2 * static_cast<int64_t>(window) + 16;  // our window governs
    s = natsConnection_JetStream(&c->js_, c->nc_, &o);
    if (s != NATS_OK) return std::string("nats jetstream: ") + natsStatus_GetText(s);
    *out = std::move(c);
    return "";
  }
  ~NatsConn() override { close(); }
  void publish(uint64_t seq, const std::string& payload, const std::string* dedup_key) override {
    natsMsg* m = nullptr;
    natsStatus s = natsMsg_Create(&m, subject_.c_str(), nullptr, payload.data(), static_cast<int>(payload.size()));
    if (s == NATS_OK && dedup_key) s = natsMsgHeader_Set(m, "Nats-Msg-Id", dedup_key->c_str());
    if (s == NATS_OK) s = js_PublishMsgAsync(js_, &m, nullptr);
    if (s != NATS_OK) {
      if (m) natsMsg_Destroy(m);
      st_->complete(seq, false, natsStatus_GetText(s));
    }
  }
  void close() override {
    if (js_) {
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = 30000;
      (void)js_PublishAsyncComplete(js_, &po);
      jsCtx_Destroy(js_);
      js_ = nullptr;
    }
    if (nc_) {
      natsConnection_Destroy(nc_);
      nc_ = nullptr;
    }
  }

 private:
  NatsConn(std::string subject, ConnState* st) : subject_(std::move(subject)), st_(st) {}
  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<NatsConn*>(closure);
    const uint64_t seq = seq_of(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    const bool ok = pa != nullptr && pae == nullptr;
    self->st_->complete(seq, ok, ok ? nullptr : (pae && pae->ErrText ? pae->ErrText : "nats publish failed"));
    natsMsg_Destroy(msg);
  }
  std::string subject_;
  ConnState* st_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

class NatsTarget final : public Target {
 public:
  explicit NatsTarget(const Config& cfg) : cfg_(cfg) {}
  ~NatsTarget() override {
    cleanup();
    if (js_) jsCtx_Destroy(js_);
    if (nc_) natsConnection_Destroy(nc_);
  }
  std::string name() const override { return "nats"; }
  std::string note(const Scenario& s) const override {
    return s.dur == Dur::kFsync ? "JetStream 2.9 acks after write (no fsync mode)" : "";
  }
  std::string prepare(const Scenario& scenario, const std::string& topic) override {
    if (!nc_) {
      natsStatus s = nats_connect(&nc_, cfg_.nats_url, cfg_.nats_tls_ca);
      if (s != NATS_OK) return "nats connect " + cfg_.nats_url + ": " + natsStatus_GetText(s);
      s = natsConnection_JetStream(&js_, nc_, nullptr);
      if (s != NATS_OK) return std::string("nats jetstream: ") + natsStatus_GetText(s);
    }
    stream_.clear();
    for (char ch : topic) stream_ += (std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_');
    subject_ = "bench." + stream_;
    // filt*: one subject per class under the stream's prefix, for subject filters.
    const std::string wildcard = subject_ + ".>";
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = stream_.c_str();
    const char* subjects[1] = {scenario.kind == Kind::kFilter ? wildcard.c_str() : subject_.c_str()};
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Duplicates = int64_t{120} * 1000 * 1000 * 1000;  // 2-minute dedup window, in ns
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&si, js_, &sc, nullptr, &jerr);
    if (si) jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
      stream_.clear();
      const char* last = nats_GetLastError(nullptr);
      return std::string("nats add stream: ") + natsStatus_GetText(s) + " (" + (last ? last : "") + ")";
    }
    return "";
  }
  std::string connect(const Scenario&, ConnState* st, std::unique_ptr<Conn>* out) override {
    return NatsConn::open(cfg_.nats_url, cfg_.nats_tls_ca, subject_, cfg_.window, st, out);
  }
  void cleanup() override {
    stop_consumers();
    if (js_ && !stream_.empty()) {
      jsErrCode jerr = static_cast<jsErrCode>(0);
      (void)js_DeleteStream(js_, stream_.c_str(), nullptr, &jerr);
    }
    stream_.clear();
  }

  // Connects a member and binds it to durable pull consumer `durable` (created if absent)
  // on `filter`, with explicit acks; appended to members_ even on failure (stop_consumers
  // releases it). Returns an error or "".
  std::string add_pull_member(const std::string& filter, const std::string& durable) {
    auto c = std::make_unique<Member>();
    natsStatus s = nats_connect(&c->nc, cfg_.nats_url, cfg_.nats_tls_ca);
    if (s == NATS_OK) s = natsConnection_JetStream(&c->js, c->nc, nullptr);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream_.c_str();
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.MaxAckPending = 65536;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    if (s == NATS_OK) s = js_PullSubscribe(&c->sub, c->js, filter.c_str(), durable.c_str(), nullptr, &so, &jerr);
    members_.push_back(std::move(c));
    if (s == NATS_OK) return "";
    const char* last = nats_GetLastError(nullptr);
    return std::string("nats pull subscribe: ") + natsStatus_GetText(s) + " (" + (last ? last : "") + ")";
  }
  // One fetch of up to 256 messages (waiting up to wait_ms), each handed to on_event and acked.
  static void fetch_and_ack(natsSubscription* sub, int64_t wait_ms, const OnEvent& on_event) {
    natsMsgList list;
    jsErrCode err = static_cast<jsErrCode>(0);
    if (natsSubscription_Fetch(&list, sub, 256, wait_ms, &err) != NATS_OK) return;
    for (int m = 0; m < list.Count; ++m) {
      natsMsg* msg = list.Msgs[m];
      on_event(seq_of(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
      (void)natsMsg_Ack(msg, nullptr);
    }
    natsMsgList_Destroy(&list);
  }

  // A durable pull consumer with explicit acks, shared by the members (one connection each):
  // each fetches up to 256 messages (100 ms wait) and acks every one (natsMsg_Ack).
  std::string start_consumers(const Scenario&, int members, OnEvent on_event) override {
    stop_ = false;
    for (int m = 0; m < members; ++m) {
      if (std::string err = add_pull_member(subject_, "bench"); !err.empty()) return err;
      Member* raw = members_.back().get();
      raw->thread = std::thread([this, raw, on_event] {
        while (!stop_) fetch_and_ack(raw->sub, 100, on_event);
      });
    }
    return "";
  }


  std::string preload_classes(const Scenario& sc, uint64_t n, std::size_t bytes) override {
    if (sc.filter == Filter::kClassInData) return "not expressible: JetStream filters by subject, not by payload";
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    jsOptions o;
    jsOptions_Init(&o);
    o.PublishAsync.MaxPending = 4096;
    natsStatus s = nats_connect(&nc, cfg_.nats_url, cfg_.nats_tls_ca);
    if (s == NATS_OK) s = natsConnection_JetStream(&js, nc, &o);
    std::string payload(bytes, 'x');
    for (uint64_t seq = 0; s == NATS_OK && seq < n; ++seq) {
      std::memcpy(payload.data(), &seq, std::min(sizeof(seq), payload.size()));
      const std::string subject = subject_ + ".k" + std::to_string(seq % kFilterClasses);
      s = js_PublishAsync(js, subject.c_str(), payload.data(), static_cast<int>(payload.size()), nullptr);
    }
    if (s == NATS_OK) {
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = 120000;
      s = js_PublishAsyncComplete(js, &po);
    }
    natsMsgList pending{};
    if (js && js_PublishAsyncGetPendingList(&pending, js) == NATS_OK) {
      const int failed = pending.Count;
      natsMsgList_Destroy(&pending);
      if (failed > 0 && s == NATS_OK) s = NATS_ERR;
    }
    if (js) jsCtx_Destroy(js);
    if (nc) natsConnection_Destroy(nc);
    return s == NATS_OK ? "" : std::string("nats preload: ") + natsStatus_GetText(s);
  }

  // Pull consumers as start_consumers, one per filter subject (or one on the whole stream).
  // Every consumer is created before any fetches start, and at most 4 threads fetch. One
  // fetch thread per consumer (100 of them) aborted Release runs in natsMsgList_Destroy
  // with a double free inside libnats 3.4.1 (not reproduced under ASan; nats.c has fixed
  // double frees of pulled messages since, e.g. nats-io/nats.c#984).
  std::string start_filtered(const Scenario& sc, OnEvent on_event) override {
    std::vector<std::string> filters;
    if (sc.filter == Filter::kNone) filters = {subject_ + ".>"};
    if (sc.filter == Filter::kClass) filters = {subject_ + ".k0"};
    if (sc.filter == Filter::kEveryClass)
      for (uint64_t c = 0; c < kFilterClasses; ++c) filters.push_back(subject_ + ".k" + std::to_string(c));
    if (filters.empty()) return "not expressible: JetStream filters by subject, not by payload";
    stop_ = false;
    for (std::size_t i = 0; i < filters.size(); ++i) {
      if (std::string err = add_pull_member(filters[i], "bench" + std::to_string(i)); !err.empty()) return err;
    }
    // At most 4 fetch threads, each taking its consumers in turn (a consumer with nothing
    // pending costs one short wait). Owned by the first member of each share.
    const std::size_t threads = std::min<std::size_t>(members_.size(), 4);
    for (std::size_t t = 0; t < threads; ++t) {
      std::vector<natsSubscription*> subs;
      for (std::size_t i = t; i < members_.size(); i += threads) subs.push_back(members_[i]->sub);
      members_[t]->thread = std::thread([this, subs, on_event] {
        const int64_t wait_ms = subs.size() > 1 ? 5 : 100;
        while (!stop_)
          for (natsSubscription* sub : subs) fetch_and_ack(sub, wait_ms, on_event);
      });
    }
    return "";
  }

  // One durable push consumer per group (explicit acks, at most 1,000 unacked, as a
  // Causeway subscriber's default credit), each on a connection of its own; callbacks run
  // on libnats' shared delivery pool and ack each message.
  std::string start_groups(const Scenario&, int groups, OnGroupEvent on_event) override {
    for (int g = 0; g < groups; ++g) {
      auto c = std::make_unique<Member>();
      c->on_event = on_event;
      c->group = g;
      natsStatus s = nats_connect(&c->nc, cfg_.nats_url, cfg_.nats_tls_ca, true);
      if (s == NATS_OK) s = natsConnection_JetStream(&c->js, c->nc, nullptr);
      const std::string durable = "fan" + std::to_string(g);
      jsSubOptions so;
      jsSubOptions_Init(&so);
      so.Stream = stream_.c_str();
      so.ManualAck = true;
      so.Config.Durable = durable.c_str();
      so.Config.AckPolicy = js_AckExplicit;
      so.Config.DeliverPolicy = js_DeliverAll;
      so.Config.MaxAckPending = 1000;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      Member* raw = c.get();
      if (s == NATS_OK) {
        s = js_Subscribe(&c->sub, c->js, subject_.c_str(), &NatsTarget::on_group_msg, raw, nullptr, &so, &jerr);
      }
      members_.push_back(std::move(c));
      if (s != NATS_OK) {
        const char* last = nats_GetLastError(nullptr);
        return "group " + std::to_string(g) + ": nats subscribe: " + natsStatus_GetText(s) + " (" +
               (last ? last : "") + ")";
      }
    }
    return "";
  }

  void stop_consumers() override {
    stop_ = true;
    for (auto& m : members_) {
      if (m->thread.joinable()) m->thread.join();
      if (m->sub) natsSubscription_Destroy(m->sub);
      if (m->js) jsCtx_Destroy(m->js);
      if (m->nc) natsConnection_Destroy(m->nc);
    }
    members_.clear();
  }

 private:
  struct Member {
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsSubscription* sub = nullptr;
    std::thread thread;
    OnGroupEvent on_event;  // fan*
    int group = 0;
  };
  static void on_group_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    const auto* m = static_cast<const Member*>(closure);
    m->on_event(m->group, seq_of(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
    (void)natsMsg_Ack(msg, nullptr);
    natsMsg_Destroy(msg);
  }
  std::vector<std::unique_ptr<Member>> members_;
  std::atomic<bool> stop_{false};
  const Config& cfg_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::string stream_;
  std::string subject_;
};
#endif

// ------------------------------------------------------------------ Redis Streams

#ifdef CAUSEWAY_BENCH_HAVE_HIREDIS
const char kRedisDedupScript[] =
    "if redis.call('SET', KEYS[1], '1', 'NX', 'EX', 120) then "
    "return redis.call('XADD', KEYS[2], '*', 'd', ARGV[1]) else return false end";

void resp_arg(std::string& out, std::string_view arg) {
  out += '$';
  out += std::to_string(arg.size());
  out += "\r\n";
  out.append(arg.data(), arg.size());
  out += "\r\n";
}

bool split_host_port(const std::string& hp, std::string* host, int* port) {
  const auto colon = hp.rfind(':');
  if (colon == std::string::npos) return false;
  *host = hp.substr(0, colon);
  *port = std::atoi(hp.c_str() + colon + 1);
  return *port > 0;
}

// Writes come from the sender thread, replies are parsed with a redisReader on a reader
// thread; replies arrive in command order, so reply k completes seq k.
class RedisConn final : public Conn {
 public:
  static std::string open(const std::string& addr, const std::string& key, const std::string& sha, ConnState* st,
                          std::unique_ptr<Conn>* out) {
    std::string host;
    int port = 0;
    if (!split_host_port(addr, &host, &port)) return "bad --redis address " + addr;
    redisContext* ctx = redisConnect(host.c_str(), port);
    if (!ctx || ctx->err) {
      std::string e = ctx ? ctx->errstr : "redisConnect failed";
      if (ctx) redisFree(ctx);
      return "redis connect " + addr + ": " + e;
    }
    int one = 1;
    ::setsockopt(ctx->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::unique_ptr<RedisConn>(new RedisConn(ctx, key, sha, st));
    c->reader_ = std::thread([p = c.get()] { p->read_loop(); });
    *out = std::move(c);
    return "";
  }
  ~RedisConn() override { close(); }
  void publish(uint64_t, const std::string& payload, const std::string* dedup_key) override {
    if (dedup_key) {
      buf_ += "*6\r\n";
      resp_arg(buf_, "EVALSHA");
      resp_arg(buf_, sha_);
      resp_arg(buf_, "2");
      resp_arg(buf_, *dedup_key);
      resp_arg(buf_, key_);
      resp_arg(buf_, payload);
    } else {
      buf_ += "*5\r\n";
      resp_arg(buf_, "XADD");
      resp_arg(buf_, key_);
      resp_arg(buf_, "*");
      resp_arg(buf_, "d");
      resp_arg(buf_, payload);
    }
    sent_.fetch_add(1, std::memory_order_relaxed);
    if (buf_.size() >= (64u << 10)) flush();
  }
  void flush() override {
    std::size_t off = 0;
    while (off < buf_.size() && !broken_.load()) {
      const ssize_t n = ::send(ctx_->fd, buf_.data() + off, buf_.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        pollfd p{ctx_->fd, POLLOUT, 0};
        ::poll(&p, 1, 100);
      } else {
        broken_ = true;
      }
    }
    buf_.clear();
  }
  void close() override {
    if (!ctx_) return;
    flush();
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (replies_.load() < sent_.load() && !broken_.load() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    stop_ = true;
    if (reader_.joinable()) reader_.join();
    // Anything never answered fails, so the driver's counts add up.
    for (uint64_t s = replies_.load(); s < sent_.load(); ++s) st_->complete(s, false, "redis: no reply");
    redisFree(ctx_);
    ctx_ = nullptr;
  }

 private:
  RedisConn(redisContext* ctx, std::string key, std::string sha, ConnState* st)
      : ctx_(ctx), key_(std::move(key)), sha_(std::move(sha)), st_(st) {}

  void read_loop() {
    redisReader* r = redisReaderCreate();
    std::vector<char> in(256 << 10);
    while (!stop_.load() && !broken_.load()) {
      pollfd p{ctx_->fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(ctx_->fd, in.data(), in.size(), 0);
      if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        broken_ = true;
        break;
      }
      redisReaderFeed(r, in.data(), static_cast<std::size_t>(n));
      void* reply = nullptr;
      while (redisReaderGetReply(r, &reply) == REDIS_OK && reply) {
        auto* rep = static_cast<redisReply*>(reply);
        const bool ok = rep->type != REDIS_REPLY_ERROR;
        const uint64_t seq = replies_.load(std::memory_order_relaxed);
        st_->complete(seq, ok, ok ? nullptr : rep->str);
        replies_.store(seq + 1, std::memory_order_release);
        freeReplyObject(reply);
        reply = nullptr;
      }
    }
    redisReaderFree(r);
  }

  redisContext* ctx_;
  std::string key_;
  std::string sha_;
  ConnState* st_;
  std::string buf_;
  std::thread reader_;
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> replies_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> broken_{false};
};

class RedisTarget final : public Target {
 public:
  explicit RedisTarget(const Config& cfg) : cfg_(cfg) {}
  ~RedisTarget() override {
    cleanup();
    if (ctx_) redisFree(ctx_);
  }
  std::string name() const override { return "redis"; }
  std::string note(const Scenario& s) const override {
    return s.dur == Dur::kFsync ? "appendfsync always" : "appendfsync everysec";
  }
  std::string prepare(const Scenario& s, const std::string& topic) override {
    if (!ctx_) {
      std::string host;
      int port = 0;
      if (!split_host_port(cfg_.redis, &host, &port)) return "bad --redis address " + cfg_.redis;
      ctx_ = redisConnect(host.c_str(), port);
      if (!ctx_ || ctx_->err) {
        std::string e = ctx_ ? ctx_->errstr : "redisConnect failed";
        if (ctx_) redisFree(ctx_);
        ctx_ = nullptr;
        return "redis connect " + cfg_.redis + ": " + e;
      }
    }
    // The server's AOF policy is the durability of the row (TARGETS.md): set it per scenario.
    std::string err = command_ok("CONFIG SET appendonly yes");
    if (err.empty()) err = command_ok(s.dur == Dur::kFsync ? "CONFIG SET appendfsync always" : "CONFIG SET appendfsync everysec");
    if (!err.empty()) return err;
    if (sha_.empty()) {
      auto* rep = static_cast<redisReply*>(redisCommand(ctx_, "SCRIPT LOAD %s", kRedisDedupScript));
      if (!rep || rep->type != REDIS_REPLY_STRING) {
        if (rep) freeReplyObject(rep);
        return "redis SCRIPT LOAD failed";
      }
      sha_.assign(rep->str, rep->len);
      freeReplyObject(rep);
    }
    key_ = "bench:" + topic;
    return "";
  }
  std::string connect(const Scenario&, ConnState* st, std::unique_ptr<Conn>* out) override {
    return RedisConn::open(cfg_.redis, key_, sha_, st, out);
  }
  // A consumer group (XGROUP CREATE ... 0): each member XREADGROUPs up to 256 entries
  // (BLOCK 100) and XACKs every entry, one XACK per entry, pipelined per batch.
  std::string start_consumers(const Scenario&, int members, OnEvent on_event) override {
    stop_ = false;
    if (std::string err = create_group("bench"); !err.empty()) return err;
    for (int m = 0; m < members; ++m) {
      if (std::string err = start_reader("bench", "c" + std::to_string(m), on_event); !err.empty()) return err;
    }
    return "";
  }

  // One consumer group per fan-out group, each read by one consumer, as start_consumers'
  // members.
  std::string start_groups(const Scenario&, int groups, OnGroupEvent on_event) override {
    stop_ = false;
    for (int g = 0; g < groups; ++g) {
      const std::string group = "fan" + std::to_string(g);
      if (std::string err = create_group(group); !err.empty()) return err;
      std::string err = start_reader(group, "c0", [on_event, g](uint64_t seq) { on_event(g, seq); });
      if (!err.empty()) return "group " + std::to_string(g) + ": " + err;
    }
    return "";
  }

  // XGROUP CREATE <key> <group> 0 MKSTREAM.
  std::string create_group(const std::string& group) {
    auto* rep = static_cast<redisReply*>(
        redisCommand(ctx_, "XGROUP CREATE %s %s 0 MKSTREAM", key_.c_str(), group.c_str()));
    if (!rep) return "redis XGROUP CREATE: connection error";
    freeReplyObject(rep);
    return "";
  }

  // A consumer of `group` on a connection and thread of its own until stop_consumers():
  // XREADGROUP up to 256 entries (BLOCK 100), on_event per entry, one XACK per entry,
  // pipelined per batch.
  std::string start_reader(const std::string& group, const std::string& consumer, OnEvent on_event) {
    std::string host;
    int port = 0;
    split_host_port(cfg_.redis, &host, &port);
    redisContext* c = redisConnect(host.c_str(), port);
    if (!c || c->err) {
      if (c) redisFree(c);
      return "redis connect for a consumer failed";
    }
    int one = 1;
    ::setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    threads_.emplace_back([this, c, group, consumer, on_event] {
      while (!stop_) {
        auto* r = static_cast<redisReply*>(redisCommand(c, "XREADGROUP GROUP %s %s COUNT 256 BLOCK 100 STREAMS %s >",
                                                       group.c_str(), consumer.c_str(), key_.c_str()));
        if (!r) break;
        size_t acks = 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->elements == 2) {
          const redisReply* entries = r->element[0]->element[1];
          for (size_t i = 0; i < entries->elements; ++i) {
            const redisReply* entry = entries->element[i];
            const redisReply* id = entry->element[0];
            const redisReply* fields = entry->element[1];
            if (fields->elements >= 2) on_event(seq_of_bytes(fields->element[1]->str, fields->element[1]->len));
            redisAppendCommand(c, "XACK %s %s %b", key_.c_str(), group.c_str(), id->str, id->len);
            ++acks;
          }
        }
        freeReplyObject(r);
        for (size_t i = 0; i < acks; ++i) {
          void* ack = nullptr;
          if (redisGetReply(c, &ack) != REDIS_OK) break;
          freeReplyObject(ack);
        }
      }
      redisFree(c);
    });
    return "";
  }

  void stop_consumers() override {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  void cleanup() override {
    stop_consumers();
    if (ctx_ && !key_.empty()) {
      if (auto* rep = static_cast<redisReply*>(redisCommand(ctx_, "DEL %s", key_.c_str()))) freeReplyObject(rep);
      // Dedup keys of the scenario (unique per run) would otherwise linger for 2 minutes.
      if (auto* rep = static_cast<redisReply*>(redisCommand(ctx_, "FLUSHDB"))) freeReplyObject(rep);
    }
    key_.clear();
  }

 private:
  static uint64_t seq_of_bytes(const char* data, std::size_t len) {
    uint64_t seq = 0;
    if (len >= sizeof(seq)) std::memcpy(&seq, data, sizeof(seq));
    return seq;
  }
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::string command_ok(const char* cmd) {
    auto* rep = static_cast<redisReply*>(redisCommand(ctx_, cmd));
    if (!rep) return std::string("redis ") + cmd + ": connection error";
    std::string err = rep->type == REDIS_REPLY_ERROR ? std::string("redis ") + cmd + ": " + rep->str : "";
    freeReplyObject(rep);
    return err;
  }
  const Config& cfg_;
  redisContext* ctx_ = nullptr;
  std::string sha_;
  std::string key_;
};
#endif

// ------------------------------------------------------------------ the driver

struct Row {
  std::string scenario;
  std::string target;
  Kind kind = Kind::kThroughput;
  std::size_t bytes = 0;
  std::string durability;
  bool dedup = false;
  int conns = 0;
  double events_per_s = 0;
  double mb_per_s = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  uint64_t samples = 0;
  uint64_t sent = 0;
  uint64_t errors = 0;
  std::string error;  // first error (or why the scenario did not run)
  std::string note;
  std::string validate;  // val*: none, id, full; else empty
  int repetition = 1;
};

// Unique, 32 characters, like the client's auto_dedup_keys.
std::string dedup_key(uint32_t run, uint32_t conn, uint64_t seq) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x%08x%016" PRIx64, run, conn, seq);
  return buf;
}

double percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank.
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  const std::size_t idx = std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1);
  return static_cast<double>(sorted[idx]) / 1000.0;
}

// Sorts `samples` (ns) and fills the row's sample count, p50/p99/p99.9 and max (µs).
void set_latency(Row& row, std::vector<int64_t>& samples) {
  std::sort(samples.begin(), samples.end());
  row.samples = samples.size();
  row.p50_us = percentile(samples, 0.50);
  row.p99_us = percentile(samples, 0.99);
  row.p999_us = percentile(samples, 0.999);
  row.max_us = samples.empty() ? 0 : static_cast<double>(samples.back()) / 1000.0;
}

// Consume (con*) and end-to-end (e2e*) scenarios; the topic is prepared.
Row run_consume_scenario(const Config& cfg, Target& target, const Scenario& sc, Row row) {
  std::string payload(sc.bytes, 'x');
  const auto finish = [&](std::string error) {
    target.stop_consumers();
    if (row.error.empty()) row.error = std::move(error);
    target.cleanup();
    return row;
  };
  if (sc.kind == Kind::kConsume) {
    // Preload through the target's own publish path, one connection, --window outstanding.
    const uint64_t n = cfg.consume_events;
    ConnState st(cfg.window, 0);
    std::unique_ptr<Conn> conn;
    if (std::string err = target.connect(sc, &st, &conn); !err.empty()) return finish(err);
    for (uint64_t seq = 0; seq < n; ++seq) {
      if (!st.window().try_acquire()) {
        conn->flush();
        st.window().acquire();
      }
      std::memcpy(payload.data(), &seq, std::min(sizeof(seq), payload.size()));
      conn->publish(seq, payload, nullptr);
      st.sent.store(seq + 1);
    }
    conn->flush();
    const auto drain = Clock::now() + std::chrono::seconds(120);
    while (st.done() < n && Clock::now() < drain) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    conn->close();
    if (st.errors() > 0) return finish("preload: " + st.first_error());
    std::unique_ptr<std::atomic<bool>[]> seen(new std::atomic<bool>[n]());
    std::atomic<uint64_t> unique{0}, repeats{0};
    const auto t0 = Clock::now();
    std::string err = target.start_consumers(sc, sc.conns, [&](uint64_t seq) {
      if (seq < n && !seen[seq].exchange(true)) {
        unique.fetch_add(1, std::memory_order_relaxed);
      } else {
        repeats.fetch_add(1, std::memory_order_relaxed);
      }
    });
    if (!err.empty()) return finish(err);
    const auto deadline = t0 + std::chrono::seconds(300);
    while (unique.load() < n && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::microseconds(200));
    const auto t1 = Clock::now();
    target.stop_consumers();
    row.sent = n;
    if (unique.load() < n) return finish("consumed " + std::to_string(unique.load()) + " of " + std::to_string(n));
    row.events_per_s = static_cast<double>(n) / std::chrono::duration<double>(t1 - t0).count();
    row.mb_per_s = row.events_per_s * static_cast<double>(sc.bytes) / 1e6;
    if (repeats.load() > 0) row.note = std::to_string(repeats.load()) + " redeliveries";
    return finish("");
  }
  // End to end: as in lat*, event i of connection c (of C = --latency-connections) is
  // scheduled at start + (i*C + c) / rate and carries seq i*C + c; latency = handler time -
  // schedule.
  const int C = std::max(1, cfg.latency_conns);
  const double total_s = cfg.warmup_s + cfg.duration_s;
  const auto per_conn = static_cast<std::size_t>(cfg.rate / C * total_s) + 2;
  const std::size_t slots = per_conn * static_cast<std::size_t>(C);
  std::vector<std::unique_ptr<ConnState>> states;
  for (int c = 0; c < C; ++c) states.push_back(std::make_unique<ConnState>(std::max(cfg.window, 1 << 16), per_conn));
  std::vector<std::atomic<int64_t>> lat(slots);
  for (auto& l : lat) l.store(-1);
  std::atomic<uint64_t> received{0};
  std::string err = target.start_consumers(sc, 1, [&](uint64_t seq) {
    if (seq < slots) {
      const auto& st = *states[seq % static_cast<uint64_t>(C)];
      int64_t none = -1;
      lat[seq].compare_exchange_strong(
          none, std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - st.sched(seq / static_cast<uint64_t>(C)))
                    .count());
    }
    received.fetch_add(1);
  });
  if (!err.empty()) return finish(err);
  std::vector<std::unique_ptr<Conn>> conns;
  for (int c = 0; c < C; ++c) {
    std::unique_ptr<Conn> conn;
    if (err = target.connect(sc, states[static_cast<std::size_t>(c)].get(), &conn); !err.empty()) {
      for (auto& x : conns) x->close();
      return finish(err);
    }
    conns.push_back(std::move(conn));
  }
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  const auto measure_from =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg.warmup_s));
  std::vector<std::thread> senders;
  for (int c = 0; c < C; ++c) {
    senders.emplace_back([&, c] {
      ConnState& st = *states[static_cast<std::size_t>(c)];
      Conn& conn = *conns[static_cast<std::size_t>(c)];
      std::string buf(sc.bytes, 'x');
      for (uint64_t i = 0; i + 1 < per_conn; ++i) {
        const double at = (static_cast<double>(i) * C + c) / cfg.rate;
        if (at >= total_s) break;
        const auto t = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at));
        std::this_thread::sleep_until(t);
        st.set_sched(i, t);
        if (!st.window().try_acquire_for(std::chrono::seconds(1))) break;
        const uint64_t seq = i * static_cast<uint64_t>(C) + static_cast<uint64_t>(c);
        std::memcpy(buf.data(), &seq, std::min(sizeof(seq), buf.size()));
        conn.publish(i, buf, nullptr);
        st.sent.store(i + 1);
        conn.flush();
      }
    });
  }
  for (auto& t : senders) t.join();
  uint64_t sent = 0;
  for (auto& st : states) sent += st->sent.load();
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (received.load() < sent && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (auto& c : conns) c->close();
  target.stop_consumers();
  std::vector<int64_t> samples;
  for (int c = 0; c < C; ++c) {
    const auto& st = *states[static_cast<std::size_t>(c)];
    for (uint64_t i = 0; i < st.sent.load(); ++i) {
      if (st.sched(i) < measure_from) continue;
      if (const int64_t l = lat[i * static_cast<uint64_t>(C) + static_cast<uint64_t>(c)].load(); l >= 0) {
        samples.push_back(l);
      }
    }
    row.errors += states[static_cast<std::size_t>(c)]->errors();
  }
  row.sent = sent;
  row.conns = C;
  set_latency(row, samples);
  row.events_per_s = static_cast<double>(samples.size()) / cfg.duration_s;
  row.mb_per_s = row.events_per_s * static_cast<double>(sc.bytes) / 1e6;
  if (received.load() < sent) row.error = "received " + std::to_string(received.load()) + " of " + std::to_string(sent);
  return finish("");
}

// Fan-out (fan100_g<G>); the topic is prepared. G groups subscribe first, then one
// publisher sends --fan-rate events/s for --warmup + --duration, open loop: event i is
// scheduled at start + i / rate and carries seq i. A sample is one event reaching one
// group: lag = that group's handler time - the event's schedule, so a publisher, broker
// or group that falls behind shows up as lag. events/s = deliveries measured / --duration.
Row run_fanout_scenario(const Config& cfg, Target& target, const Scenario& sc, Row row) {
  const auto finish = [&](std::string error) {
    target.stop_consumers();
    if (row.error.empty()) row.error = std::move(error);
    target.cleanup();
    return row;
  };
  const int G = sc.conns;
  const double total_s = cfg.warmup_s + cfg.duration_s;
  const auto slots = static_cast<std::size_t>(cfg.fan_rate * total_s) + 2;
  std::vector<std::atomic<int64_t>> sched(slots);  // ns since the clock's epoch; 0 = not sent
  struct Group {
    std::vector<int64_t> lag_ns;   // one per first delivery of a measured event
    std::vector<uint8_t> seen;     // per seq
    uint64_t unique = 0, repeats = 0;
    std::atomic<uint64_t> unique_pub{0};  // unique, readable from the driver thread
  };
  std::vector<std::unique_ptr<Group>> groups;
  for (int g = 0; g < G; ++g) {
    groups.push_back(std::make_unique<Group>());
    groups.back()->seen.assign(slots, 0);
    groups.back()->lag_ns.reserve(slots);
  }
  std::atomic<int64_t> measure_from_ns{std::numeric_limits<int64_t>::max()};  // set once joined
  const auto t_join = Clock::now();
  std::string err = target.start_groups(sc, G, [&](int g, uint64_t seq) {
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    Group& gr = *groups[static_cast<std::size_t>(g)];
    if (seq >= slots || gr.seen[seq]) {
      ++gr.repeats;
      return;
    }
    gr.seen[seq] = 1;
    ++gr.unique;
    gr.unique_pub.store(gr.unique, std::memory_order_relaxed);
    const int64_t at = sched[seq].load(std::memory_order_acquire);
    if (at >= measure_from_ns.load(std::memory_order_relaxed)) gr.lag_ns.push_back(now - at);
  });
  if (!err.empty()) return finish(err);
  const double join_s = std::chrono::duration<double>(Clock::now() - t_join).count();
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  measure_from_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            (start + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(cfg.warmup_s)))
                                .time_since_epoch())
                            .count());
  ConnState st(std::max(cfg.window, 1 << 16), 0);
  std::unique_ptr<Conn> conn;
  if (err = target.connect(sc, &st, &conn); !err.empty()) return finish(err);
  std::string buf(sc.bytes, 'x');
  uint64_t sent = 0;
  for (uint64_t i = 0; i + 1 < slots; ++i) {
    const double at = static_cast<double>(i) / cfg.fan_rate;
    if (at >= total_s) break;
    const auto t = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at));
    std::this_thread::sleep_until(t);
    if (!st.window().try_acquire_for(std::chrono::seconds(1))) break;
    sched[i].store(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(),
                   std::memory_order_release);
    std::memcpy(buf.data(), &i, std::min(sizeof(i), buf.size()));
    conn->publish(i, buf, nullptr);
    conn->flush();
    sent = i + 1;
  }
  const auto delivered = [&] {
    uint64_t n = 0;
    for (const auto& g : groups) n += std::min<uint64_t>(g->unique_pub.load(std::memory_order_relaxed), sent);
    return n;
  };
  const uint64_t expected = sent * static_cast<uint64_t>(G);
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (delivered() < expected && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  conn->close();
  target.stop_consumers();  // handlers have stopped: the groups' vectors are ours now
  std::vector<int64_t> samples;
  uint64_t unique = 0, repeats = 0;
  for (const auto& g : groups) {
    samples.insert(samples.end(), g->lag_ns.begin(), g->lag_ns.end());
    unique += g->unique;
    repeats += g->repeats;
  }
  row.sent = sent;
  row.conns = G;
  row.errors = st.errors();
  set_latency(row, samples);
  row.events_per_s = static_cast<double>(samples.size()) / cfg.duration_s;
  row.mb_per_s = row.events_per_s * static_cast<double>(sc.bytes) / 1e6;
  char note[160];
  std::snprintf(note, sizeof(note), "%d groups x %.0f events/s; joined in %.2f s%s", G, cfg.fan_rate, join_s,
                repeats > 0 ? (", " + std::to_string(repeats) + " redeliveries").c_str() : "");
  row.note = note;
  if (unique < expected) {
    row.error = "delivered " + std::to_string(unique) + " of " + std::to_string(expected) + " (" +
                std::to_string(sent) + " events x " + std::to_string(G) + " groups)";
  }
  return finish("");
}

// Filtered delivery (filt*); the topic is prepared.
Row run_filter_scenario(const Config& cfg, Target& target, const Scenario& sc, Row row) {
  const auto finish = [&](std::string error) {
    target.stop_consumers();
    if (row.error.empty()) row.error = std::move(error);
    target.cleanup();
    return row;
  };
  const uint64_t n = cfg.consume_events;
  if (!sc.live) {
    if (std::string err = target.preload_classes(sc, n, sc.bytes); !err.empty()) return finish(err);
  }
  // Which events the subscriptions must receive: all, or class 0 only.
  const bool one_class = sc.filter == Filter::kClass || sc.filter == Filter::kClassInData;
  const uint64_t expected = one_class ? (n + kFilterClasses - 1) / kFilterClasses : n;
  std::unique_ptr<std::atomic<bool>[]> seen(new std::atomic<bool>[n]());
  std::atomic<uint64_t> unique{0}, repeats{0}, unexpected{0};
  auto t0 = Clock::now();
  std::string err = target.start_filtered(sc, [&](uint64_t seq) {
    if (seq >= n || (one_class && seq % kFilterClasses != 0)) {
      unexpected.fetch_add(1, std::memory_order_relaxed);
    } else if (!seen[seq].exchange(true)) {
      unique.fetch_add(1, std::memory_order_relaxed);
    } else {
      repeats.fetch_add(1, std::memory_order_relaxed);
    }
  });
  if (!err.empty()) return finish(err);
  if (sc.live) {
    // The subscriptions are in place: the clock runs from the first publish.
    t0 = Clock::now();
    if (err = target.preload_classes(sc, n, sc.bytes); !err.empty()) return finish(err);
  }
  const auto deadline = t0 + std::chrono::seconds(300);
  while (unique.load() < expected && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const auto t1 = Clock::now();
  target.stop_consumers();
  row.sent = n;
  if (unique.load() < expected) {
    return finish("received " + std::to_string(unique.load()) + " of " + std::to_string(expected) + " expected events");
  }
  if (unexpected.load() > 0) {
    row.errors = unexpected.load();
    return finish(std::to_string(unexpected.load()) + " events outside the filter were delivered");
  }
  row.events_per_s = static_cast<double>(n) / std::chrono::duration<double>(t1 - t0).count();
  row.mb_per_s = row.events_per_s * static_cast<double>(sc.bytes) / 1e6;
  row.note = "delivered " + std::to_string(expected) + " of " + std::to_string(n);
  if (repeats.load() > 0) row.note += ", " + std::to_string(repeats.load()) + " redeliveries";
  return finish("");
}

// fwd* scenarios; the topic is prepared.
Row run_forward_scenario(const Config& cfg, Target& target, const Scenario& sc, Row row) {
  const auto finish = [&](std::string error) {
    if (row.error.empty()) row.error = std::move(error);
    target.cleanup();
    return row;
  };
  const uint64_t n = cfg.consume_events;
  const auto p0 = Clock::now();
  if (std::string err = target.preload_classes(sc, n, sc.bytes); !err.empty()) return finish(err);
  const double publish_rate = static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - p0).count();
  const auto t0 = Clock::now();
  if (std::string err = target.start_forward(sc); !err.empty()) return finish(err);
  const auto deadline = t0 + std::chrono::seconds(300);
  uint64_t done = 0;
  while (Clock::now() < deadline) {
    const auto got = target.forwarded();
    if (!got) return finish("cannot read the target topic's end offsets");
    done = *got;
    if (done >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto t1 = Clock::now();
  row.sent = n;
  if (done < n) return finish("forwarded " + std::to_string(done) + " of " + std::to_string(n));
  if (done > n) row.errors = done - n;  // stored twice: must never happen
  row.events_per_s = static_cast<double>(n) / std::chrono::duration<double>(t1 - t0).count();
  row.mb_per_s = row.events_per_s * static_cast<double>(sc.bytes) / 1e6;
  char note[160];
  std::snprintf(note, sizeof(note), "publish of the same events %.0f events/s; forward/publish %.2f", publish_rate,
                row.events_per_s / publish_rate);
  row.note = note;
  if (done > n) row.note += "; " + std::to_string(done - n) + " stored twice";
  return finish("");
}

// The http* scenarios' endpoint: 127.0.0.1, a free port, 72 threads (above the largest
// concurrency), answers 200 at once. Counts distinct Idempotency-Keys (a redelivered event
// is one), and for httplat* records each "seq"'s arrival.
class BenchEndpoint {
 public:
  explicit BenchEndpoint(std::vector<std::atomic<int64_t>>* arrived) : arrived_(arrived) {
    server_.new_task_queue = [] { return new httplib::ThreadPool(72); };
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_timeout(1);  // stop() waits for idle keep-alive connections
    server_.Post("/events", [this](const httplib::Request& req, httplib::Response& res) {
      const int64_t now = Clock::now().time_since_epoch().count();
      ++requests_;
      if (arrived_ != nullptr) {
        // The body is the event as patterns see it: ... "data":{"seq":N,"pad":...} ...
        const size_t at = req.body.find("\"seq\":");
        if (at != std::string::npos) {
          const uint64_t seq = std::strtoull(req.body.c_str() + at + 6, nullptr, 10);
          if (seq < arrived_->size()) {
            int64_t none = -1;
            (*arrived_)[seq].compare_exchange_strong(none, now);
          }
        }
      }
      {
        std::lock_guard lk(mu_);
        keys_.insert(req.get_header_value("Idempotency-Key"));
      }
      res.status = 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~BenchEndpoint() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/events"; }
  uint64_t distinct() {
    std::lock_guard lk(mu_);
    return keys_.size();
  }
  uint64_t requests() const { return requests_.load(); }

 private:
  std::vector<std::atomic<int64_t>>* arrived_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::unordered_set<std::string> keys_;
  std::atomic<uint64_t> requests_{0};
};

// read* scenarios; the topic is prepared.
Row run_read_scenario(const Config& cfg, Target& target, const Scenario& sc, Row row) {
  const auto finish = [&](std::string error) {
    if (row.error.empty()) row.error = std::move(error);
    target.cleanup();
    return row;
  };
  const uint64_t n = cfg.consume_events;
  if (std::string err = target.preload_classes(sc, n, sc.bytes); !err.empty()) return finish(err);
  const bool merged = sc.name.find("lamport") != std::string::npos;
  const auto t0 = Clock::now();
  auto got = target.read_back(merged);
  const auto t1 = Clock::now();
  row.sent = n;
  if (!got.ok()) return finish(got.status().to_string());
  if (*got != n) return finish("read " + std::to_string(*got) + " of " + std::to_string(n));
  row.events_per_s = static_cast<double>(n) / std::chrono::duration<double>(t1 - t0).count();
  row.mb_per_s = row.events_per_s * static_cast<double>(sc.bytes) / 1e6;
  row.note = merged ? "merged by Lamport stamp (client::Reader)" : "partition after partition (Admin::fetch)";
  return finish("");
}

// http* scenarios; the topic is prepared.
Row run_http_scenario(const Config& cfg, Target& target, const Scenario& sc, Row row) {
  const auto finish = [&](std::string error) {
    if (row.error.empty()) row.error = std::move(error);
    target.cleanup();
    return row;
  };
  const auto wait_for = [](BenchEndpoint& ep, uint64_t n) {
    const auto deadline = Clock::now() + std::chrono::seconds(300);
    while (ep.distinct() < n && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return ep.distinct();
  };
  if (sc.name.find("direct") != std::string::npos) {
    // The ceiling: the same requests without the broker (Causeway's row only; the target
    // is not used).
    const uint64_t n = cfg.consume_events;
    BenchEndpoint ep(nullptr);
    const std::string body = R"({"topic":"bench","key":"123456","headers":{},"time":"2026-12-05T10:00:00.000Z",)"
                             R"("data":{"k":1,"seq":123456,"pad":")" + std::string(sc.bytes, 'x') + R"("}})";
    std::atomic<uint64_t> next{0}, failed{0};
    const auto t0 = Clock::now();
    std::vector<std::thread> clients;
    for (int c = 0; c < sc.conns; ++c) {
      clients.emplace_back([&] {
        httplib::Client client("127.0.0.1", std::stoi(ep.url().substr(17, ep.url().find('/', 17) - 17)));
        client.set_keep_alive(true);
        client.set_tcp_nodelay(true);
        for (uint64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
          httplib::Headers h{{"Idempotency-Key", std::to_string(i)}};
          auto r = client.Post("/events", h, body, "application/json");
          if (!r || r->status != 200) failed.fetch_add(1);
        }
      });
    }
    for (auto& t : clients) t.join();
    const auto t1 = Clock::now();
    row.sent = n;
    row.errors = failed.load();
    row.events_per_s = static_cast<double>(n) / std::chrono::duration<double>(t1 - t0).count();
    row.mb_per_s = row.events_per_s * static_cast<double>(sc.bytes) / 1e6;
    row.note = "no broker: " + std::to_string(sc.conns) + " keep-alive clients POST straight to the endpoint";
    return finish(failed.load() == 0 ? "" : std::to_string(failed.load()) + " requests failed");
  }
  if (sc.kind == Kind::kHttp) {
    const uint64_t n = cfg.consume_events;
    const auto p0 = Clock::now();
    if (std::string err = target.preload_classes(sc, n, sc.bytes); !err.empty()) return finish(err);
    const double publish_rate = static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - p0).count();
    BenchEndpoint ep(nullptr);
    const auto t0 = Clock::now();
    if (std::string err = target.start_http(sc, ep.url(), sc.conns); !err.empty()) return finish(err);
    const uint64_t done = wait_for(ep, n);
    const auto t1 = Clock::now();
    row.sent = n;
    if (done < n) return finish("answered " + std::to_string(done) + " of " + std::to_string(n));
    row.events_per_s = static_cast<double>(n) / std::chrono::duration<double>(t1 - t0).count();
    row.mb_per_s = row.events_per_s * static_cast<double>(sc.bytes) / 1e6;
    char note[200];
    std::snprintf(note, sizeof(note), "publish of the same events %.0f events/s; http/publish %.2f; %" PRIu64 " requests",
                  publish_rate, row.events_per_s / publish_rate, ep.requests());
    row.note = note;
    return finish("");
  }
  const double rate = std::min(cfg.rate, 2000.0);
  const auto n = static_cast<uint64_t>(rate * cfg.duration_s);
  std::vector<std::atomic<int64_t>> sent_at(n), arrived(n);
  for (auto& a : arrived) a.store(-1);
  BenchEndpoint ep(&arrived);
  if (std::string err = target.start_http(sc, ep.url(), sc.conns); !err.empty()) return finish(err);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the target's member joins
  if (std::string err = target.publish_paced_json(n, rate, sc.bytes, sent_at); !err.empty()) return finish(err);
  const uint64_t done = wait_for(ep, n);
  row.sent = n;
  std::vector<int64_t> samples;
  samples.reserve(n);
  // Skip the first half second (connections warming up), as the lat* rows do.
  const auto warm = static_cast<uint64_t>(rate * cfg.warmup_s);
  for (uint64_t i = warm; i < n; ++i) {
    const int64_t a = arrived[i].load();
    if (a >= 0) samples.push_back(a - sent_at[i].load());
  }
  set_latency(row, samples);
  row.events_per_s = rate;
  row.mb_per_s = rate * static_cast<double>(sc.bytes) / 1e6;
  row.note = "paced at " + std::to_string(static_cast<int>(rate)) + "/s; publish -> endpoint";
  if (done < n) return finish("answered " + std::to_string(done) + " of " + std::to_string(n));
  return finish("");
}

Row run_scenario(const Config& cfg, Target& target, const Scenario& sc, uint32_t run_id) {
  Row row;
  row.scenario = sc.name;
  row.target = target.name();
  row.kind = sc.kind;
  row.bytes = sc.bytes;
  row.durability = dur_name(sc.dur);
  row.dedup = sc.dedup;
  row.conns = sc.conns;
  row.note = target.note(sc);
  if (sc.schema_payload) row.validate = validate_name(sc.validate);
  // val*: one valid FlatBuffer, sent as is (no seq stamped into it: that would break it).
  const std::string schema_payload = sc.schema_payload ? bench_payload(sc.bytes) : std::string();
  if (sc.schema_payload && schema_payload.empty()) {
    row.error = "cannot build the bench schema's payload";
    return row;
  }
  if (sc.schema_payload) row.bytes = schema_payload.size();

  const std::string topic = "bench." + sc.name + "." + std::to_string(::getpid()) + "." + std::to_string(run_id);
  row.error = target.prepare(sc, topic);
  if (!row.error.empty()) return row;
  if (sc.kind == Kind::kConsume || sc.kind == Kind::kEndToEnd) return run_consume_scenario(cfg, target, sc, row);
  if (sc.kind == Kind::kFilter) return run_filter_scenario(cfg, target, sc, row);
  if (sc.kind == Kind::kForward) return run_forward_scenario(cfg, target, sc, row);
  if (sc.kind == Kind::kHttp || sc.kind == Kind::kHttpLatency) return run_http_scenario(cfg, target, sc, row);
  if (sc.kind == Kind::kRead) return run_read_scenario(cfg, target, sc, row);
  if (sc.kind == Kind::kFanout) return run_fanout_scenario(cfg, target, sc, row);

  const auto duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg.duration_s));
  const auto warmup = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg.warmup_s));
  const double per_conn_rate = cfg.rate / sc.conns;
  const std::size_t slots =
      sc.kind == Kind::kLatency ? static_cast<std::size_t>(per_conn_rate * (cfg.duration_s + cfg.warmup_s)) + 2 : 0;
  const int window = sc.kind == Kind::kLatency ? std::max(cfg.window, 1 << 16) : cfg.window;

  std::vector<std::unique_ptr<ConnState>> states;
  std::vector<std::unique_ptr<Conn>> conns;
  for (int c = 0; c < sc.conns; ++c) {
    states.push_back(std::make_unique<ConnState>(window, slots));
    std::unique_ptr<Conn> conn;
    row.error = target.connect(sc, states.back().get(), &conn);
    if (!row.error.empty()) break;
    conns.push_back(std::move(conn));
  }
  if (!row.error.empty()) {
    for (auto& c : conns) c->close();
    target.cleanup();
    return row;
  }

  const auto start = Clock::now() + std::chrono::milliseconds(20);
  const auto measure_from = start + warmup;
  const auto end = measure_from + duration;
  std::vector<std::thread> senders;
  for (int c = 0; c < sc.conns; ++c) {
    senders.emplace_back([&, c] {
      ConnState& st = *states[static_cast<std::size_t>(c)];
      Conn& conn = *conns[static_cast<std::size_t>(c)];
      std::string payload = sc.schema_payload ? schema_payload : std::string(sc.bytes, 'x');
      std::string key;
      uint64_t seq = 0;
      auto send = [&] {
        if (!sc.schema_payload) std::memcpy(payload.data(), &seq, std::min(sizeof(seq), payload.size()));
        if (sc.dedup) key = dedup_key(run_id, static_cast<uint32_t>(c), seq);
        conn.publish(seq, payload, sc.dedup ? &key : nullptr);
        ++seq;
        st.sent.store(seq, std::memory_order_release);
      };
      std::this_thread::sleep_until(start);
      if (sc.kind == Kind::kThroughput) {
        while (Clock::now() < end) {
          if (!st.window().try_acquire()) {
            conn.flush();
            if (!st.window().try_acquire_for(std::chrono::milliseconds(10))) continue;
          }
          send();
        }
      } else {
        const double period_s = static_cast<double>(sc.conns) / cfg.rate;
        const double phase_s = static_cast<double>(c) / cfg.rate;
        for (uint64_t i = 0; i < slots; ++i) {
          const auto t = start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(phase_s + static_cast<double>(i) * period_s));
          if (t >= end) break;
          std::this_thread::sleep_until(t);
          st.set_sched(i, t);
          if (!st.window().try_acquire_for(std::chrono::seconds(1))) break;
          send();
          conn.flush();
        }
      }
      conn.flush();
    });
  }

  auto total_done = [&] {
    uint64_t n = 0;
    for (auto& s : states) n += s->done() - s->errors();
    return n;
  };
  std::this_thread::sleep_until(measure_from);
  const uint64_t a0 = total_done();
  const auto t0 = Clock::now();
  std::this_thread::sleep_until(end);
  const uint64_t a1 = total_done();
  const auto t1 = Clock::now();
  for (auto& t : senders) t.join();

  // Drain: every sent event completes (bounded).
  const auto drain_deadline = Clock::now() + std::chrono::seconds(30);
  for (;;) {
    bool all = true;
    for (auto& s : states) all = all && s->done() >= s->sent.load();
    if (all || Clock::now() >= drain_deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (auto& c : conns) c->close();

  for (auto& s : states) {
    row.sent += s->sent.load();
    row.errors += s->errors();
    if (row.error.empty()) row.error = s->first_error();
  }
  if (sc.kind == Kind::kThroughput) {
    const double secs = std::chrono::duration<double>(t1 - t0).count();
    row.events_per_s = static_cast<double>(a1 - a0) / secs;
    row.mb_per_s = row.events_per_s * static_cast<double>(sc.bytes) / 1e6;
  } else {
    std::vector<int64_t> lat;
    lat.reserve(slots * states.size());
    uint64_t acked_in_window = 0;
    for (auto& s : states) {
      const uint64_t n = s->sent.load();
      for (uint64_t i = 0; i < n; ++i) {
        if (s->sched(i) < measure_from) continue;
        const int64_t l = s->lat_ns(i);
        if (l >= 0) {
          lat.push_back(l);
          ++acked_in_window;
        }
      }
    }
    set_latency(row, lat);
    row.events_per_s = static_cast<double>(acked_in_window) / cfg.duration_s;
    row.mb_per_s = row.events_per_s * static_cast<double>(sc.bytes) / 1e6;
  }
  target.cleanup();
  return row;
}

// ------------------------------------------------------------------ spawned broker

class SpawnedBroker {
 public:
  std::string start(const std::string& binary) {
    char tmpl[] = "/tmp/causeway-bench-XXXXXX";
    if (!::mkdtemp(tmpl)) return std::string("mkdtemp: ") + std::strerror(errno);
    dir_ = tmpl;
    const std::string data = dir_ + "/data";
    const std::string log = dir_ + "/broker.log";
    pid_ = ::fork();
    if (pid_ < 0) return std::string("fork: ") + std::strerror(errno);
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<std::string> args{binary, "--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0", "--data-dir", data};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      std::_Exit(127);
    }
    const std::string needle = "listening on 127.0.0.1:";
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    while (Clock::now() < deadline) {
      std::ifstream in(log);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      const auto pos = text.find(needle);
      if (pos != std::string::npos) {
        const int port = std::atoi(text.c_str() + pos + needle.size());
        if (port > 0) {
          address_ = "127.0.0.1:" + std::to_string(port);
          return "";
        }
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "broker exited at start; its log:\n" + text;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "broker did not report its port within 15 s (log: " + log + ")";
  }
  const std::string& address() const { return address_; }
  // The embedded registry's URL from the broker's log ("registry listening on URL").
  std::string registry_url() const {
    std::ifstream in(dir_ + "/broker.log");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    const std::string marker = "registry listening on ";
    const auto at = text.find(marker);
    if (at == std::string::npos) return "";
    const auto end = text.find_first_of(" \n", at + marker.size());
    return text.substr(at + marker.size(), end - at - marker.size());
  }
  ~SpawnedBroker() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      bool exited = false;
      while (Clock::now() < deadline) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
          exited = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (!exited) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

 private:
  pid_t pid_ = -1;
  std::string dir_;
  std::string address_;
};

// ------------------------------------------------------------------ output

std::string fmt_num(double v) {
  char buf[32];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2fM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof(buf), "%.0fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  }
  return buf;
}

void print_rows(const std::vector<Row>& rows) {
  std::printf("\n%-22s %-9s %10s %8s %9s %9s %9s %8s  %s\n", "scenario", "target", "events/s", "MB/s", "p50 us",
              "p99 us", "p99.9 us", "errors", "note");
  for (const Row& r : rows) {
    if (!r.error.empty() && r.sent == 0) {
      std::printf("%-22s %-9s  not run: %s\n", r.scenario.c_str(), r.target.c_str(), r.error.c_str());
      continue;
    }
    if (!is_latency(r.kind)) {
      std::printf("%-22s %-9s %10s %8.1f %9s %9s %9s %8" PRIu64 "  %s\n", r.scenario.c_str(), r.target.c_str(),
                  fmt_num(r.events_per_s).c_str(), r.mb_per_s, "-", "-", "-", r.errors, r.note.c_str());
    } else {
      std::printf("%-22s %-9s %10s %8.1f %9.0f %9.0f %9.0f %8" PRIu64 "  %s\n", r.scenario.c_str(), r.target.c_str(),
                  fmt_num(r.events_per_s).c_str(), r.mb_per_s, r.p50_us, r.p99_us, r.p999_us, r.errors,
                  r.note.c_str());
    }
    if (r.errors > 0 || !r.error.empty()) std::printf("%-22s   first error: %s\n", "", r.error.c_str());
  }
}

// One line per scenario: Causeway's figure and its ratio to each peer (> 1: Causeway ahead).
void print_comparison(const std::vector<Row>& rows, const std::vector<std::string>& targets) {
  std::map<std::pair<std::string, std::string>, const Row*> by;
  std::vector<std::string> order;
  for (const Row& r : rows) {
    if (by.emplace(std::pair{r.scenario, r.target}, &r).second &&
        std::find(order.begin(), order.end(), r.scenario) == order.end()) {
      order.push_back(r.scenario);
    }
  }
  std::vector<std::string> peers;
  for (const auto& t : targets) {
    if (t != "causeway") peers.push_back(t);
  }
  std::printf("\nCauseway vs peers (throughput: causeway/peer; latency: peer/causeway; > 1 = Causeway ahead)\n");
  std::printf("%-22s %-22s", "scenario", "causeway");
  for (const auto& p : peers) std::printf(" %-26s", (p + " (ratio)").c_str());
  std::printf("\n");
  auto ok = [](const Row* r) { return r && (r->error.empty() || r->sent > 0); };
  for (const auto& sc : order) {
    const Row* c = by.count({sc, "causeway"}) ? by[{sc, "causeway"}] : nullptr;
    const bool lat = c ? is_latency(c->kind) : (sc.rfind("lat", 0) == 0 || sc.rfind("e2e", 0) == 0);
    char cbuf[64] = "n/a";
    if (ok(c)) {
      if (lat) {
        std::snprintf(cbuf, sizeof(cbuf), "%.0f/%.0f/%.0f us", c->p50_us, c->p99_us, c->p999_us);
      } else {
        std::snprintf(cbuf, sizeof(cbuf), "%s/s", fmt_num(c->events_per_s).c_str());
      }
    }
    std::printf("%-22s %-22s", sc.c_str(), cbuf);
    for (const auto& p : peers) {
      const Row* r = by.count({sc, p}) ? by[{sc, p}] : nullptr;
      char buf[96] = "n/a";
      if (ok(r) && ok(c)) {
        if (lat) {
          auto ratio = [](double peer, double ours) { return ours > 0 ? peer / ours : 0.0; };
          std::snprintf(buf, sizeof(buf), "%.2f/%.2f/%.2f", ratio(r->p50_us, c->p50_us), ratio(r->p99_us, c->p99_us),
                        ratio(r->p999_us, c->p999_us));
        } else {
          std::snprintf(buf, sizeof(buf), "%s (%.2fx)", fmt_num(r->events_per_s).c_str(),
                        r->events_per_s > 0 ? c->events_per_s / r->events_per_s : 0.0);
        }
        if (!r->note.empty() && p == "nats") std::strncat(buf, " *", sizeof(buf) - std::strlen(buf) - 1);
      }
      std::printf(" %-26s", buf);
    }
    std::printf("\n");
  }
  if (std::find(peers.begin(), peers.end(), "nats") != peers.end()) {
    std::printf("* JetStream 2.9 has no fsync mode: its fsync rows are the same os-level ack (TARGETS.md).\n");
  }
}

// val* rows: each validated row's events/s against the unbound row of the same payload
// size and connections (median over --repetitions; < 1 = validation costs throughput).
void print_validation_cost(const std::vector<Row>& rows) {
  std::map<std::string, std::vector<double>> rates;  // "val100_id_c1" -> events/s per repetition
  std::vector<std::string> order;
  for (const Row& r : rows) {
    if (r.validate.empty() || (!r.error.empty() && r.sent == 0)) continue;
    if (!rates.count(r.scenario)) order.push_back(r.scenario);
    rates[r.scenario].push_back(r.events_per_s);
  }
  if (order.empty()) return;
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  };
  std::printf("\nSchema validation cost (validated / unbound events/s, medians of %zu run(s) each)\n",
              rates.begin()->second.size());
  std::printf("%-22s %12s %12s %8s  %s\n", "scenario", "events/s", "unbound", "ratio", "per-run ratios");
  for (const auto& name : order) {
    if (name.find("_none_") != std::string::npos) continue;
    std::string base = name;
    for (const char* mode : {"_id_", "_full_"})
      if (const auto at = base.find(mode); at != std::string::npos) base.replace(at, std::strlen(mode), "_none_");
    if (!rates.count(base)) continue;
    const auto& v = rates[name];
    const auto& b = rates[base];
    std::string per_run;
    for (std::size_t i = 0; i < std::min(v.size(), b.size()); ++i) {
      char buf[16];
      std::snprintf(buf, sizeof(buf), "%s%.2f", i ? " " : "", b[i] > 0 ? v[i] / b[i] : 0.0);
      per_run += buf;
    }
    const double mv = median(v), mb = median(b);
    std::printf("%-22s %12s %12s %8.2f  %s\n", name.c_str(), fmt_num(mv).c_str(), fmt_num(mb).c_str(),
                mb > 0 ? mv / mb : 0.0, per_run.c_str());
  }
}

// filt* rows: each against filt100_base of the same target (medians over --repetitions).
void print_filter_cost(const std::vector<Row>& rows) {
  std::map<std::pair<std::string, std::string>, std::vector<double>> rates;  // (target, scenario) -> events/s
  std::vector<std::string> scenarios, targets;
  for (const Row& r : rows) {
    if (r.kind != Kind::kFilter || r.events_per_s <= 0) continue;
    if (std::find(scenarios.begin(), scenarios.end(), r.scenario) == scenarios.end()) scenarios.push_back(r.scenario);
    if (std::find(targets.begin(), targets.end(), r.target) == targets.end()) targets.push_back(r.target);
    rates[{r.target, r.scenario}].push_back(r.events_per_s);
  }
  if (scenarios.empty()) return;
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  };
  std::printf("\nFiltered delivery (events of the topic per second, medians; ratio to filt100_base, or\n"
              "filt100_base_live for the live rows, of the same target)\n");
  std::printf("%-22s", "scenario");
  for (const auto& t : targets) std::printf(" %-24s", t.c_str());
  std::printf("\n");
  for (const auto& sc : scenarios) {
    std::printf("%-22s", sc.c_str());
    for (const auto& t : targets) {
      char buf[64] = "n/a";
      if (rates.count({t, sc})) {
        const double v = median(rates[{t, sc}]);
        const std::string base_name = sc.ends_with("_live") ? "filt100_base_live" : "filt100_base";
        const double base = rates.count({t, base_name}) ? median(rates[{t, base_name}]) : 0;
        std::snprintf(buf, sizeof(buf), "%s/s (%.2f)", fmt_num(v).c_str(), base > 0 ? v / base : 0.0);
      }
      std::printf(" %-24s", buf);
    }
    std::printf("\n");
  }
}

// The machine-readable result file, written with nlohmann::json (the JSON library the CLI
// already uses) so that escaping and non-finite numbers (written as null) are right.
bool write_json(const std::string& path, const Config& cfg, const std::vector<Row>& rows) {
  nlohmann::json doc;
  doc["config"] = {{"duration_s", cfg.duration_s},         {"warmup_s", cfg.warmup_s},
                   {"partitions", cfg.partitions},         {"window", cfg.window},
                   {"rate", cfg.rate},                     {"latency_connections", cfg.latency_conns}, {"fan_rate", cfg.fan_rate},
                   {"linger_us", cfg.linger_us},           {"latency_linger_us", cfg.latency_linger_us},
                   {"repetitions", cfg.repetitions}};
  nlohmann::json results = nlohmann::json::array();
  for (const Row& r : rows) {
    results.push_back({{"scenario", r.scenario},
                       {"target", r.target},
                       {"kind", is_latency(r.kind) ? "latency" : "throughput"},
                       {"bytes", r.bytes},
                       {"durability", r.durability},
                       {"dedup", r.dedup},
                       {"connections", r.conns},
                       {"events_per_second", r.events_per_s},
                       {"mb_per_second", r.mb_per_s},
                       {"p50_us", r.p50_us},
                       {"p99_us", r.p99_us},
                       {"p999_us", r.p999_us},
                       {"max_us", r.max_us},
                       {"samples", r.samples},
                       {"sent", r.sent},
                       {"errors", r.errors},
                       {"error", r.error},
                       {"note", r.note},
                       {"validate", r.validate},
                       {"repetition", r.repetition}});
  }
  doc["results"] = std::move(results);
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  return static_cast<bool>(out);
}

// Durations as everywhere else in Causeway (causeway::units): a unit is required, because
// a bare "30" could mean seconds or milliseconds.
bool parse_seconds(const std::string& text, double* out) {
  auto d = causeway::units::parse_duration(text);
  if (!d.ok()) return false;
  *out = std::chrono::duration<double>(*d).count();
  return *out >= 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  std::string duration = "5s", warmup = "500ms", max_total = "15m";
  bool list = false;
  CLI::App app{"causeway-bench: end-to-end publish throughput and latency against Causeway, NATS JetStream and "
               "Redis Streams with the same load shape (bench/load/README.md)"};
  app.add_option("--target", cfg.targets, "Systems to drive, run side by side per scenario: causeway, nats, redis")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::IsMember({"causeway", "nats", "redis"}));
  app.add_option("--broker", cfg.broker, "Causeway broker HOST:PORT")->capture_default_str();
  app.add_option("--spawn-broker", cfg.spawn_broker,
                 "Start this causeway-broker binary on 127.0.0.1:0 with a fresh temp data dir (overrides --broker)");
  app.add_option("--nats-url", cfg.nats_url, "NATS server URL (JetStream enabled)")->capture_default_str();
  app.add_option("--tls-ca", cfg.tls.ca_file, "Connect to the Causeway broker with TLS, trusting this PEM CA")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", cfg.tls.cert_file, "Client certificate for a broker that asks for one (mTLS)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", cfg.tls.key_file, "Key of --tls-cert")->check(CLI::ExistingFile);
  app.add_option("--token", cfg.token, "Bearer token for the Causeway broker (docs/security.md)");
  app.add_option("--nats-tls-ca", cfg.nats_tls_ca, "Connect to NATS with TLS, trusting this PEM CA")
      ->check(CLI::ExistingFile);
  app.add_option("--redis", cfg.redis, "Redis server HOST:PORT (its appendfsync is set per scenario)")
      ->capture_default_str();
  app.add_option("--benchmarks", cfg.benchmarks, "Comma-separated scenarios to run (default: all; --list)");
  app.add_flag("--list", list, "List the scenarios and exit");
  app.add_option("--duration", duration, "Measured time per scenario and target, e.g. 5s, 3s")->capture_default_str();
  app.add_option("--warmup", warmup, "Unmeasured time before each measurement")->capture_default_str();
  std::string dedup_window;
  app.add_option("--dedup-window", dedup_window,
                 "Dedup window of the Causeway topics the bench creates, e.g. 2s (default: the topic default, "
                 "2 min); with a window shorter than --warmup, *_dedup_* rows measure a window whose keys "
                 "expire as fast as they come, instead of one that grows from empty");
  app.add_option("--max-total", max_total, "Scenarios that would start after this much time are skipped")
      ->capture_default_str();
  app.add_option("--partitions", cfg.partitions, "Partitions per Causeway topic (peers use one stream)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000u));
  app.add_flag("--keyed", cfg.keyed,
               "Causeway pub*/lat*: give every event a distinct key, so each request spreads over all "
               "--partitions by key hash (default: keyless, a request goes to one partition)");
  app.add_option("--window", cfg.window, "Outstanding (unacked) events per connection in throughput scenarios")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--rate", cfg.rate, "Total events/s of the latency scenarios")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e7));
  app.add_option("--fan-rate", cfg.fan_rate, "Events/s published in fan* scenarios (each reaches every group)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  app.add_option("--latency-connections", cfg.latency_conns, "Connections the latency rate is spread over")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--linger-us", cfg.linger_us, "Causeway publisher linger in throughput scenarios (client default)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  app.add_option("--latency-linger-us", cfg.latency_linger_us, "Causeway publisher linger in latency scenarios")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  app.add_option("--consume-events", cfg.consume_events, "Events published and then consumed in con* scenarios")
      ->capture_default_str();
  app.add_option("--json", cfg.json, "Also write the results as JSON to this file");
  app.add_option("--registry-url", cfg.registry_url,
                 "Registry the val* scenarios register their schema with (with --spawn-broker: its embedded one)")
      ->capture_default_str();
  app.add_option("--repetitions", cfg.repetitions,
                 "Run the whole scenario list this many times, interleaved; the validation table takes medians")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);

  if (!parse_seconds(duration, &cfg.duration_s) || cfg.duration_s <= 0 || !parse_seconds(warmup, &cfg.warmup_s) ||
      !parse_seconds(max_total, &cfg.max_total_s)) {
    std::fprintf(stderr, "error: --duration/--warmup/--max-total take a duration such as 5s or 500ms\n");
    return 2;
  }
  if (!dedup_window.empty() && (!parse_seconds(dedup_window, &cfg.dedup_window_s) || cfg.dedup_window_s <= 0)) {
    std::fprintf(stderr, "error: --dedup-window takes a positive duration such as 2s or 500ms\n");
    return 2;
  }
  std::vector<Scenario> scenarios = all_scenarios(cfg.latency_conns);
  if (list) {
    for (const auto& s : scenarios) std::printf("%s\n", s.name.c_str());
    return 0;
  }
  if (!cfg.benchmarks.empty()) {
    std::vector<Scenario> chosen;
    std::stringstream ss(cfg.benchmarks);
    std::string name;
    while (std::getline(ss, name, ',')) {
      auto it = std::find_if(scenarios.begin(), scenarios.end(), [&](const Scenario& s) { return s.name == name; });
      if (it == scenarios.end()) {
        std::fprintf(stderr, "error: unknown scenario '%s' (--list shows them)\n", name.c_str());
        return 2;
      }
      chosen.push_back(*it);
    }
    scenarios = std::move(chosen);
  }
  ::signal(SIGPIPE, SIG_IGN);

  std::optional<SpawnedBroker> spawned;
  std::vector<std::unique_ptr<Target>> targets;
  for (const auto& t : cfg.targets) {
    if (t == "causeway") {
      if (!cfg.spawn_broker.empty() && !spawned) {
        spawned.emplace();
        const std::string err = spawned->start(cfg.spawn_broker);
        if (!err.empty()) {
          std::fprintf(stderr, "error: --spawn-broker %s: %s\n", cfg.spawn_broker.c_str(), err.c_str());
          return 1;
        }
        cfg.broker = spawned->address();
        // "listening on" comes before "registry listening on": wait for the second.
        for (int i = 0; i < 500 && spawned->registry_url().empty(); ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (const std::string url = spawned->registry_url(); !url.empty()) cfg.registry_url = url;
        std::fprintf(stderr, "spawned causeway-broker at %s (registry %s)\n", cfg.broker.c_str(),
                     cfg.registry_url.c_str());
      }
      targets.push_back(std::make_unique<CausewayTarget>(cfg));
    } else if (t == "nats") {
#ifdef CAUSEWAY_BENCH_HAVE_NATS
      targets.push_back(std::make_unique<NatsTarget>(cfg));
#else
      std::fprintf(stderr, "warning: target nats skipped: built without libnats (apt-get install libnats-dev, "
                           "then re-run cmake)\n");
#endif
    } else if (t == "redis") {
#ifdef CAUSEWAY_BENCH_HAVE_HIREDIS
      targets.push_back(std::make_unique<RedisTarget>(cfg));
#else
      std::fprintf(stderr, "warning: target redis skipped: built without hiredis (apt-get install "
                           "libhiredis-dev, then re-run cmake)\n");
#endif
    }
  }
  if (targets.empty()) {
    std::fprintf(stderr, "error: no usable target\n");
    return 1;
  }

  std::fprintf(stderr, "%zu scenarios x %zu targets x %d repetition(s), %.1fs each (+%.1fs warm-up)\n",
               scenarios.size(), targets.size(), cfg.repetitions, cfg.duration_s, cfg.warmup_s);
  std::vector<Row> rows;
  const auto t_begin = Clock::now();
  uint32_t run_id = std::random_device{}() & 0xffffu;
  run_id <<= 16;
  bool any_error = false;
  for (int repetition = 1; repetition <= cfg.repetitions; ++repetition) {
    for (const auto& sc : scenarios) {
      for (auto& t : targets) {
        if (sc.schema_payload && t->name() != "causeway") continue;  // val*: Causeway's own cost
        const double elapsed = std::chrono::duration<double>(Clock::now() - t_begin).count();
        if (elapsed + cfg.duration_s + cfg.warmup_s > cfg.max_total_s) {
          Row r;
          r.scenario = sc.name;
          r.target = t->name();
          r.kind = sc.kind;
          r.error = "skipped: --max-total reached";
          rows.push_back(r);
          continue;
        }
        std::fprintf(stderr, "  %-22s %-9s ...\n", sc.name.c_str(), t->name().c_str());
        rows.push_back(run_scenario(cfg, *t, sc, ++run_id));
        rows.back().repetition = repetition;
        // A filter a peer cannot express is a row it does not have, not a failure.
        if (!rows.back().error.empty() && rows.back().error.rfind("not expressible", 0) != 0) any_error = true;
      }
    }
  }
  targets.clear();
#ifdef CAUSEWAY_BENCH_HAVE_NATS
  // nats.c 3.4's nats_Close() frees OpenSSL's compression list without clearing it, and
  // OpenSSL's own cleanup at exit then frees it again and crashes (nats-io/nats.c#904) when
  // TLS was used. The process is about to exit: leave the library open then.
  if (cfg.nats_tls_ca.empty()) nats_Close();
#endif

  print_rows(rows);
  if (cfg.targets.size() > 1) print_comparison(rows, cfg.targets);
  print_validation_cost(rows);
  print_filter_cost(rows);
  if (!cfg.json.empty() && !write_json(cfg.json, cfg, rows)) {
    std::fprintf(stderr, "error: cannot write %s\n", cfg.json.c_str());
    return 1;
  }
  return any_error ? 1 : 0;
}
