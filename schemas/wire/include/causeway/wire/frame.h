// File: causeway/wire/frame.h
//
// The wire protocol's one frame codec, used by the broker and the client alike
// (docs/wire-protocol.md, "Transport and framing"). A frame is a u32 little-endian length N
// followed by N bytes of a FlatBuffer whose root is protocol::Message (file identifier
// "CWY1"). A reader bounds N before allocating anything, then verifies the N bytes with the
// limits below before reading any field.
//
// Both sides answer a bad frame by closing the connection (they cannot resynchronise inside
// the stream); what each says about it is theirs. The functions here return the neutral
// facts: kResourceExhausted for a length outside 1..max_frame_bytes, kCorruption for bytes
// that do not verify, each naming the sizes involved.
//
// Thread-safety: pure functions over their arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "causeway/common/status.h"
#include "causeway/schemas/protocol_generated.h"

namespace causeway::wire {

inline constexpr uint32_t kLengthPrefixBytes = 4;
// The broker's default bound (`--max-frame-bytes`), and the client's until the broker's
// HelloResponse announces its own.
inline constexpr uint32_t kDefaultMaxFrameBytes = 16u << 20;
// flatbuffers::Verifier limits on every received Message.
inline constexpr uint32_t kVerifierMaxDepth = 64;
inline constexpr uint32_t kVerifierMaxTables = 1'000'000;
// FlatBuffers reads scalars in place: a received buffer must start at this alignment (the
// widest scalar) before it is verified or read.
inline constexpr size_t kFrameAlignment = 8;

// Finishes `builder` with `message` as root (with the file identifier) and returns the
// frame: the length prefix, then the buffer.
std::vector<uint8_t> finish_frame(flatbuffers::FlatBufferBuilder& builder,
                                  flatbuffers::Offset<protocol::Message> message);
// Builds the Message { correlation_id, body } around `body` and finishes it as above.
std::vector<uint8_t> finish_frame(flatbuffers::FlatBufferBuilder& builder, uint64_t correlation_id,
                                  protocol::Body type, flatbuffers::Offset<void> body);

// The length a prefix announces.
uint32_t decode_length_prefix(std::span<const uint8_t, kLengthPrefixBytes> prefix) noexcept;

// OK for 1..max_frame_bytes; kResourceExhausted naming both numbers otherwise.
Status check_frame_length(uint32_t length, uint32_t max_frame_bytes);

// Verifies `length` bytes at `data` (without the prefix; aligned to kFrameAlignment) as a
// Message. kResourceExhausted if the length is outside 1..max_frame_bytes (checked first:
// FlatBuffers 2.0.8's Verifier asserts on buffers above its own maximum), kCorruption if the
// bytes do not verify.
Status verify_message(const uint8_t* data, size_t length, uint32_t max_frame_bytes);

}  // namespace causeway::wire
