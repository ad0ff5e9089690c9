// Event patterns (docs/patterns.md): every operator against EventBridge's documented edge
// cases, through both the reference evaluation and the compiled matcher, and every
// invalid pattern with its message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rules/json_event_source.h"
#include "rules/matcher.h"
#include "rules/pattern.h"
#include "rules/reference_matcher.h"

namespace causeway::rules {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

struct Case {
  const char* pattern;
  const char* event;
  bool matches;
};

// Evaluates one case both ways; the two must agree with the expectation.
void check(const Case& c) {
  SCOPED_TRACE(std::string("pattern ") + c.pattern + "\n  event " + c.event);
  auto p = parse_pattern(c.pattern);
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  const json event = json::parse(c.event);
  EXPECT_EQ(reference_matches(*p, event), c.matches) << "reference";
  auto shared = std::make_shared<const Pattern>(std::move(*p));
  auto m = Matcher::compile({shared}, {7});
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  Matcher::Scratch scratch;
  std::vector<uint32_t> out;
  (*m)->match(JsonEventSource(event), scratch, out);
  EXPECT_EQ(!out.empty(), c.matches) << "compiled matcher";
}

void check_all(const std::vector<Case>& cases) {
  for (const Case& c : cases) check(c);
}

TEST(Patterns, ExactValuesAreOrWithinAFieldAndAndAcrossFields) {
  check_all({
      {R"({"source":["aws.ec2"]})", R"({"source":"aws.ec2"})", true},
      {R"({"source":["aws.ec2"]})", R"({"source":"aws.EC2"})", false},  // case-sensitive
      {R"({"source":["aws.ec2","aws.s3"]})", R"({"source":"aws.s3"})", true},
      {R"({"source":["a"],"type":["b"]})", R"({"source":"a","type":"b"})", true},
      {R"({"source":["a"],"type":["b"]})", R"({"source":"a","type":"c"})", false},
      {R"({"source":["a"]})", R"({"type":"a"})", false},                      // absent
      {R"({"data":{"state":["running"]}})", R"({"data":{"state":"running","x":1}})", true},
      {R"({"data":{"state":["running"]}})", R"({"data":{"other":{"state":"running"}}})", false},
      {R"({"n":[300]})", R"({"n":3.0e2})", true},                         // numbers as numbers
      {R"({"n":[300]})", R"({"n":300.0001})", false},
      {R"({"n":[300]})", R"({"n":"300"})", false},                        // a string is not a number
      {R"({"n":["300"]})", R"({"n":300})", false},
      {R"({"n":[0]})", R"({"n":-0.0})", true},
      {R"({"b":[true]})", R"({"b":true})", true},
      {R"({"b":[true]})", R"({"b":"true"})", false},
      {R"({"z":[null]})", R"({"z":null})", true},
      {R"({"z":[null]})", R"({})", false},                                // null is not absence
      {R"({"e":[""]})", R"({"e":""})", true},
      {R"({"e":[""]})", R"({"e":null})", false},                          // "" and null differ
  });
}

TEST(Patterns, ArraysMatchWhenAnyElementMatchesAndObjectsInArraysMatchWithinOneElement) {
  check_all({
      {R"({"resources":["arn:b"]})", R"({"resources":["arn:a","arn:b"]})", true},
      {R"({"resources":["arn:c"]})", R"({"resources":["arn:a","arn:b"]})", false},
      {R"({"r":["x"]})", R"({"r":[["a"],["x"]]})", true},                 // nested arrays flatten
      {R"({"r":["x"]})", R"({"r":[]})", false},
      {R"({"e":{"first":["Anna"]}})", R"({"e":[{"first":"John"},{"first":"Anna"}]})", true},
      {R"({"e":{"first":["Anna"],"last":["Jones"]}})",
       R"({"e":[{"first":"Anna","last":"Smith"},{"first":"Peter","last":"Jones"}]})", false},
      {R"({"e":{"first":["Anna"],"last":["Smith"]}})",
       R"({"e":[{"first":"Anna","last":"Smith"},{"first":"Peter","last":"Jones"}]})", true},
      {R"({"e":{"first":["Anna"]}})", R"({"e":[[{"first":"Anna"}]]})", true},
      {R"({"e":{"mid":[{"exists":false}]}})", R"({"e":[{"mid":"x"},{"first":"y"}]})", true},
      {R"({"e":{"mid":[{"exists":false}]}})", R"({"e":[{"mid":"x"}]})", false},
  });
}

TEST(Patterns, PrefixSuffixAndEqualsIgnoreCaseWorkOnStringsOnly) {
  check_all({
      {R"({"t":[{"prefix":"2017-10-02"}]})", R"({"t":"2017-10-02T18:43:48Z"})", true},
      {R"({"t":[{"prefix":"2017-10-02"}]})", R"({"t":"2017-10-03T18:43:48Z"})", false},
      {R"({"t":[{"prefix":""}]})", R"({"t":"anything"})", true},
      {R"({"t":[{"prefix":"1"}]})", R"({"t":12})", false},
      {R"({"f":[{"suffix":".png"}]})", R"({"f":"cat.png"})", true},
      {R"({"f":[{"suffix":".png"}]})", R"({"f":"cat.PNG"})", false},
      {R"({"f":[{"suffix":{"equals-ignore-case":".png"}}]})", R"({"f":"cat.PNG"})", true},
      {R"({"s":[{"prefix":{"equals-ignore-case":"EventB"}}]})", R"({"s":"eventbridge"})", true},
      {R"({"s":[{"prefix":{"equals-ignore-case":"EventB"}}]})", R"({"s":"Event"})", false},
      {R"({"s":[{"equals-ignore-case":"EC2"}]})", R"({"s":"ec2"})", true},
      {R"({"s":[{"equals-ignore-case":"EC2"}]})", R"({"s":"ec2x"})", false},
      {R"({"s":[{"equals-ignore-case":"ÉTÉ"}]})", R"({"s":"été"})", true},          // beyond ASCII
      {R"({"s":[{"equals-ignore-case":"ΟΔΟΣ"}]})", R"({"s":"οδος"})", true},        // final sigma
      {R"({"s":[{"equals-ignore-case":"x"}]})", R"({"s":null})", false},
  });
}

TEST(Patterns, WildcardStarsMatchAnyRunAndBackslashEscapesThem) {
  check_all({
      {R"({"s":[{"wildcard":"Simple*Service"}]})", R"({"s":"SimpleQueueService"})", true},
      {R"({"s":[{"wildcard":"Simple*Service"}]})", R"({"s":"SimpleService"})", true},
      {R"({"s":[{"wildcard":"Simple*Service"}]})", R"({"s":"SimpleServices"})", false},
      {R"({"s":[{"wildcard":"*.png"}]})", R"({"s":"dir/cat.png"})", true},
      {R"({"s":[{"wildcard":"a*b*c"}]})", R"({"s":"abc"})", true},
      {R"({"s":[{"wildcard":"a*b*c"}]})", R"({"s":"acb"})", false},
      {R"({"s":[{"wildcard":"a*bc*bc"}]})", R"({"s":"abcbc"})", true},
      {R"({"s":[{"wildcard":"a*aa"}]})", R"({"s":"aa"})", false},             // pieces may not overlap
      {R"({"s":[{"wildcard":"*"}]})", R"({"s":""})", true},
      {R"({"s":[{"wildcard":"a\\*b"}]})", R"({"s":"a*b"})", true},            // escaped star
      {R"({"s":[{"wildcard":"a\\*b"}]})", R"({"s":"axb"})", false},
      {R"({"s":[{"wildcard":"a\\\\*"}]})", R"({"s":"a\\xyz"})", true},        // escaped backslash, then a star
      {R"({"s":[{"wildcard":"exact"}]})", R"({"s":"exact"})", true},
      {R"({"s":[{"wildcard":"*x*"}]})", R"({"s":5})", false},
  });
}

TEST(Patterns, AnythingButExcludesValuesListsAndOperatorsAndNeedsTheField) {
  check_all({
      {R"({"s":[{"anything-but":"init"}]})", R"({"s":"running"})", true},
      {R"({"s":[{"anything-but":"init"}]})", R"({"s":"init"})", false},
      {R"({"s":[{"anything-but":"init"}]})", R"({})", false},                 // absent: nothing to compare
      {R"({"s":[{"anything-but":"init"}]})", R"({"s":5})", false},            // strings exclude only strings
      {R"({"n":[{"anything-but":123}]})", R"({"n":124})", true},
      {R"({"n":[{"anything-but":123}]})", R"({"n":1.23e2})", false},
      {R"({"s":[{"anything-but":["stopped","overloaded"]}]})", R"({"s":"stopped"})", false},
      {R"({"s":[{"anything-but":["stopped","overloaded"]}]})", R"({"s":"ok"})", true},
      {R"({"n":[{"anything-but":[100,200]}]})", R"({"n":200})", false},
      {R"({"s":[{"anything-but":{"prefix":"init"}}]})", R"({"s":"initializing"})", false},
      {R"({"s":[{"anything-but":{"prefix":["init","err"]}}]})", R"({"s":"error"})", false},
      {R"({"s":[{"anything-but":{"prefix":["init","err"]}}]})", R"({"s":"ok"})", true},
      {R"({"s":[{"anything-but":{"suffix":"1234"}}]})", R"({"s":"i-1234"})", false},
      {R"({"s":[{"anything-but":{"equals-ignore-case":"Stopped"}}]})", R"({"s":"STOPPED"})", false},
      {R"({"s":[{"anything-but":{"equals-ignore-case":["Stopped","X"]}}]})", R"({"s":"go"})", true},
      {R"({"s":[{"anything-but":{"wildcard":"*/bin/*.jar"}}]})", R"({"s":"/usr/bin/x.jar"})", false},
      {R"({"s":[{"anything-but":{"wildcard":["*/bin/*.jar","*.class"]}}]})", R"({"s":"a.py"})", true},
      {R"({"s":[{"anything-but":"a"}]})", R"({"s":["a","b"]})", true},        // any element not excluded
      {R"({"s":[{"anything-but":"a"}]})", R"({"s":["a","a"]})", false},
  });
}

TEST(Patterns, NumericComparesAsNumbersWithOneOrTwoBounds) {
  check_all({
      {R"({"c":[{"numeric":[">",0,"<=",5]}]})", R"({"c":5})", true},
      {R"({"c":[{"numeric":[">",0,"<=",5]}]})", R"({"c":0})", false},
      {R"({"c":[{"numeric":[">",0,"<=",5]}]})", R"({"c":5.0000001})", false},
      {R"({"c":[{"numeric":[">=",0,"<",5]}]})", R"({"c":0})", true},
      {R"({"c":[{"numeric":["<",10]}]})", R"({"c":-1e9})", true},
      {R"({"c":[{"numeric":["=",3.018e2]}]})", R"({"c":301.8})", true},
      {R"({"c":[{"numeric":[">",0]}]})", R"({"c":"5"})", false},
      {R"({"c":[{"numeric":[">",0]}]})", R"({"c":[-1,2]})", true},
      {R"({"c":[{"numeric":["<=",-5e9]}]})", R"({"c":-5000000000})", true},
  });
}

TEST(Patterns, ExistsIsAboutLeavesAndObjectsCountAsAbsent) {
  check_all({
      {R"({"d":{"c":[{"exists":true}]}})", R"({"d":{"c":1}})", true},
      {R"({"d":{"c":[{"exists":true}]}})", R"({"d":{}})", false},
      {R"({"d":{"c":[{"exists":false}]}})", R"({"d":{}})", true},
      {R"({"d":{"c":[{"exists":false}]}})", R"({})", true},                   // parent absent too
      {R"({"d":{"c":[{"exists":false}]}})", R"({"d":{"c":{"c1":100}}})", true},  // an object is not a leaf
      {R"({"d":{"c":[{"exists":true}]}})", R"({"d":{"c":{"c1":100}}})", false},
      {R"({"d":{"c":[{"exists":true}]}})", R"({"d":{"c":null}})", true},      // null is a value
      {R"({"d":{"c":[{"exists":false}]}})", R"({"d":{"c":null}})", false},
      {R"({"d":{"c":[{"exists":false}]}})", R"({"d":{"c":[]}})", true},       // an empty array holds nothing
      {R"({"c":[{"exists":false},"x"]})", R"({"c":"x"})", true},
      {R"({"c":[{"exists":false},"x"]})", R"({"c":"y"})", false},
  });
}

TEST(Patterns, CidrMatchesIpv4AndIpv6AddressesInTheNetwork) {
  check_all({
      {R"({"ip":[{"cidr":"10.0.0.0/24"}]})", R"({"ip":"10.0.0.255"})", true},
      {R"({"ip":[{"cidr":"10.0.0.0/24"}]})", R"({"ip":"10.0.1.0"})", false},
      {R"({"ip":[{"cidr":"10.0.0.7/24"}]})", R"({"ip":"10.0.0.1"})", true},   // host bits ignored
      {R"({"ip":[{"cidr":"0.0.0.0/0"}]})", R"({"ip":"192.168.1.1"})", true},
      {R"({"ip":[{"cidr":"10.0.0.0/8"}]})", R"({"ip":"not an address"})", false},
      {R"({"ip":[{"cidr":"2001:db8::/32"}]})", R"({"ip":"2001:db8:1::5"})", true},
      {R"({"ip":[{"cidr":"2001:db8::/32"}]})", R"({"ip":"2001:db9::5"})", false},
      {R"({"ip":[{"cidr":"2001:db8::/32"}]})", R"({"ip":"10.0.0.1"})", false},
      {R"({"ip":[{"cidr":"192.168.0.1"}]})", R"({"ip":"192.168.0.1"})", true},  // one address
  });
}

TEST(Patterns, OrWorksAtAnyLevelAndNests) {
  check_all({
      {R"({"source":["cw"],"$or":[{"metric":["CPU"]},{"ns":["EC2"]}]})", R"({"source":"cw","ns":"EC2"})", true},
      {R"({"source":["cw"],"$or":[{"metric":["CPU"]},{"ns":["EC2"]}]})", R"({"source":"cw","ns":"S3"})", false},
      {R"({"$or":[{"a":["1"]},{"b":["2"]}],"d":{"$or":[{"x":["3"]},{"y":["4"]}]}})", R"({"b":"2","d":{"y":"4"}})",
       true},
      {R"({"$or":[{"a":["1"]},{"b":["2"]}],"d":{"$or":[{"x":["3"]},{"y":["4"]}]}})", R"({"b":"2","d":{"z":"4"}})",
       false},
      {R"({"s":["cw"],"$or":[{"m":["CPU"]},{"t":["T"],"n":["A"],"$or":[{"id":[1234]},{"sp":[1000]}]}]})",
       R"({"s":"cw","t":"T","n":"A","sp":1000})", true},
      {R"({"s":["cw"],"$or":[{"m":["CPU"]},{"t":["T"],"n":["A"],"$or":[{"id":[1234]},{"sp":[1000]}]}]})",
       R"({"s":"cw","t":"T","n":"A","sp":1001})", false},
      {R"({"$or":[{"a":[{"exists":false}]},{"b":["x"]}]})", R"({"c":1})", true},
  });
}

TEST(Patterns, AndExtensionRequiresEveryConditionOnTheSameValue) {
  check_all({
      {R"({"p":[{"$and":[{"numeric":[">",0]},{"anything-but":[5]}]}]})", R"({"p":3})", true},
      {R"({"p":[{"$and":[{"numeric":[">",0]},{"anything-but":[5]}]}]})", R"({"p":5})", false},
      {R"({"p":[{"$and":[{"prefix":"ab"},{"suffix":"yz"}]}]})", R"({"p":"abxyz"})", true},
      {R"({"p":[{"$and":[{"prefix":"ab"},{"suffix":"yz"}]}]})", R"({"p":["ab","yz"]})", false},  // not across elements
  });
}

TEST(Patterns, InvalidPatternsAreRefusedNamingThePartAndPath) {
  const std::vector<std::pair<const char*, const char*>> bad = {
      {R"(["x"])", "must be a JSON object"},
      {R"({"a":["x"])", "not valid JSON at column 11"},
      {R"({type: ["x"]})", "not valid JSON at column 3: syntax error while parsing object key"},
      {R"({})", "(top level): empty objects are not allowed"},
      {R"({"a":{}})", "a: empty objects are not allowed"},
      {R"({"a":[]})", "a: empty arrays are not allowed"},
      {R"({"a":"x"})", "a: a value must be an array of conditions or an object, not a bare string"},
      {R"({"a":5})", "bare number"},
      {R"({"a":[["x"]]})", "a[0]: a condition cannot be an array"},
      {R"({"a":[{"prefx":"x"}]})", "a[0]: unknown operator \"prefx\""},
      {R"({"a":[{"prefix":"x","suffix":"y"}]})", "exactly one operator, found 2"},
      {R"({"a":[{"prefix":5}]})", "a[0].prefix: \"prefix\" needs a string, not number"},
      {R"({"a":[{"prefix":{"exists":true}}]})", "the only operator allowed inside \"prefix\" is \"equals-ignore-case\""},
      {R"({"a":[{"equals-ignore-case":["x"]}]})", "needs a string, not array"},
      {R"({"a":[{"anything-but":["x",5]}]})", "only strings or only numbers"},
      {R"({"a":[{"anything-but":[]}]})", "a[0].anything-but: empty arrays are not allowed"},
      {R"({"a":[{"anything-but":[true]}]})", "anything-but takes strings or numbers, not boolean"},
      {R"({"a":[{"anything-but":null}]})", "anything-but takes strings or numbers, not null"},
      {R"({"a":[{"anything-but":{"numeric":[">",1]}}]})", "unsupported anything-but operator \"numeric\""},
      {R"({"a":[{"anything-but":{"prefix":5}}]})", "anything-but prefix takes strings"},
      {R"({"a":[{"numeric":[">",5,"<",1]}]})", "the range is empty"},
      {R"({"a":[{"numeric":[">",5,">",1]}]})", "a lower bound (>) must come first"},
      {R"({"a":[{"numeric":["<",5,">",1]}]})", "must come first"},
      {R"({"a":[{"numeric":["=",5,"<",9]}]})", "cannot be combined"},
      {R"({"a":[{"numeric":["!=",5]}]})", "unknown numeric operator \"!=\""},
      {R"({"a":[{"numeric":[">","5"]}]})", "must be a number"},
      {R"({"a":[{"numeric":[">",1,"<"]}]})", "one comparison or two"},
      {R"({"a":[{"numeric":5}]})", "\"numeric\" must be a non-empty array"},
      {R"({"a":[{"exists":"yes"}]})", "\"exists\" must be true or false"},
      {R"({"a":[{"wildcard":"a**b"}]})", "consecutive wildcard characters at position 1"},
      {R"({"a":[{"wildcard":"a\\b"}]})", "invalid escape at position 1"},
      {R"({"a":[{"cidr":"10.0.0.0/33"}]})", "is not an IPv4 or IPv6 network"},
      {R"({"a":[{"cidr":"banana"}]})", "is not an IPv4 or IPv6 network"},
      {R"({"$or":[{"a":["x"]}]})", "$or: \"$or\" needs at least two pattern objects, got 1"},
      {R"({"$or":{"a":["x"]}})", "\"$or\" must be an array"},
      {R"({"$or":[{"a":["x"]},"b"]})", "$or[1]: each \"$or\" alternative must be a pattern object"},
      {R"({"a":["x"],"a":["y"]})", "key \"a\" appears more than once"},
      {R"({"a":[{"$and":[{"prefix":"x"}]}]})", "at least two conditions"},
      {R"({"a":[{"$and":[{"exists":true},{"prefix":"x"}]}]})", "\"exists\" cannot be inside \"$and\""},
  };
  for (const auto& [pattern, message] : bad) {
    auto p = parse_pattern(pattern);
    ASSERT_FALSE(p.ok()) << pattern;
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument) << pattern;
    EXPECT_THAT(std::string(p.error().message()), HasSubstr(message)) << pattern;
  }
}

TEST(Patterns, LimitsOnSizeDepthAndWildcardComplexityAreEnforced) {
  std::string deep = "[\"x\"]";
  for (int i = 0; i < 40; ++i) deep = "{\"k\":" + deep + "}";
  EXPECT_THAT(std::string(parse_pattern(deep).error().message()), HasSubstr("deeper than"));
  std::string stars = "*a";
  for (int i = 0; i < 101; ++i) stars += "*a";
  EXPECT_THAT(std::string(parse_pattern(R"({"a":[{"wildcard":")" + stars + "\"}]}").error().message()),
              HasSubstr("too complex"));
  EXPECT_THAT(std::string(parse_pattern(std::string(70000, ' ')).error().message()), HasSubstr("the limit is 65536"));
}

TEST(Patterns, OrThatExpandsBeyondTheLimitIsRefusedWhenCompiled) {
  // 11 two-way $or at one level multiply to 2048 combinations.
  std::string p = "{";
  for (int i = 0; i < 11; ++i) {
    if (i > 0) p += ",";
    p += "\"k" + std::to_string(i) + "\":{\"$or\":[{\"a\":[\"1\"]},{\"b\":[\"2\"]}]}";
  }
  p += "}";
  auto parsed = parse_pattern(p);
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  auto m = Matcher::compile({std::make_shared<const Pattern>(std::move(*parsed))}, {42});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.error().message()), HasSubstr("pattern 42: the pattern's $or expand to more than 1024"));
}

}  // namespace
}  // namespace causeway::rules
