// File: core/schema_checker.h
//
// SchemaChecker: what the publish pipeline asks about events of a topic bound to a schema
// subject (docs/wire-protocol.md, "Schema-bound topics"): is this schema id a live version
// of the subject, and (with validate=full) does the payload verify against that schema?
// Implementations: the embedded registry's store (core/registry_schema_checker.h), a remote
// registry over HTTP behind a cache (core/remote_schema_checker.h); tests supply their own.
//
// Two forms, because publishes run inline on network threads (docs/broker.md): try_check()
// answers at once when that needs nothing slower than a local LMDB read or a cache hit, and
// otherwise returns nullopt; the caller then uses check_async(), which resolves the lookup
// off the calling thread and answers through a callback.
//
// Thread-safety: every member may be called from any thread concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/common/status.h"

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

// Why an id whose schema has no root type is refused (both checkers say it the same way).
inline std::string no_root_type_message(uint32_t schema_id) {
  return "schema id " + std::to_string(schema_id) +
         " has no root type: it is a file of shared types, used only through references, and events cannot be "
         "written with it (register the event's own schema, with a root_type, and use its id)";
}

class SchemaChecker {
 public:
  virtual ~SchemaChecker() = default;

  // The verdict, if it can be given without waiting on the network; nullopt otherwise.
  // Never blocks on anything slower than a local LMDB read.
  virtual std::optional<SchemaCheck> try_check(std::string_view subject, uint32_t schema_id,
                                               std::string_view payload, bool verify_payload) = 0;

  // The verdict through `done`, exactly once: inline if it is at hand, otherwise later on a
  // thread of the checker's own once the lookup completes. Never blocks the caller.
  // `subject` and `payload` must stay valid until `done` has run. `done` must not block.
  using CheckDone = std::function<void(SchemaCheck)>;
  virtual void check_async(std::string_view subject, uint32_t schema_id, std::string_view payload,
                           bool verify_payload, CheckDone done) = 0;

  // The registered schema of `schema_id` as a serialised reflection::Schema
  // (registry::ParsedSchema::reflection_bytes), for reading FlatBuffers payloads as event
  // patterns do (docs/patterns.md). May block on a registry lookup: call it from a storage
  // thread, never a network thread. kNotFound for an id the registry does not know; the
  // default (a checker without schemas) kFailedPrecondition.
  virtual Result<std::vector<uint8_t>> reflection_schema(uint32_t schema_id) {
    return failed_precondition("no schema registry to read schema id " + std::to_string(schema_id) + " from");
  }

  // Called by the server as it stops, before its storage work drains: lookups in flight
  // finish and their callbacks run before this returns; later check_async calls are
  // answered inline. The default has nothing in flight.
  virtual void stop() {}
};

}  // namespace causeway::core
