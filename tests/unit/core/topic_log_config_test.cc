// core::log_config_for: a topic's settings become its partition logs' settings.
#include "core/topic_log_config.h"

#include <gtest/gtest.h>

#include <chrono>

namespace causeway::core {
namespace {

TEST(TopicLogConfigTest, LogConfigCarriesTheStorageSettings) {
  meta::TopicConfig c;
  c.name = "orders";
  c.durability = storage::Durability::kOs;
  c.segment_bytes = 1 << 20;
  c.segment_ms = std::chrono::hours(1);
  c.retention_ms = std::chrono::hours(2);
  c.retention_bytes = 5 << 20;
  const storage::LogConfig log = log_config_for(c);
  EXPECT_EQ(log.durability, storage::Durability::kOs);
  EXPECT_EQ(log.segment_bytes, 1u << 20);
  EXPECT_EQ(log.segment_ms, std::chrono::hours(1));
  EXPECT_EQ(log.retention_ms, std::chrono::hours(2));
  EXPECT_EQ(log.retention_bytes, 5u << 20);
}

TEST(TopicLogConfigTest, LogSettingsATopicDoesNotCarryKeepTheirDefaults) {
  const storage::LogConfig log = log_config_for(meta::TopicConfig{});
  const storage::LogConfig defaults;
  EXPECT_EQ(log.commit_delay, defaults.commit_delay);
  EXPECT_EQ(log.index_interval_bytes, defaults.index_interval_bytes);
}

}  // namespace
}  // namespace causeway::core
