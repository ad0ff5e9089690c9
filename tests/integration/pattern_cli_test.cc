// `causeway pattern test` through the real CLI binary (docs/patterns.md): the verdict on
// stdout and as the exit code, invalid patterns and events named with exit 2, @FILE input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tests/integration/cli_run.h"
#include "tests/support/temp_dir.h"

namespace causeway {
namespace {

using ::testing::HasSubstr;
using testing::run_cli;

constexpr const char* kEvent =
    R"({"topic":"orders","source":"shop","type":"order.created","data":{"amount":250,"items":[{"sku":"A","qty":2}]}})";

TEST(PatternCli, MatchPrintsTrueAndExitsZero) {
  const auto r = run_cli({"pattern", "test", "--pattern",
                          R"({"source":["shop"],"data":{"amount":[{"numeric":[">",100]}]}})", "--event", kEvent});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "{\"match\":true}\n");
}

TEST(PatternCli, NoMatchPrintsFalseAndExitsOne) {
  const auto r = run_cli({"pattern", "test", "--pattern", R"({"data":{"items":{"sku":["A"],"qty":[3]}}})", "--event",
                          kEvent});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output, "{\"match\":false}\n");
}

TEST(PatternCli, InvalidPatternOrEventExitsTwoNamingTheBadPart) {
  const auto bad_op = run_cli({"pattern", "test", "--pattern", R"({"data":{"amount":[{"numerc":[">",1]}]}})",
                               "--event", kEvent});
  EXPECT_EQ(bad_op.exit_code, 2);
  EXPECT_THAT(bad_op.output, HasSubstr("invalid pattern: data.amount[0]: unknown operator \"numerc\""));
  const auto bare = run_cli({"pattern", "test", "--pattern", R"({"source":"shop"})", "--event", kEvent});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_THAT(bare.output, HasSubstr("source: a value must be an array"));
  const auto event = run_cli({"pattern", "test", "--pattern", R"({"source":["shop"]})", "--event", "{nope"});
  EXPECT_EQ(event.exit_code, 2);
  EXPECT_THAT(event.output, HasSubstr("invalid event: not valid JSON"));
  const auto array = run_cli({"pattern", "test", "--pattern", R"({"source":["shop"]})", "--event", "[1]"});
  EXPECT_EQ(array.exit_code, 2);
  EXPECT_THAT(array.output, HasSubstr("must be a JSON object, not array"));
}

TEST(PatternCli, ValuesMayComeFromFiles) {
  causeway::testing::TempDir dir;
  std::ofstream(dir.sub("p.json")) << R"({"type":[{"prefix":"order."}]})";
  std::ofstream(dir.sub("e.json")) << kEvent;
  const auto r = run_cli({"pattern", "test", "--pattern", "@" + dir.sub("p.json"), "--event", "@" + dir.sub("e.json")});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto missing = run_cli({"pattern", "test", "--pattern", "@" + dir.sub("nope.json"), "--event", kEvent});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.output, HasSubstr("cannot read"));
}

}  // namespace
}  // namespace causeway
