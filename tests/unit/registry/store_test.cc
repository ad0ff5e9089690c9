// SchemaStore on real LMDB files: ids and versions, identity across subjects, restart,
// Confluent's soft/hard delete rules, modes, and serialised concurrent registration.
// Contract: causeway/registry/store.h and docs/registry.md.
#include "causeway/registry/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <thread>

#include "tests/support/temp_dir.h"

namespace causeway::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kOrderV1 = "namespace shop;\ntable Order { id:ulong; amount:int; }\nroot_type Order;\n";
// Adds a field at the end: backward and forward compatible.
constexpr const char* kOrderV2 = "namespace shop;\ntable Order { id:ulong; amount:int; note:string; }\nroot_type Order;\n";
// Widens amount: incompatible both ways.
constexpr const char* kOrderBad = "namespace shop;\ntable Order { id:ulong; amount:long; }\nroot_type Order;\n";

SchemaInput input(const char* text, const char* root = "") { return SchemaInput{text, root, {}}; }

class StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SchemaStore> open_store() {
    StoreOptions options;
    options.dir = dir_.sub("registry");
    auto s = SchemaStore::open(options);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
    return s.ok() ? std::move(*s) : nullptr;
  }
  causeway::testing::TempDir dir_;
};

TEST_F(StoreTest, FirstRegistrationGetsIdOneAndVersionOne) {
  auto store = open_store();
  auto r = store->register_schema("orders-value", input(kOrderV1));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->id, 1);
  EXPECT_EQ(r->version, 1);
  EXPECT_TRUE(r->created);
}

TEST_F(StoreTest, RegisteringTheSameSchemaAgainReturnsTheExistingVersion) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("s", input(kOrderV1)).ok());
  // Whitespace and comments differ; the canonical form does not.
  auto again = store->register_schema("s", input("namespace shop; // same\ntable Order {id:ulong;amount:int;} root_type Order;"));
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->id, 1);
  EXPECT_EQ(again->version, 1);
  EXPECT_FALSE(again->created);
  EXPECT_THAT(*store->list_versions("s"), ElementsAre(1));
}

TEST_F(StoreTest, IdenticalSchemaUnderAnotherSubjectGetsTheSameId) {
  auto store = open_store();
  auto a = store->register_schema("a", input(kOrderV1));
  auto b = store->register_schema("b", input(kOrderV1));
  auto c = store->register_schema("c", input(kOrderV2));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->id, b->id);
  EXPECT_NE(a->id, c->id);
  auto users = store->subject_versions_of(a->id);
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(users->size(), 2u);
}

TEST_F(StoreTest, IncompatibleSchemaIsRefusedWithEveryViolation) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("s", input(kOrderV1)).ok());
  auto r = store->register_schema("s", input(kOrderBad));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_code(r.error()), ErrorCode::kIncompatible);
  EXPECT_THAT(r.error().message(), HasSubstr("shop.Order.amount (id 1): type changed from int to long"));
  EXPECT_THAT(r.error().message(), HasSubstr("against version 1"));
  EXPECT_THAT(*store->list_versions("s"), ElementsAre(1));
}

TEST_F(StoreTest, InvalidSchemaNamesTheParseErrorAndLine) {
  auto store = open_store();
  auto r = store->register_schema("s", input("table T {\n  a:int;\n  b:nosuchtype;\n}\n", "T"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_code(r.error()), ErrorCode::kInvalidSchema);
  EXPECT_THAT(r.error().message(), HasSubstr("nosuchtype"));
  EXPECT_THAT(r.error().message(), HasSubstr("line "));
  EXPECT_THAT(r.error().message(), ::testing::ContainsRegex(":3|line 3"));
}

TEST_F(StoreTest, RestartKeepsSubjectsVersionsIdsAndModes) {
  {
    auto store = open_store();
    ASSERT_TRUE(store->register_schema("s", input(kOrderV1)).ok());
    ASSERT_TRUE(store->register_schema("s", input(kOrderV2)).ok());
    ASSERT_TRUE(store->set_subject_mode("s", CompatibilityMode::kFull).ok());
    ASSERT_TRUE(store->set_global_mode(CompatibilityMode::kNone).ok());
    ASSERT_TRUE(store->delete_version("s", 1, false).ok());
  }
  auto store = open_store();
  EXPECT_THAT(*store->list_subjects(), ElementsAre("s"));
  EXPECT_THAT(*store->list_versions("s"), ElementsAre(2));
  EXPECT_THAT(*store->list_versions("s", true), ElementsAre(1, 2));
  auto latest = store->get_version("s", kLatestVersion);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, 2);
  EXPECT_EQ(latest->schema.id, 2);
  EXPECT_EQ(latest->schema.schema, kOrderV2);
  EXPECT_EQ(latest->schema.root_type, "shop.Order");
  EXPECT_EQ(*store->subject_mode("s", false), CompatibilityMode::kFull);
  EXPECT_EQ(*store->global_mode(), CompatibilityMode::kNone);
  // Ids keep counting from where they were.
  auto r = store->register_schema("t", input("table X { a:int; } root_type X;"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, 3);
}

TEST_F(StoreTest, SoftDeletedVersionIsHiddenUnlessAskedFor) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("s", input(kOrderV1)).ok());
  ASSERT_TRUE(store->register_schema("s", input(kOrderV2)).ok());
  auto d = store->delete_version("s", 2, false);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, 2);
  EXPECT_EQ(error_code(store->get_version("s", 2).error()), ErrorCode::kVersionNotFound);
  EXPECT_TRUE(store->get_version("s", 2, true).ok());
  EXPECT_TRUE(store->get_version("s", 2, true)->deleted);
  EXPECT_EQ(store->get_version("s", kLatestVersion)->version, 1);
  // The schema stays readable by id: data written with it may still be around.
  EXPECT_TRUE(store->get_schema(2).ok());
}

