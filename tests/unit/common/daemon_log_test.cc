// The daemons' JSON log lines (causeway/daemon_log/daemon_log.h): one object per line, the
// message escaped whatever it quotes, so that a logged client string cannot break a line
// or forge a field.
#include "causeway/daemon_log/daemon_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace causeway::daemon_log {
namespace {

class DaemonLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)));
  }
  void TearDown() override {
    spdlog::set_default_logger(previous_);
    configure(Format::kText, "info");
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(DaemonLogTest, JsonLinesEscapeWhatTheMessageQuotes) {
  configure(Format::kJson, "info");
  spdlog::info("topic \"{}\" refused: {}", "a\"b", "line one\nline two\t\\ end");
  spdlog::warn("bytes {}", std::string("\xff\xfe ok", 5));
  spdlog::debug("not shown at info");
  const auto got = lines();
  ASSERT_EQ(got.size(), 2u) << out_.str();  // the newline in the message stayed inside its line
  const auto first = nlohmann::json::parse(got[0]);
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["msg"], "topic \"a\"b\" refused: line one\nline two\t\\ end");
  const std::string time = first["time"];
  EXPECT_EQ(time.size(), 24u) << time;  // 2026-12-05T10:00:00.123Z
  EXPECT_EQ(time.back(), 'Z');
  EXPECT_EQ(first.size(), 3u);  // no field a message could add
  const auto second = nlohmann::json::parse(got[1]);  // invalid UTF-8 replaced, still JSON
  EXPECT_EQ(second["level"], "warning");
  EXPECT_NE(second["msg"].get<std::string>().find(" ok"), std::string::npos);
}

TEST_F(DaemonLogTest, TextLinesAreForPeople) {
  configure(Format::kText, "warn");
  spdlog::info("hidden");
  spdlog::warn("shown {}", 1);
  const auto got = lines();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].find(" warning shown 1"), std::string::npos) << got[0];
}

TEST(DaemonLogFormat, OnlyTextAndJsonAreFormats) {
  EXPECT_EQ(*parse_format("text"), Format::kText);
  EXPECT_EQ(*parse_format("json"), Format::kJson);
  const auto bad = parse_format("xml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("text or json"), std::string_view::npos);
}

}  // namespace
}  // namespace causeway::daemon_log
