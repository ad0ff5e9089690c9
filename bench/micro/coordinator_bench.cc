// File: bench/micro/coordinator_bench.cc
//
// The subscription coordinator under many groups, to decide whether its single mutex stays
// (docs/subscriptions.md, "One mutex"). G groups (1, 8, 64) each have one member on the same
// 4-partition topic of 20,000 events (100 B); every member acks what it is pushed at once.
// A probe member of an idle group sends heartbeats throughout: a heartbeat does nothing but
// take the coordinator's mutex and look the member up, so its latency is the mutex's wait.
//
// Reported per G: delivered-and-acked events/s over all groups, and the probe's heartbeat
// latency p50 / p99 / max in microseconds. If the mutex were the bottleneck, events/s would
// fall as G grows while the probe's p99 rose towards the time of a pump round.
// BM_IdleGroupsSweep (below) measures what idle groups cost the sweeper.
//
//   build/release/bench/micro/coordinator_bench
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "core/event_store.h"
#include "core/publish_pipeline.h"
#include "storage/file_system.h"
#include "subscribe/coordinator.h"

namespace causeway::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kPartitions = 4;
constexpr int kEvents = 20000;

// The broker's storage pool, as the coordinator's executor: two threads here (two cores).
class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  void post(std::function<void()> fn) {
    {
      std::lock_guard lk(mu_);
      tasks_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

 private:
  void work() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [this] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      auto fn = std::move(tasks_.front());
      tasks_.pop_front();
      lk.unlock();
      fn();
      lk.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

// A member's connection that acks everything it is pushed, as a fast consumer would.
class AckingSink final : public subscribe::DeliverySink {
 public:
  AckingSink(uint64_t id, subscribe::Coordinator*& co, std::atomic<uint64_t>& acked) : id_(id), co_(co), acked_(acked) {}
  uint64_t connection_id() const override { return id_; }
  subscribe::PushResult push(const subscribe::DeliveryBatch& batch) override {
    std::vector<uint64_t> offsets;
    offsets.reserve(batch.events.size());
    for (const auto& e : batch.events) offsets.push_back(e.record.offset);
    uint32_t accepted = 0;
    const std::string sub(batch.subscription);
    const std::string member(batch.member_id);
    if (co_->ack(id_, sub, member, batch.partition, offsets, accepted).ok()) acked_ += accepted;
    return subscribe::PushResult::kQueued;
  }
  bool has_room() override { return true; }
  bool is_closed() const override { return false; }

