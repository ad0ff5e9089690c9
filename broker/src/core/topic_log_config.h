// File: core/topic_log_config.h
//
// The translation from a topic's user-facing settings (meta::TopicConfig, what the metadata
// store keeps) to the settings each of its partition logs opens with (storage::LogConfig).
// It lives in core, which knows both: meta describes topics and storage describes logs,
// and neither needs the other's shape for this.
#pragma once

#include "meta/topic_config.h"
#include "storage/log_config.h"

namespace causeway::core {

// The settings a partition log of `topic` opens with: its durability, segment size and
// age, and retention. The rest of LogConfig keeps its defaults.
storage::LogConfig log_config_for(const meta::TopicConfig& topic);

}  // namespace causeway::core