TEST_F(StoreTest, VersionNumbersAreNotReusedAfterSoftDelete) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("s", input(kOrderV1)).ok());
  ASSERT_TRUE(store->register_schema("s", input(kOrderV2)).ok());
  ASSERT_TRUE(store->delete_version("s", 2, false).ok());
  auto r = store->register_schema("s", input("namespace shop;\ntable Order { id:ulong; amount:int; n:int; }\nroot_type Order;"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->version, 3);
}

TEST_F(StoreTest, HardDeleteOnlyAfterSoftDelete) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("s", input(kOrderV1)).ok());
  EXPECT_EQ(error_code(store->delete_version("s", 1, true).error()), ErrorCode::kVersionNotSoftDeleted);
  EXPECT_EQ(error_code(store->delete_subject("s", true).error()), ErrorCode::kSubjectNotSoftDeleted);
  ASSERT_TRUE(store->delete_version("s", 1, false).ok());
  EXPECT_EQ(error_code(store->delete_version("s", 1, false).error()), ErrorCode::kVersionSoftDeleted);
  ASSERT_TRUE(store->delete_version("s", 1, true).ok());
  EXPECT_EQ(error_code(store->get_version("s", 1, true).error()), ErrorCode::kSubjectNotFound);
  // The last use of schema 1 is gone, so is the schema.
  EXPECT_EQ(error_code(store->get_schema(1).error()), ErrorCode::kSchemaNotFound);
}

TEST_F(StoreTest, SubjectSoftDeleteThenPermanentDeleteRemovesEverything) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("s", input(kOrderV1)).ok());
  ASSERT_TRUE(store->register_schema("s", input(kOrderV2)).ok());
  ASSERT_TRUE(store->set_subject_mode("s", CompatibilityMode::kNone).ok());
  auto soft = store->delete_subject("s", false);
  ASSERT_TRUE(soft.ok());
  EXPECT_THAT(*soft, ElementsAre(1, 2));
  EXPECT_TRUE(store->list_subjects()->empty());
  EXPECT_THAT(*store->list_subjects(true), ElementsAre("s"));
  EXPECT_EQ(error_code(store->delete_subject("s", false).error()), ErrorCode::kSubjectSoftDeleted);
  EXPECT_EQ(error_code(store->get_version("s", kLatestVersion).error()), ErrorCode::kSubjectNotFound);
  auto hard = store->delete_subject("s", true);
  ASSERT_TRUE(hard.ok());
  EXPECT_THAT(*hard, ElementsAre(1, 2));
  EXPECT_TRUE(store->list_subjects(true)->empty());
  EXPECT_EQ(error_code(store->subject_mode("s", false).error()), ErrorCode::kSubjectConfigNotFound);
  EXPECT_EQ(error_code(store->delete_subject("s", false).error()), ErrorCode::kSubjectNotFound);
  // After a hard delete the subject starts again at version 1.
  auto r = store->register_schema("s", input(kOrderBad));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->version, 1);
}

