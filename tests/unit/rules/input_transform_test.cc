// Input paths and templates for rule targets (EventBridge's InputPath and
// InputTransformer), with EventBridge's documented examples and quoting rules.
#include "rules/input_transform.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace causeway::rules {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

const json kEvent = json::parse(R"({
  "topic": "ec2", "source": "aws.ec2", "type": "EC2 Instance State-change Notification",
  "time": "2026-12-05T10:00:00.000Z",
  "data": {"instance": "i-0123456789", "status": "RUNNING", "cpu": 2, "tags": ["a", "b"],
           "order": {"id": 7, "lines": [{"sku": "x"}, {"sku": "y"}]}}
})");

std::string apply(const std::string& path, const std::map<std::string, std::string>& paths, const std::string& tpl) {
  auto t = InputTransform::create(path, paths, tpl);
  EXPECT_TRUE(t.ok()) << t.error().to_string();
  return t.ok() ? (*t)->apply(kEvent, "my-rule") : "";
}

const std::map<std::string, std::string> kPaths = {{"instance", "$.data.instance"}, {"status", "$.data.status"}};

TEST(InputTransform, EventBridgesDocumentedTextAndJsonTemplates) {
  EXPECT_EQ(apply("", kPaths, "<instance> is in state <status>"), "i-0123456789 is in state RUNNING");
  EXPECT_EQ(apply("", kPaths, R"(<instance> is in state "<status>")"), R"(i-0123456789 is in state "RUNNING")");
  const std::string out =
      apply("", kPaths, R"({"myInstance": <instance>,"myStatus": "<instance> is in state \"<status>\""})");
  EXPECT_EQ(json::parse(out), json::parse(R"({"myInstance":"i-0123456789","myStatus":"i-0123456789 is in state \"RUNNING\""})"));
}

TEST(InputTransform, ValuesOutsideStringsKeepTheirJsonTypeAndMissingOnesAreNull) {
  const std::map<std::string, std::string> paths = {
      {"cpu", "$.data.cpu"}, {"tags", "$.data.tags"}, {"order", "$.data.order"}, {"nope", "$.data.nothing"}};
  const json out = json::parse(apply("", paths, R"({"cpu": <cpu>, "tags": <tags>, "o": <order>, "n": <nope>, "s": "cpu=<cpu> n=<nope>"})"));
  EXPECT_EQ(out["cpu"], 2);
  EXPECT_EQ(out["tags"], json::array({"a", "b"}));
  EXPECT_EQ(out["o"]["id"], 7);
  EXPECT_TRUE(out["n"].is_null());
  EXPECT_EQ(out["s"], "cpu=2 n=");
}

TEST(InputTransform, StringsWithQuotesAreEscapedInsideJsonStrings) {
  const json event = json::parse(R"({"data": {"msg": "say \"hi\"\n"}})");
  auto t = InputTransform::create("", {{"m", "$.data.msg"}}, R"({"text": "<m>", "raw": <m>})");
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  const json out = json::parse((*t)->apply(event, "r"));
  EXPECT_EQ(out["text"], "say \"hi\"\n");
  EXPECT_EQ(out["raw"], "say \"hi\"\n");
}

TEST(InputTransform, InputPathSendsOnlyThatPartAndWildcardsCollect) {
  EXPECT_EQ(json::parse(apply("$.data.order", {}, "")), kEvent["data"]["order"]);
  EXPECT_EQ(apply("$.data.order.lines[1].sku", {}, ""), "\"y\"");
  EXPECT_EQ(json::parse(apply("$.data.order.lines[*].sku", {}, "")), json::array({"x", "y"}));
  EXPECT_EQ(apply("$.data.absent", {}, ""), "null");
  EXPECT_EQ(json::parse(apply("", {}, "")), kEvent);  // neither: the whole view
}

TEST(InputTransform, PredefinedPlaceholdersGiveTheEventTheRuleAndTheTime) {
  const json out = json::parse(apply("", {}, R"({"rule": "<causeway.rule-name>", "at": "<causeway.event.time>", "e": <causeway.event>, "j": "<causeway.event.json>"})"));
  EXPECT_EQ(out["rule"], "my-rule");
  EXPECT_EQ(out["at"], "2026-12-05T10:00:00.000Z");
  EXPECT_EQ(out["e"], kEvent);
  EXPECT_EQ(json::parse(out["j"].get<std::string>()), kEvent);
}

TEST(InputTransform, BadPathsAndTemplatesAreRefusedWhenCreated) {
  const auto refused = [](std::string_view path, const std::map<std::string, std::string>& paths, std::string_view tpl) {
    auto t = InputTransform::create(path, paths, tpl);
    EXPECT_FALSE(t.ok());
    return t.ok() ? std::string() : std::string(t.error().message());
  };
  EXPECT_THAT(refused("data.x", {}, ""), HasSubstr("must start with $"));
  EXPECT_THAT(refused("$..x", {}, ""), HasSubstr("empty name at position 1"));
  EXPECT_THAT(refused("$.a['b']", {}, ""), HasSubstr("is not an index or *"));
  EXPECT_THAT(refused("$.a[1", {}, ""), HasSubstr("unclosed ["));
  EXPECT_THAT(refused("$.a", kPaths, "<instance>"), HasSubstr("not both"));
  EXPECT_THAT(refused("", kPaths, "<nope> here"), HasSubstr("placeholder <nope> names no input path"));
  EXPECT_THAT(refused("", kPaths, R"({<instance>: 1})"), HasSubstr("used as an object key"));
  EXPECT_THAT(refused("", kPaths, R"({"<instance>": 1})"), HasSubstr("used as an object key"));
  EXPECT_THAT(refused("", kPaths, R"({"a": <instance>)"), HasSubstr("not valid JSON"));
  EXPECT_THAT(refused("", {{"causeway.x", "$.a"}}, "<causeway.x>"), HasSubstr("reserved"));
  EXPECT_THAT(refused("", kPaths, ""), HasSubstr("need an input template"));
  EXPECT_THAT(refused("", {}, std::string(9000, 'x')), HasSubstr("the limit is 8192"));
  // A '<' that does not start a placeholder is text.
  EXPECT_EQ(apply("", kPaths, "a < b <instance>"), "a < b i-0123456789");
}

}  // namespace
}  // namespace causeway::rules
