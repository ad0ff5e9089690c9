// JSON lines for `causeway publish` and JSON output of `causeway fetch` (client/cli/event_json.h).
#include "client/cli/event_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace causeway::cli {
namespace {

using ::testing::HasSubstr;

TEST(PublishLine, ParsesEveryField) {
  auto e = parse_event_line(
      R"({"dedup_key":"d1","key":"k","source":"orders","type":"order.created","headers":{"a":"1","b":"2"},"data":"hello"})");
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->dedup_key, "d1");
  EXPECT_EQ(e->key, "k");
  EXPECT_EQ(e->source, "orders");
  EXPECT_EQ(e->type, "order.created");
  EXPECT_EQ(e->payload, "hello");
  ASSERT_EQ(e->headers.size(), 2u);
  EXPECT_EQ(e->headers[0], (client::Header{"a", "1"}));
  EXPECT_EQ(e->partition, -1);
}

TEST(PublishLine, OnlyDataIsRequired) {
  auto e = parse_event_line(R"({"data":""})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->payload, "");
  EXPECT_TRUE(e->dedup_key.empty());
}

TEST(PublishLine, MissingDataIsRefused) {
  auto e = parse_event_line(R"({"key":"k"})");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(e.error().message()), HasSubstr("\"data\""));
}

TEST(PublishLine, BadJsonIsRefused) {
  auto e = parse_event_line(R"({"data": "x")");
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.error().message()), HasSubstr("not valid JSON"));
}

// Found by the cli_payload fuzz corpus: nlohmann::json throws out_of_range (not parse_error)
// for a number beyond a double, which ended `causeway publish` with terminate().
TEST(PublishLine, ANumberBeyondADoubleIsAnErrorNamingItNotACrash) {
  for (const char* line : {R"({"data":"x","partition":-1e4300})", R"({"data":{"n":8888888888888888888e88888888}})"}) {
    auto e = parse_event_line(line);
    ASSERT_FALSE(e.ok()) << line;
    EXPECT_THAT(std::string(e.error().message()), HasSubstr("number overflow")) << line;
  }
}

TEST(PublishLine, BadJsonSaysWhereItStoppedAndThatInputIsOneObjectPerLine) {
  auto e = parse_event_line(R"({"data": "x", "key": nope})");
  ASSERT_FALSE(e.ok());
  const std::string m(e.error().message());
  EXPECT_THAT(m, HasSubstr("not valid JSON at column 23"));
  EXPECT_THAT(m, HasSubstr("invalid literal"));
  EXPECT_THAT(m, HasSubstr("each input line must be one whole JSON object"));
  // The first half of an object spread over two lines.
  auto half = parse_event_line(R"({"data": "x",)");
  ASSERT_FALSE(half.ok());
  EXPECT_THAT(std::string(half.error().message()), HasSubstr("one whole JSON object"));
}

TEST(PublishLine, ARepeatedKeyIsRefusedAtAnyDepth) {
  auto data = parse_event_line(R"({"data":"a","data":"b"})");
  ASSERT_FALSE(data.ok());
  EXPECT_THAT(std::string(data.error().message()), HasSubstr("key \"data\" appears twice"));
  auto header = parse_event_line(R"({"data":"a","headers":{"h":"1","h":"2"}})");
  ASSERT_FALSE(header.ok());
  EXPECT_THAT(std::string(header.error().message()), HasSubstr("key \"headers\".\"h\" appears twice"));
  auto nested = parse_event_line(R"({"data":{"items":[{"a":1},{"a":2,"a":3}]}})", [](const nlohmann::json&) {
    return Result<EncodedData>(EncodedData{"x", 1});
  });
  ASSERT_FALSE(nested.ok());
  EXPECT_THAT(std::string(nested.error().message()), HasSubstr("\"a\" appears twice"));
  // The same key in sibling objects is fine.
  EXPECT_TRUE(parse_event_line(R"({"data":"a","headers":{"data":"b"}})").ok());
}

TEST(PublishLine, FieldsLongerThanTheBrokerTakesAreRefusedBeforeSending) {
  const std::string big(kMaxEventFieldBytes + 1, 'k');
  auto key = parse_event_line(nlohmann::json{{"data", "x"}, {"key", big}}.dump());
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(std::string(key.error().message()), HasSubstr("\"key\" is 65536 bytes; the broker takes at most 65535"));
  auto header = parse_event_line(nlohmann::json{{"data", "x"}, {"headers", {{big, "v"}}}}.dump());
  ASSERT_FALSE(header.ok());
  EXPECT_THAT(std::string(header.error().message()), HasSubstr("header name"));
  EXPECT_TRUE(parse_event_line(nlohmann::json{{"data", big}, {"key", big.substr(1)}}.dump()).ok());
}

TEST(PublishLine, NonObjectIsRefused) {
  auto e = parse_event_line(R"(["data"])");
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.error().message()), HasSubstr("object"));
}

TEST(PublishLine, WrongFieldTypesNameTheField) {
  auto data = parse_event_line(R"({"data": 5})");
  ASSERT_FALSE(data.ok());
  EXPECT_THAT(std::string(data.error().message()), HasSubstr("\"data\" must be a string"));
  auto key = parse_event_line(R"({"data":"x","key": true})");
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(std::string(key.error().message()), HasSubstr("\"key\""));
  auto headers = parse_event_line(R"({"data":"x","headers":{"h":1}})");
  ASSERT_FALSE(headers.ok());
  EXPECT_THAT(std::string(headers.error().message()), HasSubstr("header \"h\""));
}

TEST(PublishLine, UnknownFieldIsRefused) {
  auto e = parse_event_line(R"({"data":"x","dedupkey":"oops"})");
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.error().message()), HasSubstr("dedupkey"));
}

TEST(PublishLine, ExplicitPartitionIsAccepted) {
  auto e = parse_event_line(R"({"data":"x","partition":3})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->partition, 3);
  EXPECT_FALSE(parse_event_line(R"({"data":"x","partition":-5})").ok());
}

TEST(FetchOutput, TextPayloadIsDataAndBinaryIsBase64) {
  client::FetchedEvent e;
  e.topic = "t";
  e.offset = 5;
  e.time_ms = 1714564800123;  // 2024-05-01T12:00:00.123Z
  e.payload = "hi";
  auto j = event_to_json(e);
  EXPECT_EQ(j["data"], "hi");
  EXPECT_EQ(j["time"], "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(j["offset"], 5);
  e.payload = std::string("\xff\x00\x01", 3);
  auto b = event_to_json(e);
  EXPECT_FALSE(b.contains("data"));
  EXPECT_EQ(b["data_base64"], "/wAB");
}

TEST(FetchOutput, AckLineHasTheDocumentedFields) {
  EXPECT_EQ(to_line(ack_to_json(client::PublishAck{2, 10, 77, true})),
            R"({"duplicate":true,"lamport":77,"offset":10,"partition":2})");
}

TEST(Base64, MatchesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Time, FormatsNegativeMillisecondsCorrectly) {
  EXPECT_EQ(format_time_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time_ms(-1), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace causeway::cli
