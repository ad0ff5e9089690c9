// File: causeway/registry/schema.h
//
// Parsing a FlatBuffers schema (.fbs text + root type) into the form the registry stores and
// compares: the reflection::Schema bytes that flatc's own parser produces. Those bytes are
// also the schema's identity (canonical form and fingerprint). Contract: DESIGN.md "Schema
// registry" and docs/compatibility.md ("Schema identity").
//
// Thread-safety: parse_schema is reentrant (each call uses its own parser); a ParsedSchema is
// an immutable value once built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/common/status.h"

namespace causeway::registry {

// Largest .fbs text parse_schema accepts; bounded before the parser allocates anything.
inline constexpr std::size_t kMaxSchemaTextBytes = 1 << 20;

struct ParsedSchema {
  // The .fbs text as submitted (kept for the REST API's GET /schemas/ids/{id}).
  std::string source;
  // Fully qualified root table name, e.g. "shop.Order".
  std::string root_type;
  // A serialised reflection::Schema (reflection.fbs), as flatc --bfbs would write it without
  // comments. This is what the checker compares and what reflection reads payloads with.
  std::vector<std::uint8_t> reflection_bytes;
  // A text listing of every wire-relevant property of every declaration, sorted by name, so
  // text that differs only in whitespace, comments or declaration order gives the same form.
  // (The reflection bytes are not canonical: flatc writes the tables in declaration order.)
  std::string canonical_form;
  // 16 lowercase hex digits: 64-bit FNV-1a of canonical_form. Equal schemas have equal
  // fingerprints; compare canonical_form to be certain.
  std::string fingerprint;

  // True if both have the same canonical form (same types, slots, defaults, root).
  bool is_same_schema_as(const ParsedSchema& other) const {
    return canonical_form == other.canonical_form;
  }
};

// Parses `fbs_text` and fixes its root to `root_type` (qualified, or relative to the schema's
// last namespace; empty means the schema's own `root_type` declaration).
// Errors, all kInvalidArgument (the REST layer maps them to 42201 "invalid schema"):
//  - text larger than kMaxSchemaTextBytes;
//  - an `include` declaration (includes and schema references are not supported yet);
//  - any flatbuffers parser error, quoting the parser's message with its line and column;
//  - root type missing, not declared, or a struct rather than a table;
//  - a vector of unions anywhere (see find_union_vector).
// Never touches the file system.
Result<ParsedSchema> parse_schema(std::string_view fbs_text, std::string_view root_type);

// The first field ("Table.field") of `schema` whose type is a vector of unions, or "".
// FlatBuffers 2.0.8's verifier reads such a field's type vector at every index of its
// value vector without checking its length (an assertion abort in Debian's build, an
// out-of-bounds read without it), so payloads of such a schema cannot be verified
// safely: parse_schema refuses these schemas and verify_payload refuses their payloads.
std::string find_union_vector(const ParsedSchema& schema);

}  // namespace causeway::registry
