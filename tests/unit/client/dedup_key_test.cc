// Automatic dedup keys (client/src/dedup_key.h).
#include "client/src/dedup_key.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace causeway::client::internal {
namespace {

TEST(DedupKey, IsThirtyTwoLowercaseHexCharacters) {
  const std::string key = make_dedup_key();
  ASSERT_EQ(key.size(), 32u);
  for (char c : key) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << key;
}

TEST(DedupKey, HundredThousandKeysAreDistinct) {
  std::set<std::string> keys;
  for (int i = 0; i < 100000; ++i) keys.insert(make_dedup_key());
  EXPECT_EQ(keys.size(), 100000u);
}

TEST(DedupKey, KeysFromManyThreadsAreDistinct) {
  std::mutex mu;
  std::set<std::string> keys;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<std::string> local;
      for (int i = 0; i < 10000; ++i) local.push_back(make_dedup_key());
      std::lock_guard lock(mu);
      keys.insert(local.begin(), local.end());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(keys.size(), 40000u);
}

}  // namespace
}  // namespace causeway::client::internal
