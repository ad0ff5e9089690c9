// File: rules/input_transform.h
//
// What a rule target receives, shaped from the event (EventBridge's InputPath and
// InputTransformer; docs/patterns.md, "Input transformation"):
//  - an input path (`$.data.order`) sends only that part of the event's view;
//  - an input template with input paths (`{"id": "$.data.id"}`) fills `<id>`-style
//    placeholders. A template that starts with `{` or `[` is JSON: a placeholder inside a
//    JSON string gets the value's text (string contents escaped, others as JSON), one
//    outside strings gets the JSON value; a missing value is `null` outside strings and
//    nothing inside them. Any other template is text, with values as text.
//  - predefined placeholders: <causeway.event> (the whole view as JSON, outside strings
//    only), <causeway.event.json> (the same, as text inside a string), <causeway.rule-name>
//    (the subscription's name) and <causeway.event.time> (the event's time).
// Paths are JSONPath as EventBridge takes it: `$`, `.name` (letters, digits, `-`, `_`,
// `/` and any other character but `.`, `[`, `]`), `[N]` indexes and `*` / `[*]`
// wildcards (which collect an array).
//
// Everything is validated when a target is created; applying never fails.
// Thread-safety: immutable after create(); apply() may run on any thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "causeway/common/status.h"

namespace causeway::rules {

inline constexpr size_t kMaxInputPaths = 100;
inline constexpr size_t kMaxTemplateBytes = 8192;

// A parsed JSONPath.
class JsonPath {
 public:
  // kInvalidArgument naming the position of the problem.
  static Result<JsonPath> parse(std::string_view text);
  // The value at the path in `doc`, or a discarded value when there is none. Wildcards
  // collect every match into an array.
  nlohmann::json select(const nlohmann::json& doc) const;
  const std::string& text() const { return text_; }

 private:
  struct Step {
    enum class Kind { kKey, kIndex, kWildcard } kind;
    std::string key;
    size_t index = 0;
  };
  std::string text_;
  std::vector<Step> steps_;
};

class InputTransform {
 public:
  // `input_path`: empty or a JSONPath. `paths`: name -> JSONPath for the template's
  // placeholders (names may not start with "causeway."). `input_template`: empty (the
  // selected input is sent as JSON) or a template. Refused with kInvalidArgument naming
  // the problem: bad paths, more than 100 paths, a template over 8 KiB, a placeholder that
  // names no path, a placeholder used as a JSON object key, a JSON template that is not
  // valid JSON with its placeholders filled, both an input path and a template.
  static Result<std::shared_ptr<const InputTransform>> create(std::string_view input_path,
                                                              const std::map<std::string, std::string>& paths,
                                                              std::string_view input_template);

  // What the target receives for `event` (the event's view as a document) of rule
  // `rule_name`: JSON text, or the template's text.
  std::string apply(const nlohmann::json& event, std::string_view rule_name) const;
  // True when apply() returns JSON (no template, or a JSON template).
  bool produces_json() const { return json_template_ || template_.empty(); }

 private:
  struct Piece {
    std::string literal;      // text before the placeholder
    std::string placeholder;  // empty for the last piece
    bool in_string = false;   // the placeholder is inside a JSON string
  };
  std::string input_path_text_;
  Status parse_paths(const std::map<std::string, std::string>& paths);
  Status split_template();
  Status check_json_template() const;

  std::unique_ptr<JsonPath> input_path_;
  std::map<std::string, JsonPath> paths_;
  std::string template_;
  bool json_template_ = false;
  std::vector<Piece> pieces_;
};

}  // namespace causeway::rules
