// parse_schema with references: includes resolved through a ReferenceLookup (nested, shared,
// missing, cyclic, bounded), errors that name the include, files of shared types without a
// root type, identity of the resolved schema, load_schema for the parser's JSON, and that
// no file is ever read. Contract: causeway/registry/schema.h, fbs_parser.h and
// docs/registry.md ("References").
#include <flatbuffers/idl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "causeway/registry/fbs_parser.h"
#include "causeway/registry/schema.h"
#include "tests/support/temp_dir.h"

namespace causeway::registry {
namespace {

using ::testing::HasSubstr;

// A registry of subject versions in memory, counting lookups.
class FakeRegistry {
 public:
  void add(const std::string& subject, int version, std::string text, std::vector<SchemaReference> refs = {}) {
    versions_[{subject, version}] = ReferencedSchema{std::move(text), std::move(refs)};
  }
  ReferenceLookup lookup() {
    return [this](const std::string& subject, int version) -> Result<ReferencedSchema> {
      ++lookups_;
      if (failure_) return *failure_;
      const auto it = versions_.find({subject, version});
      if (it == versions_.end()) return not_found("no version " + std::to_string(version) + " of " + subject);
      return it->second;
    };
  }
  int lookups() const { return lookups_; }
  void fail_with(Status s) { failure_ = std::move(s); }

