// File: schemas/wire/frame.cc
//
// The frame codec; see causeway/wire/frame.h and docs/wire-protocol.md.
#include "causeway/wire/frame.h"

#include <cstring>
#include <string>

namespace causeway::wire {

std::vector<uint8_t> finish_frame(flatbuffers::FlatBufferBuilder& builder,
                                  flatbuffers::Offset<protocol::Message> message) {
  protocol::FinishMessageBuffer(builder, message);
  const uint32_t n = builder.GetSize();
  std::vector<uint8_t> frame(kLengthPrefixBytes + size_t{n});
  for (uint32_t i = 0; i < kLengthPrefixBytes; ++i) frame[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(frame.data() + kLengthPrefixBytes, builder.GetBufferPointer(), n);
  return frame;
}

std::vector<uint8_t> finish_frame(flatbuffers::FlatBufferBuilder& builder, uint64_t correlation_id,
                                  protocol::Body type, flatbuffers::Offset<void> body) {
  return finish_frame(builder, protocol::CreateMessage(builder, correlation_id, type, body));
}

uint32_t decode_length_prefix(std::span<const uint8_t, kLengthPrefixBytes> prefix) noexcept {
  uint32_t n = 0;
  for (uint32_t i = 0; i < kLengthPrefixBytes; ++i) n |= uint32_t{prefix[i]} << (8 * i);
  return n;
}

Status check_frame_length(uint32_t length, uint32_t max_frame_bytes) {
  if (length == 0) return resource_exhausted("frame length 0 is outside 1..max_frame_bytes (frames hold one Message)");
  if (length > max_frame_bytes) {
    return resource_exhausted("frame length " + std::to_string(length) + " is outside 1.." +
                              std::to_string(max_frame_bytes) + " bytes (max_frame_bytes)");
  }
  return Status();
}

Status verify_message(const uint8_t* data, size_t length, uint32_t max_frame_bytes) {
  if (length == 0 || length > max_frame_bytes || length >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return resource_exhausted("frame of " + std::to_string(length) + " bytes is outside 1.." +
                              std::to_string(max_frame_bytes) + " bytes (max_frame_bytes)");
  }
  flatbuffers::Verifier::Options options;
  options.max_depth = kVerifierMaxDepth;
  options.max_tables = kVerifierMaxTables;
  flatbuffers::Verifier verifier(data, length, options);
  if (!protocol::VerifyMessageBuffer(verifier)) {
    return corruption("frame of " + std::to_string(length) +
                      " bytes does not verify as a causeway Message (FlatBuffers verification failed)");
  }
  return Status();
}

}  // namespace causeway::wire
