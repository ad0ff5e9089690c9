// Schema registry micro benchmarks (issue 6): the compatibility check of a 50-field table
// against 1 and 100 prior versions (FULL_TRANSITIVE, so every prior is diffed both ways),
// registration throughput of the LMDB store (new schemas, and re-registering a known one),
// and payload verification per event for ~100 B and ~1 KiB payloads next to a copy of the
// same bytes (the cheapest thing a publish path does with a payload) as the baseline.
#include <benchmark/benchmark.h>
#include <flatbuffers/idl.h>

#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "causeway/registry/compatibility.h"
#include "causeway/registry/payload.h"
#include "causeway/registry/schema.h"
#include "causeway/registry/store.h"

namespace causeway::bench {
namespace {

using registry::CompatibilityMode;
using registry::ParsedSchema;

const char* const kTypes[] = {"int", "long", "short", "double", "string", "bool", "ubyte", "float", "uint", "ulong"};

// A table of `fields` fields of mixed types; `salt` renames the last field so that versions
// differ (a rename is compatible: only a note) without changing the shape.
std::string wide_table(int fields, int salt) {
  std::string s = "namespace bench;\ntable Wide {\n";
  for (int i = 0; i < fields; ++i) {
    const char* type = kTypes[i % 10];
    s += std::string("  f") + std::to_string(i);
    if (i == fields - 1 && salt != 0) s += std::string("_") + std::to_string(salt);
    s += std::string(":") + type + ";\n";
  }
  s += "}\nroot_type Wide;\n";
  return s;
}

ParsedSchema parse_or_die(const std::string& text) {
  auto p = registry::parse_schema(text, "");
  if (!p) {
    std::fprintf(stderr, "registry_bench: %s\n", p.error().to_string().c_str());
    std::exit(2);
  }
  return *p;
}

// FULL_TRANSITIVE check of a 51-field candidate against range(0) prior 50-field versions.
void BM_Registry_CheckFullTransitive(benchmark::State& state) {
  const int priors = static_cast<int>(state.range(0));
  std::vector<ParsedSchema> previous;
  for (int i = 0; i < priors; ++i) previous.push_back(parse_or_die(wide_table(50, 0)));
  const ParsedSchema candidate = parse_or_die(wide_table(51, 0));
  for (auto _ : state) {
    auto r = registry::check(CompatibilityMode::kFullTransitive, candidate, previous);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["priors"] = priors;
}
BENCHMARK(BM_Registry_CheckFullTransitive)->Arg(1)->Arg(100)->Unit(benchmark::kMicrosecond);

// Parsing the candidate is part of every registration; shown apart from the check.
void BM_Registry_ParseSchema50Fields(benchmark::State& state) {
  const std::string text = wide_table(50, 0);
  for (auto _ : state) {
    auto p = registry::parse_schema(text, "");
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Registry_ParseSchema50Fields)->Unit(benchmark::kMicrosecond);

std::unique_ptr<registry::SchemaStore> open_store() {
  registry::StoreOptions options;
  options.dir = fresh_dir("registry");
  auto s = registry::SchemaStore::open(options);
  if (!s) {
    std::fprintf(stderr, "registry_bench: %s\n", std::string(s.error().message()).c_str());
    std::exit(2);
  }
  return std::move(*s);
}

// New versions of one subject (BACKWARD against the latest, one synchronous LMDB commit each).
void BM_Registry_RegisterNewVersion(benchmark::State& state) {
  auto store = open_store();
  int salt = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const registry::SchemaInput input{wide_table(50, ++salt), "", {}};
    state.ResumeTiming();
    auto r = store->register_schema("wide", input);
    if (!r) {
      state.SkipWithError(std::string(r.error().message()).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Registry_RegisterNewVersion)->Unit(benchmark::kMicrosecond)->Iterations(500);

// Re-registering a schema the subject already has: parse + lookup, no write.
void BM_Registry_RegisterKnownSchema(benchmark::State& state) {
  auto store = open_store();
  const registry::SchemaInput input{wide_table(50, 0), "", {}};
  if (!store->register_schema("wide", input)) state.SkipWithError("first registration failed");
  for (auto _ : state) {
    auto r = store->register_schema("wide", input);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Registry_RegisterKnownSchema)->Unit(benchmark::kMicrosecond);

constexpr const char* kEventSchema =
    "namespace shop;\n"
    "table Line { sku:string; qty:int; price_cents:long; }\n"
    "table Order { id:ulong; customer:string; lines:[Line]; total_cents:long; note:string; }\n"
    "root_type Order;\n";

// An Order of about `target` bytes: more lines until it is at least that big.
std::vector<uint8_t> order_payload(std::size_t target) {
  for (int lines = 0;; ++lines) {
    std::string json = R"({"id": 42, "customer": "c-1234", "total_cents": 9999, "note": "n", "lines": [)";
    for (int i = 0; i < lines; ++i) {
      if (i > 0) json += ",";
      json += std::string(R"({"sku": "sku-)") + std::to_string(i) + R"(", "qty": 2, "price_cents": 1999})";
    }
    json += "]}";
    flatbuffers::Parser parser;
    if (!parser.Parse(kEventSchema) || !parser.Parse(json.c_str())) {
      std::fprintf(stderr, "registry_bench: %s\n", parser.error_.c_str());
      std::exit(2);
    }
    if (parser.builder_.GetSize() >= target) {
      return std::vector<uint8_t>(parser.builder_.GetBufferPointer(),
                                  parser.builder_.GetBufferPointer() + parser.builder_.GetSize());
    }
  }
}

void BM_Registry_VerifyPayload(benchmark::State& state) {
  const ParsedSchema schema = parse_or_die(kEventSchema);
  const auto payload = order_payload(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    Status s = registry::verify_payload(schema, payload);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(payload.size()));
  state.counters["payload_bytes"] = static_cast<double>(payload.size());
}
BENCHMARK(BM_Registry_VerifyPayload)->Arg(100)->Arg(1024);

// Baseline in the same run: copying the same payload once (what a publish does at least).
void BM_Registry_CopyPayloadBaseline(benchmark::State& state) {
  const auto payload = order_payload(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    std::vector<uint8_t> copy(payload);
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(payload.size()));
  state.counters["payload_bytes"] = static_cast<double>(payload.size());
}
BENCHMARK(BM_Registry_CopyPayloadBaseline)->Arg(100)->Arg(1024);

}  // namespace
}  // namespace causeway::bench

int main(int argc, char** argv) { return causeway::bench::run_main(argc, argv); }
