// Status and Result<T>; see causeway/common/status.h.
#include "causeway/common/status.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace causeway {

std::string_view code_name(Code code) noexcept {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kCorruption: return "corruption";
    case Code::kIOError: return "io_error";
    case Code::kResourceExhausted: return "resource_exhausted";
    case Code::kFailedPrecondition: return "failed_precondition";
    case Code::kOutOfRange: return "out_of_range";
    case Code::kUnavailable: return "unavailable";
    case Code::kDeadlineExceeded: return "deadline_exceeded";
    case Code::kInternal: return "internal";
  }
  return "unknown";
}

namespace detail {

void result_value_of_error(const char* accessor, const Status& status) noexcept {
  const std::string_view code = code_name(status.code());
  const std::string_view message = status.message();
  // No allocation: this may run because memory ran out.
  std::fprintf(stderr,
               "causeway: fatal: Result::%s called on a Result that holds an error, not a value: %.*s: %.*s\n"
               "causeway: check has_value() (or ok()) before using the value, and handle error(); aborting\n",
               accessor, static_cast<int>(code.size()), code.data(), static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
  std::abort();
}

void result_error_of_value() noexcept {
  std::fputs("causeway: fatal: Result::error() called on a Result that holds a value, not an error\n"
             "causeway: check has_value() (or ok()) before asking for error(); aborting\n",
             stderr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace detail

std::string reason_name(Reason reason) {
  switch (reason) {
    case Reason::kNone: return "none";
    case Reason::kUnsupportedVersion: return "unsupported_version";
    case Reason::kUnknownRequest: return "unknown_request";
    case Reason::kHandshakeRequired: return "handshake_required";
    case Reason::kUnauthenticated: return "unauthenticated";
    case Reason::kSchemaMismatch: return "schema_mismatch";
    case Reason::kInvalidPayload: return "invalid_payload";
    case Reason::kUnknownGroupMember: return "unknown_group_member";
    case Reason::kNotAssigned: return "not_assigned";
    case Reason::kInvalidTopicName: return "invalid_topic_name";
    case Reason::kTopicNotFound: return "topic_not_found";
    case Reason::kInvalidSubscriptionName: return "invalid_subscription_name";
    case Reason::kSubscriptionNotFound: return "subscription_not_found";
    case Reason::kPermissionDenied: return "permission_denied";
    case Reason::kBrokerUnreachable: return "broker_unreachable";
    case Reason::kRegistryUnreachable: return "registry_unreachable";
    case Reason::kRegistryBadRequest: return "registry_bad_request";
    case Reason::kRegistryNoSuchEndpoint: return "registry_no_such_endpoint";
    case Reason::kRegistryMethodNotAllowed: return "registry_method_not_allowed";
    case Reason::kRegistryPayloadTooLarge: return "registry_payload_too_large";
    case Reason::kRegistryUnsupportedMediaType: return "registry_unsupported_media_type";
    case Reason::kIncompatibleSchema: return "incompatible_schema";
    case Reason::kRegistryUnauthorized: return "registry_unauthorized";
    case Reason::kRegistryForbidden: return "registry_forbidden";
    case Reason::kSubjectNotFound: return "subject_not_found";
    case Reason::kVersionNotFound: return "version_not_found";
    case Reason::kSchemaNotFound: return "schema_not_found";
    case Reason::kSubjectSoftDeleted: return "subject_soft_deleted";
    case Reason::kSubjectNotSoftDeleted: return "subject_not_soft_deleted";
    case Reason::kVersionSoftDeleted: return "version_soft_deleted";
    case Reason::kVersionNotSoftDeleted: return "version_not_soft_deleted";
    case Reason::kSubjectConfigNotFound: return "subject_config_not_found";
    case Reason::kInvalidSchema: return "invalid_schema";
    case Reason::kInvalidVersion: return "invalid_version";
    case Reason::kInvalidCompatibilityLevel: return "invalid_compatibility_level";
    case Reason::kReferenceExists: return "reference_exists";
    case Reason::kInvalidSubject: return "invalid_subject";
    case Reason::kRegistryStoreError: return "registry_store_error";
  }
  return "reason_" + std::to_string(static_cast<unsigned>(reason));
}

Status::Status(Code code, std::string_view message) : Status(code, Reason::kNone, message) {}

Status::Status(Code code, Reason reason, std::string_view message) {
  if (code != Code::kOk) state_ = std::make_shared<const State>(State{code, reason, std::string(message)});
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  std::string out(code_name(code()));
  out += ": ";
  out += message();
  return out;
}

Status Status::with_context(std::string_view prefix) const {
  if (ok()) return *this;
  std::string msg(prefix);
  msg += ": ";
  msg += message();
  return Status(code(), reason(), msg);
}

Status Status::with_reason(Reason reason) const {
  if (ok()) return *this;
  return Status(code(), reason, message());
}

Status invalid_argument(std::string_view msg) { return Status(Code::kInvalidArgument, msg); }
Status not_found(std::string_view msg) { return Status(Code::kNotFound, msg); }
Status already_exists(std::string_view msg) { return Status(Code::kAlreadyExists, msg); }
Status corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
Status io_error(std::string_view msg) { return Status(Code::kIOError, msg); }
Status io_error_errno(std::string_view context, int err) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  // ENOSPC and EDQUOT are bounds, not failures of the device: callers treat them as such.
  if (err == ENOSPC || err == EDQUOT) return Status(Code::kResourceExhausted, msg);
  return Status(Code::kIOError, msg);
}
Status resource_exhausted(std::string_view msg) { return Status(Code::kResourceExhausted, msg); }
Status failed_precondition(std::string_view msg) { return Status(Code::kFailedPrecondition, msg); }
Status out_of_range(std::string_view msg) { return Status(Code::kOutOfRange, msg); }
Status unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }
Status deadline_exceeded(std::string_view msg) { return Status(Code::kDeadlineExceeded, msg); }
Status internal_error(std::string_view msg) { return Status(Code::kInternal, msg); }

}  // namespace causeway
