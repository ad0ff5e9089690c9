// Helpers shared by the meta tests (meta_store_test.cc): temp
// directories, a StatusIs matcher, raw LMDB surgery and a fork-and-SIGKILL runner used to
// check what survives an unclean close (contract: docs/meta-store.md).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "causeway/common/status.h"
#include "causeway/lmdb/lmdb_env.h"
#include "meta/verified_value.h"
#include "tests/support/temp_dir.h"

namespace causeway::meta::testing {

using causeway::testing::TempDir;

inline Status status_of(const Status& s) { return s; }
template <typename T>
Status status_of(const Result<T>& r) {
  return r.status();
}

// EXPECT_THAT(r, StatusIs(Code::kNotFound, HasSubstr("orders"))) for a Status or Result.
MATCHER_P2(StatusIs, code, message_matcher, "") {
  const Status s = status_of(arg);
  *result_listener << "status is " << s.to_string();
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(s.message()), result_listener);
}

// ASSERT_OK(status_or_result): fails with the status text.
#define CAUSEWAY_ASSERT_OK(expr)                                                     \
  do {                                                                               \
    const ::causeway::Status causeway_test_status_ = ::causeway::meta::testing::status_of(expr); \
    ASSERT_TRUE(causeway_test_status_.ok()) << causeway_test_status_.to_string();      \
  } while (0)

inline std::string read_all(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  EXPECT_FALSE(ec) << "file_size " << path << ": " << ec.message();
  if (ec) return {};
  std::string bytes(static_cast<size_t>(size), '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(in.good()) << "read " << path;
  return bytes;
}
inline void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs `body` in a forked child, which then SIGKILLs itself without closing anything (an
// unclean stop: no destructor, no atexit, no sync). The child exits with status 3 if body
// returns false. Returns a description of how the child ended ("" when it was killed by
// SIGKILL as planned).
inline std::string run_in_child_then_sigkill(const std::function<bool()>& body) {
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    const bool ok = body();
    if (!ok) ::_exit(3);
    ::kill(::getpid(), SIGKILL);
    ::_exit(4);  // not reached
  }
  int wstatus = 0;
  if (::waitpid(pid, &wstatus, 0) != pid) return "waitpid failed";
  if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) return "";
  if (WIFEXITED(wstatus)) return "child exited with status " + std::to_string(WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) return "child died of signal " + std::to_string(WTERMSIG(wstatus));
  return "child ended oddly";
}

// Writes `value` under `key` in database `db` of the LMDB environment in `dir`, bypassing
// the store (which must be closed): for corrupting values on purpose.
inline Status poke_raw(const std::string& dir, const char* db, std::string_view key, std::string_view value,
                       unsigned db_flags = 0) {
  lmdb::EnvOptions options;
  auto env = lmdb::Env::open(dir, options);
  if (!env) return env.error();
  return (*env)->write([&](lmdb::Txn& txn) -> Status {
    auto dbi = txn.open_dbi(db, db_flags);
    if (!dbi) return dbi.error();
    return txn.put(*dbi, key, value);
  });
}

// The seed for property tests: GoogleTest's (--gtest_random_seed=N replays a run).
inline uint32_t property_seed() {
  const int seed = ::testing::UnitTest::GetInstance()->random_seed();
  return seed > 0 ? static_cast<uint32_t>(seed) : 301u;
}

}  // namespace causeway::meta::testing
