// File: client/src/frame.h
//
// The client's side of the wire's frame codec (causeway/wire/frame.h, shared with the
// broker; docs/wire-protocol.md, "Transport and framing"): incoming frames are bounded by
// max_frame_bytes before anything is allocated, then verified before any field is read, and
// kept as an owning Frame.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "causeway/common/status.h"
#include "causeway/schemas/protocol_generated.h"
#include "causeway/wire/frame.h"

namespace causeway::client::internal {

inline constexpr uint32_t kFrameLengthBytes = wire::kLengthPrefixBytes;
// Used until the broker's HelloResponse announces its own bound (the broker's default).
inline constexpr uint32_t kDefaultMaxFrameBytes = wire::kDefaultMaxFrameBytes;

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

using wire::finish_frame;

// Decodes a length prefix. kResourceExhausted for 0 or more than max_frame_bytes, naming
// both numbers; the connection cannot resynchronise after that.
Result<uint32_t> decode_frame_length(std::span<const uint8_t, kFrameLengthBytes> prefix,
                                     uint32_t max_frame_bytes);

// Verifies a Message buffer (without the prefix). kResourceExhausted if it exceeds
// max_frame_bytes, kCorruption if it does not verify.
Result<Frame> verify_frame(std::vector<uint8_t> bytes, uint32_t max_frame_bytes);

}  // namespace causeway::client::internal
