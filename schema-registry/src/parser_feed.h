// File: schema-registry/src/parser_feed.h
//
// What parse_schema (schema.cc) and load_schema (fbs_parser.cc) share: feeding resolved
// schema texts to one flatbuffers::Parser, with the parser's file access refused.
//
// Why refuse file access when no include reaches the parser: the include declarations are
// taken out of each text before parsing (schema.cc), so the parser should never ask for a
// file. flatbuffers reads includes through process-wide hooks (LoadFile, FileExists); these
// are replaced once by versions that refuse every file on a thread inside a FileAccessGuard
// and defer to the previous hooks elsewhere, so a slip in the include scanner fails a parse
// instead of reading the registry host's files, and other users of flatbuffers in the process
// are unaffected.
//
// Thread-safety: a guard is per thread; feed() uses only the parser it is given.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>

namespace flatbuffers {
class Parser;
}

namespace causeway::registry::internal {

class FileAccessGuard {
 public:
  FileAccessGuard();
  ~FileAccessGuard();
  FileAccessGuard(const FileAccessGuard&) = delete;
  FileAccessGuard& operator=(const FileAccessGuard&) = delete;

 private:
  bool was_refusing_;
};

// Parses `inputs` into `parser` in order, as flatc does with included files: each starts in
// the empty namespace, and a root type, file identifier or extension declared by one that is
// not the last is forgotten (an included file's root is not the includer's). Returns the
// index of the input that failed (parser.error_ says why), or nullopt when all parsed.
// Must run inside a FileAccessGuard.
std::optional<std::size_t> feed(flatbuffers::Parser& parser, std::span<const std::string> inputs);

}  // namespace causeway::registry::internal
