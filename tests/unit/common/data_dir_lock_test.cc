// DataDirLock: one holder per data directory, a refusal that names the holder.
#include "causeway/common/data_dir_lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/support/temp_dir.h"

namespace causeway {
namespace {

using ::testing::HasSubstr;

TEST(DataDirLock, SecondHolderIsRefusedNamingTheDaemonAndItsPidUntilTheFirstLetsGo) {
  testing::TempDir dir;
  {
    auto first = DataDirLock::acquire(dir.path(), "causeway-broker");
    ASSERT_TRUE(first.ok()) << first.error().to_string();
    // flock locks belong to the open file description: a second open in this process
    // conflicts just as another process would.
    auto second = DataDirLock::acquire(dir.path(), "causeway-broker");
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code(), Code::kFailedPrecondition);
    EXPECT_THAT(second.error().message(), HasSubstr("in use by another causeway-broker (pid " +
                                                    std::to_string(::getpid()) + ")"));
    EXPECT_THAT(second.error().message(), HasSubstr("--data-dir"));
  }
  EXPECT_TRUE(DataDirLock::acquire(dir.path(), "causeway-broker").ok()) << "released with its holder";
}

TEST(DataDirLock, MissingDirectoryIsAnIoErrorNamingTheFile) {
  testing::TempDir dir;
  auto lock = DataDirLock::acquire(dir.path() + "/absent", "causeway-registry");
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code(), Code::kIOError);
  EXPECT_THAT(lock.error().message(), HasSubstr("/absent/LOCK"));
}

}  // namespace
}  // namespace causeway
