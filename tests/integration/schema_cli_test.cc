// The real `causeway` binary against a real causeway-broker with its embedded registry
// (docs/registry.md, "JSON payloads in the CLI"): on a schema-bound topic `publish` encodes a
// "data" JSON object to FlatBuffers with the subject's schema, and `fetch` and `subscribe`
// print it back as the same JSON object; a line that does not match the schema fails with its
// line number and is not stored (the other lines are, and the run exits 1). Also the guards
// between topics and subjects: a topic cannot be bound to a missing subject, and a bound
// subject cannot be deleted without --force; and the words of `schema check` and `config`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "causeway/client/admin.h"
#include "causeway/client/registry_client.h"
#include "tests/integration/cli_run.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace causeway {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;
using testing::DaemonProcess;

using testing::CliRun;
using testing::run_cli;

constexpr const char* kOrderV1 =
    "namespace shop;\n"
    "enum Channel : byte { Web, Store }\n"
    "table Order { id:ulong; amount:int; note:string; tags:[string]; channel:Channel; }\n"
    "root_type Order;\n";
constexpr const char* kOrderV2 =
    "namespace shop;\n"
    "enum Channel : byte { Web, Store }\n"
    "table Order { id:ulong; amount:int; note:string; tags:[string]; channel:Channel; coupon:string; }\n"
    "root_type Order;\n";

class SchemaCli : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<DaemonProcess>(
        CAUSEWAY_BROKER_BINARY,
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0", "--data-dir", dir_.sub("data")});
    const std::string listen = "listening on ";
    const std::string reg = "registry listening on ";
    // main.cc logs the wire address first, then the registry's, then "ready".
    ASSERT_TRUE(broker_->wait_for_output("causeway-broker ready", 30s)) << broker_->output();
    const std::string out = broker_->output();
    const auto at = out.find(listen);
    const auto end = out.find_first_not_of("0123456789.:", at + listen.size());
    broker_addr_ = out.substr(at + listen.size(), end - at - listen.size());
    ASSERT_FALSE(broker_addr_.empty()) << out;
    const auto r = out.find(reg);
    registry_url_ = out.substr(r + reg.size(), out.find_first_of(" \n", r + reg.size()) - r - reg.size());
    ASSERT_EQ(registry_url_.rfind("http://", 0), 0u) << out;

    auto registry = client::RegistryClient::create({.url = registry_url_});
    ASSERT_TRUE(registry.ok());
    registry_ = std::move(*registry);
    auto v1 = registry_->register_schema("orders-value", kOrderV1, "");
    ASSERT_TRUE(v1.ok()) << v1.error().to_string();
    v1_id_ = v1->id;
    auto created = cli({"topic", "create", "orders", "--schema-subject", "orders-value", "--validate", "full"});
    ASSERT_EQ(created.exit_code, 0) << created.output;
  }
  void TearDown() override { broker_.reset(); }  // before dir_ is removed

  CliRun cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--broker", broker_addr_, "--registry", registry_url_});
    return run_cli(args);
  }
  CliRun publish(const std::string& lines, std::vector<std::string> extra = {}) {
    const std::string path = dir_.sub("input-" + std::to_string(++inputs_) + ".jsonl");
    std::ofstream(path) << lines;
    std::vector<std::string> args = {"publish", "orders", "--file", path};
    args.insert(args.end(), extra.begin(), extra.end());
    return cli(args);
  }
  uint64_t stored_events() {
    client::ClientOptions options;
    options.broker = broker_addr_;
    auto admin = client::Admin::connect(options);
    EXPECT_TRUE(admin.ok());
    if (!admin.ok()) return 0;
    auto t = (*admin)->describe_topic("orders");
    EXPECT_TRUE(t.ok());
    return t.ok() ? t->partitions.at(0).high_watermark : 0;
  }

  testing::TempDir dir_;
  std::unique_ptr<DaemonProcess> broker_;
  std::string broker_addr_;
  std::string registry_url_;
  std::unique_ptr<client::RegistryClient> registry_;
  int v1_id_ = 0;
  int inputs_ = 0;
};

