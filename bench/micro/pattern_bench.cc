// Event pattern matching per event (docs/patterns.md, "How matching scales"): the
// compiled matcher over N realistic, mixed patterns against ~1 KiB events, beside the
// naive evaluation (one document per event, then every pattern one by one) in the same
// run. Targets (issue 15): N = 10,000 costs less than 20x N = 1; N = 1 under 1 us.
//
// Events are EventBridge-like orders (envelope + a JSON payload of ~1 KiB with nested
// objects and arrays); each pattern is one of eight shapes drawn at random (exact
// source+type, customer prefix, amount range, anything-but state, equals-ignore-case
// region, cidr, exists, and an $or), with its own values, so about 1% of patterns match
// a given event. BM_Pattern_Compiled_FlatBuffers reads the same data as a FlatBuffers
// payload through reflection.
#include <benchmark/benchmark.h>
#include <flatbuffers/idl.h>

#include <random>
#include <string>
#include <vector>

#include "rules/event_source.h"
#include "rules/flatbuffers_walker.h"
#include "rules/matcher.h"
#include "rules/reference_matcher.h"

namespace causeway::rules {
namespace {

using nlohmann::json;

constexpr int kEvents = 64;  // distinct events cycled through

const char* const kRegions[] = {"eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"};
const char* const kStates[] = {"created", "paid", "shipped", "cancelled", "refunded"};

json make_data(std::mt19937& rng, int i) {
  json items = json::array();
  for (int k = 0; k < 4; ++k) {
    items.push_back({{"sku", "SKU-" + std::to_string(rng() % 5000)}, {"qty", static_cast<int>(rng() % 5) + 1},
                     {"price", static_cast<double>(rng() % 100000) / 100}});
  }
  return {{"order_id", "ord-" + std::to_string(1000000 + i)},
          {"customer", {{"id", "cust-" + std::to_string(rng() % 1000)}, {"tier", rng() % 3 == 0 ? "gold" : "silver"},
                        {"email", "someone" + std::to_string(rng() % 1000) + "@example.com"}}},
          {"state", kStates[rng() % 5]},
          {"region", kRegions[rng() % 4]},
          {"amount", static_cast<double>(rng() % 200000) / 100},
          {"currency", "EUR"},
          {"client_ip", "10." + std::to_string(rng() % 4) + "." + std::to_string(rng() % 256) + ".7"},
          {"items", items},
          {"notes", std::string(300, 'n')},
          {"flags", json::array({"a", "b"})}};
}

std::string make_pattern(std::mt19937& rng) {
  const int c = static_cast<int>(rng() % 1000);
  switch (rng() % 8) {
    case 0: return R"({"source":["shop"],"type":["order.)" + std::string(kStates[rng() % 5]) + R"("]})";
    case 1: return R"({"data":{"customer":{"id":[{"prefix":"cust-)" + std::to_string(c) + R"("}]}}})";
    case 2: {
      const int lo = static_cast<int>(rng() % 1990);
      return R"({"data":{"amount":[{"numeric":[">=",)" + std::to_string(lo) + R"(,"<",)" + std::to_string(lo + 10) +
             "]}]}}";
    }
    case 3: return R"({"type":["order.paid"],"data":{"state":[{"anything-but":["created","paid"]}],"customer":{"id":["cust-)" +
                   std::to_string(c) + R"("]}}})";
    case 4: return R"({"data":{"region":[{"equals-ignore-case":")" + std::string(kRegions[rng() % 4]) +
                   R"("}],"customer":{"tier":["gold"],"id":["cust-)" + std::to_string(c) + R"("]}}})";
    case 5: return R"({"data":{"client_ip":[{"cidr":"10.)" + std::to_string(rng() % 4) + "." + std::to_string(rng() % 256) +
                   R"(.0/24"}]}})";
    case 6: return R"({"data":{"customer":{"id":["cust-)" + std::to_string(c) + R"("]},"coupon":[{"exists":false}]}})";
    default:
      return R"({"source":["shop"],"$or":[{"data":{"customer":{"id":["cust-)" + std::to_string(c) +
             R"("]}}},{"data":{"order_id":["ord-)" + std::to_string(1000000 + c) + R"("]}}]})";
  }
}

struct Fixture {
  std::vector<std::string> payloads;
  std::vector<std::string> types;
  std::vector<std::shared_ptr<const Pattern>> patterns;
  std::shared_ptr<const Matcher> matcher;
};

