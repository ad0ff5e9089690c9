// PayloadCodec and PayloadRenderer (client/cli/payload_codec.h): JSON objects to FlatBuffers
// and back with a registered schema, the parser's message for JSON that does not match, and
// the fallback for payloads that do not verify. No registry needed: the codec is built from a
// RegistrySchema value, and the renderer is given no registry.
#include "client/cli/payload_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "client/cli/event_json.h"

namespace causeway::cli {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

client::RegistrySchema order_schema() {
  client::RegistrySchema s;
  s.id = 3;
  s.schema =
      "namespace shop;\n"
      "enum Channel : byte { Web, Store }\n"
      "struct Money { units:long; nanos:int; }\n"
      "table Item { sku:string; qty:uint = 1; }\n"
      "table Order { id:ulong; total:Money; items:[Item]; channel:Channel; note:string; ratio:double; }\n"
      "root_type Order;\n";
  s.root_type = "shop.Order";
  return s;
}

TEST(PayloadCodec, JsonObjectRoundTripsThroughFlatBuffers) {
  auto codec = PayloadCodec::create(order_schema(), nullptr);
  ASSERT_TRUE(codec.ok()) << codec.error().to_string();
  const json in = {{"id", 42},
                   {"total", {{"units", 12}, {"nanos", 500}}},
                   {"items", {{{"sku", "a-1"}, {"qty", 3}}, {{"sku", "b-2"}}, {{"sku", "c-3"}, {"qty", 1}}}},
                   {"channel", "Web"},  // the default: given, so it comes back
                   {"note", "ünïcode \"and\" quotes"},
                   {"ratio", 0.25}};
  auto bytes = (*codec)->encode(in);
  ASSERT_TRUE(bytes.ok()) << bytes.error().to_string();
  auto out = (*codec)->decode(*bytes);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  EXPECT_EQ(*out, in);
  EXPECT_EQ((*codec)->schema_id(), 3);
  EXPECT_EQ((*codec)->root_type(), "shop.Order");
}

TEST(PayloadCodec, UnknownFieldAndWrongTypeQuoteTheParser) {
  auto codec = PayloadCodec::create(order_schema(), nullptr);
  ASSERT_TRUE(codec.ok());
  auto unknown = (*codec)->encode(json{{"id", 1}, {"colour", "red"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.error().message()), HasSubstr("does not match schema shop.Order (id 3)"));
  EXPECT_THAT(std::string(unknown.error().message()), HasSubstr("unknown field: colour"));
  auto wrong = (*codec)->encode(json{{"items", "not a vector"}});
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(std::string(wrong.error().message()), HasSubstr("does not match schema"));
  auto not_object = (*codec)->encode(json::array({1, 2}));
  ASSERT_FALSE(not_object.ok());
  EXPECT_THAT(std::string(not_object.error().message()), HasSubstr("must be a JSON object"));
  // The codec recovers after errors.
  auto good = (*codec)->encode(json{{"id", 9}});
  ASSERT_TRUE(good.ok()) << good.error().to_string();
  EXPECT_EQ(*(*codec)->decode(*good), json({{"id", 9}}));
}

TEST(PayloadCodec, AValueOfTheWrongKindNamesTheFieldAndTheTypeTheSchemaExpects) {
  auto codec = PayloadCodec::create(order_schema());
  ASSERT_TRUE(codec.ok());
  // FlatBuffers' own words for these ("enum values need to be qualified by an enum type")
  // name neither the field nor the type.
  const auto message = [&](const json& data) {
    auto r = (*codec)->encode(data);
    EXPECT_FALSE(r.ok()) << data.dump();
    return r.ok() ? std::string() : std::string(r.error().message());
  };
  EXPECT_THAT(message(json{{"id", "lots"}}),
              HasSubstr("field \"id\" of shop.Order is a ulong (a JSON integer), got the string \"lots\""));
  EXPECT_THAT(message(json{{"channel", "Online"}}), HasSubstr("enum shop.Channel (one of Web, Store"));
  EXPECT_THAT(message(json{{"note", 5}}), HasSubstr("field \"note\" of shop.Order is a string, got the number 5"));
  EXPECT_THAT(message(json{{"items", {{{"sku", "a"}, {"qty", "many"}}}}}),
              HasSubstr("field \"items[0].qty\" of shop.Item is a uint"));
  EXPECT_THAT(message(json{{"total", {{"units", true}}}}), HasSubstr("\"total.units\" of shop.Money is a long"));
  // Quoted numbers are accepted by the parser, and so not called wrong here.
  auto quoted = (*codec)->encode(json{{"id", "12"}});
  EXPECT_TRUE(quoted.ok()) << quoted.error().to_string();
}

TEST(PayloadCodec, GarbageAndTruncatedPayloadsDoNotDecode) {
  auto codec = PayloadCodec::create(order_schema(), nullptr);
  ASSERT_TRUE(codec.ok());
  EXPECT_FALSE((*codec)->decode("").ok());
  EXPECT_FALSE((*codec)->decode(std::string(64, '\x7f')).ok());
  auto bytes = (*codec)->encode(json{{"id", 1}, {"note", "some text that is long enough"}});
  ASSERT_TRUE(bytes.ok());
  EXPECT_FALSE((*codec)->decode(std::string_view(*bytes).substr(0, bytes->size() / 2)).ok());
}

TEST(PayloadCodec, SchemaThatDoesNotParseIsRefusedWithTheLine) {
  client::RegistrySchema s;
  s.id = 1;
  s.schema = "table T {\n  a:int\n  b:int;\n}\n";
  s.root_type = "T";
  auto codec = PayloadCodec::create(s, nullptr);
  ASSERT_FALSE(codec.ok());
  EXPECT_THAT(std::string(codec.error().message()), HasSubstr("schema id 1"));
  EXPECT_THAT(std::string(codec.error().message()), HasSubstr("3"));
}

TEST(PayloadCodec, ASchemaWhoseIncludesCannotBeResolvedIsRefusedNamingTheInclude) {
  client::RegistrySchema s;
  s.id = 4;
  s.schema = "include \"money.fbs\";\ntable T { m:common.Money; }\nroot_type T;\n";
  s.references = {{"money.fbs", "common", 1}};
  auto codec = PayloadCodec::create(s, nullptr);
  ASSERT_FALSE(codec.ok());
  EXPECT_THAT(std::string(codec.error().message()), HasSubstr("schema id 4"));
  EXPECT_THAT(std::string(codec.error().message()), HasSubstr("include \"money.fbs\" (line 1)"));
}

TEST(PayloadCodec, AFileOfSharedTypesCannotEncodeEvents) {
  client::RegistrySchema s;
  s.id = 2;
  s.schema = "namespace common;\ntable Money { units:long; }\n";
  auto codec = PayloadCodec::create(s, nullptr);
  ASSERT_FALSE(codec.ok());
  EXPECT_THAT(std::string(codec.error().message()), HasSubstr("no root type"));
}

TEST(ParseEventLine, DataObjectIsEncodedAndCarriesTheEncodersSchemaId) {
  const DataObjectEncoder encoder = [](const json& data) -> Result<EncodedData> {
    return EncodedData{data.dump(), 7};
  };
  auto e = parse_event_line(R"({"key":"k","data":{"a":1}})", encoder);
  ASSERT_TRUE(e.ok()) << e.error().to_string();
  EXPECT_EQ(e->payload, R"({"a":1})");
  EXPECT_EQ(e->schema_id, 7u);
  EXPECT_TRUE(parse_event_line(R"({"data":{"a":1},"schema_id":7})", encoder).ok());
  auto conflict = parse_event_line(R"({"data":{"a":1},"schema_id":8})", encoder);
  ASSERT_FALSE(conflict.ok());
  EXPECT_THAT(std::string(conflict.error().message()), HasSubstr("differs"));
  auto s = parse_event_line(R"({"data":"bytes"})", encoder);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->payload, "bytes");
  EXPECT_EQ(s->schema_id, 0u);
}

TEST(ParseEventLine, DataObjectWithoutEncoderSaysTheTopicIsNotBound) {
  auto e = parse_event_line(R"({"data":{"a":1}})");
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.error().message()), HasSubstr("not bound to a schema subject"));
}

TEST(PayloadRenderer, WithoutRegistryPrintsAsStored) {
  std::ostringstream notes;
  PayloadRenderer renderer(nullptr, notes);
  client::FetchedEvent e;
  e.schema_id = 5;
  e.payload = "text";
  EXPECT_EQ(renderer.render(e)["data"], "text");
  EXPECT_TRUE(notes.str().empty());
}

}  // namespace
}  // namespace causeway::cli
