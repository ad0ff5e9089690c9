// File: bench/micro/dedup_bench.cc
//
// Micro benchmarks of the LMDB dedup index (meta/dedup_index.h):
//
//   BM_DedupIndex_Insert/batch:N   insert N new keys per transaction (with the checkpoint
//       move every insert carries) into an index already holding kPrefill keys. A new
//       index per run.
//   BM_DedupIndex_LookupHit        lookup of a random stored key, inside the window.
//   BM_DedupIndex_LookupMiss       lookup of a random key that was never stored.
//
// Keys are 32 hex characters (a typical message id), one topic, one partition. The index
// commits without fsync by design (the logs are the source of truth), so these are page
// cache and CPU numbers. Lookups share one prefilled index, built on first use.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "causeway/common/status.h"
#include "meta/dedup_index.h"

namespace causeway::bench {
namespace {

using meta::DedupIndex;
using meta::DedupInsert;

constexpr uint32_t kTopic = 7;
constexpr uint32_t kPartition = 0;
constexpr uint64_t kPrefill = 100'000;
constexpr size_t kPrefillBatch = 1000;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t mix(uint64_t x) {  // splitmix64: distinct inputs give distinct, scattered outputs
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Key number n of a namespace (0: stored keys, 1: never stored), 32 hex characters.
void format_key(uint64_t ns, uint64_t n, std::string& out) {
  char buf[40];
  const auto hi = static_cast<unsigned long long>(mix(n * 2 + ns));
  const auto lo = static_cast<unsigned long long>(mix(~(n * 2 + ns)));
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", hi, lo);
  out.assign(buf, 32);
}

// Inserts keys [from, to) of namespace 0 at offsets equal to their numbers.
Status fill(DedupIndex& index, uint64_t from, uint64_t to, int64_t time_ms) {
  std::vector<std::string> keys(kPrefillBatch);
  std::vector<DedupInsert> entries(kPrefillBatch);
  for (uint64_t base = from; base < to; base += kPrefillBatch) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kPrefillBatch, to - base));
    for (size_t i = 0; i < n; ++i) {
      format_key(0, base + i, keys[i]);
      entries[i] = DedupInsert{keys[i], base + i, base + i + 1, time_ms};
    }
    CAUSEWAY_RETURN_IF_ERROR(index.insert(kTopic, kPartition, std::span(entries.data(), n), base + n));
  }
  return Status();
}

// The dir stays after the index closes; remove it with drop_dir() (which runs after the
// index is gone: truncating LMDB's files under a live map would fault).
struct OpenIndex {
  std::string dir;
  std::unique_ptr<DedupIndex> index;
};

Result<OpenIndex> open_prefilled(std::string_view name, int64_t time_ms) {
  OpenIndex oi;
  oi.dir = fresh_dir(name);
  CAUSEWAY_ASSIGN_OR_RETURN(oi.index, DedupIndex::open(oi.dir));
  CAUSEWAY_RETURN_IF_ERROR(fill(*oi.index, 0, kPrefill, time_ms));
  return oi;
}

void BM_DedupIndex_Insert(benchmark::State& state) {
  const auto batch = static_cast<size_t>(state.range(0));
  const int64_t now = wall_ms();
  auto oi = open_prefilled("dedup-insert", now);
  if (!oi) {
    state.SkipWithError(oi.error().to_string().c_str());
    return;
  }
  std::vector<std::string> keys(batch);
  std::vector<DedupInsert> entries(batch);
  uint64_t next = kPrefill;
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      format_key(0, next + i, keys[i]);
      entries[i] = DedupInsert{keys[i], next + i, next + i + 1, now};
    }
    next += batch;
    Status s = oi->index->insert(kTopic, kPartition, entries, next);
    if (!s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(next);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.counters["keys_stored"] = benchmark::Counter(static_cast<double>(next));
  oi->index.reset();
  drop_dir(oi->dir);
}
BENCHMARK(BM_DedupIndex_Insert)->ArgName("batch")->Arg(1)->Arg(64)->UseRealTime();

// The shared lookup index, built on first use, closed and removed after all benchmarks.
OpenIndex* lookup_index(std::string& error) {
  static std::unique_ptr<OpenIndex> shared;
  if (shared) return shared.get();
  auto oi = open_prefilled("dedup-lookup", wall_ms());
  if (!oi) {
    error = oi.error().to_string();
    return nullptr;
  }
  shared = std::make_unique<OpenIndex>(std::move(*oi));
  at_exit_cleanup([] {
    shared->index.reset();
    drop_dir(shared->dir);
    shared.reset();
  });
  return shared.get();
}

void lookup(benchmark::State& state, uint64_t ns) {
  std::string error;
  OpenIndex* oi = lookup_index(error);
  if (oi == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  // Keys to look up, drawn before the loop.
  std::mt19937_64 rng(ns + 1);
  std::uniform_int_distribution<uint64_t> dist(0, kPrefill - 1);
  std::vector<std::string> keys(1u << 14);
  for (std::string& k : keys) format_key(ns, dist(rng), k);
  const int64_t not_before = wall_ms() - 120'000;  // a 2-minute window
  const bool want_hit = ns == 0;
  size_t i = 0;
  for (auto _ : state) {
    auto r = oi->index->lookup(kTopic, keys[i++ & (keys.size() - 1)], not_before);
    if (!r || r->has_value() != want_hit) {
      state.SkipWithError(r ? "lookup returned the wrong answer" : r.error().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_DedupIndex_LookupHit(benchmark::State& state) { lookup(state, 0); }
void BM_DedupIndex_LookupMiss(benchmark::State& state) { lookup(state, 1); }
BENCHMARK(BM_DedupIndex_LookupHit)->UseRealTime();
BENCHMARK(BM_DedupIndex_LookupMiss)->UseRealTime();

}  // namespace
}  // namespace causeway::bench

int main(int argc, char** argv) { return causeway::bench::run_main(argc, argv); }