 private:
  std::map<std::pair<std::string, int>, ReferencedSchema> versions_;
  int lookups_ = 0;
  std::optional<Status> failure_;
};

std::string message_of(const Result<ParsedSchema>& r) { return r.ok() ? "(parsed)" : std::string(r.error().message()); }

constexpr const char* kMoney = "namespace common;\ntable Money { units:long; currency:string; }\n";
constexpr const char* kOrder =
    "// orders\ninclude \"money.fbs\";\nnamespace shop;\ntable Order { total:common.Money; }\nroot_type Order;\n";

TEST(SchemaReferences, AnIncludeIsResolvedThroughTheReferenceOfThatName) {
  FakeRegistry reg;
  reg.add("common", 1, kMoney);
  const SchemaReference refs[] = {{"money.fbs", "common", 1}};
  auto s = parse_schema(kOrder, "", refs, reg.lookup());
  ASSERT_TRUE(s.ok()) << message_of(s);
  EXPECT_EQ(s->root_type, "shop.Order");
  EXPECT_THAT(s->canonical_form, HasSubstr("table common.Money"));
  EXPECT_EQ(s->references, std::vector<SchemaReference>(std::begin(refs), std::end(refs)));
  ASSERT_EQ(s->parser_inputs.size(), 2u);
  EXPECT_EQ(s->parser_inputs[0], kMoney);
  // The include is blanked out, line breaks kept, so parser errors keep their line numbers.
  EXPECT_EQ(s->parser_inputs[1].find("include"), std::string::npos);
  EXPECT_EQ(std::count(s->parser_inputs[1].begin(), s->parser_inputs[1].end(), '\n'), 5);
}

TEST(SchemaReferences, NestedIncludesUseEachVersionsOwnReferencesAndNames) {
  FakeRegistry reg;
  reg.add("base", 3, "namespace base; enum Currency:byte { EUR, USD }");
  // The same name means different things in different files.
  reg.add("common", 1, "include \"x.fbs\";\nnamespace common; table Money { c:base.Currency; }",
          {{"x.fbs", "base", 3}});
  const SchemaReference refs[] = {{"x.fbs", "common", 1}};
  auto s = parse_schema("include \"x.fbs\"; table T { m:common.Money; } root_type T;", "", refs, reg.lookup());
  ASSERT_TRUE(s.ok()) << message_of(s);
  EXPECT_THAT(s->canonical_form, HasSubstr("enum base.Currency"));
  EXPECT_EQ(s->parser_inputs.size(), 3u);
}

TEST(SchemaReferences, AVersionIncludedTwiceIsParsedAndLookedUpOnce) {
  FakeRegistry reg;
  reg.add("common", 1, kMoney);
  reg.add("a", 1, "include \"m.fbs\"; namespace a; table A { m:common.Money; }", {{"m.fbs", "common", 1}});
  reg.add("b", 1, "include \"money.fbs\"; namespace b; table B { m:common.Money; }", {{"money.fbs", "common", 1}});
  const SchemaReference refs[] = {{"a.fbs", "a", 1}, {"b.fbs", "b", 1}};
  auto s = parse_schema("include \"a.fbs\";\ninclude \"b.fbs\";\ntable T { a:a.A; b:b.B; } root_type T;", "", refs,
                        reg.lookup());
  ASSERT_TRUE(s.ok()) << message_of(s);
  EXPECT_EQ(s->parser_inputs.size(), 4u);
  EXPECT_EQ(reg.lookups(), 3);
}

TEST(SchemaReferences, AnIncludeWithoutAMatchingReferenceNamesTheIncludeAndItsLine) {
  FakeRegistry reg;
  reg.add("common", 1, kMoney);
  const SchemaReference refs[] = {{"common.fbs", "common", 1}};
  auto s = parse_schema(kOrder, "", refs, reg.lookup());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(message_of(s), HasSubstr("include \"money.fbs\" (line 2): no reference is named \"money.fbs\" "
                                       "(references: \"common.fbs\")"));
  EXPECT_EQ(reg.lookups(), 0);
}

TEST(SchemaReferences, AMissingReferencedVersionNamesTheInclude) {
  FakeRegistry reg;
  const SchemaReference refs[] = {{"money.fbs", "common", 4}};
  auto s = parse_schema(kOrder, "", refs, reg.lookup());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(message_of(s), HasSubstr("include \"money.fbs\" (line 2): subject 'common' version 4 does not exist"));
}

TEST(SchemaReferences, AMissingIncludeInsideAReferencedVersionNamesThatVersion) {
  FakeRegistry reg;
  reg.add("common", 1, "\ninclude \"base.fbs\";\nnamespace common; table Money { units:long; }");
  const SchemaReference refs[] = {{"money.fbs", "common", 1}};
  auto s = parse_schema(kOrder, "", refs, reg.lookup());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(message_of(s), HasSubstr("include \"base.fbs\" (line 2 of subject 'common' version 1 "
                                       "(included as \"money.fbs\")): no reference is named \"base.fbs\""));
}

TEST(SchemaReferences, IncludesThatFormACycleAreRefusedNamingTheInclude) {
  FakeRegistry reg;
  reg.add("a", 1, "include \"b.fbs\"; namespace a; table A { x:int; }", {{"b.fbs", "b", 1}});
  reg.add("b", 1, "include \"a.fbs\"; namespace b; table B { x:int; }", {{"a.fbs", "a", 1}});
  const SchemaReference refs[] = {{"a.fbs", "a", 1}};
  auto s = parse_schema("include \"a.fbs\"; table T { a:a.A; } root_type T;", "", refs, reg.lookup());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(message_of(s), HasSubstr("include \"a.fbs\" (line 1 of subject 'b' version 1 (included as \"b.fbs\")) "
                                       "leads back to subject 'a' version 1: the includes form a cycle "
                                       "('a' v1 -> 'b' v1 -> 'a' v1)"));
}

TEST(SchemaReferences, ASchemaIncludingItselfIsACycle) {
  FakeRegistry reg;
  reg.add("a", 1, "include \"self.fbs\"; namespace a; table A { x:int; }", {{"self.fbs", "a", 1}});
  const SchemaReference refs[] = {{"a.fbs", "a", 1}};
  auto s = parse_schema("include \"a.fbs\"; table T { a:a.A; } root_type T;", "", refs, reg.lookup());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(message_of(s), HasSubstr("the includes form a cycle ('a' v1 -> 'a' v1)"));
}

TEST(SchemaReferences, ALookupFailureOtherThanNotFoundIsReturnedAsItIs) {
  FakeRegistry reg;
  reg.fail_with(unavailable("registry down"));
  const SchemaReference refs[] = {{"money.fbs", "common", 1}};
  auto s = parse_schema(kOrder, "", refs, reg.lookup());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kUnavailable);
  EXPECT_THAT(message_of(s), HasSubstr("registry down"));
}

TEST(SchemaReferences, IncludesNestedDeeperThanTheLimitAreRefused) {
  FakeRegistry reg;
  const int depth = static_cast<int>(kMaxIncludeDepth) + 2;
  for (int i = 0; i < depth; ++i) {
    reg.add("s" + std::to_string(i), 1,
            "include \"next.fbs\"; namespace n" + std::to_string(i) + "; table X { a:int; }",
            {{"next.fbs", "s" + std::to_string(i + 1), 1}});
  }
  const SchemaReference refs[] = {{"next.fbs", "s0", 1}};
  auto s = parse_schema("include \"next.fbs\"; table T { a:int; } root_type T;", "", refs, reg.lookup());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(message_of(s), HasSubstr("includes nest more than 16 deep"));
}

TEST(SchemaReferences, MoreReferencedVersionsThanTheLimitAreRefused) {
  FakeRegistry reg;
  std::string text;
  std::vector<SchemaReference> refs;
  for (std::size_t i = 0; i <= kMaxReferencedSchemas; ++i) {
    const std::string n = std::to_string(i);
    reg.add("s" + n, 1, "namespace n" + n + "; table X { a:int; }");
    refs.push_back({"f" + n + ".fbs", "s" + n, 1});
    text += "include \"f" + n + ".fbs\";\n";
  }
  text += "table T { a:int; } root_type T;";
  auto s = parse_schema(text, "", refs, reg.lookup());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(message_of(s), HasSubstr("more than 64 referenced subject versions"));
}

TEST(SchemaReferences, AParserErrorInAnIncludedVersionNamesThatVersion) {
  FakeRegistry reg;
  reg.add("common", 2, "namespace common;\ntable Money { units:nosuchtype; }");
  const SchemaReference refs[] = {{"money.fbs", "common", 2}};
  auto s = parse_schema(kOrder, "", refs, reg.lookup());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(message_of(s), HasSubstr("invalid schema: in subject 'common' version 2 (included as \"money.fbs\"): "
                                       "line 2, column"));
  EXPECT_THAT(message_of(s), HasSubstr("nosuchtype"));
}

TEST(SchemaReferences, TwoVersionsDeclaringTheSameTypeCollide) {
  FakeRegistry reg;
  reg.add("common", 1, kMoney);
  reg.add("common", 2, kMoney);
  const SchemaReference refs[] = {{"m1.fbs", "common", 1}, {"m2.fbs", "common", 2}};
  auto s = parse_schema("include \"m1.fbs\"; include \"m2.fbs\"; table T { a:int; } root_type T;", "", refs,
                        reg.lookup());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(message_of(s), HasSubstr("included as \"m2.fbs\""));
}

TEST(SchemaReferences, MalformedIncludesAreRefusedBeforeAnythingIsLookedUp) {
  FakeRegistry reg;
  for (const char* text : {"include money.fbs; table T { a:int; } root_type T;",
                           "include \"money.fbs\" table T { a:int; } root_type T;",
                           "include \"mo\\\\ney.fbs\"; table T { a:int; } root_type T;",
                           "include \"money.fbs\n\"; table T { a:int; } root_type T;",
                           "include \"\"; table T { a:int; } root_type T;",
                           "/* never closed\ninclude \"money.fbs\";"}) {
    auto s = parse_schema(text, "", {}, reg.lookup());
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument) << text;
    EXPECT_THAT(message_of(s), HasSubstr("line 1")) << text;
  }
  EXPECT_EQ(reg.lookups(), 0);
}

