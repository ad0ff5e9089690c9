// A topic's settings as its partition logs' settings. See topic_log_config.h.
#include "core/topic_log_config.h"

namespace causeway::core {

storage::LogConfig log_config_for(const meta::TopicConfig& topic) {
  storage::LogConfig config;
  config.durability = topic.durability;
  config.segment_bytes = topic.segment_bytes;
  config.segment_ms = topic.segment_ms;
  config.retention_ms = topic.retention_ms;
  config.retention_bytes = topic.retention_bytes;
  return config;
}

}  // namespace causeway::core
