// The event view patterns match (docs/patterns.md, "The event as patterns see it"):
// envelope fields, JSON payloads read on demand, and the same data as FlatBuffers payloads
// read through their schema, all giving the verdicts of the reference evaluation.
#include <flatbuffers/idl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rules/event_source.h"
#include "rules/flatbuffers_walker.h"
#include "rules/json_event_source.h"
#include "rules/matcher.h"
#include "rules/reference_matcher.h"

namespace causeway::rules {
namespace {

using nlohmann::json;

std::vector<uint32_t> match_one(const std::string& pattern, const EventSource& event) {
  auto p = parse_pattern(pattern);
  EXPECT_TRUE(p.ok()) << p.error().to_string();
  auto m = Matcher::compile({std::make_shared<const Pattern>(std::move(*p))}, {1});
  EXPECT_TRUE(m.ok());
  Matcher::Scratch scratch;
  std::vector<uint32_t> out;
  (*m)->match(event, scratch, out);
  return out;
}
bool matches(const std::string& pattern, const EventSource& event) { return !match_one(pattern, event).empty(); }

TEST(EventView, EnvelopeFieldsAreTopicSourceTypeKeyHeadersAndTime) {
  EventFields f;
  f.topic = "orders";
  f.source = "shop";
  f.type = "order.created";
  f.key = "customer-7";
  f.headers = {{"region", "eu"}, {"bin", "\xff\xfe"}};
  f.time_ms = 1733400000123;  // 2024-12-05T12:00:00.123Z
  const EventView view(f);
  EXPECT_TRUE(matches(R"({"topic":["orders"],"source":["shop"],"type":[{"prefix":"order."}]})", view));
  EXPECT_TRUE(matches(R"({"key":[{"prefix":"customer-"}],"headers":{"region":["eu"]}})", view));
  EXPECT_TRUE(matches(R"({"time":[{"prefix":"2024-12-05T12:00:00.123Z"}]})", view));
  EXPECT_TRUE(matches(R"({"headers":{"bin":[{"exists":false}]}})", view));  // not UTF-8: absent
  EXPECT_FALSE(matches(R"({"data":[{"exists":true}]})", view));              // no payload
  EventFields bare;
  bare.topic = "t";
  bare.key = "\xc3";  // not UTF-8
  const EventView bare_view(bare);
  EXPECT_TRUE(matches(R"({"source":[{"exists":false}],"key":[{"exists":false}]})", bare_view));
  EXPECT_EQ(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
}

TEST(EventView, JsonPayloadsAreReadOnDemandAndMalformedOnesHaveNoData) {
  EventFields f;
  f.topic = "t";
  std::string kept;  // the payload the view reads
  const auto with = [&](std::string payload) {
    kept = std::move(payload);
    f.payload = kept;
    return EventView(f);
  };
  EXPECT_TRUE(matches(R"({"data":{"state":["running"],"n":[{"numeric":[">",2]}]}})",
                      with(R"({"state":"running","skipped":{"deep":[1,2,{"x":3}]},"n":3})")));
  EXPECT_TRUE(matches(R"({"data":{"s":["a\"b"]}})", with(R"({"s":"a\"b"})")));  // escapes unescaped
  EXPECT_FALSE(matches(R"({"data":{"state":["running"]}})", with(R"({"state":"running")")));  // truncated
  EXPECT_FALSE(matches(R"({"data":{"state":["running"]}})", with(R"({"state":"running"} trailing)")));
  EXPECT_FALSE(matches(R"({"data":[{"exists":true}]})", with(R"(["not","an","object"])")));
  EXPECT_FALSE(matches(R"({"data":{"a":[{"exists":true}]}})", with("plain bytes")));
  EXPECT_TRUE(matches(R"({"data":{"a":[{"exists":false}]}})", with("plain bytes")));
  // Arrays of objects are confirmed element by element.
  EXPECT_FALSE(matches(R"({"data":{"e":{"f":["Anna"],"l":["Jones"]}}})",
                       with(R"({"e":[{"f":"Anna","l":"Smith"},{"f":"Peter","l":"Jones"}]})")));
  EXPECT_TRUE(matches(R"({"data":{"e":{"f":["Anna"],"l":["Smith"]}}})",
                      with(R"({"e":[{"f":"Anna","l":"Smith"},{"f":"Peter","l":"Jones"}]})")));
  // Deep nesting on a pattern's path: unreadable (no data), never a crash.
  EXPECT_FALSE(matches(R"({"data":{"a":["x"]}})", with("{\"a\":" + std::string(100000, '[') + "\"x\"" +
                                                       std::string(100000, ']') + "}")));
}

// The same pattern and data, as a JSON payload and as a FlatBuffers payload of this schema.
constexpr const char* kSchema = R"(
namespace test;
enum Color : byte { Red = 0, Green, Blue }
struct Point { x: int; y: int; }
table Item { name: string; qty: int; }
table Shape { sides: int; }
union Payload { Item, Shape }
table Event {
  source: string; state: string; n: double; i: long; b: bool; color: Color = Green;
  tags: [string]; nums: [int]; items: [Item]; point: Point; nested: Item;
  p: Payload; opt: int = null; missing: string;
}
root_type Event;
)";

struct Encoded {
  std::string payload;
  std::vector<uint8_t> schema;
};

