// File: core/schema_checker.h
//
// SchemaChecker: what the publish pipeline asks about events of a topic bound to a schema
// subject (docs/wire-protocol.md, "Schema-bound topics"): is this schema id a live version
// of the subject, and (with validate=full) does the payload verify against that schema?
// The broker's implementation asks the embedded registry's store (core/registry_schema_
// checker.h); tests may supply their own.
//
// Thread-safety: check() is called from network threads concurrently and must not block
// on anything slower than a local LMDB read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace causeway::core {

enum class SchemaVerdict : uint8_t {
  kOk,
  kNotAVersion,     // schema id absent, unknown, or not a live version of the subject
  kInvalidPayload,  // the payload does not verify against the schema
  kUnavailable,     // the registry could not answer
};

struct SchemaCheck {
  SchemaVerdict verdict = SchemaVerdict::kOk;
  std::string message;  // why, for the event's error; empty when kOk
};

class SchemaChecker {
 public:
  virtual ~SchemaChecker() = default;
  virtual SchemaCheck check(std::string_view subject, uint32_t schema_id, std::string_view payload,
                            bool verify_payload) = 0;
};

}  // namespace causeway::core
