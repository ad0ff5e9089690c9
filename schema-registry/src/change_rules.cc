// The rule table: one verdict per kind of change and direction, with the wire-format reason.
// docs/compatibility.md is the prose form of this table; change both together.
#include <array>

#include "causeway/registry/compatibility.h"

namespace causeway::registry {
namespace {

constexpr Verdict C = Verdict::kCompatible;
constexpr Verdict N = Verdict::kNote;
constexpr Verdict I = Verdict::kIncompatible;

constexpr std::array kRules = {
    ChangeRule{ChangeKind::kFieldAdded, "field-added", C, C,
               "a new vtable slot: old data lacks it, so the new reader gets the default; the old "
               "reader never looks at slots it does not know"},
    ChangeRule{ChangeKind::kRequiredFieldAdded, "required-field-added", I, C,
               "old data never has the slot, and the new reader's verifier rejects a table "
               "without a required field"},
    ChangeRule{ChangeKind::kFieldRemoved, "field-removed", I, C,
               "wire-safe today, but the freed slot can later be reused with another type, which "
               "a non-transitive check cannot see; FlatBuffers' rule is to deprecate instead"},
    ChangeRule{ChangeKind::kRequiredFieldRemoved, "required-field-removed", I, I,
               "as field-removed, and new data omits a field the old reader's verifier requires"},
    ChangeRule{ChangeKind::kFieldDeprecated, "field-deprecated", C, C,
               "the slot stays reserved; the new reader ignores it and the old reader sees the "
               "default because new writers no longer set it"},
    ChangeRule{ChangeKind::kRequiredFieldDeprecated, "required-field-deprecated", C, I,
               "new writers stop writing the field, which the old reader's verifier requires"},
    ChangeRule{ChangeKind::kFieldUndeprecated, "field-undeprecated", C, C,
               "the slot kept its type while deprecated; data that has it reads as before"},
    ChangeRule{ChangeKind::kFieldRenamed, "field-renamed", N, N,
               "the wire knows slots, not names; JSON, event patterns and generated code do see "
               "the new name"},
    ChangeRule{ChangeKind::kFieldMoved, "field-moved", I, I,
               "the field's vtable slot changed (an inserted field or a new id), so each side "
               "reads the other's value from the wrong slot"},
    ChangeRule{ChangeKind::kFieldTypeChanged, "field-type-changed", I, I,
               "the slot's bytes are reinterpreted: another width or signedness of scalar, an "
               "inline scalar against an offset, or another vector element"},
    ChangeRule{ChangeKind::kStringToBytes, "string-to-bytes", C, I,
               "a string is a byte vector plus a NUL the length excludes, so [ubyte] reads it; "
               "a plain byte vector lacks the NUL the old string verifier checks"},
    ChangeRule{ChangeKind::kBytesToString, "bytes-to-string", I, C,
               "the mirror of string-to-bytes: old byte vectors lack the string terminator"},
    ChangeRule{ChangeKind::kEnumWrapped, "enum-wrapped", N, N,
               "an enum is stored as its underlying scalar; same width and signedness, same "
               "bytes"},
    ChangeRule{ChangeKind::kTableStructChanged, "table-struct-changed", I, I,
               "a struct is stored inline in its parent, a table through an offset"},
    ChangeRule{ChangeKind::kDefaultChanged, "default-changed", I, I,
               "writers omit a scalar equal to the default, and the reader substitutes its own "
               "default: every omitted value changes meaning"},
    ChangeRule{ChangeKind::kRequiredAdded, "required-added", I, C,
               "old data may omit the field; the new reader's verifier rejects that"},
    ChangeRule{ChangeKind::kRequiredRemoved, "required-removed", C, I,
               "new data may omit the field; the old reader's verifier rejects that"},
    ChangeRule{ChangeKind::kTypeRenamed, "type-renamed", N, N,
               "the wire has no type names; compared by position in the type graph"},
    ChangeRule{ChangeKind::kNamespaceChanged, "namespace-changed", N, N,
               "the wire has no namespaces; generated code and qualified names change"},
    ChangeRule{ChangeKind::kRootTypeChanged, "root-type-changed", N, N,
               "the root is found through the buffer's root offset, not its name; the old and "
               "new roots are compared field by field"},
    ChangeRule{ChangeKind::kFileIdentifierChanged, "file-identifier-changed", I, I,
               "readers that check the 4-byte identifier after the root offset reject the other "
               "side's buffers"},
    ChangeRule{ChangeKind::kEnumValueAdded, "enum-value-added", C, I,
               "old data never holds the new value; the old reader meets a value it has no name "
               "for"},
    ChangeRule{ChangeKind::kEnumValueRemoved, "enum-value-removed", I, C,
               "old data may hold the value; the new reader has no name for it"},
    ChangeRule{ChangeKind::kEnumValueRenamed, "enum-value-renamed", N, N,
               "the wire holds the number; JSON and patterns use the name"},
    ChangeRule{ChangeKind::kEnumValueRenumbered, "enum-value-renumbered", I, I,
               "the stored number now means another value"},
    ChangeRule{ChangeKind::kEnumUnderlyingTypeChanged, "enum-underlying-type-changed", I, I,
               "the scalar's width or signedness changed"},
    ChangeRule{ChangeKind::kUnionMemberAdded, "union-member-added", C, I,
               "old data never holds the new type tag; the old reader cannot read a member it "
               "does not know (generated accessors return null)"},
    ChangeRule{ChangeKind::kUnionMemberRemoved, "union-member-removed", I, C,
               "old data may hold the removed tag; the new reader cannot read it"},
    ChangeRule{ChangeKind::kUnionMemberRenumbered, "union-member-renumbered", I, I,
               "the type tag stored beside the union decides which table the offset is read as; "
               "reordering makes a tag name another table"},
    ChangeRule{ChangeKind::kStructLayoutChanged, "struct-layout-changed", I, I,
               "a struct is inline, without a vtable: each reader takes every field from the byte "
               "offset its own schema gives, so a field that moves (reordered, even among fields "
               "of one type), changes width or type, or is added or removed (also in padding) "
               "makes one side read the other's bytes, padding or the next field as its value"},
    ChangeRule{ChangeKind::kStructAlignmentRaised, "struct-alignment-raised", I, C,
               "old writers placed the struct at its old, smaller alignment; the new reader's "
               "verifier (and generated code) requires the larger one and rejects those buffers; "
               "new data is also aligned for the old reader"},
    ChangeRule{ChangeKind::kStructAlignmentLowered, "struct-alignment-lowered", C, I,
               "the mirror of struct-alignment-raised: new writers may place the struct where the "
               "old reader's verifier requires more alignment"},
    ChangeRule{ChangeKind::kTypeRemoved, "type-removed", I, C,
               "in a schema without a root type (a file of shared types, compared declaration by "
               "declaration by name) a declaration is gone: schemas that include the new version "
               "can no longer read data of that type; data written with the new version never "
               "holds it"},
    ChangeRule{ChangeKind::kTypeGraphTooDeep, "type-graph-too-deep", I, I,
               "the checker compares type positions at most 64 levels below the root (a bound "
               "that keeps hostile schemas from exhausting the stack); deeper positions are "
               "not compared, so the pair cannot be shown compatible"},
};

static_assert(kRules.size() == static_cast<std::size_t>(ChangeKind::kTypeGraphTooDeep) + 1);

}  // namespace

std::span<const ChangeRule> change_rules() noexcept { return kRules; }

const ChangeRule& change_rule(ChangeKind kind) noexcept {
  return kRules[static_cast<std::size_t>(kind)];
}

}  // namespace causeway::registry
