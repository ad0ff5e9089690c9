// The broker's schema check per event, as the publish pipeline runs it on a network thread
// for a schema-bound topic (docs/wire-protocol.md, "Schema-bound topics"): the embedded
// registry's checker and the remote one (--registry-url) answering from its cache, with
// validate=id (is the id a live version of the subject) and validate=full (plus
// flatbuffers::Verify of the payload), for ~100 B and ~1 KiB payloads. A copy of the same
// payload is the baseline in the same run. The end-to-end cost is causeway-bench's val*
// rows (bench/load/README.md).
#include <benchmark/benchmark.h>
#include <flatbuffers/idl.h>

#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "causeway/registry/store.h"
#include "core/registry_schema_checker.h"
#include "core/remote_schema_checker.h"

namespace causeway::bench {
namespace {

constexpr const char* kSchema =
    "namespace bench;\n"
    "table Event { seq: ulong; source: string; kind: short; body: [ubyte]; }\n"
    "root_type Event;\n";
constexpr const char* kSubject = "bench-value";

// The same payload shape as causeway-bench's val* rows: about `bytes` bytes.
std::string payload_of(std::size_t bytes) {
  flatbuffers::Parser parser;
  if (!parser.Parse(kSchema)) std::exit(2);
  auto build = [&](std::size_t body) {
    std::string json = R"({seq: 123456789, source: "causeway-bench", kind: 3, body: [)";
    for (std::size_t i = 0; i < body; ++i) {
      if (i > 0) json += ',';
      json += std::to_string(i % 251);
    }
    json += "]}";
    if (!parser.Parse(json.c_str())) std::exit(2);
    return std::string(reinterpret_cast<const char*>(parser.builder_.GetBufferPointer()), parser.builder_.GetSize());
  };
  const std::size_t overhead = build(0).size();
  return bytes > overhead ? build(bytes - overhead) : build(0);
}

// Always answers id 1 as a version of kSubject; only the first check fetches.
class FixedFetcher final : public core::SchemaFetcher {
 public:
  Result<core::RemoteSchema> fetch(uint32_t) override {
    return core::RemoteSchema{{kSubject}, "FLATBUFFERS", kSchema, "bench.Event", {}, {}, {}};
  }
  const std::string& url() const override { return url_; }

 private:
  const std::string url_ = "http://bench.invalid:8081";
};

void run_checks(benchmark::State& state, core::SchemaChecker& checker, uint32_t id, bool full) {
  const std::string payload = payload_of(static_cast<std::size_t>(state.range(0)));
  // Warm the cache. The remote checker fetches on its own thread and answers waiters
  // before the entry enters its cache, so wait until a try_check answers.
  std::promise<void> warm;
  checker.check_async(kSubject, id, payload, full, [&](core::SchemaCheck) { warm.set_value(); });
  warm.get_future().wait();
  while (!checker.try_check(kSubject, id, payload, full)) std::this_thread::yield();
  for (auto _ : state) {
    auto c = checker.try_check(kSubject, id, payload, full);
    if (!c || c->verdict != core::SchemaVerdict::kOk) {
      state.SkipWithError("check did not pass from the cache");
      break;
    }
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["payload_bytes"] = static_cast<double>(payload.size());
}

void BM_SchemaCheck_Remote(benchmark::State& state) {
  core::RemoteSchemaCheckerOptions o;
  o.cache_for = std::chrono::hours(1);
  core::RemoteSchemaChecker checker(std::make_unique<FixedFetcher>(), o);
  run_checks(state, checker, 1, state.range(1) != 0);
}
BENCHMARK(BM_SchemaCheck_Remote)->ArgNames({"bytes", "full"})->ArgsProduct({{100, 1024}, {0, 1}});

void BM_SchemaCheck_Embedded(benchmark::State& state) {
  registry::StoreOptions so;
  so.dir = fresh_dir("schema_check");
  auto store = registry::SchemaStore::open(so);
  if (!store) {
    state.SkipWithError("cannot open the registry store");
    return;
  }
  auto reg = (*store)->register_schema(kSubject, registry::SchemaInput{kSchema, "bench.Event", {}});
  if (!reg) {
    state.SkipWithError("cannot register the schema");
    return;
  }
  core::RegistrySchemaChecker checker(**store);
  run_checks(state, checker, static_cast<uint32_t>(reg->id), state.range(1) != 0);
}
BENCHMARK(BM_SchemaCheck_Embedded)->ArgNames({"bytes", "full"})->ArgsProduct({{100, 1024}, {0, 1}});

// Baseline in the same run: one copy of the payload.
void BM_SchemaCheck_CopyPayloadBaseline(benchmark::State& state) {
  const std::string payload = payload_of(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    std::string copy(payload);
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SchemaCheck_CopyPayloadBaseline)->Arg(100)->Arg(1024);

}  // namespace
}  // namespace causeway::bench

int main(int argc, char** argv) { return causeway::bench::run_main(argc, argv); }
