// File: causeway/wire/status.h
//
// causeway::Status on the wire (docs/wire-protocol.md, "Errors"), both directions, for the
// broker's responses and the client's reading of them: the code, the typed reason and the
// message. Reasons 100-107 have protocol ErrorCodes of their own and travel as the code too,
// so that a peer that predates the `reason` field still tells SchemaMismatch from
// InvalidPayload; every other reason travels in `reason` beside its general code.
#pragma once

#include <string_view>

#include "causeway/common/status.h"
#include "causeway/schemas/protocol_generated.h"

namespace causeway::wire {

// The ErrorCode that carries `status` (an EventAck has only this): the reason's own code for
// reasons 100-107, else the general code (Code 0-11 are ErrorCode 0-11 by design).
protocol::ErrorCode error_code_of(const Status& status) noexcept;

// A protocol Status table for `status` (no message string for OK).
flatbuffers::Offset<protocol::Status> encode_status(flatbuffers::FlatBufferBuilder& builder, const Status& status);

// The Status a peer sent. ErrorCodes 100-107 become their general code (SchemaMismatch and
// InvalidPayload: InvalidArgument; UnknownGroupMember, NotAssigned, UnsupportedVersion,
// UnknownRequest, Unauthenticated: FailedPrecondition; HandshakeRequired: Internal) with the
// matching reason and a message that starts with what happened ("schema mismatch: ...").
// A code this build does not know is kInternal naming its number; a reason it does not
// know is kept as its number.
Status decode_status(protocol::ErrorCode code, uint16_t reason, std::string_view message);
// The same from a Status table; a missing table is OK.
Status decode_status(const protocol::Status* status);

}  // namespace causeway::wire