Encoded encode(const std::string& data_json) {
  flatbuffers::Parser parser;
  EXPECT_TRUE(parser.Parse(kSchema)) << parser.error_;
  parser.Serialize();
  Encoded e;
  e.schema.assign(parser.builder_.GetBufferPointer(), parser.builder_.GetBufferPointer() + parser.builder_.GetSize());
  flatbuffers::Parser data_parser;
  EXPECT_TRUE(data_parser.Parse(kSchema)) << data_parser.error_;
  EXPECT_TRUE(data_parser.Parse(data_json.c_str())) << data_parser.error_ << " in " << data_json;
  e.payload.assign(reinterpret_cast<const char*>(data_parser.builder_.GetBufferPointer()), data_parser.builder_.GetSize());
  return e;
}

TEST(EventView, FlatbuffersPayloadsGiveTheVerdictsOfTheSameDataAsJson) {
  // {pattern, data as written (FlatBuffers JSON), data as the view shows it, expected}
  struct Case {
    const char* pattern;
    const char* data;
    bool matches;
  };
  const std::vector<Case> cases = {
      {R"({"data":{"state":["running"]}})", R"({"state":"running"})", true},
      {R"({"data":{"state":["running"]}})", R"({"state":"stopped"})", false},
      {R"({"data":{"n":[{"numeric":[">",1.5,"<",3]}]}})", R"({"n":2.5})", true},
      {R"({"data":{"i":[300]}})", R"({"i":300})", true},
      {R"({"data":{"b":[true]}})", R"({"b":true})", true},
      {R"({"data":{"color":["Blue"]}})", R"({"color":"Blue"})", true},             // enums by name
      {R"({"data":{"color":["Green"]}})", R"({"state":"x"})", true},              // default: present
      {R"({"data":{"i":[0]}})", R"({"state":"x"})", true},                        // scalar default
      {R"({"data":{"opt":[{"exists":false}]}})", R"({"state":"x"})", true},      // optional scalar
      {R"({"data":{"opt":[5]}})", R"({"opt":5})", true},
      {R"({"data":{"missing":[{"exists":false}]}})", R"({"state":"x"})", true},  // absent string
      {R"({"data":{"tags":["b"]}})", R"({"tags":["a","b"]})", true},              // any element
      {R"({"data":{"nums":[{"numeric":[">",10]}]}})", R"({"nums":[1,2,30]})", true},
      {R"({"data":{"point":{"y":[7]}}})", R"({"point":{"x":1,"y":7}})", true},   // structs
      {R"({"data":{"nested":{"name":["x"]}}})", R"({"nested":{"name":"x"}})", true},
      {R"({"data":{"items":{"name":["a"],"qty":[2]}}})", R"({"items":[{"name":"a","qty":1},{"name":"b","qty":2}]})",
       false},                                                                     // within one element
      {R"({"data":{"items":{"name":["b"],"qty":[2]}}})", R"({"items":[{"name":"a","qty":1},{"name":"b","qty":2}]})",
       true},
      {R"({"data":{"p_type":["Shape"],"p":{"sides":[3]}}})", R"({"p_type":"Shape","p":{"sides":3}})", true},  // unions
      {R"({"data":{"p":{"name":[{"exists":true}]}}})", R"({"p_type":"Shape","p":{"sides":3}})", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.pattern) + " on " + c.data);
    const Encoded e = encode(c.data);
    auto walker = FlatbuffersWalker::create(e.schema);
    ASSERT_TRUE(walker.ok()) << walker.error().to_string();
    EventFields f;
    f.topic = "t";
    f.schema_id = 1;
    f.payload = e.payload;
    EXPECT_EQ(matches(c.pattern, EventView(f, walker->get())), c.matches) << "FlatBuffers payload";
    // The view's document (to_json) gives the reference the same verdict.
    const auto doc = (*walker)->to_json(e.payload);
    ASSERT_TRUE(doc.has_value());
    auto p = parse_pattern(c.pattern);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(reference_matches(*p, json{{"topic", "t"}, {"data", *doc}}), c.matches) << "to_json: " << doc->dump();
  }
}

TEST(EventView, FlatbuffersPayloadThatDoesNotVerifyHasNoData) {
  const Encoded e = encode(R"({"state":"running"})");
  auto walker = FlatbuffersWalker::create(e.schema);
  ASSERT_TRUE(walker.ok());
  EventFields f;
  f.topic = "t";
  f.schema_id = 1;
  std::string broken = e.payload;
  broken[0] = '\x7f';  // the root offset now points past the end
  f.payload = broken;
  EXPECT_FALSE(matches(R"({"data":{"state":["running"]}})", EventView(f, walker->get())));
  EXPECT_TRUE(matches(R"({"data":{"state":[{"exists":false}]}})", EventView(f, walker->get())));
  std::string odd = " " + e.payload;  // misaligned copy of a good payload still reads
  f.payload = std::string_view(odd).substr(1);
  EXPECT_TRUE(matches(R"({"data":{"state":["running"]}})", EventView(f, walker->get())));
  EXPECT_FALSE(FlatbuffersWalker::create({1, 2, 3}).ok());
  // FlatBuffers 2.0.8 cannot verify vectors of unions safely: such schemas are not read.
  flatbuffers::Parser parser;
  ASSERT_TRUE(parser.Parse("table A { x:int; } union U { A } table H { us:[U]; } root_type H;"));
  parser.Serialize();
  auto refused = FlatbuffersWalker::create(std::vector<uint8_t>(
      parser.builder_.GetBufferPointer(), parser.builder_.GetBufferPointer() + parser.builder_.GetSize()));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.error().message()), ::testing::HasSubstr("H.us is a vector of unions"));
}

}  // namespace
}  // namespace causeway::rules
