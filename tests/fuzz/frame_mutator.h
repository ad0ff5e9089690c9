// File: tests/fuzz/frame_mutator.h
//
// A structure-aware mutator for streams of wire frames (docs/wire-protocol.md: each frame a
// u32 little-endian length and a FlatBuffers Message). Used by the server and client frame
// fuzz targets as their LLVMFuzzerCustomMutator/CustomCrossOver, and by the black-box frame
// fuzzer against the real daemon (tests/integration/frame_fuzz_test.cc).
//
// Most mutations work on one frame that verifies as a Message: it is turned into JSON with
// FlatBuffers' own text generator over schemas/protocol.fbs, one field is changed by what
// the schema says it is (a scalar to an interesting value of its type, a string, a vector
// grown or shrunk, an absent field added, a table dropped, the union switched to another
// member; the log batches of a FetchResponse mutated with their CRCs fixed), and the JSON is
// rebuilt into a Message by the FlatBuffers parser. Others duplicate, drop, reorder or
// insert frames; the rest fall back to byte mutation of one frame (length prefix fixed) or
// of the whole stream.
//
// Byte mutation comes from LLVMFuzzerMutate: libFuzzer's in a fuzzer, byte_mutator.cc
// elsewhere. Not thread-safe: one instance per process, used from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace causeway::fuzz {

// A stream of frames as they travel on a connection.
struct FrameStream {
  std::vector<std::string> frames;  // the bytes after each length prefix
  std::string tail;                 // bytes after the last whole frame (a torn frame)
};
FrameStream split_frames(std::string_view bytes);
// The frames with their length prefixes recomputed, then the tail.
std::string join_frames(const FrameStream& stream);
// One frame: length prefix plus bytes.
std::string frame_of(std::string_view message);

class FrameMutator {
 public:
  // Parses schemas/protocol.fbs (CAUSEWAY_PROTOCOL_FBS, compiled in); aborts if it cannot.
  static FrameMutator& instance();
  ~FrameMutator();

  // LLVMFuzzerCustomMutator's contract: mutates data[0, size) in place into at most
  // max_size bytes; returns the new size.
  size_t mutate(uint8_t* data, size_t size, size_t max_size, unsigned int seed);
  // LLVMFuzzerCustomCrossOver's contract: frames of the first stream with a run of frames of
  // the second spliced in.
  size_t cross_over(const uint8_t* data1, size_t size1, const uint8_t* data2, size_t size2, uint8_t* out,
                    size_t max_out_size, unsigned int seed);

  // A Message buffer as JSON (FlatBuffers' text format, strict JSON, every scalar written),
  // or nullopt when it does not verify or holds a string that is not UTF-8.
  std::optional<std::string> to_json(std::string_view message);
  // A Message buffer built from JSON by the FlatBuffers parser, or nullopt.
  std::optional<std::string> from_json(const std::string& json);

  // Counters for tests (tests/fuzz/frame_mutator_test.cc).
  struct Stats {
    uint64_t structural = 0;  // JSON-level mutations that rebuilt a frame
    uint64_t frame_level = 0;
    uint64_t byte_level = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  FrameMutator();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Stats stats_;
};

}  // namespace causeway::fuzz
