// File: schemas/wire/status.cc
//
// Status on the wire; see causeway/wire/status.h and docs/wire-protocol.md.
#include "causeway/wire/status.h"

#include <string>

namespace causeway::wire {
namespace {

constexpr uint16_t kFirstOwnCode = 100;
constexpr uint16_t kLastOwnCode = 107;

bool has_own_code(Reason r) {
  const auto n = static_cast<uint16_t>(r);
  return n >= kFirstOwnCode && n <= kLastOwnCode;
}

}  // namespace

protocol::ErrorCode error_code_of(const Status& status) noexcept {
  if (has_own_code(status.reason())) return static_cast<protocol::ErrorCode>(status.reason());
  return static_cast<protocol::ErrorCode>(static_cast<uint16_t>(status.code()));
}

flatbuffers::Offset<protocol::Status> encode_status(flatbuffers::FlatBufferBuilder& builder, const Status& status) {
  if (status.ok()) return protocol::CreateStatus(builder, protocol::ErrorCode::Ok);
  auto message = builder.CreateString(status.message().data(), status.message().size());
  return protocol::CreateStatus(builder, error_code_of(status), message, static_cast<uint16_t>(status.reason()));
}

Status decode_status(protocol::ErrorCode code, uint16_t reason_number, std::string_view message) {
  using E = protocol::ErrorCode;
  const auto reason = static_cast<Reason>(reason_number);
  const std::string msg(message);
  switch (code) {
    case E::Ok: return Status();
    case E::InvalidArgument: return Status(Code::kInvalidArgument, reason, msg);
    case E::NotFound: return Status(Code::kNotFound, reason, msg);
    case E::AlreadyExists: return Status(Code::kAlreadyExists, reason, msg);
    case E::Corruption: return Status(Code::kCorruption, reason, msg);
    case E::IoError: return Status(Code::kIOError, reason, msg);
    case E::ResourceExhausted: return Status(Code::kResourceExhausted, reason, msg);
    case E::FailedPrecondition: return Status(Code::kFailedPrecondition, reason, msg);
    case E::OutOfRange: return Status(Code::kOutOfRange, reason, msg);
    case E::Unavailable: return Status(Code::kUnavailable, reason, msg);
    case E::DeadlineExceeded: return Status(Code::kDeadlineExceeded, reason, msg);
    case E::Internal: return Status(Code::kInternal, reason, msg);
    case E::UnsupportedVersion:
      return Status(Code::kFailedPrecondition, Reason::kUnsupportedVersion, "unsupported protocol version: " + msg);
    case E::UnknownRequest:
      return Status(Code::kFailedPrecondition, Reason::kUnknownRequest, "the broker does not know this request: " + msg);
    case E::HandshakeRequired: return Status(Code::kInternal, Reason::kHandshakeRequired, "handshake required: " + msg);
    case E::Unauthenticated: return Status(Code::kFailedPrecondition, Reason::kUnauthenticated, "unauthenticated: " + msg);
    case E::SchemaMismatch: return Status(Code::kInvalidArgument, Reason::kSchemaMismatch, "schema mismatch: " + msg);
    case E::InvalidPayload: return Status(Code::kInvalidArgument, Reason::kInvalidPayload, "invalid payload: " + msg);
    case E::UnknownGroupMember:
      return Status(Code::kFailedPrecondition, Reason::kUnknownGroupMember, "unknown group member: " + msg);
    case E::NotAssigned: return Status(Code::kFailedPrecondition, Reason::kNotAssigned, "partition not assigned: " + msg);
  }
  return Status(Code::kInternal, reason,
                "unknown error code " + std::to_string(static_cast<int>(code)) + ": " + msg);
}

Status decode_status(const protocol::Status* status) {
  if (status == nullptr) return Status();
  return decode_status(status->code(), status->reason(),
                       status->message() ? status->message()->string_view() : std::string_view());
}

}  // namespace causeway::wire
