// Crash test against a real process (tests/crash/crash_appender.cc): kill -9 at random
// moments, reopen, and check that every acknowledged event is there with identical bytes
// and that the dedup index agrees with the log. Replay with --gtest_random_seed=N.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <random>
#include <sstream>
#include <string>

#include "causeway/common/crc32c.h"
#include "core/event_store.h"
#include "tests/unit/storage/test_util.h"

namespace causeway {
namespace {

struct Acked {
  uint32_t crc = 0;
  std::string key;
};
using AckMap = std::map<std::pair<uint32_t, uint64_t>, Acked>;

// Starts the appender, lets it run for `run_for` after its first ack, SIGKILLs it, and
// collects every complete line it wrote.
void run_and_kill(const std::string& dir, int round, std::chrono::milliseconds run_for, AckMap& acked) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    const std::string r = std::to_string(round);
    ::execl(CAUSEWAY_CRASH_APPENDER, "crash_appender", dir.c_str(), r.c_str(), "4", static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(fds[1]);
  std::string buf;       // bytes not yet cut into lines
  size_t round_acks = 0;
  // Every complete line must be an acknowledgement: a line that does not parse (say, a log
  // line on stdout) fails the round instead of silently ending the count.
  auto take_lines = [&] {
    size_t start = 0;
    for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string line = buf.substr(start, nl - start);
      std::istringstream in(line);
      uint32_t partition = 0;
      uint64_t offset = 0;
      uint32_t crc = 0;
      std::string key, rest;
      if (!(in >> partition >> offset >> crc >> key) || (in >> rest)) {
        ADD_FAILURE() << "round " << round << ": the appender wrote a line that is not an acknowledgement: " << line;
        continue;
      }
      auto [it, inserted] = acked.emplace(std::make_pair(partition, offset), Acked{crc, key});
      EXPECT_TRUE(inserted) << "offset " << partition << "/" << offset << " acknowledged twice";
      ++round_acks;
    }
    buf.erase(0, start);
  };
  const auto started = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> first_ack;
  bool killed = false;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (!killed && ((first_ack && now - *first_ack >= run_for) || now - started > std::chrono::seconds(20))) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    pollfd p{fds[0], POLLIN, 0};
    ::poll(&p, 1, 5);
    char chunk[65536];
    const ssize_t n = (p.revents & (POLLIN | POLLHUP)) ? ::read(fds[0], chunk, sizeof(chunk)) : -1;
    if (n > 0) {
      buf.append(chunk, static_cast<size_t>(n));
      take_lines();
      if (!first_ack && round_acks > 0) first_ack = std::chrono::steady_clock::now();
    } else if (n == 0) {
      break;  // the child is gone and the pipe drained
    }
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "appender exited on its own (status " << status << ") in round " << round;
  // A line cut by the kill (left in buf) was never fully reported and does not count.
  ASSERT_GT(round_acks, 0u) << "appender acknowledged nothing in round " << round;
}

// Records the sync journal's replays found over all rounds, and whether it could be used.
struct JournalSeen {
  size_t replayed = 0;
  bool shared_syncs = false;
};

void verify(const std::string& dir, const AckMap& acked, int round, JournalSeen& journal) {
  core::EventStoreOptions options;
  options.data_dir = dir;
  options.logs.background = false;
  core::OpenReport report;
  auto store = core::EventStore::open(storage::FileSystem::posix(), options, &report);
  ASSERT_TRUE(store.ok()) << "round " << round << ": " << store.error().to_string();
  journal.replayed += (*store)->logs().journal_replay().replayed;
  journal.shared_syncs = (*store)->logs().sync_group() != nullptr;
  auto topic = (*store)->get_topic("crash");
  ASSERT_TRUE(topic.ok());
  std::map<std::pair<uint32_t, uint64_t>, Acked> found;
  for (uint32_t p = 0; p < topic->partitions; ++p) {
    auto log = (*store)->partition("crash", p);
    ASSERT_NE(log, nullptr);
    uint64_t next = log->log_start_offset();
    while (next < log->high_watermark()) {
      auto r = log->read(next, 1 << 20);
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      ASSERT_FALSE(r->batches.empty());
      ASSERT_TRUE(storage::for_each_record_from(*r, next, [&](const batch::RecordView& v) {
                    found[{p, v.offset}] = Acked{crc32c::value(v.payload), std::string(v.dedup_key)};
                    next = v.offset + 1;
                    return true;
                  }).ok());
    }
  }
  // The window holds exactly the keys the recovered logs hold: none of a cut tail.
  std::set<std::string> keys_in_log;
  for (const auto& [where, rec] : found)
    if (!rec.key.empty()) keys_in_log.insert(rec.key);
  EXPECT_EQ((*store)->dedup().size(), keys_in_log.size()) << "round " << round;
  for (const auto& [where, ack] : acked) {
    auto it = found.find(where);
    ASSERT_NE(it, found.end()) << "round " << round << ": acknowledged event " << where.first << "/" << where.second
                               << " is missing";
    EXPECT_EQ(it->second.crc, ack.crc) << "round " << round << ": bytes differ at " << where.first << "/" << where.second;
    EXPECT_EQ(it->second.key, ack.key);
  }
  // Every record in the log is in the dedup index, pointing back at it.
  const int64_t now = storage::now_ms();
  for (const auto& [where, rec] : found) {
    auto dup = (*store)->find_duplicate(*topic, rec.key, now);
    ASSERT_TRUE(dup.has_value()) << "round " << round << ": key " << rec.key << " of " << where.first << "/"
                                 << where.second << " is not indexed";
    EXPECT_EQ(dup->partition, where.first);
    EXPECT_EQ(dup->offset, where.second);
  }
}

TEST(CrashTest, EveryAckedEventSurvivesSigkillAndTheDedupIndexAgrees) {
  const uint32_t seed = static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed());
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with --gtest_random_seed=" + std::to_string(seed) + ")");
  std::mt19937 rng(seed);
  storage::testing::TempDir dir;
  AckMap acked;
  JournalSeen journal;
  constexpr int kRounds = 24;
  for (int round = 0; round < kRounds; ++round) {
    const auto run_for = std::chrono::milliseconds(5 + rng() % 150);
    run_and_kill(dir.path(), round, run_for, acked);
    if (HasFatalFailure()) return;
    verify(dir.path(), acked, round, journal);
    if (HasFatalFailure()) return;
  }
  RecordProperty("acked_events", static_cast<int>(acked.size()));
  RecordProperty("journal_records_replayed", static_cast<int>(journal.replayed));
  EXPECT_GT(acked.size(), static_cast<size_t>(kRounds));
  // The kills left records in the sync journal that the next open replayed (where the
  // file system allows shared syncs at all: Linux 5.17 and later).
  if (journal.shared_syncs) {
    EXPECT_GT(journal.replayed, 0u);
  }
}

}  // namespace
}  // namespace causeway
