// File: client/cli/payload_codec.h
//
// JSON <-> FlatBuffers for event payloads of schema-bound topics in the causeway CLI
// (docs/registry.md, "JSON payloads in the CLI"). A PayloadCodec is built from one registered
// schema (its .fbs text, root type and references, as RegistryClient returns them) and uses
// FlatBuffers' own Parser to turn a JSON object into a buffer of the root type, and its
// GenText (after flatbuffers::Verify over the schema's reflection form) to turn a payload
// back into JSON.
//
// The schema is parsed with causeway::registry::parse_schema, its includes resolved through
// its references by fetching the referenced versions from the registry (recursively), so it
// is the same resolved schema the registry and the broker check against, held to the same
// limits (size bound, includes only through references, a table as root). The Parser is then
// fed the resolved texts (registry::load_schema), never files.
//
// Thread-safety: none; one codec per thread (the CLI is single-threaded).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "causeway/client/registry_client.h"
#include "causeway/client/types.h"
#include "causeway/common/status.h"

namespace flatbuffers {
class Parser;
}

namespace causeway::cli {

class PayloadCodec {
 public:
  // kInvalidArgument (with the parser's line and column, or the include that cannot be
  // resolved) if the schema does not parse or has no root type; the registry's error if a
  // referenced version cannot be fetched. `registry` fetches the versions the schema's
  // references name; it may be null for a schema without references.
  static Result<std::unique_ptr<PayloadCodec>> create(const client::RegistrySchema& schema,
                                                      client::RegistryClient* registry = nullptr);
  ~PayloadCodec();
  PayloadCodec(const PayloadCodec&) = delete;
  PayloadCodec& operator=(const PayloadCodec&) = delete;

  int schema_id() const noexcept { return schema_id_; }
  const std::string& root_type() const noexcept { return root_type_; }

  // Encodes a JSON object as a FlatBuffer of the root type; every field it gives is written,
  // even one equal to its default (so decode() returns the same object). kInvalidArgument
  // quoting the FlatBuffers parser's error (unknown field, type mismatch, ...) otherwise, or
  // when the buffer the parser made does not verify (a union's _type without its value).
  Result<std::string> encode(const nlohmann::json& object);
  // Verifies `payload` against the schema and renders it as a JSON object (fields absent
  // from the buffer are left out, as GenText does; producers that skip defaults omit them).
  // kInvalidArgument if it does not verify (including what GenText trusts and the verifier
  // does not check: union values without their type, nested FlatBuffers and FlexBuffers) or
  // cannot be rendered as JSON.
  Result<nlohmann::json> decode(std::string_view payload) const;

 private:
  PayloadCodec();
  Status reset_parser();

  int schema_id_ = 0;
  std::string root_type_;
  struct Verified;
  std::unique_ptr<Verified> verified_;  // the registry's parsed form, for verify_payload
  std::unique_ptr<flatbuffers::Parser> parser_;
};

// A RegistryClient for PayloadRenderer: a short connect timeout (2 s), so that an
// unreachable registry costs one short wait before events print undecoded.
// kInvalidArgument for a malformed URL.
Result<std::unique_ptr<client::RegistryClient>> renderer_registry(const std::string& url);

// Renders fetched and delivered events as JSON lines, decoding the payload of every event
// that carries a schema id into a JSON object in "data" (schemas fetched once per id through
// `registry`, then cached). When that is not possible (registry unreachable, unknown id,
// payload that does not verify) the event is printed as event_to_json() does, and the reason
// goes to `notes` once per schema id (once in all when the registry is unreachable).
class PayloadRenderer {
 public:
  // `registry` may be null: then nothing is decoded.
  PayloadRenderer(client::RegistryClient* registry, std::ostream& notes) : registry_(registry), notes_(notes) {}

  nlohmann::json render(const client::FetchedEvent& event);

 private:
  PayloadCodec* codec_for(uint32_t schema_id);
  void note_once(uint32_t schema_id, const std::string& text);

  client::RegistryClient* registry_;
  std::ostream& notes_;
  bool registry_unreachable_ = false;
  std::map<uint32_t, std::unique_ptr<PayloadCodec>> codecs_;  // null: the id cannot be decoded
  std::set<uint32_t> noted_;
};

}  // namespace causeway::cli
