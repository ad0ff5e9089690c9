// `causeway pattern test`; see client/cli/pattern_commands.h and docs/patterns.md.
#include "client/cli/pattern_commands.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "rules/json_event_source.h"
#include "rules/matcher.h"
#include "rules/pattern.h"

namespace causeway::cli {
namespace {

using nlohmann::json;

constexpr size_t kMaxInputBytes = 4u << 20;

}  // namespace

Result<std::string> read_flag_value(const std::string& flag, const std::string& value) {
  if (value.empty() || value[0] != '@') return value;
  const std::string path = value.substr(1);
  std::istream* in = &std::cin;
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return invalid_argument(flag + ": cannot read " + path + ": " + std::strerror(errno));
    in = &file;
  }
  // Read one byte past the bound, not the whole of whatever the file is.
  std::string out(kMaxInputBytes + 1, '\0');
  in->read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(in->gcount()));
  if (out.size() > kMaxInputBytes) return invalid_argument(flag + ": " + path + " is larger than 4 MiB");
  if (in->bad()) return invalid_argument(flag + ": reading " + path + " failed");
  return out;
}

namespace {

int run_test(const std::string& pattern_arg, const std::string& event_arg) {
  auto pattern_read = read_flag_value("--pattern", pattern_arg);
  auto event_read = pattern_read ? read_flag_value("--event", event_arg) : pattern_read;
  if (!pattern_read || !event_read) {
    std::cerr << "causeway: " << (pattern_read ? event_read : pattern_read).error().message() << "\n";
    return 2;
  }
  const std::string& pattern_text = *pattern_read;
  const std::string& event_text = *event_read;
  auto pattern = rules::parse_pattern(pattern_text);
  if (!pattern) {
    std::cerr << "causeway: invalid pattern: " << pattern.error().message() << "\n";
    return 2;
  }
  json event = json::parse(event_text, nullptr, /*allow_exceptions=*/false);
  if (event.is_discarded()) {
    std::cerr << "causeway: invalid event: not valid JSON (give the event as one JSON object: "
                 "{\"source\":...,\"type\":...,\"data\":{...}})\n";
    return 2;
  }
  if (!event.is_object()) {
    std::cerr << "causeway: invalid event: must be a JSON object, not " << event.type_name() << "\n";
    return 2;
  }
  // The broker's compiled matcher, exactly as subscriptions run it.
  auto matcher = rules::Matcher::compile({std::make_shared<const rules::Pattern>(std::move(*pattern))}, {0});
  if (!matcher) {
    std::cerr << "causeway: invalid pattern: " << matcher.error().message() << "\n";
    return 2;
  }
  rules::Matcher::Scratch scratch;
  std::vector<uint32_t> matched;
  (*matcher)->match(rules::JsonEventSource(event), scratch, matched);
  const bool match = !matched.empty();
  std::cout << (match ? R"({"match":true})" : R"({"match":false})") << "\n";
  return match ? 0 : 1;
}

}  // namespace

std::function<std::optional<int>()> add_pattern_commands(CLI::App& app) {
  auto* pattern = app.add_subcommand("pattern", "Event patterns (docs/patterns.md)");
  pattern->require_subcommand(1);
  auto* test = pattern->add_subcommand(
      "test",
      "Test an event against a pattern with the broker's engine (EventBridge's TestEventPattern). The event is the "
      "view patterns see: {\"topic\",\"source\",\"type\",\"key\",\"headers\",\"time\",\"data\":{...}}. Prints "
      "{\"match\":true|false}; exits 0 on a match, 1 on none, 2 on an invalid pattern or event");
  auto pattern_arg = std::make_shared<std::string>();
  auto event_arg = std::make_shared<std::string>();
  test->add_option("--pattern", *pattern_arg, "The pattern as JSON, or @FILE (@- for stdin)")->required();
  test->add_option("--event", *event_arg, "The event as JSON, or @FILE (@- for stdin)")->required();
  return [test, pattern_arg, event_arg]() -> std::optional<int> {
    if (!test->parsed()) return std::nullopt;
    return run_test(*pattern_arg, *event_arg);
  };
}

}  // namespace causeway::cli
