// trim_free_heap against glibc's real allocator. This binary is built without sanitizers
// (their allocators replace glibc's, whose behaviour is what is tested): after a spike of
// allocations that are all freed, RSS stays high until the trim returns the free pages.
#include "causeway/common/heap_trim.h"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace causeway {
namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// 64 MiB in 64 KiB blocks (below glibc's mmap threshold, so they come from the arenas),
// on several threads as the broker's network and storage threads allocate, each block
// followed by a small allocation that outlives it (a connection, an index entry): freeing
// the blocks leaves holes between live chunks, which free() cannot give back.
void spike(std::vector<std::unique_ptr<char[]>>& pins) {
  std::vector<std::vector<std::unique_ptr<char[]>>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& kept : per_thread) {
    threads.emplace_back([&kept] {
      std::vector<std::unique_ptr<char[]>> blocks;
      for (int i = 0; i < 256; ++i) {
        blocks.push_back(std::make_unique<char[]>(64 << 10));  // zeroed: every page is touched
        kept.push_back(std::make_unique<char[]>(64));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& kept : per_thread)
    for (auto& p : kept) pins.push_back(std::move(p));
}

TEST(HeapTrim, ReturnsFreedArenaMemoryAfterASpike) {
  const long before = rss_kib();
  std::vector<std::unique_ptr<char[]>> pins;
  spike(pins);
  const long high = rss_kib();
  ASSERT_GT(high - before, 32 * 1024) << "the spike did not stay resident; nothing to test";
  const HeapTrim trim = trim_free_heap(8u << 20);
  EXPECT_TRUE(trim.trimmed);
  EXPECT_GT(trim.free_bytes, size_t{32} << 20);
  const long after = rss_kib();
  EXPECT_LT(after - before, 16 * 1024) << "RSS " << before << " -> " << high << " -> " << after << " KiB";
}

TEST(HeapTrim, LeavesTheHeapAloneWhenLittleIsFree) {
  const HeapTrim trim = trim_free_heap(size_t{1} << 40);
  EXPECT_FALSE(trim.trimmed);
}

}  // namespace
}  // namespace causeway
