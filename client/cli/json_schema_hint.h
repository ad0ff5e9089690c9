// File: client/cli/json_schema_hint.h
//
// Better words for a "data" JSON object that FlatBuffers' Parser refused. The parser
// reports a string in an integer field as "enum values need to be qualified by an enum
// type" and says nothing of the field; this walks the object beside the schema and names
// the first field whose JSON value has the wrong kind, with the type the schema expects.
// Used by PayloadCodec::encode (payload_codec.h) only after the parser failed, so it can
// never refuse what the parser accepts. Pure; tested in tests/unit/client/payload_codec_test.cc.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace flatbuffers {
struct StructDef;
}

namespace causeway::cli {

// E.g. `field "amount" of shop.Order is a long (a JSON integer), got the string "lots"`;
// nullopt when every field has a value of a kind its type takes (the parser's own message
// then stands).
std::optional<std::string> explain_type_mismatch(const flatbuffers::StructDef& table, const nlohmann::json& object);

}  // namespace causeway::cli
