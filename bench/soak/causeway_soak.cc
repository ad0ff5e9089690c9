// File: bench/soak/causeway_soak.cc
//
// causeway-soak: a long run at a fixed rate against a running broker (issue 18, "Soak"):
// does latency, memory or the descriptor count drift while retention deletes segments and
// a consumer keeps up? How to run it and what it printed: bench/soak/README.md.
//
// One topic (--partitions, os durability, --segment-bytes, --retention-bytes per
// partition: segments roll and retention deletes them all through the run) and one
// subscription with --members Subscribers (handler form, an ack per event). One Publisher
// sends --rate events/s of --bytes, open loop: event i is scheduled at start + i / rate and
// carries its schedule, so a publisher, broker or consumer that falls behind shows up as
// latency (no coordinated omission). Every --report-every it prints one line: events
// published and delivered, publish->ack and publish->consumer latency p50/p99/p99.9/max
// (exact, over the interval's samples), and, with --broker-pid, the broker's RSS and open
// descriptors (/proc), and the topic's retained bytes and first offset. At the end a summary
// compares the last interval and the worst with the first (p99.9, RSS, descriptors) and says
// whether every event was delivered.
#include <dirent.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/subscriber.h"

namespace cc = causeway::client;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string broker = "127.0.0.1:7450";
  int broker_pid = 0;
  double rate = 5000;
  double duration_s = 1800;
  double report_every_s = 60;
  uint32_t bytes = 1024;
  uint32_t partitions = 4;
  uint32_t members = 2;
  uint64_t segment_bytes = 8u << 20;
  uint64_t retention_bytes = 32u << 20;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Latency samples (ns) of the current interval, from any thread.
class Samples {
 public:
  void add(int64_t ns) {
    std::lock_guard lk(mu_);
    v_.push_back(ns);
  }
  std::vector<int64_t> take() {
    std::lock_guard lk(mu_);
    std::vector<int64_t> out;
    out.swap(v_);
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<int64_t> v_;
};

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;  // microseconds
  size_t n = 0;
};

Percentiles percentiles(std::vector<int64_t> v) {
  Percentiles p;
  p.n = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    const auto i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1000.0;
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = static_cast<double>(v.back()) / 1000.0;
  return p;
}

// VmRSS of `pid` in KiB, or nullopt.
std::optional<uint64_t> rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return std::nullopt;
}

