// The shared LMDB wrapper (causeway/lmdb/lmdb_env.h) on real files: map growth past the
// initial size and its limit, a map grown by another process, what survives a process
// killed inside a write, concurrent readers, and the Status every LMDB return code maps to.
// The broker's metadata store and the registry's store both sit on this wrapper.
#include "causeway/lmdb/lmdb_env.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "tests/support/temp_dir.h"

namespace causeway::lmdb {
namespace {

using ::testing::HasSubstr;
using causeway::testing::TempDir;

MATCHER_P2(StatusIs, code, message_matcher, "") {
  *result_listener << "status is " << arg.to_string();
  return arg.code() == code && ::testing::ExplainMatchResult(message_matcher, std::string(arg.message()), result_listener);
}

#define ASSERT_OK(expr)                                    \
  do {                                                     \
    const ::causeway::Status s_ = (expr);                  \
    ASSERT_TRUE(s_.ok()) << s_.to_string();                \
  } while (0)

// Runs `body` in a forked child that then exits without running destructors; returns how
// it ended ("" for exit status 0).
std::string run_in_child(const std::function<bool()>& body) {
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) ::_exit(body() ? 0 : 3);
  int wstatus = 0;
  if (::waitpid(pid, &wstatus, 0) != pid) return "waitpid failed";
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return "";
  if (WIFEXITED(wstatus)) return "child exited with status " + std::to_string(WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) return "child died of signal " + std::to_string(WTERMSIG(wstatus));
  return "child ended oddly";
}

std::unique_ptr<Env> open_env(const std::string& dir, uint64_t initial, uint64_t max) {
  EnvOptions options;
  options.initial_map_bytes = initial;
  options.max_map_bytes = max;
  auto env = Env::open(dir, options);
  EXPECT_TRUE(env.ok()) << env.error().to_string();
  return env.ok() ? std::move(*env) : nullptr;
}

Result<Dbi> open_kv(Env& env) {
  Dbi dbi;
  Status s = env.write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(dbi, txn.open_dbi("kv", MDB_CREATE));
    return Status();
  });
  if (!s.ok()) return s;
  return dbi;
}

TEST(LmdbEnvTest, AWriteThatDoesNotFitTheInitialMapGrowsItAndRunsAgain) {
  TempDir dir;
  constexpr uint64_t kInitial = 64 << 10;
  auto env = open_env(dir.path(), kInitial, 64 << 20);
  ASSERT_NE(env, nullptr);
  auto dbi = open_kv(*env);
  ASSERT_TRUE(dbi.ok());
  // 1 MiB in one transaction: sixteen times the initial map.
  int runs = 0;
  ASSERT_OK(env->write([&](Txn& txn) -> Status {
    ++runs;
    for (int i = 0; i < 256; ++i) {
      CAUSEWAY_RETURN_IF_ERROR(txn.put(*dbi, "k" + std::to_string(i), std::string(4096, static_cast<char>('a' + i % 26))));
    }
    return Status();
  }));
  EXPECT_GE(runs, 2) << "the transaction must have been rerun after MDB_MAP_FULL";
  EXPECT_GE(env->map_bytes(), uint64_t{1} << 20);
  EXPECT_GT(std::filesystem::file_size(dir.path() + "/data.mdb"), kInitial);
  int found = 0;
  ASSERT_OK(env->read([&](Txn& txn) -> Status {
    return for_each_with_prefix(txn, *dbi, "k", [&](std::string_view, std::string_view value) {
      found += value.size() == 4096 ? 1 : 0;
      return true;
    });
  }));
  EXPECT_EQ(found, 256);
}

TEST(LmdbEnvTest, GrowthStopsAtTheMaximumWithResourceExhaustedAndKeepsWhatWasCommitted) {
  TempDir dir;
  auto env = open_env(dir.path(), 64 << 10, 256 << 10);
  ASSERT_NE(env, nullptr);
  auto dbi = open_kv(*env);
  ASSERT_TRUE(dbi.ok());
  int committed = 0;
  Status last;
  for (; committed < 1000; ++committed) {
    last = env->write([&](Txn& txn) -> Status {
      return txn.put(*dbi, "k" + std::to_string(committed), std::string(4096, 'v'));
    });
    if (!last.ok()) break;
  }
  EXPECT_THAT(last, StatusIs(Code::kResourceExhausted, HasSubstr("reached max_map_bytes 262144")));
  EXPECT_GT(committed, 16) << "the map must have grown before giving up";
  EXPECT_EQ(env->map_bytes(), uint64_t{256} << 10);
  int found = 0;
  ASSERT_OK(env->read([&](Txn& txn) -> Status {
    return for_each_with_prefix(txn, *dbi, "", [&](std::string_view, std::string_view) {
      ++found;
      return true;
    });
  }));
  EXPECT_EQ(found, committed);
  // Smaller writes still fit after the failure.
  ASSERT_OK(env->write([&](Txn& txn) -> Status { return txn.del(*dbi, "k0").status(); }));
}