TEST_F(SchemaCli, JsonObjectRoundTripsThroughFetchAndSubscribe) {
  const json data = {{"id", 18446744073709551615ull},
                     {"amount", -250},
                     {"note", "größer \"quoted\""},
                     {"tags", {"a", "b"}},
                     {"channel", "Web"}};  // the default value, given explicitly
  const json line = {{"key", "customer-1"}, {"data", data}};
  auto pub = publish(line.dump() + "\n");
  ASSERT_EQ(pub.exit_code, 0) << pub.output;
  ASSERT_EQ(pub.objects().size(), 1u) << pub.output;
  EXPECT_EQ(pub.objects()[0]["offset"], 0);

  auto fetched = cli({"fetch", "orders", "--partition", "0"});
  ASSERT_EQ(fetched.exit_code, 0) << fetched.output;
  ASSERT_EQ(fetched.objects().size(), 1u) << fetched.output;
  const json f = fetched.objects()[0];
  EXPECT_EQ(f["data"], data) << fetched.output;
  EXPECT_EQ(f["schema_id"], v1_id_);
  EXPECT_EQ(f["key"], "customer-1");
  EXPECT_THAT(fetched.output, Not(HasSubstr("note:")));

  auto subscribed = cli({"subscribe", "orders", "--group", "billing", "--from", "earliest", "--max", "1", "--timeout", "20s"});
  ASSERT_EQ(subscribed.exit_code, 0) << subscribed.output;
  ASSERT_EQ(subscribed.objects().size(), 1u) << subscribed.output;
  EXPECT_EQ(subscribed.objects()[0]["data"], data) << subscribed.output;
  EXPECT_EQ(subscribed.objects()[0]["schema_id"], v1_id_);

  // --raw prints the stored bytes, not the object.
  auto raw = cli({"fetch", "orders", "--partition", "0", "--raw"});
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  ASSERT_EQ(raw.objects().size(), 1u);
  EXPECT_FALSE(raw.objects()[0].contains("data") && raw.objects()[0]["data"].is_object()) << raw.output;
}

TEST_F(SchemaCli, SchemaVersionPicksAnOlderVersionAndTheLatestIsTheDefault) {
  auto v2 = registry_->register_schema("orders-value", kOrderV2, "");
  ASSERT_TRUE(v2.ok()) << v2.error().to_string();
  ASSERT_NE(v2->id, v1_id_);

  auto latest = publish(R"({"data":{"id":1,"coupon":"SPRING"}})" "\n");
  ASSERT_EQ(latest.exit_code, 0) << latest.output;
  auto older = publish(R"({"data":{"id":2,"amount":3}})" "\n", {"--schema-version", "1"});
  ASSERT_EQ(older.exit_code, 0) << older.output;
  // Version 1 has no "coupon": the older version is really the one encoding.
  auto refused = publish(R"({"data":{"id":3,"coupon":"X"}})" "\n", {"--schema-version", "1"});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("coupon"));

  auto fetched = cli({"fetch", "orders", "--partition", "0"});
  ASSERT_EQ(fetched.exit_code, 0) << fetched.output;
  const auto events = fetched.objects();
  ASSERT_EQ(events.size(), 2u) << fetched.output;
  EXPECT_EQ(events[0]["schema_id"], v2->id);
  EXPECT_EQ(events[0]["data"], json({{"id", 1}, {"coupon", "SPRING"}}));
  EXPECT_EQ(events[1]["schema_id"], v1_id_);
  EXPECT_EQ(events[1]["data"], json({{"id", 2}, {"amount", 3}}));

  auto missing = publish(R"({"data":{"id":4}})" "\n", {"--schema-version", "9"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("40402"));
}

