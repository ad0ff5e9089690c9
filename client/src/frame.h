// File: client/src/frame.h
//
// Framing of the wire protocol (docs/wire-protocol.md, "Transport and framing"): a frame is
// a u32 little-endian length N followed by N bytes of a FlatBuffer whose root is Message
// (file identifier "CWY1"). Incoming frames are bounded by max_frame_bytes before anything
// is allocated, then verified with flatbuffers::Verifier before any field is read.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "causeway/common/status.h"
#include "causeway/schemas/protocol_generated.h"

namespace causeway::client::internal {

inline constexpr uint32_t kFrameLengthBytes = 4;
// Used until the broker's HelloResponse announces its own bound (the broker's default).
inline constexpr uint32_t kDefaultMaxFrameBytes = 16u << 20;
inline constexpr uint32_t kVerifierMaxDepth = 64;
inline constexpr uint32_t kVerifierMaxTables = 1000000;

// A verified incoming Message. Owns its bytes; message() points into them.
class Frame {
 public:
  Frame() = default;
  explicit Frame(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}

  const protocol::Message& message() const { return *protocol::GetMessage(bytes_.data()); }
  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;  // the Message buffer, without the length prefix
};

// Finishes `fbb` with `message` as root (with the file identifier) and returns the frame:
// length prefix plus buffer.
std::vector<uint8_t> finish_frame(flatbuffers::FlatBufferBuilder& fbb,
                                  flatbuffers::Offset<protocol::Message> message);

// Decodes a length prefix. kResourceExhausted for 0 or more than max_frame_bytes, naming
// both numbers; the connection cannot resynchronise after that.
Result<uint32_t> decode_frame_length(std::span<const uint8_t, kFrameLengthBytes> prefix,
                                     uint32_t max_frame_bytes);

// Verifies a Message buffer (without the prefix). kResourceExhausted if it exceeds
// max_frame_bytes, kCorruption if it does not verify.
Result<Frame> verify_frame(std::vector<uint8_t> bytes, uint32_t max_frame_bytes);

}  // namespace causeway::client::internal
