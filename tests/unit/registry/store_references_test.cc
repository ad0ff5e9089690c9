// SchemaStore and references on real LMDB files: includes resolved through each version's
// own references, the errors that name the include, identity and compatibility of the
// resolved schema, referencedby and the deletes it refuses (42206), files of shared types
// without a root type, and the references index of stores written before it existed. Contract: causeway/registry/store.h, docs/registry.md
// ("References", "Storage layout").
#include <gmock/gmock.h>
#include <gtest/gtest.h>


#include "causeway/lmdb/lmdb_env.h"
#include "causeway/registry/store.h"
#include "tests/support/temp_dir.h"

namespace causeway::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A file of shared types: no root type, used only through references.
constexpr const char* kMoneyV1 = "namespace common;\ntable Money { units:long; currency:string; }\n";
// Adds a field: compatible.
constexpr const char* kMoneyV2 = "namespace common;\ntable Money { units:long; currency:string; nanos:int; }\n";
// Narrows units: incompatible both ways.
constexpr const char* kMoneyNarrowed = "namespace common;\ntable Money { units:int; currency:string; }\n";
constexpr const char* kOrder =
    "include \"money.fbs\";\nnamespace shop;\ntable Order { id:ulong; total:common.Money; }\nroot_type Order;\n";

SchemaInput with_refs(const char* text, std::vector<SchemaReference> refs, const char* root = "") {
  return SchemaInput{text, root, std::move(refs)};
}
SchemaReference money(int version) { return SchemaReference{"money.fbs", "common-money", version}; }

class StoreReferencesTest : public ::testing::Test {
 protected:
  std::unique_ptr<SchemaStore> open_store() {
    StoreOptions options;
    options.dir = dir_.sub("registry");
    auto s = SchemaStore::open(options);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
    return s.ok() ? std::move(*s) : nullptr;
  }
  // common-money v1 (no root type) and shop-order v1 including it.
  void register_order(SchemaStore& store) {
    auto m = store.register_schema("common-money", with_refs(kMoneyV1, {}));
    ASSERT_TRUE(m.ok()) << m.error().message();
    auto o = store.register_schema("shop-order", with_refs(kOrder, {money(1)}));
    ASSERT_TRUE(o.ok()) << o.error().message();
  }
  causeway::testing::TempDir dir_;
};

TEST_F(StoreReferencesTest, AFileOfSharedTypesRegistersWithoutARootType) {
  auto store = open_store();
  auto r = store->register_schema("common-money", with_refs(kMoneyV1, {}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto v = store->get_version("common-money", 1);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->schema.root_type, "");
  auto parsed = store->parsed_schema(r->id);
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE((*parsed)->has_root_type());
}

TEST_F(StoreReferencesTest, AnIncludeResolvesToTheReferencedVersionsText) {
  auto store = open_store();
  register_order(*store);
  auto parsed = store->parsed_schema(2);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ((*parsed)->root_type, "shop.Order");
  EXPECT_THAT((*parsed)->canonical_form, HasSubstr("table common.Money"));
  ASSERT_EQ((*parsed)->parser_inputs.size(), 2u);
  EXPECT_THAT((*parsed)->parser_inputs[0], HasSubstr("table Money"));
  auto record = store->get_schema(2);
  ASSERT_TRUE(record.ok());
  EXPECT_THAT(record->references, ElementsAre(money(1)));
  EXPECT_EQ(record->schema, kOrder) << "the text is stored as submitted, include and all";
}

TEST_F(StoreReferencesTest, NestedIncludesResolveThroughEachVersionsOwnReferences) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("base", with_refs("namespace base; enum Currency:byte { EUR, USD }", {})).ok());
  // common-money includes base under its own name for it.
  auto m = store->register_schema(
      "common-money", with_refs("include \"currency.fbs\";\nnamespace common;\ntable Money { units:long; c:base.Currency; }",
                                {SchemaReference{"currency.fbs", "base", 1}}));
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto o = store->register_schema("shop-order", with_refs(kOrder, {money(1)}));
  ASSERT_TRUE(o.ok()) << o.error().message();
  auto parsed = store->parsed_schema(o->id);
  ASSERT_TRUE(parsed.ok());
  EXPECT_THAT((*parsed)->canonical_form, HasSubstr("enum base.Currency"));
  EXPECT_EQ((*parsed)->parser_inputs.size(), 3u) << "base, then common-money, then the order";
}

