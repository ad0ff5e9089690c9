// File: client/src/frame.cc
//
// Frame decoding over the shared codec; see frame.h and docs/wire-protocol.md.
#include "client/src/frame.h"

namespace causeway::client::internal {

Result<uint32_t> decode_frame_length(std::span<const uint8_t, kFrameLengthBytes> prefix,
                                     uint32_t max_frame_bytes) {
  const uint32_t n = wire::decode_length_prefix(prefix);
  CAUSEWAY_RETURN_IF_ERROR(wire::check_frame_length(n, max_frame_bytes));
  return n;
}

Result<Frame> verify_frame(std::vector<uint8_t> bytes, uint32_t max_frame_bytes) {
  // A vector's heap block is aligned for any scalar, as verification requires.
  CAUSEWAY_RETURN_IF_ERROR(wire::verify_message(bytes.data(), bytes.size(), max_frame_bytes));
  return Frame(std::move(bytes));
}

}  // namespace causeway::client::internal
