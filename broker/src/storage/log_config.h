// File: storage/log_config.h
//
// Per-partition log settings. Topic metadata (meta/topic_config.h) holds the user-facing
// values; core::log_config_for (core/topic_log_config.h) turns them into a LogConfig for
// each partition the log manager opens.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "causeway/common/status.h"

namespace causeway::storage {

// When an append counts as done (DESIGN.md, guarantee 1).
enum class Durability : uint8_t {
  kFsync = 0,  // after fdatasync of the data (concurrent appenders share one: group commit), or a
               // syncfs shared with other logs (storage/sync_group.h)
  kOs = 1,     // after write() reaches the OS; a background sync runs every flush_interval
};

std::string_view durability_name(Durability d) noexcept;  // "fsync" | "os"
Result<Durability> parse_durability(std::string_view text);

struct LogConfig {
  Durability durability = Durability::kFsync;
  // Roll the active segment before it would exceed this size (at most 2 GiB: index
  // positions are u32 and we keep headroom).
  uint64_t segment_bytes = 1ull << 30;
  // Roll the active segment once its first batch is this old.
  std::chrono::milliseconds segment_ms{std::chrono::hours(24 * 7)};
  // `fsync` mode: how long a sync leader may wait, while appends keep arriving, to take
  // concurrent appenders into its group (never more than half the previous sync's time,
  // and never when there is a single appender). 0 turns gathering off: every sync then
  // takes exactly what was written when it started.
  std::chrono::microseconds commit_delay{200};
  // Bytes between sparse index entries.
  uint32_t index_interval_bytes = 4096;
  // Delete sealed segments whose newest record is older than this; 0 keeps forever.
  std::chrono::milliseconds retention_ms{std::chrono::hours(24 * 7)};
  // Delete oldest sealed segments while the partition is larger than this; 0 = no limit.
  uint64_t retention_bytes = 0;

  // Checks ranges; kInvalidArgument naming the field otherwise.
  Status validate() const;
};

}  // namespace causeway::storage
