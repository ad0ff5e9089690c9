// File: meta/topic_config.h
//
// A topic's user-facing settings as the metadata store keeps them (MetaStore, stored as
// schemas/meta.fbs TopicRecord; layout in docs/meta-store.md). core::log_config_for
// (core/topic_log_config.h) turns them into the storage::LogConfig each partition opens with.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "causeway/common/status.h"
#include "storage/log_config.h"

namespace causeway::meta {

inline constexpr size_t kMaxTopicNameBytes = 249;
inline constexpr uint32_t kMaxPartitions = 10000;
inline constexpr uint64_t kMinSegmentBytes = 64ull << 10;
inline constexpr uint64_t kMaxSegmentBytes = 2ull << 30;
inline constexpr size_t kMaxSchemaSubjectBytes = 255;

struct TopicConfig {
  // 1..249 characters of [A-Za-z0-9._-], not "." or ".." (it names a directory).
  std::string name;
  // Assigned by MetaStore::create_topic from a counter that never repeats; 0 = unassigned.
  uint32_t topic_id = 0;
  uint32_t partitions = 1;
  storage::Durability durability = storage::Durability::kFsync;
  // A publish whose dedup key was stored less than this long ago is a duplicate.
  std::chrono::milliseconds dedup_window{120000};
  // 0 keeps forever.
  std::chrono::milliseconds retention_ms{std::chrono::hours(24 * 7)};
  uint64_t retention_bytes = 0;  // 0 = no size limit
  uint64_t segment_bytes = 1ull << 30;
  std::chrono::milliseconds segment_ms{std::chrono::hours(24 * 7)};
  // Registry subject the topic's events must be versions of; empty = unbound.
  std::string schema_subject;
  // With a subject: also verify each payload against its schema (`--validate full`), not
  // only that its schema id is a version of the subject (`--validate id`).
  bool validate_payloads = false;
  // Assigned by MetaStore::create_topic (broker wall clock, ms since the Unix epoch).
  int64_t created_ms = 0;

  // kInvalidArgument naming the field and its value when a setting is out of range:
  // the name as above, partitions 1..10000, dedup_window/retention_ms >= 0, segment_ms > 0,
  // segment_bytes 64 KiB..2 GiB, schema_subject at most 255 bytes, validate_payloads only
  // with a subject.
  Status validate() const;

  friend bool operator==(const TopicConfig&, const TopicConfig&) = default;
};

// "" if a and b have the same settings (ignoring topic_id and created_ms, which the store
// assigns), else each differing field as "partitions 4 vs 8", joined by ", ".
std::string describe_differences(const TopicConfig& a, const TopicConfig& b);

}  // namespace causeway::meta
