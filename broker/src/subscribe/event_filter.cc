// Filtered subscriptions: a subscription's pattern compiled once, and stored records
// matched against it. See subscribe/event_filter.h.
#include "subscribe/event_filter.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "rules/event_source.h"
#include "rules/flatbuffers_walker.h"
#include "rules/matcher.h"
#include "rules/pattern.h"

namespace causeway::subscribe {

std::shared_ptr<const rules::FlatbuffersWalker> PayloadSchemas::get(uint32_t schema_id) {
  if (!lookup_) return nullptr;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lk(mu_);
    auto it = cache_.find(schema_id);
    if (it != cache_.end() && (it->second.walker || now < it->second.retry_at)) return it->second.walker;
  }
  // Looked up outside the lock: a slow registry delays the readers of this id only. Two
  // readers missing at once both look it up; the answer is the same.
  Entry entry;
  entry.retry_at = now + retry_after_;
  auto bytes = lookup_(schema_id);
  if (bytes) {
    auto walker = rules::FlatbuffersWalker::create(std::move(*bytes));
    if (walker) {
      entry.walker = std::shared_ptr<const rules::FlatbuffersWalker>(std::move(*walker));
    } else {
      spdlog::warn("schema id {}: its reflection schema does not load ({}); its payloads have no \"data\" for patterns",
                   schema_id, walker.error().to_string());
    }
  } else {
    spdlog::warn("schema id {}: cannot read its schema for patterns ({}); its payloads have no \"data\" until it can",
                 schema_id, bytes.error().to_string());
  }
  std::lock_guard lk(mu_);
  if (cache_.size() >= kMaxCached) cache_.clear();
  cache_[schema_id] = entry;
  return entry.walker;
}

bool same_pattern(std::string_view a, std::string_view b) {
  if (a == b) return true;
  if (a.empty() || b.empty()) return false;
  const auto ja = nlohmann::json::parse(a, nullptr, /*allow_exceptions=*/false);
  const auto jb = nlohmann::json::parse(b, nullptr, /*allow_exceptions=*/false);
  return !ja.is_discarded() && !jb.is_discarded() && ja == jb;
}

Result<std::shared_ptr<const EventFilter>> EventFilter::compile(std::string_view pattern) {
  auto parsed = rules::parse_pattern(pattern);
  if (!parsed) return Status(Code::kInvalidArgument, "invalid pattern: " + std::string(parsed.error().message()));
  std::shared_ptr<EventFilter> filter(new EventFilter());
  filter->pattern_ = std::make_shared<const rules::Pattern>(std::move(*parsed));
  auto matcher = rules::Matcher::compile({filter->pattern_}, {0});
  if (!matcher) return Status(Code::kInvalidArgument, "invalid pattern: " + std::string(matcher.error().message()));
  filter->matcher_ = std::move(*matcher);
  return std::shared_ptr<const EventFilter>(std::move(filter));
}

EventFilter::~EventFilter() = default;

bool EventFilter::matches(std::string_view topic, const batch::RecordView& record, PayloadSchemas* schemas) const {
  thread_local std::vector<uint32_t> matched;
  matched.clear();
  match_record(*matcher_, topic, record, schemas, matched);
  return !matched.empty();
}

namespace {

// Fills `fields` from `record` (reusing its header vector) and returns the walker of its
// FlatBuffers payload, if it has one and `schemas` knows it.
std::shared_ptr<const rules::FlatbuffersWalker> read_as_patterns_do(std::string_view topic,
                                                                    const batch::RecordView& record,
                                                                    PayloadSchemas* schemas, rules::EventFields& fields) {
  fields.topic = topic;
  fields.source = record.source;
  fields.type = record.type;
  fields.key = record.key;
  fields.headers.clear();
  for (const batch::Header& h : record.headers) fields.headers.emplace_back(h.name, h.value);
  fields.time_ms = record.time_ms;
  fields.schema_id = record.schema_id;
  fields.payload = record.payload;
  if (record.schema_id == 0 || schemas == nullptr) return nullptr;
  return schemas->get(record.schema_id);
}

}  // namespace

void match_record(const rules::Matcher& matcher, std::string_view topic, const batch::RecordView& record,
                  PayloadSchemas* schemas, std::vector<uint32_t>& out) {
  // Per thread, reused: no allocation per event once they have grown.
  thread_local rules::Matcher::Scratch scratch;
  thread_local rules::EventFields fields;
  const auto walker = read_as_patterns_do(topic, record, schemas, fields);
  matcher.match(rules::EventView(fields, walker.get()), scratch, out);
}

nlohmann::json event_document(std::string_view topic, const batch::RecordView& record, PayloadSchemas* schemas) {
  rules::EventFields fields;
  const auto walker = read_as_patterns_do(topic, record, schemas, fields);
  return rules::EventView(fields, walker.get()).materialize(rules::PathTrie{});
}

}  // namespace causeway::subscribe
