// File: causeway/registry/payload.h
//
// Payload validation: does a byte buffer hold a valid FlatBuffer of a registered schema's
// root type? Used by the broker for topics bound to a subject with `--validate full`
// (DESIGN.md guarantee 5). The check is flatbuffers::Verify over the schema's reflection
// form: every offset, vtable, string, vector and nested table in bounds, with depth and
// table-count limits, so a buffer that passes can be read with reflection without going out
// of bounds. It does not check `required` fields' semantics beyond what the verifier does.
//
// Thread-safety: pure; call from any thread with distinct or shared schemas.
#pragma once

#include <cstdint>
#include <span>

#include "causeway/common/status.h"
#include "causeway/registry/schema.h"

namespace causeway::registry {

// Depth and table-count limits for verification; a payload that nests deeper or holds more
// tables than this is refused rather than walked.
inline constexpr std::uint32_t kMaxPayloadDepth = 64;
inline constexpr std::uint32_t kMaxPayloadTables = 1u << 20;

// OK if `payload` is a valid FlatBuffer whose root is `schema`'s root table.
// kInvalidArgument naming the root type and the payload size otherwise (empty, truncated,
// garbage, an out-of-bounds offset, too deep). `payload` needs no particular alignment.
Status verify_payload(const ParsedSchema& schema, std::span<const std::uint8_t> payload);

}  // namespace causeway::registry
