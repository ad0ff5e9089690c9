// File: rules/flatbuffers_walker.h
//
// A FlatBuffers payload as patterns see it (docs/patterns.md, "The event as patterns see
// it"): read through its registered schema with reflection, following only the fields a
// pattern reads. Tables are objects, strings strings, numbers numbers, booleans booleans,
// enums their value's name (the number when the value has no name), vectors arrays,
// structs objects, unions an object of the member table plus a `NAME_type` field with the
// member's name (as flatc's JSON does). Fields of non-scalar types are absent when not
// stored; scalar fields are always present, with their default when not stored, except
// optional scalars (`= null`), which are absent when not stored.
//
// Every payload is verified against the schema (flatbuffers::Verify with depth and table
// limits) before anything is read; one that does not verify has no "data".
//
// Thread-safety: a walker is immutable after create() and may be shared.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "causeway/common/status.h"
#include "rules/matcher.h"

namespace reflection {
struct Schema;
struct Object;
}  // namespace reflection

namespace causeway::rules {

class FlatbuffersWalker {
 public:
  // `reflection_bytes`: a serialised reflection::Schema with a root table (the registry's
  // ParsedSchema::reflection_bytes). kInvalidArgument if they do not verify as one.
  static Result<std::unique_ptr<FlatbuffersWalker>> create(std::vector<uint8_t> reflection_bytes);

  // Reads `payload` along the trie below node `data`, reporting its scalars. False (and
  // nothing reported) when the payload does not verify against the schema.
  bool walk(std::string_view payload, const PathTrie& paths, uint32_t data, LeafSink& sink) const;

  // The whole payload as a JSON object in the same view; nullopt when it does not verify.
  std::optional<nlohmann::json> to_json(std::string_view payload) const;

 private:
  FlatbuffersWalker() = default;
  // Verifies `payload` and returns an aligned view of it (copied per thread if needed).
  const uint8_t* verified(std::string_view payload) const;

  std::vector<uint8_t> bytes_;
  const reflection::Schema* schema_ = nullptr;
  const reflection::Object* root_ = nullptr;
};

}  // namespace causeway::rules
