// Verdicts proven on real bytes. For every corpus pair judged backward compatible, data
// written with the old schema (flatbuffers' JSON parser, a sample that sets every field) is
// verified and read with the new schema by reflection, and every field the new schema reads
// must hold the old value; likewise forward (new data, old reader). For a sample of
// incompatible pairs, the misread the rule prevents is shown; likewise for a schema whose
// included shared file changes version. Rules: docs/compatibility.md.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <string>

#include "causeway/registry/compatibility.h"
#include "tests/unit/registry/evolution_corpus.h"
#include "tests/unit/registry/wire_sample.h"

namespace causeway::registry {
namespace {

using testing::evolution_corpus;
using testing::EvolutionCase;

struct Sides {
  ParsedSchema old_schema;
  ParsedSchema new_schema;
};

Sides parse_pair(const EvolutionCase& c) {
  auto o = parse_schema(c.old_fbs, "", {}, ReferenceLookup(), RootTypeRule::kOptional);
  auto n = parse_schema(c.new_fbs, "", {}, ReferenceLookup(), RootTypeRule::kOptional);
  EXPECT_TRUE(o.ok() && n.ok());
  return Sides{o.ok() ? *o : ParsedSchema{}, n.ok() ? *n : ParsedSchema{}};
}

// Bytes need a root table to be written: files of shared types have their verdicts checked
// in compatibility_test.cc only.
bool both_have_roots(const EvolutionCase& c) {
  const Sides s = parse_pair(c);
  return s.old_schema.has_root_type() && s.new_schema.has_root_type();
}

// Writes `json` (or a full sample) with `writer`, reads it with `reader`: "" if the reader
// verified the buffer and saw every value it reads as written, else what went wrong.
std::string write_then_read(const ParsedSchema& writer, const ParsedSchema& reader,
                            std::string_view json) {
  const std::string sample = json.empty() ? testing::sample_json(writer) : std::string(json);
  auto bytes = testing::encode_json(writer, sample);
  if (!bytes.ok()) return "could not encode " + sample + ": " + bytes.error().to_string();
  if (!testing::verify_with(writer, *bytes)) return "writer's own buffer fails verification";
  if (!testing::verify_with(reader, *bytes)) return "reader's verifier rejects " + sample;
  return testing::first_misread(testing::dump_as(writer, *bytes), testing::dump_as(reader, *bytes));
}

// Only the pairs each property applies to are instantiated, so no case is a no-op.
std::vector<EvolutionCase> cases_where(bool (*keep)(const EvolutionCase&)) {
  std::vector<EvolutionCase> out;
  for (const EvolutionCase& c : evolution_corpus())
    if (keep(c)) out.push_back(c);
  return out;
}

class CompatibleWireProof : public ::testing::TestWithParam<EvolutionCase> {};

TEST_P(CompatibleWireProof, CompatibleDirectionsReadEveryWrittenValueBack) {
  const EvolutionCase& c = GetParam();
  const Sides s = parse_pair(c);
  if (c.backward) {
    EXPECT_EQ(write_then_read(s.old_schema, s.new_schema, ""), "")
        << "new schema reading old data; sample " << testing::sample_json(s.old_schema);
  }
  if (c.forward) {
    EXPECT_EQ(write_then_read(s.new_schema, s.old_schema, ""), "")
        << "old schema reading new data; sample " << testing::sample_json(s.new_schema);
  }
}

class MisreadProof : public ::testing::TestWithParam<EvolutionCase> {};

TEST_P(MisreadProof, RejectedChangeReallyMisreads) {
  const EvolutionCase& c = GetParam();
  const Sides s = parse_pair(c);
  const bool backward = c.misread == 'B';
  ASSERT_FALSE(backward ? c.backward : c.forward) << "a misread sample on a compatible direction";
  const std::string problem = backward
                                  ? write_then_read(s.old_schema, s.new_schema, c.sample_json)
                                  : write_then_read(s.new_schema, s.old_schema, c.sample_json);
  EXPECT_NE(problem, "") << c.sample_json << " read back intact";
  ::testing::Test::RecordProperty("misread", problem);
  std::cout << "[" << c.name << "] " << problem << "\n";
}

// The same proof through a reference: the includer's text never changes, only the version
// of the shared file it references. Each side is the includer resolved against one version,
// which is what a producer and a consumer built from those versions hold.
class ResolvedWireProof : public ::testing::Test {
 protected:
  static constexpr std::string_view kIncluder =
      "include \"geo.fbs\";\nnamespace fleet;\ntable Ping { id:ulong; at:geo.Point; }\nroot_type Ping;\n";