TEST(SchemaReferences, AVectorOfUnionsInAnIncludedVersionIsRefusedAsInTheSchemaItself) {
  FakeRegistry reg;
  reg.add("common", 1, "namespace common;\ntable A { x:int; }\nunion U { A }\ntable Box { us:[U]; }\n");
  const SchemaReference refs[] = {{"box.fbs", "common", 1}};
  auto s = parse_schema("include \"box.fbs\";\ntable T { b:common.Box; }\nroot_type T;\n", "", refs, reg.lookup());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(message_of(s), HasSubstr("field common.Box.us is a vector of unions"));
}

TEST(SchemaReferences, AByteOrderMarkBeforeTheIncludesIsSkippedAsTheParserSkipsIt) {
  FakeRegistry reg;
  reg.add("common", 1, kMoney);
  const SchemaReference refs[] = {{"money.fbs", "common", 1}};
  auto s = parse_schema(std::string("\xEF\xBB\xBF") + kOrder, "", refs, reg.lookup());
  ASSERT_TRUE(s.ok()) << message_of(s);
  EXPECT_EQ(s->root_type, "shop.Order");
}

TEST(SchemaReferences, AnIncludeAfterADeclarationIsTheParsersErrorNotAFileRead) {
  auto s = parse_schema("table T { a:int; }\ninclude \"x.fbs\";\nroot_type T;", "");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(message_of(s), HasSubstr("includes must come before declarations"));
}

TEST(SchemaReferences, IncludesInCommentsAreNotIncludes) {
  auto s = parse_schema("// include \"a.fbs\";\n/* include \"b.fbs\"; */\ntable T { a:int; } root_type T;", "");
  EXPECT_TRUE(s.ok()) << message_of(s);
}

