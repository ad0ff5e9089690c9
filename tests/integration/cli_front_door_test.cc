// The real `causeway` binary against a real causeway-broker (with its embedded registry), for
// what a new user meets first (issue 12): the publish contract (every line is attempted,
// each outcome names its input line, a summary and exit 1 when any failed), JSON errors
// that say where and how input is shaped, usage errors that exit 2 naming the bad token,
// wrong ports that are named as such, and `fetch` past the end of a partition.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "causeway/client/admin.h"
#include "tests/integration/cli_run.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace causeway {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;
using testing::CliRun;
using testing::DaemonProcess;
using testing::run_cli;

class CliFrontDoor : public ::testing::Test {
 protected:
  void SetUp() override {
    // A small frame limit, so that a line "over the broker's frame limit" is cheap to write.
    broker_ = std::make_unique<DaemonProcess>(
        CAUSEWAY_BROKER_BINARY,
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0", "--data-dir",
                                 dir_.sub("data"), "--max-frame-bytes", "64KiB"});
    ASSERT_TRUE(broker_->wait_for_output("causeway-broker ready", 30s)) << broker_->output();
    const std::string out = broker_->output();
    const std::string listen = "listening on ";
    const std::string reg = "registry listening on http://";
    const auto at = out.find(listen);
    broker_addr_ = out.substr(at + listen.size(), out.find_first_not_of("0123456789.:", at + listen.size()) - at -
                                                      listen.size());
    const auto r = out.find(reg);
    registry_addr_ = out.substr(r + reg.size(), out.find_first_of(" \n", r + reg.size()) - r - reg.size());
    ASSERT_FALSE(broker_addr_.empty()) << out;
    ASSERT_FALSE(registry_addr_.empty()) << out;
  }
  void TearDown() override { EXPECT_TRUE(testing::stops_cleanly(*broker_)); }

  CliRun cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--broker", broker_addr_, "--registry", "http://" + registry_addr_});
    return run_cli(args);
  }
  CliRun publish(const std::string& topic, const std::string& lines) {
    const std::string path = dir_.sub("input-" + std::to_string(++inputs_) + ".jsonl");
    std::ofstream(path) << lines;
    return cli({"publish", topic, "--file", path});
  }
  // Payloads stored in `topic`, all partitions, in partition then offset order.
  std::vector<std::string> stored(const std::string& topic) {
    client::ClientOptions options;
    options.broker = broker_addr_;
    auto admin = client::Admin::connect(options);
    EXPECT_TRUE(admin.ok());
    std::vector<std::string> out;
    if (!admin.ok()) return out;
    auto t = (*admin)->describe_topic(topic);
    EXPECT_TRUE(t.ok());
    if (!t.ok()) return out;
    for (uint32_t p = 0; p < t->spec.partitions; ++p) {
      auto f = (*admin)->fetch(topic, p, 0, 1000);
      EXPECT_TRUE(f.ok());
      if (f.ok())
        for (const auto& e : f->events) out.push_back(e.payload);
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<DaemonProcess> broker_;
  std::string broker_addr_;
  std::string registry_addr_;
  int inputs_ = 0;
};

// ---------------------------------------------------------------- the publish contract

TEST_F(CliFrontDoor, PublishAttemptsEveryLineAndNamesEachOutcomesInputLine) {
  ASSERT_EQ(cli({"topic", "create", "orders", "--partitions", "4"}).exit_code, 0);
  const std::string big(70000, 'x');  // over the broker's 64 KiB frames
  auto r = publish("orders", R"({"data":"one","partition":0})"
                             "\n"
                             R"({"data":"two","partition":7})"
                             "\n\n"
                             R"({"data":"four","partition":1})"
                             "\n" +
                                 json{{"data", big}}.dump() + "\n" + R"({"data":"six","partition":2})" "\n");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const auto lines = r.objects();
  ASSERT_EQ(lines.size(), 5u) << r.output;  // the blank line 3 has no outcome
  // In input order, each naming its line.
  const std::vector<int> numbers = {1, 2, 4, 5, 6};
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i].value("line", 0), numbers[i]) << r.output;
  EXPECT_TRUE(lines[0].contains("offset")) << r.output;
  EXPECT_THAT(lines[1].value("error", ""), HasSubstr("partition")) << r.output;
  EXPECT_THAT(lines[1].value("error", ""), HasSubstr("4 partition(s)")) << r.output;
  EXPECT_TRUE(lines[2].contains("offset")) << r.output;
  EXPECT_THAT(lines[3].value("error", ""), HasSubstr("max_frame_bytes")) << r.output;
  EXPECT_TRUE(lines[4].contains("offset")) << r.output;
  // Everything but lines 2 and 5 is stored, once; the summary says which lines to redo.
  auto payloads = stored("orders");
  std::sort(payloads.begin(), payloads.end());
  EXPECT_EQ(payloads, (std::vector<std::string>{"four", "one", "six"}));
  EXPECT_THAT(r.output, HasSubstr("2 line(s) failed (line 2,5), 3 stored"));
  EXPECT_THAT(r.output, HasSubstr("publish only the failed lines again"));
}

