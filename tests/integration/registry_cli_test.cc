// The real `causeway` binary against a real causeway-registry: register prints
// {"id":N,"version":V}, check exits 0 when compatible and 1 listing every violation, and a
// registry that is not running gets a message saying how to start one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>

#include "tests/integration/cli_run.h"
#include "tests/integration/registry_daemon.h"
#include "tests/support/temp_dir.h"

namespace causeway {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::DaemonProcess;
using testing::RegistryDaemon;

using testing::CliRun;
using testing::run_cli;

class RegistryCli : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<RegistryDaemon>(dir_.sub("registry"));
    ASSERT_TRUE(daemon_->started()) << daemon_->process().output();
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_.sub(name);
    std::ofstream(path) << text;
    return path;
  }
  // A registry alone, no broker: deletes pass --force, which skips asking a broker which
  // topics are bound to the subject (SchemaCli tests that check with a real broker).
  CliRun schema(std::vector<std::string> args) {
    if (!args.empty() && args[0] == "delete") args.push_back("--force");
    args.insert(args.begin(), {"--registry", daemon_->url(), "schema"});
    return run_cli(args);
  }

  causeway::testing::TempDir dir_;
  std::unique_ptr<RegistryDaemon> daemon_;
};

TEST_F(RegistryCli, RegisterThenCheckIncompatibleExitsOneListingEveryViolation) {
  const auto v1 = write("v1.fbs", "namespace shop;\ntable Order { id:ulong; amount:int; }\nroot_type Order;\n");
  const auto v2 = write("v2.fbs", "namespace shop;\ntable Order { id:ulong; amount:int; note:string; }\n");
  const auto bad = write("bad.fbs", "namespace shop;\ntable Order { id:uint; amount:long; }\n");

  auto reg = schema({"register", "orders", "--file", v1, "--root-type", "Order"});
  EXPECT_EQ(reg.exit_code, 0) << reg.output;
  EXPECT_EQ(reg.output, "{\"id\":1,\"version\":1}\n");

  auto ok = schema({"check", "orders", "--file", v2, "--root-type", "Order"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("compatible"));

  auto no = schema({"check", "orders", "--file", bad, "--root-type", "Order"});
  EXPECT_EQ(no.exit_code, 1) << no.output;
  EXPECT_THAT(no.output, HasSubstr("2 violation(s)"));
  EXPECT_THAT(no.output, HasSubstr("shop.Order.amount (id 1): type changed from int to long"));
  EXPECT_THAT(no.output, HasSubstr("shop.Order.id (id 0): type changed from ulong to uint"));

  auto refused = schema({"register", "orders", "--file", bad, "--root-type", "Order"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr("error 409"));

  auto reg2 = schema({"register", "orders", "--file", v2, "--root-type", "Order"});
  EXPECT_EQ(reg2.output, "{\"id\":2,\"version\":2}\n");
  EXPECT_EQ(schema({"versions", "orders"}).output, "[1,2]\n");
  EXPECT_EQ(schema({"list"}).output, "[\"orders\"]\n");
  EXPECT_THAT(schema({"get", "orders", "--version", "1"}).output, HasSubstr("\"id\":1"));
  EXPECT_EQ(schema({"get", "--id", "2", "--fbs"}).output, "namespace shop;\ntable Order { id:ulong; amount:int; note:string; }\n");
  EXPECT_EQ(schema({"config", "orders", "--set", "FULL"}).output, "{\"compatibility\":\"FULL\"}\n");
  EXPECT_EQ(schema({"config", "orders"}).output, "{\"compatibilityLevel\":\"FULL\"}\n");
  auto hard_first = schema({"delete", "orders", "--permanent"});
  EXPECT_EQ(hard_first.exit_code, 1);
  EXPECT_THAT(hard_first.output, HasSubstr("without --permanent first"));
  EXPECT_EQ(schema({"delete", "orders", "--version", "2"}).output, "2\n");
  EXPECT_EQ(schema({"delete", "orders"}).output, "[1]\n");
  EXPECT_EQ(schema({"delete", "orders", "--permanent"}).output, "[1,2]\n");
  EXPECT_EQ(schema({"list", "--deleted"}).output, "[]\n");
}

TEST_F(RegistryCli, UnparsableSchemaNamesTheLine) {
  const auto broken = write("broken.fbs", "table T {\n  a:int\n  b:int;\n}\n");
  auto r = schema({"register", "s", "--file", broken, "--root-type", "T"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("line 3"));
  EXPECT_THAT(r.output, HasSubstr("42201"));
}

TEST_F(RegistryCli, ReferenceFlagsResolveIncludesAndReferencedByListsTheReferrers) {
  const auto money = write("money.fbs", "namespace common;\ntable Money { units:long; currency:string; }\n");
  const auto order = write("order.fbs",
                           "include \"money.fbs\";\nnamespace shop;\ntable Order { id:ulong; total:common.Money; }\n"
                           "root_type Order;\n");
  EXPECT_EQ(schema({"register", "common-money", "--file", money}).output, "{\"id\":1,\"version\":1}\n");
  auto unmatched = schema({"register", "shop-order", "--file", order});
  EXPECT_EQ(unmatched.exit_code, 1);
  EXPECT_THAT(unmatched.output, HasSubstr("no reference is named \"money.fbs\""));
  EXPECT_THAT(unmatched.output, HasSubstr("42201"));
  auto reg = schema({"register", "shop-order", "--file", order, "--reference", "money.fbs=common-money:1"});
  EXPECT_EQ(reg.exit_code, 0) << reg.output;
  EXPECT_EQ(reg.output, "{\"id\":2,\"version\":1}\n");
  EXPECT_THAT(schema({"get", "shop-order"}).output,
              HasSubstr("\"references\":[{\"name\":\"money.fbs\",\"subject\":\"common-money\",\"version\":1}]"));
  EXPECT_EQ(schema({"referencedby", "common-money"}).output, "[2]\n");
  EXPECT_EQ(schema({"referencedby", "common-money", "--version", "1"}).output, "[2]\n");
  auto ok = schema({"check", "shop-order", "--file", order, "--reference", "money.fbs=common-money:1"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  auto refused = schema({"delete", "common-money", "--version", "1"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr("42206"));
  EXPECT_THAT(refused.output, HasSubstr("causeway schema referencedby"));
}

TEST_F(RegistryCli, AMalformedReferenceFlagIsBadUsage) {
  const auto order = write("order.fbs", "include \"m.fbs\";\ntable T { a:int; }\nroot_type T;\n");
  for (const char* bad : {"m.fbs", "=s:1", "m.fbs=s", "m.fbs=s:x", "m.fbs=s:0", "m.fbs=:1"}) {
    auto r = schema({"register", "s", "--file", order, "--reference", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("expected NAME=SUBJECT:VERSION")) << bad;
  }
}

TEST(RegistryCliWithoutRegistry, SaysHowToStartOne) {
  auto r = run_cli({"--registry", "http://127.0.0.1:1", "schema", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("is the registry running"));
  EXPECT_THAT(r.output, HasSubstr("causeway-registry"));
}

TEST(RegistryCliHelp, EverySchemaCommandHasHelp) {
  for (const char* cmd : {"register", "check", "get", "list", "versions", "referencedby", "config", "delete"}) {
    auto r = run_cli({"schema", cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_THAT(r.output, HasSubstr("Usage")) << cmd;
  }
}

}  // namespace
}  // namespace causeway
