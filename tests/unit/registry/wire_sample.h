// Test helpers that put real FlatBuffers bytes behind the compatibility verdicts: a JSON
// sample that sets every field of a schema, encoding JSON with flatbuffers' own Parser, and a
// reflection walk that dumps what a reader schema sees in a buffer. Used by wire_proof_test.cc.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/common/status.h"
#include "causeway/registry/schema.h"

namespace causeway::registry::testing {

// JSON for the schema's root that sets every non-deprecated field to a non-default value
// (tables nested up to a small depth, two vector elements, the first union member).
std::string sample_json(const ParsedSchema& schema);

// Encodes `json` with the schema (flatbuffers::Parser), as a producer would.
Result<std::vector<std::uint8_t>> encode_json(const ParsedSchema& schema, std::string_view json);

// flatbuffers::Verify of `buffer` against the schema's root.
bool verify_with(const ParsedSchema& schema, const std::vector<std::uint8_t>& buffer);

// What `schema` reads from a verified buffer: "slot path" -> value, e.g. "#2.#0[1]" -> "7".
// Keys use field ids (slots), struct field offsets and vector indexes, never names, so they
// are comparable across renames. A present slot the schema does not know (or deprecated)
// dumps as "<unread>". Strings and byte vectors both dump as "bytes:<hex>".
std::map<std::string, std::string> dump_as(const ParsedSchema& schema,
                                           const std::vector<std::uint8_t>& buffer);

// Empty if `reader` saw exactly what `writer` wrote (slots the reader does not read aside);
// else the first difference.
std::string first_misread(const std::map<std::string, std::string>& writer,
                          const std::map<std::string, std::string>& reader);

}  // namespace causeway::registry::testing
