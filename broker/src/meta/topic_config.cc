// Topic settings: validation and comparison. See topic_config.h.
#include "meta/topic_config.h"

#include <string_view>

namespace causeway::meta {
namespace {

bool is_topic_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + "ms"; }

}  // namespace

Status TopicConfig::validate() const {
  if (name.empty() || name.size() > kMaxTopicNameBytes) {
    return Status(Code::kInvalidArgument, Reason::kInvalidTopicName, "topic name \"" + name.substr(0, 64) + (name.size() > 64 ? "...\"" : "\"") +
                            " has length " + std::to_string(name.size()) + " (must be 1 to " +
                            std::to_string(kMaxTopicNameBytes) + ")");
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!is_topic_name_char(name[i])) {
      return Status(Code::kInvalidArgument, Reason::kInvalidTopicName, "topic name \"" + name + "\" has an invalid character (byte " +
                              std::to_string(static_cast<unsigned char>(name[i])) + ") at position " +
                              std::to_string(i) + " (allowed: A-Z a-z 0-9 . _ -)");
    }
  }
  if (name == "." || name == "..") return Status(Code::kInvalidArgument, Reason::kInvalidTopicName, "topic name \"" + name + "\" is reserved");
  if (partitions < 1 || partitions > kMaxPartitions) {
    return invalid_argument("partitions " + std::to_string(partitions) + " out of range (1 to " +
                            std::to_string(kMaxPartitions) + ")");
  }
  if (durability != storage::Durability::kFsync && durability != storage::Durability::kOs) {
    return invalid_argument("durability " + std::to_string(static_cast<int>(durability)) + " is not fsync or os");
  }
  if (dedup_window.count() < 0) return invalid_argument("dedup_window " + ms_text(dedup_window) + " is negative");
  if (retention_ms.count() < 0) return invalid_argument("retention_ms " + ms_text(retention_ms) + " is negative");
  if (segment_ms.count() <= 0) return invalid_argument("segment_ms " + ms_text(segment_ms) + " must be positive");
  if (segment_bytes < kMinSegmentBytes || segment_bytes > kMaxSegmentBytes) {
    return invalid_argument("segment_bytes " + std::to_string(segment_bytes) + " out of range (" +
                            std::to_string(kMinSegmentBytes) + " to " + std::to_string(kMaxSegmentBytes) + ")");
  }
  if (schema_subject.size() > kMaxSchemaSubjectBytes) {
    return invalid_argument("schema_subject has length " + std::to_string(schema_subject.size()) + " (at most " +
                            std::to_string(kMaxSchemaSubjectBytes) + ")");
  }
  if (validate_payloads && schema_subject.empty())
    return invalid_argument("payload validation (validate=full) needs a schema subject to validate against");
  return Status();
}

std::string describe_differences(const TopicConfig& a, const TopicConfig& b) {
  std::string out;
  auto add = [&out](std::string_view field, const std::string& x, const std::string& y) {
    if (x == y) return;
    if (!out.empty()) out += ", ";
    out += field;
    out += " ";
    out += x;
    out += " vs ";
    out += y;
  };
  add("name", "\"" + a.name + "\"", "\"" + b.name + "\"");
  add("partitions", std::to_string(a.partitions), std::to_string(b.partitions));
  add("durability", std::string(storage::durability_name(a.durability)),
      std::string(storage::durability_name(b.durability)));
  add("dedup_window", ms_text(a.dedup_window), ms_text(b.dedup_window));
  add("retention_ms", ms_text(a.retention_ms), ms_text(b.retention_ms));
  add("retention_bytes", std::to_string(a.retention_bytes), std::to_string(b.retention_bytes));
  add("segment_bytes", std::to_string(a.segment_bytes), std::to_string(b.segment_bytes));
  add("segment_ms", ms_text(a.segment_ms), ms_text(b.segment_ms));
  add("schema_subject", "\"" + a.schema_subject + "\"", "\"" + b.schema_subject + "\"");
  add("validate", a.validate_payloads ? "full" : "id", b.validate_payloads ? "full" : "id");
  return out;
}

}  // namespace causeway::meta
