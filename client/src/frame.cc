// File: client/src/frame.cc
//
// Frame encoding and verification; see frame.h and docs/wire-protocol.md.
#include "client/src/frame.h"

#include <string>

namespace causeway::client::internal {

std::vector<uint8_t> finish_frame(flatbuffers::FlatBufferBuilder& fbb,
                                  flatbuffers::Offset<protocol::Message> message) {
  protocol::FinishMessageBuffer(fbb, message);
  const uint32_t n = fbb.GetSize();
  std::vector<uint8_t> out;
  out.reserve(kFrameLengthBytes + n);
  for (uint32_t i = 0; i < kFrameLengthBytes; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  const uint8_t* data = fbb.GetBufferPointer();
  out.insert(out.end(), data, data + n);
  return out;
}

Result<uint32_t> decode_frame_length(std::span<const uint8_t, kFrameLengthBytes> prefix,
                                     uint32_t max_frame_bytes) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < kFrameLengthBytes; ++i) n |= uint32_t{prefix[i]} << (8 * i);
  if (n == 0) return resource_exhausted("frame length 0 (frames hold at least one Message)");
  if (n > max_frame_bytes) {
    return resource_exhausted("frame length " + std::to_string(n) + " exceeds max_frame_bytes " +
                              std::to_string(max_frame_bytes));
  }
  return n;
}

Result<Frame> verify_frame(std::vector<uint8_t> bytes, uint32_t max_frame_bytes) {
  // FlatBuffers 2.0.8's Verifier asserts on buffers above its own maximum, so bound first.
  if (bytes.empty() || bytes.size() > max_frame_bytes ||
      bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return resource_exhausted("frame of " + std::to_string(bytes.size()) +
                              " bytes is outside 1..max_frame_bytes " + std::to_string(max_frame_bytes));
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kVerifierMaxDepth, kVerifierMaxTables);
  if (!protocol::VerifyMessageBuffer(verifier)) {
    return corruption("frame of " + std::to_string(bytes.size()) +
                      " bytes does not verify as a causeway Message");
  }
  return Frame(std::move(bytes));
}

}  // namespace causeway::client::internal