TEST(SchemaReferences, AFileOfSharedTypesParsesWithoutARootTypeOnlyWhenAllowed) {
  auto optional = parse_schema(kMoney, "", {}, {}, RootTypeRule::kOptional);
  ASSERT_TRUE(optional.ok()) << message_of(optional);
  EXPECT_FALSE(optional->has_root_type());
  EXPECT_EQ(optional->root_type, "");
  auto required = parse_schema(kMoney, "", {}, {}, RootTypeRule::kRequired);
  ASSERT_FALSE(required.ok());
  EXPECT_THAT(message_of(required), HasSubstr("no root type"));
  // A named root must still be a declared table.
  EXPECT_FALSE(parse_schema(kMoney, "Nope", {}, {}, RootTypeRule::kOptional).ok());
  EXPECT_TRUE(parse_schema(kMoney, "common.Money", {}, {}, RootTypeRule::kOptional).ok());
}

TEST(SchemaReferences, ARootTypeDeclaredInAnIncludedFileIsNotTheIncludersRoot) {
  FakeRegistry reg;
  reg.add("common", 1, "namespace common; table Money { units:long; } root_type Money;");
  const SchemaReference refs[] = {{"money.fbs", "common", 1}};
  auto s = parse_schema("include \"money.fbs\"; table T { m:common.Money; }", "", refs, reg.lookup(),
                        RootTypeRule::kOptional);
  ASSERT_TRUE(s.ok()) << message_of(s);
  EXPECT_FALSE(s->has_root_type()) << "flatc forgets an included file's root_type; so do we";
}

TEST(SchemaReferences, AChangeInsideAnIncludedVersionChangesTheIdentity) {
  FakeRegistry reg;
  reg.add("common", 1, kMoney);
  reg.add("common", 2, "namespace common;\ntable Money { units:int; currency:string; }\n");
  reg.add("common", 3, "// only a comment differs\nnamespace common;\ntable Money { units:long; currency:string; }\n");
  auto with = [&](int version) {
    const SchemaReference refs[] = {{"money.fbs", "common", version}};
    auto s = parse_schema(kOrder, "", refs, reg.lookup());
    EXPECT_TRUE(s.ok()) << message_of(s);
    return s.ok() ? s->canonical_form : std::string();
  };
  EXPECT_NE(with(1), with(2));
  EXPECT_EQ(with(1), with(3));
}

TEST(SchemaReferences, LoadSchemaGivesAParserThatEncodesJsonWithIncludedTypes) {
  FakeRegistry reg;
  reg.add("common", 1, kMoney);
  const SchemaReference refs[] = {{"money.fbs", "common", 1}};
  auto s = parse_schema(kOrder, "", refs, reg.lookup());
  ASSERT_TRUE(s.ok()) << message_of(s);
  flatbuffers::IDLOptions opts;
  opts.strict_json = true;
  flatbuffers::Parser parser(opts);
  ASSERT_TRUE(load_schema(*s, parser).ok());
  ASSERT_TRUE(parser.ParseJson(R"({"total": {"units": 250, "currency": "EUR"}})")) << parser.error_;
  std::string text;
  ASSERT_TRUE(flatbuffers::GenerateText(parser, parser.builder_.GetBufferPointer(), &text));
  EXPECT_THAT(text, HasSubstr("\"units\": 250"));
}

// The scanner takes every include out before the parser runs, so this exercises the second
// line of defence: an include handed to the parser directly, with a real file of that name
// in the working directory. The parser must not find it.
TEST(SchemaReferences, TheParserCannotReadAFileEvenIfAnIncludeReachesIt) {
  causeway::testing::TempDir dir;
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  {
    std::ofstream(dir.path() + "/real.fbs") << "table FromDisk { a:int; }\n";
  }
  ParsedSchema crafted;
  crafted.root_type = "";
  crafted.parser_inputs = {"include \"real.fbs\";\ntable T { a:FromDisk; }\n"};
  flatbuffers::Parser parser;
  const Status loaded = load_schema(crafted, parser);
  std::filesystem::current_path(cwd);
  ASSERT_FALSE(loaded.ok()) << "the parser read real.fbs from the file system";
  EXPECT_THAT(std::string(loaded.message()), HasSubstr("include file: real.fbs"));
  // Outside a guard, flatbuffers' own file access still works for other users.
  EXPECT_TRUE(flatbuffers::FileExists((dir.path() + "/real.fbs").c_str()));
}

}  // namespace
}  // namespace causeway::registry
