// File: causeway/registry/compatibility.h
//
// The schema compatibility checker: a diff of two parsed schemas into classified changes,
// each kind of change with a fixed verdict for "new reads old" (backward) and "old reads new"
// (forward), and the Confluent compatibility modes built on top. The rule table, with the
// wire-format reason for every verdict, is docs/compatibility.md; change_rules() is the same
// table in code and the doc must match it.
//
// Types are compared by their position in the type graph (root table, then the type of each
// field, vector element, union member), not by name, so renaming or moving a type between
// namespaces is seen as what it is on the wire: nothing.
//
// Thread-safety: all functions are pure; call them from any thread.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/common/status.h"
#include "causeway/registry/schema.h"

namespace causeway::registry {

// Confluent Schema Registry's modes, with its semantics: non-transitive modes compare the
// candidate with the latest version only; transitive ones with every previous version.
enum class CompatibilityMode {
  kBackward,            // BACKWARD (the default): the new schema reads data written with the latest.
  kBackwardTransitive,  // BACKWARD_TRANSITIVE: ... with every previous version.
  kForward,             // FORWARD: the latest schema reads data written with the new one.
  kForwardTransitive,   // FORWARD_TRANSITIVE: every previous version reads the new one's data.
  kFull,                // FULL: BACKWARD and FORWARD against the latest.
  kFullTransitive,      // FULL_TRANSITIVE: both, against every previous version.
  kNone,                // NONE: no check.
};

// "BACKWARD", "FULL_TRANSITIVE", ...
std::string_view format_compatibility_mode(CompatibilityMode mode) noexcept;
// Accepts exactly Confluent's names (upper case). kInvalidArgument names the bad value.
Result<CompatibilityMode> parse_compatibility_mode(std::string_view name);

// What a reader on one side makes of data written on the other side for one kind of change.
enum class Verdict {
  kCompatible,    // Reads correctly; not reported.
  kNote,          // Reads correctly on the wire but worth telling the schema owner (JSON or
                  // generated code sees a difference); reported as a note, never rejected.
  kIncompatible,  // Misreads, fails verification, or breaks a rule that keeps later versions
                  // safe; rejected by modes that check this direction.
};

// One kind of change per rule in docs/compatibility.md.
enum class ChangeKind {
  kFieldAdded,
  kRequiredFieldAdded,
  kFieldRemoved,
  kRequiredFieldRemoved,
  kFieldDeprecated,
  kRequiredFieldDeprecated,
  kFieldUndeprecated,
  kFieldRenamed,
  kFieldMoved,
  kFieldTypeChanged,
  kStringToBytes,
  kBytesToString,
  kEnumWrapped,
  kTableStructChanged,
  kDefaultChanged,
  kRequiredAdded,
  kRequiredRemoved,
  kTypeRenamed,
  kNamespaceChanged,
  kRootTypeChanged,
  kFileIdentifierChanged,
  kEnumValueAdded,
  kEnumValueRemoved,
  kEnumValueRenamed,
  kEnumValueRenumbered,
  kEnumUnderlyingTypeChanged,
  kUnionMemberAdded,
  kUnionMemberRemoved,
  kUnionMemberRenumbered,
  kStructLayoutChanged,
  kStructAlignmentRaised,
  kStructAlignmentLowered,
  kTypeRemoved,
  kTypeGraphTooDeep,
};

struct ChangeRule {
  ChangeKind kind;
  std::string_view name;  // stable kebab-case id, e.g. "field-type-changed"
  Verdict backward;       // new schema reading data written with the old one
  Verdict forward;        // old schema reading data written with the new one
  std::string_view reason;
};

// Every rule, in ChangeKind order.
std::span<const ChangeRule> change_rules() noexcept;
const ChangeRule& change_rule(ChangeKind kind) noexcept;

// One difference between an old and a new schema, at one position of the type graph.
struct SchemaChange {
  ChangeKind kind;
  // Position from the old root, e.g. "shop.Order.lines[].amount (id 2)".
  std::string path;
  std::string old_side;  // e.g. "int"; empty when the thing is absent on that side
  std::string new_side;  // e.g. "long"
  // "<path>: <what happened>", e.g. "shop.Order.amount (id 2): type changed from int to long".
  std::string message;
};

// Every change from `old_schema` to `new_schema`, compatible ones included, in traversal order
// (root first, fields by slot). Each position pair is visited once, so recursive types end.
std::vector<SchemaChange> diff_schemas(const ParsedSchema& old_schema,
                                       const ParsedSchema& new_schema);

enum class Direction {
  kBackward,  // the new schema reads data written with the old one
  kForward,   // the old schema reads data written with the new one
};

struct Violation {
  SchemaChange change;
  Direction direction;
  // Index into the previous versions passed to check() (oldest first); 0 from check_backward
  // and check_forward.
  std::size_t previous_index = 0;
};

// Changes that stop `new_schema` from reading data written with `old_schema`.
std::vector<Violation> check_backward(const ParsedSchema& new_schema,
                                      const ParsedSchema& old_schema);
// Changes that stop `old_schema` from reading data written with `new_schema`.
std::vector<Violation> check_forward(const ParsedSchema& new_schema,
                                     const ParsedSchema& old_schema);

struct CompatibilityResult {
  bool is_compatible = true;
  std::vector<Violation> violations;  // empty iff is_compatible
  std::vector<Violation> notes;       // kNote changes in the checked directions
};

// Checks `candidate` against `previous_versions_oldest_first` under `mode`. With no previous
// version every candidate is compatible. kNone checks nothing.
CompatibilityResult check(CompatibilityMode mode, const ParsedSchema& candidate,
                          std::span<const ParsedSchema> previous_versions_oldest_first);

}  // namespace causeway::registry