TEST_F(StoreTest, SubjectModeOverridesTheGlobalMode) {
  auto store = open_store();
  EXPECT_EQ(*store->global_mode(), CompatibilityMode::kBackward);
  EXPECT_EQ(error_code(store->subject_mode("s", false).error()), ErrorCode::kSubjectConfigNotFound);
  EXPECT_EQ(*store->subject_mode("s", true), CompatibilityMode::kBackward);
  ASSERT_TRUE(store->register_schema("s", input(kOrderV1)).ok());
  ASSERT_TRUE(store->set_subject_mode("s", CompatibilityMode::kNone).ok());
  EXPECT_TRUE(store->register_schema("s", input(kOrderBad)).ok());
  ASSERT_TRUE(store->delete_subject_mode("s").ok());
  EXPECT_FALSE(store->register_schema("s", input("namespace shop;\ntable Order { id:ulong; amount:short; }\nroot_type Order;")).ok());
}

TEST_F(StoreTest, TransitiveModeChecksEveryLiveVersion) {
  auto store = open_store();
  ASSERT_TRUE(store->set_global_mode(CompatibilityMode::kNone).ok());
  ASSERT_TRUE(store->register_schema("s", input("table T { a:int; } root_type T;")).ok());
  ASSERT_TRUE(store->register_schema("s", input("table T { a:long; } root_type T;")).ok());
  const auto candidate = input("table T { a:long; b:int; } root_type T;");
  ASSERT_TRUE(store->set_subject_mode("s", CompatibilityMode::kBackward).ok());
  EXPECT_TRUE(store->check_compatibility("s", kLatestVersion, candidate)->is_compatible);
  ASSERT_TRUE(store->set_subject_mode("s", CompatibilityMode::kBackwardTransitive).ok());
  auto report = store->check_compatibility("s", kLatestVersion, candidate);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->is_compatible);
  ASSERT_EQ(report->messages.size(), 1u);
  EXPECT_THAT(report->messages[0], HasSubstr("against version 1"));
  // Soft-deleting version 1 takes it out of the check.
  ASSERT_TRUE(store->delete_version("s", 1, false).ok());
  EXPECT_TRUE(store->check_compatibility("s", kLatestVersion, candidate)->is_compatible);
}

TEST_F(StoreTest, CheckAgainstOneVersionAndUnknownSubjectOrVersion) {
  auto store = open_store();
  EXPECT_EQ(error_code(store->check_compatibility("s", kLatestVersion, input(kOrderV1)).error()), ErrorCode::kSubjectNotFound);
  ASSERT_TRUE(store->register_schema("s", input(kOrderV1)).ok());
  EXPECT_EQ(error_code(store->check_compatibility("s", 7, input(kOrderV1)).error()), ErrorCode::kVersionNotFound);
  EXPECT_FALSE(store->check_compatibility("s", 1, input(kOrderBad))->is_compatible);
  EXPECT_EQ(error_code(store->check_compatibility("s", 1, input("table {")).error()), ErrorCode::kInvalidSchema);
}

TEST_F(StoreTest, LookupFindsTheVersionOrSaysWhatIsMissing) {
  auto store = open_store();
  EXPECT_EQ(error_code(store->lookup("s", input(kOrderV1)).error()), ErrorCode::kSubjectNotFound);
  ASSERT_TRUE(store->register_schema("s", input(kOrderV1)).ok());
  auto found = store->lookup("s", input(kOrderV1));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->version, 1);
  EXPECT_EQ(found->schema.id, 1);
  EXPECT_EQ(error_code(store->lookup("s", input(kOrderV2)).error()), ErrorCode::kSchemaNotFound);
}

TEST_F(StoreTest, ReferencesMustExistAndArePartOfTheIdentity) {
  auto store = open_store();
  SchemaInput with_ref = input(kOrderV1);
  with_ref.references.push_back(SchemaReference{"common.fbs", "common", 1});
  auto no_subject = store->register_schema("s", with_ref);
  ASSERT_FALSE(no_subject.ok());
  EXPECT_EQ(error_code(no_subject.error()), ErrorCode::kInvalidSchema);
  EXPECT_THAT(no_subject.error().message(),
              HasSubstr("reference \"common.fbs\" (subject 'common' version 1) does not exist (no such subject)"));
  ASSERT_TRUE(store->register_schema("common", input("table C { x:int; } root_type C;")).ok());
  with_ref.references[0].version = 2;
  auto no_version = store->register_schema("s", with_ref);
  ASSERT_FALSE(no_version.ok());
  EXPECT_EQ(error_code(no_version.error()), ErrorCode::kInvalidSchema);
  EXPECT_THAT(no_version.error().message(), HasSubstr("version 2) does not exist (no such version)"));
  with_ref.references[0].version = 1;
  auto a = store->register_schema("s", with_ref);
  auto b = store->register_schema("t", input(kOrderV1));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(store->get_schema(a->id)->references, with_ref.references);
}