Fixture make_fixture(size_t n_patterns) {
  std::mt19937 rng(42);
  Fixture f;
  for (int i = 0; i < kEvents; ++i) {
    f.payloads.push_back(make_data(rng, i).dump());
    f.types.push_back(std::string("order.") + kStates[rng() % 5]);
  }
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < n_patterns; ++i) {
    auto p = parse_pattern(make_pattern(rng));
    if (!p.ok()) std::abort();
    f.patterns.push_back(std::make_shared<const Pattern>(std::move(*p)));
    ids.push_back(static_cast<uint32_t>(i));
  }
  auto m = Matcher::compile(f.patterns, ids);
  if (!m.ok()) std::abort();
  f.matcher = *m;
  return f;
}

EventFields fields_of(const Fixture& f, size_t i) {
  EventFields e;
  e.topic = "orders";
  e.source = "shop";
  e.type = f.types[i];
  e.key = "k";
  e.time_ms = 1733400000000;
  e.payload = f.payloads[i];
  return e;
}

void BM_Pattern_Compiled(benchmark::State& state) {
  const Fixture f = make_fixture(static_cast<size_t>(state.range(0)));
  Matcher::Scratch scratch;
  std::vector<uint32_t> out;
  size_t i = 0, matched = 0, bytes = 0;
  for (auto _ : state) {
    const size_t e = i++ % kEvents;
    const EventFields fields = fields_of(f, e);
    out.clear();
    f.matcher->match(EventView(fields), scratch, out);
    matched += out.size();
    bytes += f.payloads[e].size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["matches/event"] = static_cast<double>(matched) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Pattern_Compiled)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000);

// The naive way: a document per event, then each pattern in turn.
void BM_Pattern_Naive(benchmark::State& state) {
  const Fixture f = make_fixture(static_cast<size_t>(state.range(0)));
  size_t i = 0, matched = 0;
  for (auto _ : state) {
    const size_t e = i++ % kEvents;
    json view = {{"topic", "orders"}, {"source", "shop"}, {"type", f.types[e]}, {"key", "k"},
                 {"time", format_rfc3339_ms(1733400000000)}, {"data", json::parse(f.payloads[e])}};
    for (const auto& p : f.patterns) matched += reference_matches(*p, view) ? 1 : 0;
    benchmark::DoNotOptimize(matched);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["matches/event"] = static_cast<double>(matched) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Pattern_Naive)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000);

// The same orders as FlatBuffers payloads, read through their schema.
constexpr const char* kOrderSchema = R"(
namespace bench;
table Customer { id: string; tier: string; email: string; }
table Item { sku: string; qty: int; price: double; }
table Order { order_id: string; customer: Customer; state: string; region: string; amount: double;
              currency: string; client_ip: string; items: [Item]; notes: string; flags: [string]; }
root_type Order;
)";

void BM_Pattern_Compiled_FlatBuffers(benchmark::State& state) {
  Fixture f = make_fixture(static_cast<size_t>(state.range(0)));
  flatbuffers::Parser parser;
  if (!parser.Parse(kOrderSchema)) std::abort();
  parser.Serialize();
  auto walker = FlatbuffersWalker::create(std::vector<uint8_t>(
      parser.builder_.GetBufferPointer(), parser.builder_.GetBufferPointer() + parser.builder_.GetSize()));
  if (!walker.ok()) std::abort();
  std::vector<std::string> encoded;
  for (const auto& payload : f.payloads) {
    flatbuffers::Parser p;
    if (!p.Parse(kOrderSchema) || !p.Parse(payload.c_str())) std::abort();
    encoded.emplace_back(reinterpret_cast<const char*>(p.builder_.GetBufferPointer()), p.builder_.GetSize());
  }
  Matcher::Scratch scratch;
  std::vector<uint32_t> out;
  size_t i = 0, matched = 0;
  for (auto _ : state) {
    const size_t e = i++ % kEvents;
    EventFields fields = fields_of(f, e);
    fields.schema_id = 1;
    fields.payload = encoded[e];
    out.clear();
    f.matcher->match(EventView(fields, walker->get()), scratch, out);
    matched += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["matches/event"] = static_cast<double>(matched) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Pattern_Compiled_FlatBuffers)->Arg(1)->Arg(100)->Arg(10000);

// Compiling N patterns together: what the broker pays, under its coordinator mutex, when a
// filtered subscription of a topic with N filtered subscriptions is loaded, dropped or
// changes its pattern (subscribe/shared_reads.h, TopicPatterns).
void BM_Pattern_CompileTogether(benchmark::State& state) {
  const Fixture f = make_fixture(static_cast<size_t>(state.range(0)));
  std::vector<uint32_t> ids(f.patterns.size());
  for (uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
  for (auto _ : state) {
    auto m = Matcher::compile(f.patterns, ids);
    benchmark::DoNotOptimize(m.ok());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Pattern_CompileTogether)->Arg(1)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace causeway::rules

BENCHMARK_MAIN();