 private:
  const uint64_t id_;
  subscribe::Coordinator*& co_;
  std::atomic<uint64_t>& acked_;
};

struct Fixture {
  std::string dir;
  std::unique_ptr<core::EventStore> store;
  std::unique_ptr<core::PublishPipeline> publish;
  std::unique_ptr<Pool> pool;
  std::unique_ptr<subscribe::Coordinator> co;
  subscribe::Coordinator* co_ptr = nullptr;
  std::atomic<uint64_t> acked{0};
};

std::unique_ptr<Fixture> open_fixture() {
  auto f = std::make_unique<Fixture>();
  f->dir = fresh_dir("coordinator");
  core::EventStoreOptions o;
  o.data_dir = f->dir;
  auto store = core::EventStore::open(storage::FileSystem::posix(), o, nullptr);
  if (!store) {
    std::fprintf(stderr, "open: %s\n", store.error().to_string().c_str());
    std::exit(2);
  }
  f->store = std::move(*store);
  f->publish = std::make_unique<core::PublishPipeline>(*f->store);
  f->pool = std::make_unique<Pool>(2);
  subscribe::CoordinatorOptions options;
  options.session_timeout = std::chrono::minutes(10);
  f->co = std::make_unique<subscribe::Coordinator>(
      *f->store, *f->publish, [pool = f->pool.get()](std::function<void()> fn) { pool->post(std::move(fn)); },
      options);
  f->co_ptr = f->co.get();
  f->store->append_notifier().set([c = f->co.get()](std::string_view topic, uint32_t partition, uint64_t end) {
    c->on_append(topic, partition, end);
  });
  f->co->start();
  for (const char* name : {"load", "idle"}) {
    meta::TopicConfig t;
    t.name = name;
    t.partitions = kPartitions;
    t.durability = storage::Durability::kOs;
    if (!f->store->create_topic(t)) std::exit(2);
  }
  const std::string payload = make_payload(100, 7);
  std::vector<core::PublishEvent> batch(100);
  for (auto& e : batch) e.record.payload = payload;
  for (int i = 0; i < kEvents / 100; ++i) {
    auto acks = f->publish->publish("load", batch, 0, static_cast<uint32_t>(i));
    if (!acks) std::exit(2);
  }
  return f;
}

// Stops the coordinator before what it uses goes, then removes the data directory.
void close_fixture(std::unique_ptr<Fixture> f) {
  f->store->append_notifier().set(nullptr);
  f->co->stop();
  f->co.reset();
  f->pool.reset();
  f->publish.reset();
  f->store.reset();
  drop_dir(f->dir);
}

meta::SubscriptionConfig subscription(const std::string& name, const std::string& topic) {
  meta::SubscriptionConfig c;
  c.name = name;
  c.topic = topic;
  c.start = meta::StartKind::kEarliest;
  return c;
}

void BM_GroupsDeliverAndAck(benchmark::State& state) {
  const int groups = static_cast<int>(state.range(0));
  auto f = open_fixture();
  // The probe: a member of an idle group whose heartbeats measure the mutex's wait.
  auto probe_sink = std::make_shared<AckingSink>(1, f->co_ptr, f->acked);
  auto probe = f->co->join(probe_sink, "probe", "idle", 0, 0, true, subscription("probe", "idle"), "probe");
  if (!probe) state.SkipWithError(probe.status().to_string().c_str());
  std::vector<double> heartbeat_us;
  int round = 0;
  for (auto _ : state) {
    f->acked = 0;
    std::vector<std::shared_ptr<AckingSink>> sinks;
    std::vector<std::pair<std::string, std::string>> members;  // subscription, member id
    std::atomic<bool> done{false};
    std::vector<double> samples;
    std::thread prober([&] {
      while (!done) {
        const auto t0 = Clock::now();
        const Status s = f->co->heartbeat(1, "probe", probe->member_id);
        samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        if (!s.ok()) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
    const uint64_t target = static_cast<uint64_t>(groups) * kEvents;
    for (int g = 0; g < groups; ++g) {
      const std::string name = "g" + std::to_string(round) + "-" + std::to_string(g);
      sinks.push_back(std::make_shared<AckingSink>(100 + static_cast<uint64_t>(g), f->co_ptr, f->acked));
      auto joined = f->co->join(sinks.back(), name, "load", 0, 0, true, subscription(name, "load"), "bench");
      if (!joined) {
        state.SkipWithError(joined.status().to_string().c_str());
        break;
      }
      members.emplace_back(name, joined->member_id);
    }
    const auto deadline = Clock::now() + std::chrono::minutes(5);
    while (f->acked.load() < target && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    done = true;
    prober.join();
    if (f->acked.load() < target) state.SkipWithError("the groups did not finish within 5 minutes");
    state.PauseTiming();
    heartbeat_us.insert(heartbeat_us.end(), samples.begin(), samples.end());
    for (size_t i = 0; i < members.size(); ++i) {
      f->co->leave(sinks[i]->connection_id(), members[i].first, members[i].second).ignore_error();
      f->co->delete_subscription(members[i].first).ignore_error();
    }
    ++round;
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * groups * kEvents);
  std::sort(heartbeat_us.begin(), heartbeat_us.end());
  const auto at = [&](double q) {
    return heartbeat_us.empty() ? 0.0 : heartbeat_us[static_cast<size_t>(q * static_cast<double>(heartbeat_us.size() - 1))];
  };
  state.counters["hb_p50_us"] = at(0.5);
  state.counters["hb_p99_us"] = at(0.99);
  state.counters["hb_max_us"] = heartbeat_us.empty() ? 0.0 : heartbeat_us.back();
  close_fixture(std::move(f));
}
BENCHMARK(BM_GroupsDeliverAndAck)->Arg(1)->Arg(8)->Arg(64)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// What idle groups cost (issue 18: "the sweeper's cost follows due work, not group
// count"): G groups, each one member on its own connection, on a 4-partition topic that
// gets no events, with the sweeper running every 100 ms (the default). Reported: the
// process's CPU time per second of wall time (cpu_ms_per_s; only the sweeper runs) and
// per sweep (cpu_us_per_sweep).
double process_cpu_ms() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

void BM_IdleGroupsSweep(benchmark::State& state) {
  const int groups = static_cast<int>(state.range(0));
  auto f = open_fixture();
  std::vector<std::shared_ptr<AckingSink>> sinks;
  for (int g = 0; g < groups; ++g) {
    const std::string name = "idle-" + std::to_string(g);
    sinks.push_back(std::make_shared<AckingSink>(100 + static_cast<uint64_t>(g), f->co_ptr, f->acked));
    auto joined = f->co->join(sinks.back(), name, "idle", 0, 0, true, subscription(name, "idle"), "bench");
    if (!joined) {
      state.SkipWithError(joined.status().to_string().c_str());
      break;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the joins' pumps and commits settle
  constexpr auto kWindow = std::chrono::seconds(2);
  double cpu_ms = 0, wall_s = 0;
  for (auto _ : state) {
    const double c0 = process_cpu_ms();
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(kWindow);
    cpu_ms += process_cpu_ms() - c0;
    wall_s += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  state.counters["cpu_ms_per_s"] = cpu_ms / wall_s;
  state.counters["cpu_us_per_sweep"] = cpu_ms * 1e3 / (wall_s * 10);  // 10 sweeps per second
  close_fixture(std::move(f));
}
BENCHMARK(BM_IdleGroupsSweep)->Arg(1)->Arg(1000)->Arg(10000)->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace causeway::bench

int main(int argc, char** argv) { return causeway::bench::run_main(argc, argv); }