// A topic whose schema includes a file of shared types (docs/registry.md, "References"): the
// broker verifies payloads against the resolved schema, and the CLI encodes and decodes JSON
// with it, fetching the referenced version from the registry.
TEST_F(SchemaCli, ATopicWhoseSchemaIncludesASharedFileTakesAndPrintsJson) {
  auto money = registry_->register_schema("common-money",
                                          "namespace common;\nenum Currency : byte { EUR, USD }\n"
                                          "table Money { units:long; currency:Currency; }\n",
                                          "");
  ASSERT_TRUE(money.ok()) << money.error().to_string();
  auto payment = registry_->register_schema(
      "payments-value",
      "include \"money.fbs\";\nnamespace pay;\ntable Payment { id:ulong; amount:common.Money; memo:string; }\n"
      "root_type Payment;\n",
      "", {{"money.fbs", "common-money", 1}});
  ASSERT_TRUE(payment.ok()) << payment.error().to_string();
  ASSERT_EQ(cli({"topic", "create", "payments", "--schema-subject", "payments-value", "--validate", "full"}).exit_code, 0);

  const json data = {{"id", 7}, {"amount", {{"units", 1250}, {"currency", "USD"}}}, {"memo", "refund"}};
  const std::string path = dir_.sub("payments.jsonl");
  std::ofstream(path) << json({{"key", "p-7"}, {"data", data}}).dump() << "\n";
  auto pub = cli({"publish", "payments", "--file", path});
  ASSERT_EQ(pub.exit_code, 0) << pub.output;
  ASSERT_EQ(pub.objects().size(), 1u) << pub.output;

  auto fetched = cli({"fetch", "payments", "--partition", "0"});
  ASSERT_EQ(fetched.exit_code, 0) << fetched.output;
  ASSERT_EQ(fetched.objects().size(), 1u) << fetched.output;
  EXPECT_EQ(fetched.objects()[0]["schema_id"], payment->id);
  EXPECT_EQ(fetched.objects()[0]["data"], data) << fetched.output;

  // A field of the included type that does not match is the parser's error, as for any other.
  std::ofstream(path) << R"({"data":{"id":8,"amount":{"units":1,"currency":"GBP"}}})" "\n";
  auto bad = cli({"publish", "payments", "--file", path});
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("GBP"));

  // The shared file has no root type: no event can be written with its id.
  std::ofstream(path) << json({{"data", "raw"}, {"schema_id", money->id}}).dump() << "\n";
  auto shared_id = cli({"publish", "payments", "--file", path});
  EXPECT_EQ(shared_id.exit_code, 1) << shared_id.output;
  EXPECT_THAT(shared_id.output, HasSubstr("has no root type"));
  ASSERT_EQ(cli({"topic", "create", "money", "--schema-subject", "common-money"}).exit_code, 0);
  std::ofstream(dir_.sub("input-money.jsonl")) << R"({"data":{"units":1}})" "\n";
  auto as_object = cli({"publish", "money", "--file", dir_.sub("input-money.jsonl")});
  EXPECT_EQ(as_object.exit_code, 1) << as_object.output;
  EXPECT_THAT(as_object.output, HasSubstr("no root type"));
}

TEST_F(SchemaCli, UnknownFieldFailsItsLineOnlyAndExitsOne) {
  auto r = publish(R"({"data":{"id":1}})" "\n\n" R"({"data":{"id":2,"colour":"red"}})" "\n" R"({"data":{"id":3}})" "\n");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("line 3"));
  EXPECT_THAT(r.output, HasSubstr("unknown field"));
  EXPECT_THAT(r.output, HasSubstr("colour"));
  const auto outcomes = r.objects();
  ASSERT_EQ(outcomes.size(), 3u) << r.output;  // lines 1, 3 and 4; line 2 is blank
  EXPECT_TRUE(outcomes[0].contains("offset"));
  EXPECT_EQ(outcomes[1].value("line", 0), 3);
  EXPECT_TRUE(outcomes[1].contains("error"));
  EXPECT_EQ(outcomes[2].value("line", 0), 4);
  EXPECT_EQ(stored_events(), 2u);
}

TEST_F(SchemaCli, WrongTypeNamesTheFieldAndTheTypeTheSchemaExpects) {
  auto r = publish(R"({"data":{"id":1,"amount":"lots"}})" "\n");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("line 1"));
  EXPECT_THAT(r.output, HasSubstr("does not match schema shop.Order"));
  EXPECT_THAT(r.output, HasSubstr("field \"amount\" of shop.Order is a int (a JSON integer), got the string \"lots\""));
  EXPECT_THAT(r.output, Not(HasSubstr("qualified by an enum type")));
  auto not_object = publish(R"({"data":{"tags":"a"}})" "\n");
  EXPECT_EQ(not_object.exit_code, 1) << not_object.output;
  EXPECT_THAT(not_object.output, HasSubstr("line 1"));
  EXPECT_EQ(stored_events(), 0u);
}