TEST_F(CliFrontDoor, PublishOfGoodLinesExitsZeroWithOneAckPerLine) {
  ASSERT_EQ(cli({"topic", "create", "plain"}).exit_code, 0);
  auto r = publish("plain", R"({"data":"a","dedup_key":"k1"})" "\n" R"({"data":"a","dedup_key":"k1"})" "\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto acks = r.objects();
  ASSERT_EQ(acks.size(), 2u) << r.output;
  EXPECT_EQ(acks[0].value("line", 0), 1) << r.output;
  EXPECT_EQ(acks[1].value("line", 0), 2) << r.output;
  EXPECT_EQ(acks[1].value("duplicate", false), true) << r.output;
  EXPECT_EQ(stored("plain").size(), 1u);
}

TEST_F(CliFrontDoor, BadJsonSaysWhereItStoppedAndThatInputIsOneObjectPerLine) {
  ASSERT_EQ(cli({"topic", "create", "plain"}).exit_code, 0);
  auto r = publish("plain", "{\"data\": \"x\",\n\"key\":\"k\"}\n");  // one object over two lines
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("line 1: not valid JSON at column 14"));
  EXPECT_THAT(r.output, HasSubstr("one whole JSON object"));
  EXPECT_TRUE(stored("plain").empty());
}

TEST_F(CliFrontDoor, RepeatedDataKeyIsRefusedInsteadOfKeepingOneSilently) {
  ASSERT_EQ(cli({"topic", "create", "plain"}).exit_code, 0);
  auto r = publish("plain", R"({"data":"first","data":"second"})" "\n");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"data\" appears twice"));
  EXPECT_THAT(r.output, HasSubstr("1 line(s) failed (line 1), none stored"));
  EXPECT_TRUE(stored("plain").empty());
}

// ---------------------------------------------------------------- usage errors

TEST_F(CliFrontDoor, UsageErrorsExitTwoNamingTheBadToken) {
  auto typo = cli({"topc", "list"});
  EXPECT_EQ(typo.exit_code, 2) << typo.output;
  EXPECT_THAT(typo.output, HasSubstr("unknown command \"topc\""));
  EXPECT_THAT(typo.output, HasSubstr("topic"));

  auto sub_typo = cli({"topic", "lst"});
  EXPECT_EQ(sub_typo.exit_code, 2) << sub_typo.output;
  EXPECT_THAT(sub_typo.output, HasSubstr("unknown command \"lst\" for causeway topic"));

  auto not_a_number = cli({"topic", "create", "t", "--partitions", "abc"});
  EXPECT_EQ(not_a_number.exit_code, 2) << not_a_number.output;
  EXPECT_THAT(not_a_number.output, HasSubstr("--partitions: \"abc\" is not a number"));

  auto out_of_range = cli({"topic", "create", "t", "--partitions", "0"});
  EXPECT_EQ(out_of_range.exit_code, 2) << out_of_range.output;
  EXPECT_THAT(out_of_range.output, HasSubstr("out of range (1 to 10000)"));

  auto duration = cli({"topic", "create", "t", "--retention", "5"});
  EXPECT_EQ(duration.exit_code, 2) << duration.output;
  EXPECT_THAT(duration.output, HasSubstr("--retention: invalid duration \"5\": missing unit"));
  auto size = cli({"topic", "create", "t", "--segment-bytes", "lots"});
  EXPECT_EQ(size.exit_code, 2) << size.output;
  EXPECT_THAT(size.output, HasSubstr("--segment-bytes"));
  auto from = cli({"subscribe", "t", "--group", "g", "--from", "yesterday"});
  EXPECT_EQ(from.exit_code, 2) << from.output;
  EXPECT_THAT(from.output, HasSubstr("--from: start position \"yesterday\""));

  auto missing = cli({"fetch", "t"});
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("--partition"));

  auto extra = cli({"topic", "list", "surplus"});
  EXPECT_EQ(extra.exit_code, 2) << extra.output;
  EXPECT_THAT(extra.output, HasSubstr("surplus"));

  auto unknown_flag = cli({"topic", "list", "--colour"});
  EXPECT_EQ(unknown_flag.exit_code, 2) << unknown_flag.output;
  EXPECT_THAT(unknown_flag.output, HasSubstr("--colour"));

  auto help = cli({"topic", "create", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.output;
}

// ---------------------------------------------------------------- wrong ports

TEST_F(CliFrontDoor, BrokerFlagPointingAtAnHttpServerSaysItIsNotABroker) {
  auto r = run_cli({"--broker", registry_addr_, "topic", "list"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("answered in HTTP, so it is not a Causeway broker"));
  EXPECT_THAT(r.output, Not(HasSubstr("frame length")));
}

TEST_F(CliFrontDoor, RegistryFlagPointingAtTheBrokerSaysItIsNotARegistry) {
  auto r = run_cli({"--registry", "http://" + broker_addr_, "schema", "list"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("not a schema registry"));
  EXPECT_THAT(r.output, Not(HasSubstr(": Read")));
}

// ---------------------------------------------------------------- fetch

TEST_F(CliFrontDoor, FetchPastTheEndSaysWhereThePartitionEnds) {
  ASSERT_EQ(cli({"topic", "create", "plain"}).exit_code, 0);
  ASSERT_EQ(publish("plain", R"({"data":"a"})" "\n" R"({"data":"b"})" "\n").exit_code, 0);
  auto r = cli({"fetch", "plain", "--partition", "0", "--offset", "99"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(r.objects().empty()) << r.output;
  EXPECT_THAT(r.output, HasSubstr("holds offsets 0 to 1"));
  EXPECT_THAT(r.output, HasSubstr("--offset 99 is at or past its end (2)"));
  auto empty = cli({"fetch", "plain", "--partition", "0", "--offset", "2"});
  EXPECT_THAT(empty.output, HasSubstr("at or past its end"));
  auto inside = cli({"fetch", "plain", "--partition", "0", "--offset", "1"});
  ASSERT_EQ(inside.objects().size(), 1u) << inside.output;
  EXPECT_THAT(inside.output, Not(HasSubstr("nothing to print")));
}

}  // namespace
}  // namespace causeway