  ParsedSchema includer_at(int geo_version) {
    const SchemaReference refs[] = {{"geo.fbs", "geo", geo_version}};
    auto s = parse_schema(kIncluder, "", refs, [this](const std::string& subject, int version) -> Result<ReferencedSchema> {
      const auto it = geo_.find(version);
      if (subject != "geo" || it == geo_.end()) return not_found("no version " + std::to_string(version) + " of " + subject);
      return ReferencedSchema{it->second, {}};
    });
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    return s.ok() ? *s : ParsedSchema{};
  }

  std::map<int, std::string> geo_;
};

TEST_F(ResolvedWireProof, AStructSwapInsideTheSharedFileMisreadsAndTheResolvedCheckRefusesIt) {
  geo_[1] = "namespace geo;\nstruct Point { lat:int; lon:int; }\n";
  geo_[2] = "namespace geo;\nstruct Point { lon:int; lat:int; }\n";
  const ParsedSchema old_side = includer_at(1);
  const ParsedSchema new_side = includer_at(2);
  ASSERT_TRUE(old_side.has_root_type() && new_side.has_root_type());
  EXPECT_NE(old_side.fingerprint, new_side.fingerprint) << "same text, other reference: another schema";

  const std::string misread = write_then_read(old_side, new_side, "{id: 1, at: {lat: 52, lon: 13}}");
  // The reader's lat holds the writer's lon.
  EXPECT_EQ(misread, "#1~lat: writer wrote 52, reader sees 13");
  const auto verdict = check(CompatibilityMode::kBackward, new_side, std::span(&old_side, 1));
  EXPECT_FALSE(verdict.is_compatible);
  ASSERT_FALSE(verdict.violations.empty());
  EXPECT_EQ(verdict.violations[0].change.kind, ChangeKind::kStructLayoutChanged);
  EXPECT_NE(verdict.violations[0].change.path.find("fleet.Ping.at"), std::string::npos)
      << verdict.violations[0].change.message;
}

TEST_F(ResolvedWireProof, AFieldAddedToASharedTableReadsBackIntactAndTheResolvedCheckAcceptsIt) {
  geo_[1] = "namespace geo;\nstruct Point { lat:int; lon:int; }\ntable Place { name:string; }\n";
  geo_[2] = "namespace geo;\nstruct Point { lat:int; lon:int; }\ntable Place { name:string; zip:string; }\n";
  constexpr std::string_view kPlaceIncluder =
      "include \"geo.fbs\";\nnamespace fleet;\ntable Stop { p:geo.Place; at:geo.Point; }\nroot_type Stop;\n";
  const SchemaReference v1[] = {{"geo.fbs", "geo", 1}};
  const SchemaReference v2[] = {{"geo.fbs", "geo", 2}};
  auto lookup = [this](const std::string&, int version) -> Result<ReferencedSchema> {
    return ReferencedSchema{geo_.at(version), {}};
  };
  auto old_side = parse_schema(kPlaceIncluder, "", v1, lookup);
  auto new_side = parse_schema(kPlaceIncluder, "", v2, lookup);
  ASSERT_TRUE(old_side.ok() && new_side.ok());
  EXPECT_EQ(write_then_read(*old_side, *new_side, ""), "");
  EXPECT_EQ(write_then_read(*new_side, *old_side, ""), "");
  EXPECT_TRUE(check(CompatibilityMode::kFull, *new_side, std::span(&*old_side, 1)).is_compatible);
}

INSTANTIATE_TEST_SUITE_P(Pairs, CompatibleWireProof,
                         ::testing::ValuesIn(cases_where([](const EvolutionCase& c) {
                           return (c.backward || c.forward) && both_have_roots(c);
                         })),
                         [](const auto& param_info) { return std::string(param_info.param.name); });
INSTANTIATE_TEST_SUITE_P(Pairs, MisreadProof,
                         ::testing::ValuesIn(cases_where([](const EvolutionCase& c) { return c.misread != 0; })),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

}  // namespace
}  // namespace causeway::registry
