// The compiled many-pattern matcher against the reference evaluation: random patterns of
// every operator, compiled together, and random events (nested objects, arrays of scalars
// and of objects, absent fields, nulls, numbers as ints and floats) must get exactly the
// reference's verdicts. Seeded from GoogleTest's seed (--gtest_random_seed=N replays).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "rules/json_event_source.h"
#include "rules/matcher.h"
#include "rules/pattern.h"
#include "rules/reference_matcher.h"

namespace causeway::rules {
namespace {

using nlohmann::json;

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  int below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool coin(int percent = 50) { return below(100) < percent; }

  std::string word() {
    static const char* kWords[] = {"", "a", "ab", "abc", "b", "ba", "x.png", "X.PNG", "run", "Running", "ÉTÉ",
                                   "été", "10.0.0.1", "10.0.1.9", "2001:db8::1", "a*b", "zz"};
    return kWords[below(std::size(kWords))];
  }
  double number() {
    static const double kNumbers[] = {-5, -1, 0, 0.5, 1, 2, 3, 5, 10, 300, 1e9};
    return kNumbers[below(std::size(kNumbers))];
  }
  std::string key() {
    static const char* kKeys[] = {"a", "b", "c", "d"};
    return kKeys[below(std::size(kKeys))];
  }

  json scalar() {
    switch (below(5)) {
      case 0: return word();
      case 1: return number();
      case 2: return static_cast<int>(number());
      case 3: return coin();
      default: return nullptr;
    }
  }

  json event_value(int depth) {
    const int r = below(10);
    if (depth < 3 && r < 3) return event_object(depth + 1);
    if (r < 5) {
      json arr = json::array();
      const int n = below(4);
      for (int i = 0; i < n; ++i) arr.push_back(depth < 3 && coin(30) ? event_object(depth + 1) : scalar());
      return arr;
    }
    return scalar();
  }
  json event_object(int depth) {
    json o = json::object();
    for (const char* k : {"a", "b", "c", "d"})
      if (coin(60)) o[k] = event_value(depth);
    return o;
  }

  json condition() {
    switch (below(16)) {
      case 0: return word();
      case 1: return number();
      case 2: return coin();
      case 3: return nullptr;
      case 4: return {{"prefix", word()}};
      case 5: return {{"suffix", word()}};
      case 6: return {{"equals-ignore-case", word()}};
      case 7: return {{coin() ? "prefix" : "suffix", {{"equals-ignore-case", word()}}}};
      case 8: return {{"wildcard", coin() ? "*b*" : (coin() ? "a*" : "*.png")}};
      case 9: {
        if (coin()) return {{"anything-but", coin() ? json(word()) : json::array({word(), word()})}};
        if (coin()) return {{"anything-but", coin() ? json(number()) : json::array({number(), number()})}};
        static const char* kOps[] = {"prefix", "suffix", "equals-ignore-case"};
        std::string w = word();
        if (w.empty()) w = "a";
        return {{"anything-but", {{kOps[below(3)], w}}}};
      }
      case 10:
      case 11: {
        double lo = number(), hi = number();
        if (lo > hi) std::swap(lo, hi);
        if (coin(30)) return {{"numeric", {"=", lo}}};
        if (coin(30)) return {{"numeric", {coin() ? "<" : ">=", lo}}};
        if (lo == hi) return {{"numeric", {">=", lo, "<=", hi}}};
        return {{"numeric", {coin() ? ">" : ">=", lo, coin() ? "<" : "<=", hi}}};
      }
      case 12: return {{"exists", coin()}};
      case 13: return {{"cidr", coin() ? "10.0.0.0/24" : "2001:db8::/32"}};
      case 14: return {{"$and", {{{"numeric", {">", -2}}}, {{"anything-but", {5.0}}}}}};
      default: return word();
    }
  }

  json pattern_object(int depth) {
    json o = json::object();
    const int n = 1 + below(2);
    std::set<std::string> used;
    for (int i = 0; i < n; ++i) {
      const std::string k = key();
      if (!used.insert(k).second) continue;
      if (depth < 2 && coin(25)) {
        o[k] = pattern_object(depth + 1);
      } else {
        json arr = json::array();
        const int m = 1 + below(3);
        for (int j = 0; j < m; ++j) arr.push_back(condition());
        o[k] = arr;
      }
    }
    if (depth < 2 && coin(20)) o["$or"] = json::array({pattern_object(depth + 1), pattern_object(depth + 1)});
    return o;
  }

 private:
  std::mt19937 rng_;
};

TEST(MatcherProperty, CompiledMatcherAgreesWithTheReferenceOnRandomPatternsAndEvents) {
  const uint32_t seed = static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed());
  Gen g(seed);
  size_t matched = 0, pairs = 0, confirmed_events = 0;
  for (int round = 0; round < 40; ++round) {
    std::vector<std::shared_ptr<const Pattern>> patterns;
    std::vector<uint32_t> ids;
    while (patterns.size() < 60) {
      const std::string text = g.pattern_object(0).dump();
      auto p = parse_pattern(text);
      ASSERT_TRUE(p.ok()) << "seed " << seed << ": generated pattern refused: " << text << ": " << p.error().to_string();
      patterns.push_back(std::make_shared<const Pattern>(std::move(*p)));
      ids.push_back(static_cast<uint32_t>(ids.size()) * 3 + 1);
    }
    auto m = Matcher::compile(patterns, ids);
    ASSERT_TRUE(m.ok()) << m.error().to_string();
    Matcher::Scratch scratch;
    for (int e = 0; e < 100; ++e) {
      const json event = g.event_object(0);
      std::vector<uint32_t> got;
      (*m)->match(JsonEventSource(event), scratch, got);
      std::sort(got.begin(), got.end());
      ASSERT_EQ(std::adjacent_find(got.begin(), got.end()), got.end()) << "a pattern was reported twice";
      std::vector<uint32_t> want;
      for (size_t i = 0; i < patterns.size(); ++i)
        if (reference_matches(*patterns[i], event)) want.push_back(ids[i]);
      matched += want.size();
      pairs += patterns.size();
      if (scratch.object_array) ++confirmed_events;
      if (got != want) {
        std::string diff;
        for (size_t i = 0; i < patterns.size(); ++i) {
          const bool in_got = std::binary_search(got.begin(), got.end(), ids[i]);
          const bool in_want = std::binary_search(want.begin(), want.end(), ids[i]);
          if (in_got != in_want)
            diff += std::string(in_want ? "missed " : "wrongly matched ") + patterns[i]->text + "\n";
        }
        FAIL() << "seed " << seed << " round " << round << " event " << event.dump() << "\n" << diff;
      }
    }
  }
  // The generator must exercise both outcomes and both paths, or the agreement means little.
  EXPECT_GT(matched * 100, pairs) << "fewer than 1% of pairs matched: the generator is too strict";
  EXPECT_LT(matched * 2, pairs) << "more than half matched: the generator is too loose";
  EXPECT_GT(confirmed_events, 100u) << "few events had arrays of objects";
  EXPECT_LT(confirmed_events, 3600u) << "almost every event needed confirmation";
}

}  // namespace
}  // namespace causeway::rules
