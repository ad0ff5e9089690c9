// parse_schema: errors for bad input, the root type rules, and schema identity (canonical
// form and fingerprint). Contract: causeway/registry/schema.h.
#include "causeway/registry/schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace causeway::registry {
namespace {

using ::testing::HasSubstr;

TEST(ParseSchema, ParsesATableAndQualifiesTheRootType) {
  auto s = parse_schema("namespace shop; table Order { id:ulong; amount:int; }", "Order");
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->root_type, "shop.Order");
  EXPECT_EQ(s->fingerprint.size(), 16u);
  EXPECT_FALSE(s->reflection_bytes.empty());
}

TEST(ParseSchema, UsesTheSchemasOwnRootTypeWhenNoneIsGiven) {
  auto s = parse_schema("table A { x:int; } table B { y:int; } root_type B;", "");
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->root_type, "B");
}

TEST(ParseSchema, RootTypeArgumentOverridesTheDeclaration) {
  auto s = parse_schema("table A { x:int; } table B { y:int; } root_type B;", "A");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->root_type, "A");
}

TEST(ParseSchema, SyntaxErrorNamesTheParserMessageAndLine) {
  auto s = parse_schema("table T {\n  a:int;\n  b:nosuchtype;\n}\n", "T");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(s.error().message()), HasSubstr("invalid schema"));
  EXPECT_THAT(std::string(s.error().message()), HasSubstr("nosuchtype"));
  EXPECT_THAT(std::string(s.error().message()), HasSubstr("originally at: :3"));
}

TEST(ParseSchema, UndeclaredRootTypeIsRejected) {
  auto s = parse_schema("table T { a:int; }", "Missing");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(s.error().message()), HasSubstr("'Missing' is not declared"));
}

TEST(ParseSchema, MissingRootTypeIsRejected) {
  auto s = parse_schema("table T { a:int; }", "");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.error().message()), HasSubstr("no root type"));
}

TEST(ParseSchema, StructRootTypeIsRejected) {
  auto s = parse_schema("struct P { x:int; } table T { p:P; }", "P");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(s.error().message()), HasSubstr("is a struct"));
}

TEST(ParseSchema, IncludeWithoutAMatchingReferenceIsRejectedWithItsLineAndNoFileIsRead) {
  auto s = parse_schema("// header\ninclude \"/etc/passwd\";\ntable T { a:int; }", "T");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(s.error().message()),
              HasSubstr("include \"/etc/passwd\" (line 2): no reference is named \"/etc/passwd\""));
}

TEST(ParseSchema, IncludeInsideACommentOrStringIsNotAnInclude) {
  auto s = parse_schema("/* include \"x.fbs\"; */ // include \"y\";\n"
                        "table T { a:string (id: 0); } root_type T;",
                        "");
  EXPECT_TRUE(s.ok()) << s.error().to_string();
}

TEST(ParseSchema, OversizedTextIsRejectedBeforeParsing) {
  std::string big(kMaxSchemaTextBytes + 1, ' ');
  auto s = parse_schema(big, "T");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.error().message()), HasSubstr("above the limit of 1048576"));
}

TEST(SchemaIdentity, WhitespaceCommentsAndDeclarationOrderGiveTheSameFingerprint) {
  auto a = parse_schema("table B { y:int; } table A { x:string; b:B; } root_type A;", "");
  auto b = parse_schema("/// doc comment\n// plain\ntable A {\n  x : string;  // why\n  b : B;\n}\n"
                        "table B {\n  y: int;\n}\nroot_type A;\n",
                        "");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->is_same_schema_as(*b));
  EXPECT_EQ(a->fingerprint, b->fingerprint);
}

TEST(SchemaIdentity, AnyWireRelevantDifferenceChangesTheFingerprint) {
  auto base = parse_schema("table T { a:int; } root_type T;", "");
  for (const char* other : {"table T { a:long; } root_type T;", "table T { a:int = 1; } root_type T;",
                            "table T { b:int; } root_type T;",
                            "table T { a:int; } table U { a:int; } root_type U;"}) {
    auto o = parse_schema(other, "");
    ASSERT_TRUE(o.ok()) << other;
    EXPECT_FALSE(base->is_same_schema_as(*o)) << other;
    EXPECT_NE(base->fingerprint, o->fingerprint) << other;
  }
}

}  // namespace
}  // namespace causeway::registry
