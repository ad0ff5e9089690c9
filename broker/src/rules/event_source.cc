// The event view for matching: envelope fields and payloads read along pattern paths.
// See rules/event_source.h and docs/patterns.md.
#include "rules/event_source.h"

#include <simdjson.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <utility>

#include "causeway/common/utf8.h"
#include "rules/flatbuffers_walker.h"
#include "rules/reference_matcher.h"

namespace causeway::rules {
namespace {

using nlohmann::json;
namespace od = simdjson::ondemand;

// Arrays nested deeper than this on a pattern's path make the payload unreadable (no
// "data"): the walker recurses once per level.
constexpr int kMaxArrayNesting = 64;
// A payload nested deeper than this is not turned into a document (materialize()).
constexpr int kMaxDocumentDepth = 128;

// Leaves found while reading a payload, handed on only if the whole read succeeds, so that
// a payload the parser rejects half-way has no "data" at all.
class Buffered {
 public:
  void leaf(uint32_t leaf, const ScalarValue& v) { leaves_.emplace_back(leaf, v); }
  void object_array() { object_array_ = true; }
  void flush(LeafSink& sink) {
    if (object_array_) sink.object_array();
    for (const auto& [leaf, v] : leaves_) sink.leaf(leaf, v);
  }

 private:
  std::vector<std::pair<uint32_t, ScalarValue>> leaves_;
  bool object_array_ = false;
};

bool walk_object(od::object obj, const PathTrie& paths, uint32_t at, Buffered& out, int nesting);

bool walk_value(od::value v, const PathTrie& paths, uint32_t at, bool in_array, Buffered& out, int nesting) {
  const PathTrie::Node& node = paths.nodes[at];
  od::json_type type;
  if (v.type().get(type)) return false;
  switch (type) {
    case od::json_type::array: {
      if (nesting >= kMaxArrayNesting) return false;
      od::array arr;
      if (v.get_array().get(arr)) return false;
      for (auto element : arr) {
        od::value e;
        if (std::move(element).get(e)) return false;
        if (!walk_value(e, paths, at, true, out, nesting + 1)) return false;
      }
      return true;
    }
    case od::json_type::object: {
      if (node.children.empty()) return true;  // an object where a value is read: absent (skipped)
      if (in_array) out.object_array();
      od::object obj;
      if (v.get_object().get(obj)) return false;
      return walk_object(obj, paths, at, out, nesting);
    }
    case od::json_type::number: {
      if (node.leaf < 0) return true;
      double d = 0;
      if (v.get_double().get(d)) return false;
      ScalarValue s;
      s.type = ScalarValue::Type::kNumber;
      s.number = d;
      out.leaf(static_cast<uint32_t>(node.leaf), s);
      return true;
    }
    case od::json_type::string: {
      if (node.leaf < 0) return true;
      std::string_view text;
      if (v.get_string().get(text)) return false;
      ScalarValue s;
      s.type = ScalarValue::Type::kString;
      s.text = text;  // in the parser's string buffer: valid until its next document
      out.leaf(static_cast<uint32_t>(node.leaf), s);
      return true;
    }
    case od::json_type::boolean: {
      if (node.leaf < 0) return true;
      bool b = false;
      if (v.get_bool().get(b)) return false;
      ScalarValue s;
      s.type = ScalarValue::Type::kBool;
      s.boolean = b;
      out.leaf(static_cast<uint32_t>(node.leaf), s);
      return true;
    }
    case od::json_type::null: {
      if (node.leaf < 0) return true;
      bool is_null = false;
      if (v.is_null().get(is_null) || !is_null) return false;
      out.leaf(static_cast<uint32_t>(node.leaf), ScalarValue{});
      return true;
    }
  }
  return false;
}

bool walk_object(od::object obj, const PathTrie& paths, uint32_t at, Buffered& out, int nesting) {
  for (auto field_result : obj) {
    od::field field;
    if (std::move(field_result).get(field)) return false;
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    const int64_t next = paths.child(at, key);
    if (next < 0) continue;  // the parser skips the value
    if (!walk_value(field.value(), paths, static_cast<uint32_t>(next), false, out, nesting)) return false;
  }
  return true;
}

// Nesting depth of JSON text, without parsing it (brackets outside strings), stopping at
// `limit`.
bool depth_within(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

void leaf_string(const PathTrie& paths, int64_t node, std::string_view text, LeafSink& sink) {
  if (node < 0 || paths.nodes[static_cast<size_t>(node)].leaf < 0) return;
  ScalarValue s;
  s.type = ScalarValue::Type::kString;
  s.text = text;
  sink.leaf(static_cast<uint32_t>(paths.nodes[static_cast<size_t>(node)].leaf), s);
}

}  // namespace

std::string format_rfc3339_ms(int64_t unix_ms) {
  const int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  const int ms = static_cast<int>(unix_ms - secs * 1000);
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

bool walk_json_payload(std::string_view payload, const PathTrie& paths, uint32_t data, LeafSink& sink) {
  // The on-demand parser reads up to SIMDJSON_PADDING bytes past the end: it gets a
  // padded copy (per thread, reused).
  thread_local od::parser parser;
  thread_local std::string padded;
  const size_t first = payload.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || payload[first] != '{') return false;
  padded.assign(payload);
  padded.resize(payload.size() + simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (parser.iterate(padded.data(), payload.size(), padded.size()).get(doc)) return false;
  od::object root;
  if (doc.get_object().get(root)) return false;
  Buffered out;
  if (!walk_object(root, paths, data, out, 0)) return false;
  // Only whitespace may follow the object: at the end the parser has no location left.
  const char* rest = nullptr;
  if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) return false;
  out.flush(sink);
  return true;
}

void EventView::walk(const PathTrie& paths, LeafSink& sink) const {
  for (const auto& [name, child] : paths.root().children) {
    const auto node = static_cast<int64_t>(child);
    if (name == "topic") {
      leaf_string(paths, node, f_.topic, sink);
    } else if (name == "source") {
      if (!f_.source.empty()) leaf_string(paths, node, f_.source, sink);
    } else if (name == "type") {
      if (!f_.type.empty()) leaf_string(paths, node, f_.type, sink);
    } else if (name == "key") {
      if (!f_.key.empty() && utf8::is_valid(f_.key)) leaf_string(paths, node, f_.key, sink);
    } else if (name == "time") {
      time_ = format_rfc3339_ms(f_.time_ms);
      leaf_string(paths, node, time_, sink);
    } else if (name == "headers") {
      for (const auto& [header, value] : f_.headers) {
        if (!utf8::is_valid(value)) continue;
        leaf_string(paths, paths.child(child, header), value, sink);
      }
    } else if (name == "data") {
      if (f_.schema_id == 0) {
        walk_json_payload(f_.payload, paths, child, sink);
      } else if (schema_ != nullptr) {
        schema_->walk(f_.payload, paths, child, sink);
      }
    }
  }
}

nlohmann::json EventView::materialize(const PathTrie&) const {
  json view = json::object();
  view["topic"] = std::string(f_.topic);
  if (!f_.source.empty()) view["source"] = std::string(f_.source);
  if (!f_.type.empty()) view["type"] = std::string(f_.type);
  if (!f_.key.empty() && utf8::is_valid(f_.key)) view["key"] = std::string(f_.key);
  view["time"] = format_rfc3339_ms(f_.time_ms);
  json headers = json::object();
  for (const auto& [name, value] : f_.headers) {
    if (!utf8::is_valid(value) || !utf8::is_valid(name)) continue;
    const std::string n(name);
    if (!headers.contains(n)) {
      headers[n] = std::string(value);
    } else {
      if (!headers[n].is_array()) headers[n] = json::array({headers[n]});
      headers[n].push_back(std::string(value));
    }
  }
  view["headers"] = std::move(headers);
  if (f_.schema_id == 0) {
    if (depth_within(f_.payload, kMaxDocumentDepth)) {
      json data = json::parse(f_.payload.begin(), f_.payload.end(), nullptr, /*allow_exceptions=*/false);
      if (data.is_object()) view["data"] = std::move(data);
    }
  } else if (schema_ != nullptr) {
    if (auto data = schema_->to_json(f_.payload)) view["data"] = std::move(*data);
  }
  return view;
}

}  // namespace causeway::rules
