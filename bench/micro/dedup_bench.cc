// File: bench/micro/dedup_bench.cc
//
// Micro benchmarks of the in-memory dedup window (core/dedup_window.h):
//
//   BM_DedupWindow_Insert/batch:N   insert N new keys per call (the append hook's unit of
//       work) into a window already holding kPrefill keys.
//   BM_DedupWindow_LookupHit        lookup of a random stored key, inside the window.
//   BM_DedupWindow_LookupMiss       lookup of a random key that was never stored.
//   BM_DedupWindow_FindMany/batch:N find_many() of N keys never stored (one request's
//       lookup), drawn from a pool of 1M so that their slots are not cached.
//   BM_DedupWindow_Expire           expiry of kPrefill keys that left the window.
//   BM_DedupWindow_ExpirePass/keys:N   an expiry pass that sweeps every shard of a window of
//       N live keys to drop 1,000 expired ones (a shard is swept at most once per sixteenth
//       of the window).
//   BM_DedupWindow_MemoryPerKey/keys:N   heap bytes per key (glibc's mallinfo2: blocks in use
//       and mapped blocks, after minus before) of a window holding N keys, reported as the
//       bytes_per_key counter. Each table doubles, but the shards do so at different sizes,
//       so the figure should be flat in N: measured at sizes across two doublings.
//
// Keys are 32 hex characters (a typical message id), one topic, one partition.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <random>
#include <string>
#include <vector>

#include "core/dedup_window.h"

