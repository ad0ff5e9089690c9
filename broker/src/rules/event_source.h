// File: rules/event_source.h
//
// A stored event as patterns see it (docs/patterns.md, "The event as patterns see it"),
// read without building a document: the envelope fields (topic, source, type, key,
// headers, time) straight from the record, and the payload under "data" read only along
// the paths some pattern uses -
//  - a payload without a schema id that is a JSON object: read with simdjson's on-demand
//    parser, which skips every value no pattern reads;
//  - a payload with a schema id: read through the registered schema with FlatBuffers
//    reflection (rules/flatbuffers_walker.h), when the caller can give the schema;
//  - anything else: no "data".
// materialize() builds the whole view as a JSON document, for the rare events the matcher
// must confirm (arrays of objects) and for tools.
//
// Thread-safety: an EventView is used by one thread at a time; the parser it uses is
// per thread. The values it reports stay valid until it is destroyed or walks again.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/matcher.h"

namespace causeway::rules {

class FlatbuffersWalker;

struct EventFields {
  std::string_view topic;
  std::string_view source;  // empty: absent
  std::string_view type;    // empty: absent
  std::string_view key;     // empty or not UTF-8: absent
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // values not UTF-8 are absent
  int64_t time_ms = 0;      // broker append time, shown as RFC 3339 UTC with milliseconds
  uint32_t schema_id = 0;
  std::string_view payload;
};

class EventView final : public EventSource {
 public:
  // `payload_schema` reads the payload when schema_id != 0 (null: no "data" for it).
  explicit EventView(const EventFields& fields, const FlatbuffersWalker* payload_schema = nullptr)
      : f_(fields), schema_(payload_schema) {}

  void walk(const PathTrie& paths, LeafSink& sink) const override;
  nlohmann::json materialize(const PathTrie& paths) const override;

 private:
  const EventFields& f_;
  const FlatbuffersWalker* schema_;
  // The formatted time, kept because the matcher reads values after the walk.
  mutable std::string time_;
};

// "2024-05-01T12:00:00.123Z".
std::string format_rfc3339_ms(int64_t unix_ms);

// Reads a JSON payload along the trie below node `data` (the "data" node), reporting its
// scalars. Reports nothing and returns false when the payload is not a JSON object or the
// parser finds it malformed on the way.
bool walk_json_payload(std::string_view payload, const PathTrie& paths, uint32_t data, LeafSink& sink);

}  // namespace causeway::rules