TEST_F(SchemaCli, JsonObjectOnATopicWithoutSubjectIsRefusedAndStringsStillWork) {
  ASSERT_EQ(cli({"topic", "create", "plain"}).exit_code, 0);
  const std::string path = dir_.sub("plain.jsonl");
  std::ofstream(path) << R"({"data":"hello"})" "\n" R"({"data":{"a":1}})" "\n";
  auto r = cli({"publish", "plain", "--file", path});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("line 2"));
  EXPECT_THAT(r.output, HasSubstr("not bound to a schema subject"));
  auto fetched = cli({"fetch", "plain", "--partition", "0"});
  ASSERT_EQ(fetched.objects().size(), 1u) << fetched.output;
  EXPECT_EQ(fetched.objects()[0]["data"], "hello");
  auto pinned = cli({"publish", "plain", "--file", path, "--schema-version", "1"});
  EXPECT_EQ(pinned.exit_code, 1);
  EXPECT_THAT(pinned.output, HasSubstr("--schema-version needs a topic bound"));
}

TEST_F(SchemaCli, UnreachableRegistryPrintsPayloadsAsStoredAndSaysSoOnce) {
  ASSERT_EQ(publish(R"({"data":{"id":1}})" "\n" R"({"data":{"id":2}})" "\n").exit_code, 0);
  CliRun r = run_cli({"--broker", broker_addr_, "--registry", "http://127.0.0.1:1", "fetch", "orders", "--partition", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto events = r.objects();
  ASSERT_EQ(events.size(), 2u) << r.output;
  for (const auto& e : events) EXPECT_FALSE(e.contains("data") && e["data"].is_object()) << r.output;
  const std::string note = "printed as stored, not decoded";
  const auto first = r.output.find(note);
  ASSERT_NE(first, std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(note, first + 1), std::string::npos) << r.output;
}

TEST_F(SchemaCli, PayloadThatDoesNotVerifyFallsBackAndSaysSo) {
  // A topic bound by id only takes any bytes with the right schema id.
  ASSERT_EQ(cli({"topic", "create", "loose", "--schema-subject", "orders-value"}).exit_code, 0);
  const std::string path = dir_.sub("loose.jsonl");
  std::ofstream(path) << json({{"data", "not a flatbuffer"}, {"schema_id", v1_id_}}).dump() << "\n";
  ASSERT_EQ(cli({"publish", "loose", "--file", path}).exit_code, 0);
  auto r = cli({"fetch", "loose", "--partition", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(r.objects().size(), 1u) << r.output;
  EXPECT_EQ(r.objects()[0]["data"], "not a flatbuffer");
  EXPECT_THAT(r.output, HasSubstr("not decoded"));
}

TEST_F(SchemaCli, StringDataOnABoundTopicPublishesWithoutTheRegistryAndObjectsSayItIsUnreachable) {
  const std::string path = dir_.sub("bytes.jsonl");
  std::ofstream(path) << json({{"data", "already encoded elsewhere"}, {"schema_id", v1_id_}}).dump() << "\n";
  ASSERT_EQ(cli({"topic", "create", "loose", "--schema-subject", "orders-value"}).exit_code, 0);
  const std::vector<std::string> down = {"--broker", broker_addr_, "--registry", "http://127.0.0.1:1", "publish", "loose",
                                         "--file"};
  auto run = [&](const std::string& file) {
    std::vector<std::string> args = down;
    args.push_back(file);
    return run_cli(args);
  };
  auto bytes = run(path);
  EXPECT_EQ(bytes.exit_code, 0) << bytes.output;
  const std::string object = dir_.sub("object.jsonl");
  std::ofstream(object) << R"({"data":{"id":1}})" "\n";
  auto refused = run(object);
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("line 1"));
  EXPECT_THAT(refused.output, HasSubstr("is the registry running at http://127.0.0.1:1"));
  // The line's JSON outcome names the typed reason for programs.
  EXPECT_THAT(refused.output, HasSubstr(R"("reason":"registry_unreachable")"));
}

TEST_F(SchemaCli, TopicCannotBeBoundToASubjectThatDoesNotExist) {
  auto r = cli({"topic", "create", "typo", "--schema-subject", "order-value"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("schema subject \"order-value\" does not exist"));
  EXPECT_THAT(r.output, HasSubstr("causeway schema register order-value"));
  EXPECT_EQ(cli({"topic", "describe", "typo"}).exit_code, 1);
  // Unreachable registry: refused too, saying how to go on without the check.
  auto down = run_cli({"--broker", broker_addr_, "--registry", "http://127.0.0.1:1", "topic", "create", "later",
                       "--schema-subject", "orders-value"});
  EXPECT_EQ(down.exit_code, 1) << down.output;
  EXPECT_THAT(down.output, HasSubstr("--no-subject-check"));
  auto unchecked = run_cli({"--broker", broker_addr_, "--registry", "http://127.0.0.1:1", "topic", "create", "later",
                            "--schema-subject", "elsewhere-value", "--no-subject-check"});
  EXPECT_EQ(unchecked.exit_code, 0) << unchecked.output;
}

TEST_F(SchemaCli, DeletingASubjectATopicIsBoundToIsRefusedNamingTheTopicUnlessForced) {
  auto refused = cli({"schema", "delete", "orders-value"});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("topic(s) orders are bound to subject orders-value"));
  EXPECT_THAT(refused.output, HasSubstr("--force"));
  // Its only version counts as the subject.
  auto version = cli({"schema", "delete", "orders-value", "--version", "1"});
  EXPECT_EQ(version.exit_code, 1) << version.output;
  EXPECT_THAT(version.output, HasSubstr("bound to subject orders-value"));
  // Nothing was deleted: publishing still works.
  ASSERT_EQ(publish(R"({"data":{"id":1}})" "\n").exit_code, 0);
  // A subject no topic is bound to deletes as before; --force deletes a bound one.
  ASSERT_TRUE(registry_->register_schema("free-value", kOrderV1, "").ok());
  EXPECT_EQ(cli({"schema", "delete", "free-value"}).exit_code, 0);
  auto forced = cli({"schema", "delete", "orders-value", "--force"});
  EXPECT_EQ(forced.exit_code, 0) << forced.output;
}

TEST_F(SchemaCli, CheckNamesTheModeItAppliedAndConfigSaysWhenTheModeIsInherited) {
  const std::string v2 = dir_.sub("v2.fbs");
  std::ofstream(v2) << kOrderV2;
  auto check = cli({"schema", "check", "orders-value", "--file", v2});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("the global compatibility mode BACKWARD, which it inherits"));

  auto inherited = cli({"schema", "config", "orders-value"});
  EXPECT_EQ(inherited.exit_code, 0) << inherited.output;
  ASSERT_EQ(inherited.objects().size(), 1u) << inherited.output;
  EXPECT_EQ(inherited.objects()[0].value("compatibilityLevel", ""), "BACKWARD");
  EXPECT_EQ(inherited.objects()[0].value("inheritedFrom", ""), "global");
  EXPECT_THAT(inherited.output, HasSubstr("has no compatibility mode of its own"));

  ASSERT_EQ(cli({"schema", "config", "orders-value", "--set", "FULL"}).exit_code, 0);
  auto own = cli({"schema", "config", "orders-value"});
  ASSERT_EQ(own.objects().size(), 1u) << own.output;
  EXPECT_EQ(own.objects()[0].value("compatibilityLevel", ""), "FULL");
  EXPECT_FALSE(own.objects()[0].contains("inheritedFrom")) << own.output;
  auto checked = cli({"schema", "check", "orders-value", "--file", v2});
  EXPECT_THAT(checked.output, HasSubstr("its compatibility mode FULL"));

  // A bad mode: the valid ones are listed once, not twice.
  auto bogus = cli({"schema", "config", "orders-value", "--set", "bogus"});
  EXPECT_EQ(bogus.exit_code, 1) << bogus.output;
  const auto first = bogus.output.find("FULL_TRANSITIVE");
  ASSERT_NE(first, std::string::npos) << bogus.output;
  EXPECT_EQ(bogus.output.find("FULL_TRANSITIVE", first + 1), std::string::npos) << bogus.output;
}

TEST_F(SchemaCli, AnInvalidSchemaWithoutAPositionIsNotSaidToHaveOne) {
  const std::string path = dir_.sub("noroot.fbs");
  std::ofstream(path) << "namespace shop;\ntable Order { id:ulong; }\n";
  auto r = cli({"schema", "register", "other-value", "--file", path, "--root-type", "shop.Nope"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("42201"));
  EXPECT_THAT(r.output, Not(HasSubstr("line and column are above")));
}

TEST(SchemaCliHelp, PublishFetchAndSubscribeHelpDescribeJsonPayloads) {
  for (const char* cmd : {"publish", "fetch", "subscribe"}) {
    CliRun r = run_cli({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_THAT(r.output, HasSubstr("schema")) << cmd;
    EXPECT_THAT(r.output, HasSubstr(std::string(cmd) == "publish" ? "--schema-version" : "--raw")) << cmd;
  }
}

}  // namespace
}  // namespace causeway