TEST_F(StoreReferencesTest, AnIncludeWithoutAMatchingReferenceIsInvalidAndNamesTheInclude) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("common-money", with_refs(kMoneyV1, {})).ok());
  auto r = store->register_schema("shop-order", with_refs(kOrder, {SchemaReference{"other.fbs", "common-money", 1}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_code(r.error()), ErrorCode::kInvalidSchema);
  EXPECT_THAT(r.error().message(), HasSubstr("include \"money.fbs\" (line 1): no reference is named \"money.fbs\""));
  EXPECT_THAT(r.error().message(), HasSubstr("references: \"other.fbs\""));
}

TEST_F(StoreReferencesTest, AnIncludeOfAMissingVersionIsInvalidAndNamesTheInclude) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("common-money", with_refs(kMoneyV1, {})).ok());
  auto r = store->register_schema("shop-order", with_refs(kOrder, {money(7)}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_code(r.error()), ErrorCode::kInvalidSchema);
  EXPECT_THAT(r.error().message(),
              HasSubstr("include \"money.fbs\" (line 1): subject 'common-money' version 7 does not exist"));
}

TEST_F(StoreReferencesTest, ASoftDeletedVersionCannotBeReferencedByANewSchema) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("common-money", with_refs(kMoneyV1, {})).ok());
  ASSERT_TRUE(store->delete_version("common-money", 1, false).ok());
  auto r = store->register_schema("shop-order", with_refs(kOrder, {money(1)}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_code(r.error()), ErrorCode::kInvalidSchema);
  EXPECT_THAT(r.error().message(), HasSubstr("soft-deleted"));
}

TEST_F(StoreReferencesTest, DuplicateOrEmptyReferenceNamesAreInvalid) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("common-money", with_refs(kMoneyV1, {})).ok());
  auto dup = store->register_schema("shop-order", with_refs(kOrder, {money(1), money(1)}));
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(dup.error().message(), HasSubstr("two references are named \"money.fbs\""));
  auto unnamed = store->register_schema("shop-order", with_refs(kOrder, {SchemaReference{"", "common-money", 1}}));
  ASSERT_FALSE(unnamed.ok());
  EXPECT_THAT(unnamed.error().message(), HasSubstr("has no name"));
}

TEST_F(StoreReferencesTest, IdentityIsTheResolvedSchemaPlusItsReferences) {
  auto store = open_store();
  register_order(*store);
  // The same text and reference under another subject: the same id.
  auto same = store->register_schema("other-order", with_refs(kOrder, {money(1)}));
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->id, 2);
  // The same text against a new version of the shared file: another schema.
  ASSERT_TRUE(store->register_schema("common-money", with_refs(kMoneyV2, {})).ok());
  auto moved = store->register_schema("shop-order", with_refs(kOrder, {money(2)}));
  ASSERT_TRUE(moved.ok()) << moved.error().message();
  EXPECT_TRUE(moved->created);
  EXPECT_NE(moved->id, 2);
  auto found = store->lookup("shop-order", with_refs(kOrder, {money(1)}));
  ASSERT_TRUE(found.ok()) << found.error().message();
  EXPECT_EQ(found->version, 1);
}

TEST_F(StoreReferencesTest, AChangeInsideAReferencedSubjectIsCheckedWhenTheIncluderMovesToIt) {
  auto store = open_store();
  register_order(*store);
  // The shared file's own subject accepts anything...
  ASSERT_TRUE(store->set_subject_mode("common-money", CompatibilityMode::kNone).ok());
  ASSERT_TRUE(store->register_schema("common-money", with_refs(kMoneyNarrowed, {})).ok());
  // ...but the order that includes it reads Money's bytes, and is checked in its own mode.
  auto check = store->check_compatibility("shop-order", kLatestVersion, with_refs(kOrder, {money(2)}));
  ASSERT_TRUE(check.ok()) << check.error().message();
  EXPECT_FALSE(check->is_compatible);
  ASSERT_EQ(check->messages.size(), 1u);
  EXPECT_EQ(check->messages[0],
            "shop.Order.total.units (id 0): type changed from long to int (backward, against version 1)");
  auto r = store->register_schema("shop-order", with_refs(kOrder, {money(2)}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_code(r.error()), ErrorCode::kIncompatible);
}

TEST_F(StoreReferencesTest, AFileOfSharedTypesIsCheckedDeclarationByDeclaration) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("common-money", with_refs(kMoneyV1, {})).ok());
  EXPECT_TRUE(store->register_schema("common-money", with_refs(kMoneyV2, {})).ok());
  auto narrowed = store->register_schema("common-money", with_refs(kMoneyNarrowed, {}));
  ASSERT_FALSE(narrowed.ok());
  EXPECT_EQ(error_code(narrowed.error()), ErrorCode::kIncompatible);
  EXPECT_THAT(narrowed.error().message(), HasSubstr("common.Money.units (id 0): type changed from long to int"));
  auto removed = store->register_schema("common-money", with_refs("namespace common; table Other { x:int; }", {}));
  ASSERT_FALSE(removed.ok());
  EXPECT_THAT(removed.error().message(), HasSubstr("common.Money: table removed"));
}