TEST_F(StoreTest, SubjectNamesAreValidated) {
  auto store = open_store();
  EXPECT_EQ(error_code(store->register_schema("", input(kOrderV1)).error()), ErrorCode::kInvalidSubject);
  EXPECT_EQ(error_code(store->register_schema(std::string("a\nb"), input(kOrderV1)).error()), ErrorCode::kInvalidSubject);
  EXPECT_EQ(error_code(store->register_schema(std::string(300, 'x'), input(kOrderV1)).error()), ErrorCode::kInvalidSubject);
}

TEST_F(StoreTest, ConcurrentRegistrationsOfTheSameSchemaYieldOneIdAndOneVersion) {
  auto store = open_store();
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::vector<Registration> results(kThreads);
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = store->register_schema(t % 2 ? "a" : "b", input(kOrderV1));
      if (r.ok()) results[static_cast<std::size_t>(t)] = *r;
      else errors[static_cast<std::size_t>(t)] = r.error().message();
    });
  }
  for (auto& th : threads) th.join();
  std::set<int> ids;
  int created = 0;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[static_cast<std::size_t>(t)], "");
    ids.insert(results[static_cast<std::size_t>(t)].id);
    EXPECT_EQ(results[static_cast<std::size_t>(t)].version, 1);
    created += results[static_cast<std::size_t>(t)].created ? 1 : 0;
  }
  EXPECT_EQ(ids, std::set<int>{1});
  EXPECT_EQ(created, 2);  // one per subject
}

TEST_F(StoreTest, ParsedSchemaByIdIsParsedOnceAndSurvivesRestart) {
  {
    auto store = open_store();
    ASSERT_TRUE(store->register_schema("s", input(kOrderV1)).ok());
  }
  auto store = open_store();
  auto a = store->parsed_schema(1);
  auto b = store->parsed_schema(1);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ((*a)->root_type, "shop.Order");
  EXPECT_EQ(error_code(store->parsed_schema(2).error()), ErrorCode::kSchemaNotFound);
}

TEST_F(StoreTest, TheMapGrowsPastItsInitialSizeAndStopsAtItsMaximumWith50001) {
  StoreOptions options;
  options.dir = dir_.sub("registry");
  options.initial_map_bytes = 256 << 10;
  options.max_map_bytes = 1 << 20;
  auto opened = SchemaStore::open(options);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  auto store = std::move(*opened);
  // Distinct 2 KiB texts, so each is a new schema record.
  int registered = 0;
  Result<Registration> last = Registration{};
  for (; registered < 2000; ++registered) {
    const std::string n = std::to_string(registered);
    last = store->register_schema("s" + n, SchemaInput{"table T" + n + " { a:int; } root_type T" + n + ";" +
                                                           std::string(2048, ' '),
                                                       "", {}});
    if (!last.ok()) break;
  }
  ASSERT_FALSE(last.ok()) << "1 MiB should not hold 2000 schemas of 2 KiB";
  EXPECT_EQ(error_code(last.error()), ErrorCode::kStoreError);
  EXPECT_THAT(last.error().message(), HasSubstr("reached max_map_bytes 1048576"));
  EXPECT_GT(registered, 100) << "the map must have grown past its initial 256 KiB first";
  EXPECT_GT(std::filesystem::file_size(options.dir + "/data.mdb"), 256u << 10);
  // Nothing of the failed registration is left, and the store still answers.
  auto subjects = store->list_subjects();
  ASSERT_TRUE(subjects.ok());
  EXPECT_EQ(subjects->size(), static_cast<std::size_t>(registered));
  store.reset();
  options.max_map_bytes = 64 << 20;  // reopened with room to spare, the write goes through
  auto reopened = SchemaStore::open(options);
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE((*reopened)->register_schema("after", input(kOrderV1)).ok());
}

TEST(HttpStatus, IsTheFirstThreeDigitsOfTheErrorCode) {
  EXPECT_EQ(http_status(ErrorCode::kSubjectNotFound), 404);
  EXPECT_EQ(http_status(ErrorCode::kIncompatible), 409);
  EXPECT_EQ(http_status(ErrorCode::kInvalidSchema), 422);
  EXPECT_EQ(http_status(ErrorCode::kStoreError), 500);
  EXPECT_EQ(http_status(ErrorCode::kPayloadTooLarge), 413);
}

}  // namespace
}  // namespace causeway::registry