namespace causeway::bench {
namespace {

using core::DedupInsert;
using core::DedupWindow;

constexpr uint32_t kTopic = 7;
constexpr uint32_t kPartition = 0;
constexpr uint64_t kPrefill = 1'000'000;
constexpr int64_t kNow = 1'700'000'000'000;

uint64_t mix(uint64_t x) {  // splitmix64: distinct inputs give distinct, scattered outputs
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Key number n of a namespace (0: stored keys, 1: never stored), 32 hex characters.
std::string key(uint64_t ns, uint64_t n) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(mix(n * 2 + ns)),
                static_cast<unsigned long long>(mix(~(n * 2 + ns))));
  return std::string(buf, 32);
}

void fill(DedupWindow& w, uint64_t from, uint64_t to, int64_t time_ms) {
  std::vector<std::string> keys;
  std::vector<DedupInsert> in;
  for (uint64_t base = from; base < to; base += 1000) {
    keys.clear();
    in.clear();
    for (uint64_t n = base; n < std::min(to, base + 1000); ++n) keys.push_back(key(0, n));
    for (size_t i = 0; i < keys.size(); ++i) in.push_back(DedupInsert{keys[i], base + i, base + i + 1, time_ms});
    w.insert(kTopic, kPartition, in);
  }
}

DedupWindow& prefilled() {
  static DedupWindow* w = [] {
    auto* p = new DedupWindow();
    p->add_topic(kTopic, std::chrono::minutes(2));
    fill(*p, 0, kPrefill, kNow);
    return p;
  }();
  return *w;
}

void BM_DedupWindow_Insert(benchmark::State& state) {
  const auto batch = static_cast<size_t>(state.range(0));
  DedupWindow w;
  w.add_topic(kTopic, std::chrono::minutes(2));
  fill(w, 0, kPrefill, kNow);
  uint64_t next = kPrefill;
  std::vector<std::string> keys(batch);
  std::vector<DedupInsert> in(batch);
  for (auto _ : state) {
    state.PauseTiming();
    for (size_t i = 0; i < batch; ++i) {
      keys[i] = key(0, next + i);
      in[i] = DedupInsert{keys[i], next + i, next + i + 1, kNow};
    }
    next += batch;
    state.ResumeTiming();
    w.insert(kTopic, kPartition, in);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(batch));
}
BENCHMARK(BM_DedupWindow_Insert)->ArgName("batch")->Arg(1)->Arg(100);

void BM_DedupWindow_ExpirePass(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  const auto window = std::chrono::hours(1);
  DedupWindow w;
  w.add_topic(kTopic, window);
  fill(w, 0, n, kNow);
  int64_t now = kNow;
  uint64_t next = n;
  std::vector<std::string> keys;
  std::vector<DedupInsert> in;
  for (auto _ : state) {
    state.PauseTiming();
    now += std::chrono::duration_cast<std::chrono::milliseconds>(window).count() / 16 + 1;
    keys.clear();
    in.clear();
    for (int i = 0; i < 1000; ++i) keys.push_back(key(0, next++));  // a due key in every shard
    for (const std::string& k : keys) in.push_back(DedupInsert{k, next, next, now - 2 * 3'600'000});
    w.insert(kTopic, kPartition, in);
    state.ResumeTiming();
    benchmark::DoNotOptimize(w.expire(now));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_DedupWindow_ExpirePass)
    ->ArgName("keys")
    ->Arg(1'000'000)
    ->Arg(10'000'000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10);  // before the window's keys themselves expire

void BM_DedupWindow_MemoryPerKey(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  double per_key = 0;
  for (auto _ : state) {
    const auto in_use = [] {  // small blocks, and the large ones malloc maps on their own
      const struct mallinfo2 m = mallinfo2();
      return m.uordblks + m.hblkhd;
    };
    const size_t before = in_use();
    {
      DedupWindow w;
      w.add_topic(kTopic, std::chrono::minutes(2));
      fill(w, 0, n, kNow);
      per_key = static_cast<double>(in_use() - before) / static_cast<double>(n);
      benchmark::DoNotOptimize(w.size());
    }
  }
  state.counters["bytes_per_key"] = per_key;
}
BENCHMARK(BM_DedupWindow_MemoryPerKey)
    ->ArgName("keys")
    ->Arg(1'000'000)
    ->Arg(1'200'000)
    ->Arg(1'500'000)
    ->Arg(2'000'000)
    ->Arg(3'000'000)
    ->Arg(4'000'000)
    ->Arg(6'000'000)
    ->Arg(8'000'000)
    ->Arg(10'000'000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

void BM_DedupWindow_LookupHit(benchmark::State& state) {
  DedupWindow& w = prefilled();
  std::mt19937_64 rng(42);
  std::vector<std::string> keys;
  for (int i = 0; i < 4096; ++i) keys.push_back(key(0, rng() % kPrefill));
  size_t i = 0;
  for (auto _ : state) {
    auto e = w.find(kTopic, keys[i++ & 4095], kNow - 1000);
    if (!e) state.SkipWithError("stored key not found");
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DedupWindow_LookupHit);

// find_many() of N keys never stored (a request of N new events: the publish path's
// lookup), in the 1M-key window. The keys come from a pool of 1M, so their slots are not
// in the cache from an earlier round, as a real request's are not.
void BM_DedupWindow_FindMany(benchmark::State& state) {
  DedupWindow& w = prefilled();
  const auto batch = static_cast<size_t>(state.range(0));
  constexpr size_t kPool = 1 << 20;
  static const std::vector<std::string> pool = [] {
    std::vector<std::string> keys;
    keys.reserve(kPool);
    for (uint64_t n = 0; n < kPool; ++n) keys.push_back(key(1, n));
    return keys;
  }();
  std::vector<std::string_view> views(pool.begin(), pool.end());
  std::vector<std::optional<core::DedupEntry>> out;
  size_t next = 0;
  for (auto _ : state) {
    if (next + batch > kPool) next = 0;
    w.find_many(kTopic, std::span<const std::string_view>(views.data() + next, batch), kNow - 1000, out);
    next += batch;
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(batch));
}
BENCHMARK(BM_DedupWindow_FindMany)->ArgName("batch")->Arg(16)->Arg(128)->Arg(1024);

void BM_DedupWindow_LookupMiss(benchmark::State& state) {
  DedupWindow& w = prefilled();
  std::vector<std::string> keys;
  for (uint64_t n = 0; n < 4096; ++n) keys.push_back(key(1, n));
  size_t i = 0;
  for (auto _ : state) {
    auto e = w.find(kTopic, keys[i++ & 4095], kNow - 1000);
    if (e) state.SkipWithError("never-stored key found");
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DedupWindow_LookupMiss);

void BM_DedupWindow_Expire(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto w = std::make_unique<DedupWindow>();
    w->add_topic(kTopic, std::chrono::minutes(2));
    fill(*w, 0, kPrefill, kNow);
    state.ResumeTiming();
    const size_t n = w->expire(kNow + std::chrono::milliseconds(std::chrono::minutes(3)).count());
    state.PauseTiming();
    if (n != kPrefill) state.SkipWithError("not every key expired");
    w.reset();  // freeing the table is not part of expiry
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kPrefill));
}
BENCHMARK(BM_DedupWindow_Expire)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace causeway::bench

BENCHMARK_MAIN();