TEST_F(StoreReferencesTest, ReferencedByListsTheSchemasThatReferenceAVersion) {
  auto store = open_store();
  register_order(*store);
  ASSERT_TRUE(store->register_schema("shop-refund", with_refs(
      "include \"m.fbs\";\ntable Refund { amount:common.Money; }\nroot_type Refund;", {SchemaReference{"m.fbs", "common-money", 1}})).ok());
  auto ids = store->referenced_by("common-money", 1);
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  EXPECT_THAT(*ids, ElementsAre(2, 3));
  EXPECT_THAT(*store->referenced_by("common-money", kLatestVersion), ElementsAre(2, 3));
  EXPECT_THAT(*store->referenced_by("shop-order", 1), IsEmpty());
  EXPECT_EQ(error_code(store->referenced_by("common-money", 9).error()), ErrorCode::kVersionNotFound);
  EXPECT_EQ(error_code(store->referenced_by("nobody", 1).error()), ErrorCode::kSubjectNotFound);
}

TEST_F(StoreReferencesTest, DeletingAReferencedVersionIsRefusedUntilTheReferrerIsGone) {
  auto store = open_store();
  register_order(*store);
  auto soft = store->delete_version("common-money", 1, false);
  ASSERT_FALSE(soft.ok());
  EXPECT_EQ(error_code(soft.error()), ErrorCode::kReferenceExists);
  EXPECT_EQ(http_status(error_code(soft.error())), 422);
  EXPECT_THAT(soft.error().message(), HasSubstr("One or more references exist to the schema {subject=common-money, version=1}"));
  EXPECT_THAT(soft.error().message(), HasSubstr("schema id 2"));
  EXPECT_EQ(error_code(store->delete_subject("common-money", false).error()), ErrorCode::kReferenceExists);
  // A soft-deleted referrer still needs the text (its id stays readable): still refused.
  ASSERT_TRUE(store->delete_version("shop-order", 1, false).ok());
  EXPECT_EQ(error_code(store->delete_version("common-money", 1, false).error()), ErrorCode::kReferenceExists);
  ASSERT_TRUE(store->delete_version("shop-order", 1, true).ok());
  EXPECT_THAT(*store->referenced_by("common-money", 1), IsEmpty());
  EXPECT_TRUE(store->delete_version("common-money", 1, false).ok());
  EXPECT_TRUE(store->delete_version("common-money", 1, true).ok());
}

TEST_F(StoreReferencesTest, ASubjectWhoseVersionsReferenceEachOtherCanStillBeDeleted) {
  auto store = open_store();
  ASSERT_TRUE(store->register_schema("s", with_refs(kMoneyV1, {})).ok());
  ASSERT_TRUE(store->register_schema("s", with_refs(
      "include \"v1.fbs\";\nnamespace shop;\ntable Order { total:common.Money; }\nroot_type Order;", {SchemaReference{"v1.fbs", "s", 1}})).ok());
  EXPECT_EQ(error_code(store->delete_version("s", 1, false).error()), ErrorCode::kReferenceExists);
  auto soft = store->delete_subject("s", false);
  ASSERT_TRUE(soft.ok()) << soft.error().message();
  auto hard = store->delete_subject("s", true);
  ASSERT_TRUE(hard.ok()) << hard.error().message();
  EXPECT_THAT(*hard, ElementsAre(1, 2));
  EXPECT_EQ(error_code(store->get_schema(1).error()), ErrorCode::kSchemaNotFound);
  EXPECT_EQ(error_code(store->get_schema(2).error()), ErrorCode::kSchemaNotFound);
}

TEST_F(StoreReferencesTest, ResolvedSchemasSurviveARestart) {
  {
    auto store = open_store();
    register_order(*store);
  }
  auto store = open_store();
  auto parsed = store->parsed_schema(2);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_THAT((*parsed)->canonical_form, HasSubstr("table common.Money"));
  EXPECT_EQ(error_code(store->delete_version("common-money", 1, false).error()), ErrorCode::kReferenceExists);
}

TEST_F(StoreReferencesTest, AStoreWrittenBeforeTheReferencesIndexGetsItBuiltOnOpen) {
  {
    auto store = open_store();
    register_order(*store);
  }
  {  // What a format 1 store looks like: no index, no format key.
    auto env = lmdb::Env::open(dir_.sub("registry"), lmdb::EnvOptions{});
    ASSERT_TRUE(env.ok());
    Status s = (*env)->write([](lmdb::Txn& txn) -> Status {
      CAUSEWAY_ASSIGN_OR_RETURN(lmdb::Dbi meta, txn.open_dbi("meta", 0));
      CAUSEWAY_ASSIGN_OR_RETURN(lmdb::Dbi refs, txn.open_dbi("references", 0));
      CAUSEWAY_RETURN_IF_ERROR(txn.del(meta, "format").status());
      return lmdb::lmdb_status("mdb_drop", mdb_drop(txn.handle(), refs.handle, 0));
    });
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  auto store = open_store();
  EXPECT_THAT(*store->referenced_by("common-money", 1), ElementsAre(2));
  EXPECT_EQ(error_code(store->delete_version("common-money", 1, false).error()), ErrorCode::kReferenceExists);
}

}  // namespace
}  // namespace causeway::registry