TEST(LmdbEnvTest, AMapGrownByAnotherProcessIsAdoptedRatherThanReportedAsAnError) {
  TempDir dir;
  auto env = open_env(dir.path(), 64 << 10, 64 << 20);
  ASSERT_NE(env, nullptr);
  auto dbi = open_kv(*env);
  ASSERT_TRUE(dbi.ok());
  // The child has a copy of this process's state (Env included), so it talks to LMDB
  // directly, with a map sixteen times larger, and fills it past this process's map.
  const std::string child = run_in_child([&] {
    MDB_env* raw = nullptr;
    if (mdb_env_create(&raw) != 0 || mdb_env_set_maxdbs(raw, 8) != 0 ||
        mdb_env_set_mapsize(raw, size_t{1} << 20) != 0 || mdb_env_open(raw, dir.path().c_str(), MDB_NOTLS, 0640) != 0)
      return false;
    MDB_txn* txn = nullptr;
    MDB_dbi handle = 0;
    if (mdb_txn_begin(raw, nullptr, 0, &txn) != 0 || mdb_dbi_open(txn, "kv", 0, &handle) != 0) return false;
    std::string value(4096, 'c');
    for (int i = 0; i < 100; ++i) {
      std::string key = "child" + std::to_string(i);
      MDB_val k{key.size(), key.data()};
      MDB_val v{value.size(), value.data()};
      if (mdb_put(txn, handle, &k, &v, 0) != 0) return false;
    }
    return mdb_txn_commit(txn) == 0;
  });
  ASSERT_EQ(child, "");
  int found = 0;
  ASSERT_OK(env->read([&](Txn& txn) -> Status {
    return for_each_with_prefix(txn, *dbi, "child", [&](std::string_view, std::string_view) {
      ++found;
      return true;
    });
  }));
  EXPECT_EQ(found, 100);
  EXPECT_GE(env->map_bytes(), uint64_t{1} << 20);
  ASSERT_OK(env->write([&](Txn& txn) -> Status { return txn.put(*dbi, "parent", "still writes"); }));
}

TEST(LmdbEnvTest, AKeyThatExistsUnderNoOverwriteIsAlreadyExistsNotAnInternalError) {
  TempDir dir;
  auto env = open_env(dir.path(), 64 << 10, 1 << 20);
  ASSERT_NE(env, nullptr);
  auto dbi = open_kv(*env);
  ASSERT_TRUE(dbi.ok());
  ASSERT_OK(env->write([&](Txn& txn) -> Status { return txn.put(*dbi, "k", "first"); }));
  const Status again = env->write([&](Txn& txn) -> Status { return txn.put(*dbi, "k", "second", MDB_NOOVERWRITE); });
  EXPECT_THAT(again, StatusIs(Code::kAlreadyExists, HasSubstr("mdb_put(kv): MDB_KEYEXIST")));
}

TEST(LmdbEnvTest, EveryLmdbReturnCodeMapsToAStatusThatSaysWhatHappened) {
  const std::pair<int, Code> table[] = {
      {MDB_NOTFOUND, Code::kNotFound},          {MDB_KEYEXIST, Code::kAlreadyExists},
      {MDB_MAP_FULL, Code::kResourceExhausted}, {MDB_TXN_FULL, Code::kResourceExhausted},
      {MDB_READERS_FULL, Code::kResourceExhausted}, {MDB_DBS_FULL, Code::kResourceExhausted},
      {ENOSPC, Code::kResourceExhausted},       {MDB_CORRUPTED, Code::kCorruption},
      {MDB_PAGE_NOTFOUND, Code::kCorruption},   {MDB_INVALID, Code::kCorruption},
      {MDB_VERSION_MISMATCH, Code::kCorruption}, {MDB_MAP_RESIZED, Code::kUnavailable},
      {MDB_BAD_VALSIZE, Code::kInvalidArgument}, {EINVAL, Code::kInvalidArgument},
      {MDB_INCOMPATIBLE, Code::kFailedPrecondition}, {MDB_PANIC, Code::kInternal},
      {EIO, Code::kIOError},
  };
  for (const auto& [rc, code] : table) {
    const Status s = lmdb_status("mdb_call(db)", rc);
    EXPECT_EQ(s.code(), code) << mdb_strerror(rc);
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string("mdb_call(db): ") + mdb_strerror(rc)));
  }
  EXPECT_TRUE(lmdb_status("mdb_call", MDB_SUCCESS).ok());
}

