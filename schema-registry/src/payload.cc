// verify_payload: flatbuffers::Verify with the schema's reflection form. Contract:
// causeway/registry/payload.h.
#include "causeway/registry/payload.h"

#include <flatbuffers/reflection.h>

#include <string>

namespace causeway::registry {

Status verify_payload(const ParsedSchema& schema, std::span<const std::uint8_t> payload) {
  if (schema.reflection_bytes.empty()) return invalid_argument("schema has no reflection form");
  const auto* reflected = reflection::GetSchema(schema.reflection_bytes.data());
  const auto* root = reflected->root_table();
  if (root == nullptr) return invalid_argument("schema has no root table");
  // Stored before parse_schema refused them: never handed to the verifier, which would
  // read out of bounds (or abort) on a short union type vector.
  if (const std::string field = find_union_vector(schema); !field.empty()) {
    return invalid_argument("payloads of " + root->name()->str() + " cannot be verified: field " + field +
                            " is a vector of unions, which FlatBuffers 2.0.8 cannot verify safely");
  }
  // The smallest FlatBuffer is a root offset plus a vtable and a table: well over 4 bytes.
  if (payload.size() < sizeof(flatbuffers::uoffset_t) ||
      !flatbuffers::Verify(*reflected, *root, payload.data(), payload.size(), kMaxPayloadDepth, kMaxPayloadTables)) {
    return invalid_argument(std::string("payload (") + std::to_string(payload.size()) +
                            " bytes) is not a valid FlatBuffer of " + root->name()->str());
  }
  return Status();
}

}  // namespace causeway::registry
