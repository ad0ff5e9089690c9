// File: subscribe/event_filter.h
//
// What a filtered subscription (docs/subscriptions.md, "Filtered subscriptions") asks of
// each new event: does it match the subscription's pattern? The pattern is parsed and
// validated by rules::parse_pattern (the same engine as `causeway pattern test`) and
// compiled once into a rules::Matcher; each stored record is read as patterns see it
// (docs/patterns.md, "The event as patterns see it") without building a document: the
// envelope from the record, a JSON payload with simdjson's on-demand parser, and a
// FlatBuffers payload through its registered schema, which PayloadSchemas looks up once
// per schema id.
//
// Thread-safety: an EventFilter is immutable and may be shared; matches() may run on many
// threads at once (each uses scratch space of its own thread). PayloadSchemas is
// thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "causeway/common/batch_format.h"
#include "causeway/common/status.h"

namespace causeway::rules {
class Matcher;
class FlatbuffersWalker;
struct Pattern;
}  // namespace causeway::rules

namespace causeway::subscribe {

// The registered schemas of FlatBuffers payloads, by schema id, for reading them as
// patterns do. Schema ids are immutable, so a schema found is kept (at most kMaxCached,
// then the cache starts over); an id the lookup could not resolve is asked again after
// `retry_after`, and until then its payloads have no "data".
class PayloadSchemas {
 public:
  // The reflection schema (registry::ParsedSchema::reflection_bytes) of a schema id. May
  // block on a registry: it runs on the storage threads that read the log.
  using Lookup = std::function<Result<std::vector<uint8_t>>(uint32_t schema_id)>;
  static constexpr size_t kMaxCached = 1024;

  explicit PayloadSchemas(Lookup lookup, std::chrono::milliseconds retry_after = std::chrono::seconds(5))
      : lookup_(std::move(lookup)), retry_after_(retry_after) {}

  // The walker for `schema_id`, or null (no lookup given, unknown id, registry down).
  std::shared_ptr<const rules::FlatbuffersWalker> get(uint32_t schema_id);

 private:
  struct Entry {
    std::shared_ptr<const rules::FlatbuffersWalker> walker;  // null: failed
    std::chrono::steady_clock::time_point retry_at;
  };
  const Lookup lookup_;
  const std::chrono::milliseconds retry_after_;
  std::mutex mu_;
  std::map<uint32_t, Entry> cache_;
};

// Whether two pattern texts are the same pattern: equal text, or equal JSON (spacing and
// key order aside). Empty (no pattern) equals only empty.
bool same_pattern(std::string_view a, std::string_view b);

class EventFilter {
 public:
  // Parses, validates and compiles `pattern`. kInvalidArgument naming the bad part and
  // its path (rules::parse_pattern's message, after "invalid pattern: ").
  static Result<std::shared_ptr<const EventFilter>> compile(std::string_view pattern);

  ~EventFilter();
  EventFilter(const EventFilter&) = delete;
  EventFilter& operator=(const EventFilter&) = delete;

  // Whether `record`, an event of `topic`, matches. `schemas` reads FlatBuffers payloads
  // (null: such events have no "data").
  bool matches(std::string_view topic, const batch::RecordView& record, PayloadSchemas* schemas) const;

  // The parsed pattern, for compiling it together with others (subscribe/shared_reads.h).
  const std::shared_ptr<const rules::Pattern>& pattern() const { return pattern_; }

 private:
  EventFilter() = default;
  std::shared_ptr<const rules::Pattern> pattern_;
  std::shared_ptr<const rules::Matcher> matcher_;
};

// Appends to `out` the ids of `matcher`'s patterns that `record`, an event of `topic`,
// matches, reading it as patterns see it (`schemas` reads FlatBuffers payloads; null:
// they have no "data"). Uses scratch space of the calling thread.
// `record`, an event of `topic`, as patterns see it, as a whole document: what rule
// targets send (docs/targets.md). `schemas` reads FlatBuffers payloads (null: no "data").
nlohmann::json event_document(std::string_view topic, const batch::RecordView& record, PayloadSchemas* schemas);

void match_record(const rules::Matcher& matcher, std::string_view topic, const batch::RecordView& record,
                  PayloadSchemas* schemas, std::vector<uint32_t>& out);

}  // namespace causeway::subscribe