TEST(LmdbEnvTest, ErrorsNameTheCallAndTheDatabase) {
  TempDir dir;
  auto env = open_env(dir.path(), 64 << 10, 1 << 20);
  ASSERT_NE(env, nullptr);
  const Status s = env->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(Dbi dbi, txn.open_dbi("kv", MDB_CREATE));
    return txn.put(dbi, std::string(600, 'k'), "v");  // above LMDB's 511-byte key limit
  });
  EXPECT_THAT(s, StatusIs(Code::kInvalidArgument, HasSubstr("mdb_put(kv): MDB_BAD_VALSIZE")));
}

TEST(LmdbEnvTest, TheSameDirectoryCannotBeOpenedTwiceInOneProcess) {
  TempDir dir;
  auto env = open_env(dir.path(), 64 << 10, 1 << 20);
  ASSERT_NE(env, nullptr);
  auto second = Env::open(dir.path(), EnvOptions{});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.error(), StatusIs(Code::kFailedPrecondition, HasSubstr("already open in this process")));
  env.reset();
  EXPECT_TRUE(Env::open(dir.path(), EnvOptions{}).ok()) << "closing the first handle frees the directory";
}

TEST(LmdbEnvTest, PrefixScanStopsAtTheFirstKeyWithoutThePrefix) {
  TempDir dir;
  auto env = open_env(dir.path(), 64 << 10, 1 << 20);
  ASSERT_NE(env, nullptr);
  auto dbi = open_kv(*env);
  ASSERT_TRUE(dbi.ok());
  ASSERT_OK(env->write([&](Txn& txn) -> Status {
    for (const char* k : {"a", "b\x01", "b\x02", "b\xff", "c"}) CAUSEWAY_RETURN_IF_ERROR(txn.put(*dbi, k, k));
    return Status();
  }));
  std::vector<std::string> seen;
  ASSERT_OK(env->read([&](Txn& txn) -> Status {
    return for_each_with_prefix(txn, *dbi, "b", [&](std::string_view key, std::string_view) {
      seen.emplace_back(key);
      return true;
    });
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"b\x01", "b\x02", "b\xff"}));
}

TEST(LmdbEnvTest, ProcessKilledInsideAWriteTransactionLosesOnlyThatTransaction) {
  TempDir dir;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto env = Env::open(dir.path(), EnvOptions{});
    if (!env) ::_exit(3);
    Dbi dbi;
    Status s = (*env)->write([&](Txn& txn) -> Status {
      CAUSEWAY_ASSIGN_OR_RETURN(dbi, txn.open_dbi("kv", MDB_CREATE));
      return txn.put(dbi, "committed", "yes");
    });
    if (!s.ok()) ::_exit(3);
    // Dies holding LMDB's writer lock, with an uncommitted put.
    (*env)->write([&](Txn& txn) -> Status {
      if (!txn.put(dbi, "uncommitted", "no").ok()) ::_exit(5);
      ::kill(::getpid(), SIGKILL);
      return Status();
    }).ignore_error();
    ::_exit(4);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) << "child status " << wstatus;

  auto env = Env::open(dir.path(), EnvOptions{});
  ASSERT_TRUE(env.ok()) << env.error().to_string();
  std::string committed;
  bool uncommitted_seen = true;
  ASSERT_OK((*env)->write([&](Txn& txn) -> Status {  // takes the writer lock again
    CAUSEWAY_ASSIGN_OR_RETURN(Dbi dbi, txn.open_dbi("kv", 0));
    CAUSEWAY_ASSIGN_OR_RETURN(auto a, txn.get(dbi, "committed"));
    CAUSEWAY_ASSIGN_OR_RETURN(auto b, txn.get(dbi, "uncommitted"));
    if (a) committed = std::string(*a);
    uncommitted_seen = b.has_value();
    return txn.put(dbi, "later", "ok");
  }));
  EXPECT_EQ(committed, "yes");
  EXPECT_FALSE(uncommitted_seen);
}

TEST(LmdbEnvTest, ReadTransactionsRunAlongsideAWriter) {
  TempDir dir;
  auto env = open_env(dir.path(), 64 << 10, 1 << 20);
  ASSERT_NE(env, nullptr);
  auto dbi = open_kv(*env);
  ASSERT_TRUE(dbi.ok());
  ASSERT_OK(env->write([&](Txn& txn) -> Status { return txn.put(*dbi, "k", "0"); }));
  std::atomic<bool> stop{false};
  std::atomic<int> bad_reads{0};
  std::thread reader([&] {
    while (!stop.load()) {
      const Status s = env->read([&](Txn& txn) -> Status {
        CAUSEWAY_ASSIGN_OR_RETURN(auto v, txn.get(*dbi, "k"));
        if (!v || v->empty()) ++bad_reads;
        return Status();
      });
      if (!s.ok()) ++bad_reads;
    }
  });
  for (int i = 1; i <= 200; ++i) {
    ASSERT_OK(env->write([&](Txn& txn) -> Status { return txn.put(*dbi, "k", std::to_string(i)); }));
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad_reads.load(), 0);
}

}  // namespace
}  // namespace causeway::lmdb
