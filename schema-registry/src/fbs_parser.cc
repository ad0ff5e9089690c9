// load_schema and the parser feeding it shares with parse_schema. Contracts:
// causeway/registry/fbs_parser.h and parser_feed.h.
#include "causeway/registry/fbs_parser.h"

#include <flatbuffers/idl.h>
#include <flatbuffers/util.h>

#include "parser_feed.h"

namespace causeway::registry {
namespace internal {
namespace {

thread_local bool refusing_files = false;
flatbuffers::LoadFileFunction previous_load_file = nullptr;
flatbuffers::FileExistsFunction previous_file_exists = nullptr;

bool guarded_load_file(const char* name, bool binary, std::string* dest) {
  if (refusing_files) return false;
  return previous_load_file(name, binary, dest);
}
bool guarded_file_exists(const char* name) {
  if (refusing_files) return false;
  return previous_file_exists(name);
}

// Installed once, on first use, by a function-local static (thread-safe initialisation).
void install_hooks() {
  static const bool installed = [] {
    previous_load_file = flatbuffers::SetLoadFileFunction(guarded_load_file);
    previous_file_exists = flatbuffers::SetFileExistsFunction(guarded_file_exists);
    return true;
  }();
  static_cast<void>(installed);
}

}  // namespace

FileAccessGuard::FileAccessGuard() : was_refusing_(refusing_files) {
  install_hooks();
  refusing_files = true;
}

FileAccessGuard::~FileAccessGuard() { refusing_files = was_refusing_; }

std::optional<std::size_t> feed(flatbuffers::Parser& parser, std::span<const std::string> inputs) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i > 0) {
      // flatc forgets these after an included file (idl_parser.cpp, DoParse); so do we.
      parser.root_struct_def_ = nullptr;
      parser.file_identifier_.clear();
      parser.file_extension_.clear();
    }
    if (!parser.Parse(inputs[i].c_str(), nullptr, nullptr)) return i;
  }
  return std::nullopt;
}

}  // namespace internal

Status load_schema(const ParsedSchema& schema, flatbuffers::Parser& parser) {
  internal::FileAccessGuard no_files;
  if (const auto failed = internal::feed(parser, schema.parser_inputs)) {
    return invalid_argument("parser input " + std::to_string(*failed + 1) + " of " +
                            std::to_string(schema.parser_inputs.size()) + " of the schema does not parse: " +
                            parser.error_);
  }
  if (schema.has_root_type() && !parser.SetRootType(schema.root_type.c_str())) {
    return invalid_argument("root type '" + schema.root_type + "' is not declared in the schema");
  }
  return Status();
}

}  // namespace causeway::registry
