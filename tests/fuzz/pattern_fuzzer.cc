// Fuzz target for event patterns (docs/patterns.md, broker/src/rules): parse_pattern on any
// text, and, for patterns that parse, the compiled many-pattern Matcher against the
// reference evaluation on events: both must give the same verdict for every pattern on every
// event (the property test in tests/unit/rules, with inputs a fuzzer chooses).
//
// Input: patterns and events, one JSON document per line; lines before a line "%%" are
// patterns, the lines after it events (without "%%": one pattern, the rest events).
// Built as a libFuzzer target with Clang (-DCAUSEWAY_BUILD_FUZZERS=ON) and, always, linked
// with corpus_driver.cc so that ctest replays corpus/pattern.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rules/json_event_source.h"
#include "rules/matcher.h"
#include "rules/pattern.h"
#include "rules/reference_matcher.h"

namespace {

using namespace causeway::rules;
using nlohmann::json;

constexpr size_t kMaxPatterns = 8;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "pattern_fuzzer: %s\n", what.c_str());
  std::abort();
}

std::vector<std::string_view> lines_of(std::string_view in) {
  std::vector<std::string_view> out;
  while (!in.empty()) {
    const auto nl = in.find('\n');
    out.push_back(in.substr(0, nl));
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  }
  return out;
}

std::string list(std::vector<uint32_t> ids) {
  std::sort(ids.begin(), ids.end());
  std::string s;
  for (uint32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string_view> lines = lines_of(std::string_view(reinterpret_cast<const char*>(data), size));
  auto sep = std::find(lines.begin(), lines.end(), std::string_view("%%"));
  const size_t pattern_lines = sep == lines.end() ? std::min<size_t>(1, lines.size()) : sep - lines.begin();
  std::vector<std::shared_ptr<const Pattern>> patterns;
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < pattern_lines && patterns.size() < kMaxPatterns; ++i) {
    auto p = parse_pattern(lines[i]);
    if (!p) continue;
    patterns.push_back(std::make_shared<const Pattern>(std::move(*p)));
    ids.push_back(static_cast<uint32_t>(i));
  }
  if (patterns.empty()) return 0;
  auto matcher = Matcher::compile(patterns, ids);
  if (!matcher) return 0;  // too many $or combinations: refused, by design
  Matcher::Scratch scratch;
  for (size_t e = pattern_lines + (sep == lines.end() ? 0 : 1); e < lines.size(); ++e) {
    const json event = json::parse(lines[e], nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded() || !event.is_object()) continue;
    std::vector<uint32_t> expected;
    for (size_t i = 0; i < patterns.size(); ++i) {
      if (reference_matches(*patterns[i], event)) expected.push_back(ids[i]);
    }
    std::vector<uint32_t> got;
    (*matcher)->match(JsonEventSource(event), scratch, got);
    if (list(got) != list(expected)) {
      fail("compiled matcher says [" + list(got) + "], the reference [" + list(expected) + "]\nevent: " +
           std::string(lines[e]));
    }
  }
  return 0;
}
