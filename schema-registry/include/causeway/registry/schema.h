// File: causeway/registry/schema.h
//
// Parsing a FlatBuffers schema (.fbs text + root type + references) into the form the
// registry stores and compares: the reflection::Schema bytes that flatc's own parser
// produces. Those bytes are also the schema's identity (canonical form and fingerprint).
// Contract: DESIGN.md "Schema registry", docs/compatibility.md ("Schema identity") and
// docs/registry.md ("References").
//
// References: a schema may `include "NAME";` where NAME is the `name` of one of its
// references ({name, subject, version}); the include means that subject version's text,
// which may include further versions through its own references. They are resolved through
// a ReferenceLookup (the store, a registry over HTTP, ...), never from the file system:
// the parser is handed every text itself and file access is refused while it runs.
//
// Thread-safety: parse_schema is reentrant (each call uses its own parser); a ParsedSchema is
// an immutable value once built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/common/status.h"

namespace causeway::registry {

// Largest .fbs text parse_schema accepts; bounded before the parser allocates anything.
inline constexpr std::size_t kMaxSchemaTextBytes = 1 << 20;
// Bounds of one resolution, so that a registry's answers (or a hostile one's) cannot make a
// parse unbounded: distinct subject versions reached through includes, how deep includes
// nest, and the text of all of them together.
inline constexpr std::size_t kMaxReferencedSchemas = 64;
inline constexpr std::size_t kMaxIncludeDepth = 16;
inline constexpr std::size_t kMaxResolvedTextBytes = 4 << 20;

// A dependency of a schema on a version of another subject (Confluent's "references").
struct SchemaReference {
  std::string name;  // what the schema's text includes: `include "NAME";`
  std::string subject;
  int version = 0;
  friend bool operator==(const SchemaReference&, const SchemaReference&) = default;
};

// One referenced subject version, as a ReferenceLookup finds it.
struct ReferencedSchema {
  std::string schema;                       // its .fbs text
  std::vector<SchemaReference> references;  // its own references
};

// Finds a subject version for a reference. Must return kNotFound when the subject or the
// version does not exist; any other error (the store or the registry failed) ends the
// resolution and parse_schema returns it unchanged. Called at most once per distinct
// (subject, version) in one parse_schema call.
using ReferenceLookup = std::function<Result<ReferencedSchema>(const std::string& subject, int version)>;

enum class RootTypeRule {
  kRequired,  // events are written with the schema: a root table is needed
  kOptional,  // a file of shared types, used only through references, may have none
};

struct ParsedSchema {
  // The .fbs text as submitted (kept for the REST API's GET /schemas/ids/{id}).
  std::string source;
  // Fully qualified root table name, e.g. "shop.Order"; empty for a schema without a root
  // type (parsed with RootTypeRule::kOptional).
  std::string root_type;
  // The references as submitted.
  std::vector<SchemaReference> references;
  // What the FlatBuffers parser reads, in order: each included subject version (every one
  // after those it includes), then the schema itself, each with its include declarations
  // blanked out. The types of all of them are in reflection_bytes. fbs_parser.h's
  // load_schema() feeds them to a flatbuffers::Parser for JSON encoding and decoding.
  std::vector<std::string> parser_inputs;
  // A serialised reflection::Schema (reflection.fbs), as flatc --bfbs would write it without
  // comments, of the resolved schema (included types too). This is what the checker compares
  // and what reflection reads payloads with.
  std::vector<std::uint8_t> reflection_bytes;
  // A text listing of every wire-relevant property of every declaration, sorted by name, so
  // text that differs only in whitespace, comments or declaration order gives the same form.
  // (The reflection bytes are not canonical: flatc writes the tables in declaration order.)
  std::string canonical_form;
  // 16 lowercase hex digits: 64-bit FNV-1a of canonical_form. Equal schemas have equal
  // fingerprints; compare canonical_form to be certain.
  std::string fingerprint;

  bool has_root_type() const noexcept { return !root_type.empty(); }
  // True if both have the same canonical form (same types, slots, defaults, root).
  bool is_same_schema_as(const ParsedSchema& other) const {
    return canonical_form == other.canonical_form;
  }
};

// Parses `fbs_text` with its `references`, resolving each `include "NAME";` through
// `lookup` (recursively, through the referenced versions' own references), and fixes its
// root to `root_type` (qualified, or relative to the schema's last namespace; empty means
// the schema's own `root_type` declaration, and with kOptional possibly none).
// Errors, kInvalidArgument unless said otherwise (the REST layer maps them to 42201
// "invalid schema"):
//  - text larger than kMaxSchemaTextBytes, or holding a NUL byte;
//  - an include with no reference of that name, a reference whose subject or version does
//    not exist, includes that form a cycle, or a resolution past the bounds above: each
//    message names the include (`include "common.fbs" (line 2)`) and, for one inside a
//    referenced version, that subject and version;
//  - a malformed include declaration, or one after other declarations;
//  - any flatbuffers parser error, quoting the parser's message with its line and column
//    (for an included version: naming it);
//  - root type missing (with kRequired), not declared, or a struct rather than a table;
//  - a vector of unions anywhere, in the schema or a version it includes (see
//    find_union_vector);
//  - whatever `lookup` returned other than kNotFound, unchanged (kIOError, kUnavailable...).
// Never touches the file system.
Result<ParsedSchema> parse_schema(std::string_view fbs_text, std::string_view root_type,
                                  std::span<const SchemaReference> references,
                                  const ReferenceLookup& lookup,
                                  RootTypeRule root_rule = RootTypeRule::kRequired);

// A schema without references (every include is an error naming it), root type required.
Result<ParsedSchema> parse_schema(std::string_view fbs_text, std::string_view root_type);

// The first field ("Table.field") of `schema` whose type is a vector of unions, or "".
// FlatBuffers 2.0.8's verifier reads such a field's type vector at every index of its
// value vector without checking its length (an assertion abort in Debian's build, an
// out-of-bounds read without it), so payloads of such a schema cannot be verified
// safely: parse_schema refuses these schemas and verify_payload refuses their payloads.
std::string find_union_vector(const ParsedSchema& schema);

}  // namespace causeway::registry
