// File: causeway/registry/fbs_parser.h
//
// A flatbuffers::Parser holding a parsed schema, for code that links FlatBuffers itself and
// needs the parser's own JSON encoding and GenText (the CLI's JSON payloads, tests). A
// schema with references cannot be handed to flatbuffers::Parser::Parse as text (its
// includes would be looked up in the file system); load_schema() feeds it the resolved
// texts parse_schema recorded (ParsedSchema::parser_inputs) instead. Kept apart from
// schema.h so that that header names no FlatBuffers type.
//
// Thread-safety: load_schema may run on many threads at once, each with its own parser.
#pragma once

#include "causeway/common/status.h"
#include "causeway/registry/schema.h"

namespace flatbuffers {
class Parser;
}

namespace causeway::registry {

// Parses `schema`'s parser_inputs into `parser`, which must be fresh (constructed with the
// caller's IDLOptions, nothing parsed yet), with file access refused, and sets the root type
// when the schema has one. kInvalidArgument with the parser's message if an input does not
// parse (it did for parse_schema, so only IDLOptions that change the grammar can cause it).
Status load_schema(const ParsedSchema& schema, flatbuffers::Parser& parser);

}  // namespace causeway::registry