// Open descriptors of `pid`, or nullopt.
std::optional<uint64_t> fd_count(int pid) {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return std::nullopt;
  uint64_t n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

struct Interval {
  double at_s = 0;
  uint64_t published = 0, acked = 0, delivered = 0;
  Percentiles ack, e2e;
  std::optional<uint64_t> rss, fds;
  uint64_t retained_bytes = 0, first_offset = 0;
};

std::string fmt_opt(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : "-"; }

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"causeway-soak: a long fixed-rate publish + consume run with retention (bench/soak/README.md)"};
  app.add_option("--broker", o.broker, "Broker address")->capture_default_str();
  app.add_option("--broker-pid", o.broker_pid, "The broker's process id, to report its RSS and open descriptors");
  app.add_option("--rate", o.rate, "Events/s published")->capture_default_str()->check(CLI::Range(1.0, 1e6));
  app.add_option("--duration", o.duration_s, "Seconds to run")->capture_default_str()->check(CLI::Range(1.0, 86400.0));
  app.add_option("--report-every", o.report_every_s, "Seconds per report line")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));
  app.add_option("--bytes", o.bytes, "Payload bytes per event")->capture_default_str()->check(CLI::Range(16u, 1u << 20));
  app.add_option("--partitions", o.partitions, "Partitions of the soak topic")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000u));
  app.add_option("--members", o.members, "Subscribers in the soak subscription's group")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  app.add_option("--segment-bytes", o.segment_bytes, "Segment size of the soak topic")->capture_default_str();
  app.add_option("--retention-bytes", o.retention_bytes, "Retained bytes per partition of the soak topic")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  cc::ClientOptions client;
  client.broker = o.broker;
  client.client_name = "causeway-soak";
  auto admin = cc::Admin::connect(client);
  if (!admin.ok()) {
    std::fprintf(stderr, "error: %s\n", admin.status().to_string().c_str());
    return 1;
  }
  const std::string topic = "soak." + std::to_string(::getpid());
  cc::TopicSpec spec;
  spec.name = topic;
  spec.partitions = o.partitions;
  spec.durability = cc::Durability::kOs;
  spec.segment_bytes = o.segment_bytes;
  spec.retention_bytes = o.retention_bytes;
  if (auto created = (*admin)->create_topic(spec); !created.ok()) {
    std::fprintf(stderr, "error: creating %s: %s\n", topic.c_str(), created.status().to_string().c_str());
    return 1;
  }

  Samples ack_samples, e2e_samples;
  std::atomic<uint64_t> acked{0}, delivered{0}, failed{0}, redelivered{0};
  std::vector<std::unique_ptr<cc::Subscriber>> members;
  for (uint32_t m = 0; m < o.members; ++m) {
    cc::SubscriberOptions so;
    so.subscription = "soak-" + topic;
    so.topic = topic;
    so.settings.start = cc::StartPosition::earliest();
    auto sub = cc::Subscriber::start(client, so, [&](const cc::DeliveredEvent& e) -> causeway::Status {
      int64_t sched = 0;
      if (e.payload.size() >= sizeof(sched)) std::memcpy(&sched, e.payload.data(), sizeof(sched));
      if (e.attempt == 1) {
        e2e_samples.add(now_ns() - sched);
        delivered.fetch_add(1, std::memory_order_relaxed);
      } else {
        redelivered.fetch_add(1, std::memory_order_relaxed);
      }
      return {};
    });
    if (!sub.ok()) {
      std::fprintf(stderr, "error: subscribing: %s\n", sub.status().to_string().c_str());
      return 1;
    }
    members.push_back(std::move(sub).value());
  }
  cc::PublisherOptions po;
  po.linger = std::chrono::microseconds(0);
  auto pub = cc::Publisher::connect(client, po);
  if (!pub.ok()) {
    std::fprintf(stderr, "error: %s\n", pub.status().to_string().c_str());
    return 1;
  }

  std::printf("soak: topic %s, %u partitions, %.0f events/s of %u B for %.0f s, segments of %" PRIu64
              " B, %" PRIu64 " B retained per partition, %u subscriber(s)\n",
              topic.c_str(), o.partitions, o.rate, o.bytes, o.duration_s, o.segment_bytes, o.retention_bytes,
              o.members);
  std::printf("%7s %10s %10s %10s  %-31s  %-31s %10s %6s %12s %12s\n", "t (s)", "published", "acked", "delivered",
              "publish->ack p50/p99/p99.9/max us", "publish->consumer p50/p99/p99.9/max", "rss KiB", "fds",
              "retained B", "first offset");
  std::fflush(stdout);

  std::atomic<uint64_t> published{0};
  std::atomic<bool> stop{false};
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  std::thread sender([&] {
    std::string payload(o.bytes, 'x');
    for (uint64_t i = 0;; ++i) {
      const double at = static_cast<double>(i) / o.rate;
      if (at >= o.duration_s || stop.load()) break;
      const auto t = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at));
      std::this_thread::sleep_until(t);
      const int64_t sched = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
      std::memcpy(payload.data(), &sched, sizeof(sched));
      cc::Event e;
      e.payload = payload;
      (*pub)->publish(topic, std::move(e), [&, sched](const causeway::Result<cc::PublishAck>& r) {
        if (r.ok()) {
          ack_samples.add(now_ns() - sched);
          acked.fetch_add(1, std::memory_order_relaxed);
        } else {
          failed.fetch_add(1, std::memory_order_relaxed);
        }
      });
      published.fetch_add(1, std::memory_order_relaxed);
    }
  });

  std::vector<Interval> intervals;
  const auto report = [&](double at_s) {
    Interval iv;
    iv.at_s = at_s;
    iv.published = published.load();
    iv.acked = acked.load();
    iv.delivered = delivered.load();
    iv.ack = percentiles(ack_samples.take());
    iv.e2e = percentiles(e2e_samples.take());
    if (o.broker_pid > 0) {
      iv.rss = rss_kib(o.broker_pid);
      iv.fds = fd_count(o.broker_pid);
    }
    if (auto info = (*admin)->describe_topic(topic); info.ok()) {
      for (const cc::PartitionInfo& p : info->partitions) {
        iv.retained_bytes += p.size_bytes;
        iv.first_offset += p.log_start_offset;
      }
    }
    char ack[64], e2e[64];
    std::snprintf(ack, sizeof(ack), "%.0f/%.0f/%.0f/%.0f", iv.ack.p50, iv.ack.p99, iv.ack.p999, iv.ack.max);
    std::snprintf(e2e, sizeof(e2e), "%.0f/%.0f/%.0f/%.0f", iv.e2e.p50, iv.e2e.p99, iv.e2e.p999, iv.e2e.max);
    std::printf("%7.0f %10" PRIu64 " %10" PRIu64 " %10" PRIu64 "  %-31s  %-31s %10s %6s %12" PRIu64 " %12" PRIu64 "\n",
                iv.at_s, iv.published, iv.acked, iv.delivered, ack, e2e, fmt_opt(iv.rss).c_str(),
                fmt_opt(iv.fds).c_str(), iv.retained_bytes, iv.first_offset);
    std::fflush(stdout);
    intervals.push_back(iv);
  };
  const auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.report_every_s));
  for (auto next = start + every;; next += every) {
    std::this_thread::sleep_until(next);
    report(std::chrono::duration<double>(next - start).count());
    if (std::chrono::duration<double>(next - start).count() >= o.duration_s) break;
  }
  sender.join();
  (void)(*pub)->flush(std::chrono::seconds(30));
  const auto drain = Clock::now() + std::chrono::seconds(30);
  while (delivered.load() + failed.load() < published.load() && Clock::now() < drain) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& m : members) (void)m->close();
  (void)(*pub)->close();
  (void)(*admin)->delete_subscription("soak-" + topic);
  (void)(*admin)->delete_topic(topic);

  // Summary: the first interval is the baseline.
  if (intervals.size() >= 2) {
    const Interval& first = intervals.front();
    const Interval& last = intervals.back();
    double worst_ack = 0, worst_e2e = 0;
    for (size_t i = 1; i < intervals.size(); ++i) {
      worst_ack = std::max(worst_ack, intervals[i].ack.p999);
      worst_e2e = std::max(worst_e2e, intervals[i].e2e.p999);
    }
    const auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    std::printf("\nsummary over %zu intervals (first = baseline):\n", intervals.size());
    std::printf("  publish->ack p99.9:      first %.0f us, last %.0f us (%.2fx), worst later %.0f us (%.2fx)\n",
                first.ack.p999, last.ack.p999, ratio(last.ack.p999, first.ack.p999), worst_ack,
                ratio(worst_ack, first.ack.p999));
    std::printf("  publish->consumer p99.9: first %.0f us, last %.0f us (%.2fx), worst later %.0f us (%.2fx)\n",
                first.e2e.p999, last.e2e.p999, ratio(last.e2e.p999, first.e2e.p999), worst_e2e,
                ratio(worst_e2e, first.e2e.p999));
    if (first.rss && last.rss) {
      std::printf("  broker RSS: first %" PRIu64 " KiB, last %" PRIu64 " KiB (%+.1f%%)\n", *first.rss, *last.rss,
                  100.0 * (static_cast<double>(*last.rss) - static_cast<double>(*first.rss)) /
                      static_cast<double>(*first.rss));
    }
    if (first.fds && last.fds) std::printf("  broker descriptors: first %" PRIu64 ", last %" PRIu64 "\n", *first.fds, *last.fds);
  }
  std::printf("  published %" PRIu64 ", acked %" PRIu64 ", failed %" PRIu64 ", delivered %" PRIu64
              " (first attempts), redelivered %" PRIu64 "\n",
              published.load(), acked.load(), failed.load(), delivered.load(), redelivered.load());
  const bool complete = failed.load() == 0 && delivered.load() >= published.load();
  if (!complete) std::printf("  NOT every published event was acked and delivered\n");
  return complete ? 0 : 1;
}
