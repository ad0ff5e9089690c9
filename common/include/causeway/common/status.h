// File: causeway/common/status.h
//
// Status and Result<T>: errors as values. A Status is a code, an optional typed Reason and a
// message; an OK status holds no allocation and costs nothing to copy. Result<T> holds either a T or a non-OK
// Status, with an API modelled on std::expected (value(), error(), has_value(), operator*,
// operator->) so that a move to C++23 is mechanical.
//
// Nothing here throws. Reading the value of an error Result (value(), operator*,
// operator->) or the error of a Result that holds a value (error()) is a programming error:
// it prints the Status (or says that there was none) to stderr and calls std::abort(),
// rather than throwing std::bad_variant_access across an API that promises no exceptions.
//
// Thread-safety: distinct objects may be used from distinct threads; const methods on one
// object may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace causeway {

// Every code has a sentence saying when it happens; clients switch on these.
enum class Code : int {
  kOk = 0,
  kInvalidArgument = 1,     // The caller passed something malformed (a bad flag, a bad frame field).
  kNotFound = 2,            // A named thing (topic, file, key, offset) does not exist.
  kAlreadyExists = 3,       // Creating something that exists with a different definition.
  kCorruption = 4,          // Stored bytes failed verification (CRC, length, magic).
  kIOError = 5,             // The operating system refused an I/O call; the message has errno text.
  kResourceExhausted = 6,   // A bound was hit: disk full, frame or batch too large, queue full.
  kFailedPrecondition = 7,  // The system is not in a state that allows the call (closed, locked).
  kOutOfRange = 8,          // An offset or position outside the valid range (below log start...).
  kUnavailable = 9,         // Transient: try again (connection lost, shutting down).
  kDeadlineExceeded = 10,   // A timeout expired before the operation completed.
  kInternal = 11,           // An invariant broke; a bug. Reported, never a crash.
};

// Stable lowercase name of a code, e.g. "invalid_argument".
std::string_view code_name(Code code) noexcept;

// Why, more finely than the code: what a caller switches on when one code has several
// causes it handles differently (a SchemaMismatch is retried after a schema lookup, an
// InvalidPayload never is). Optional: kNone on OK and on errors nobody needs to tell apart.
// The numbers are stable and travel on the wire (docs/wire-protocol.md, "Errors"): 100-199
// are the broker's, and the registry's are Confluent Schema Registry's error codes.
enum class Reason : uint16_t {
  kNone = 0,
  // The wire protocol (the same numbers as protocol.fbs ErrorCode 100-107).
  kUnsupportedVersion = 100,  // Hello with a protocol version the broker does not speak
  kUnknownRequest = 101,      // a request type this broker does not know (a newer client)
  kHandshakeRequired = 102,   // a request before a successful Hello
  kUnauthenticated = 103,     // credentials missing or refused
  kSchemaMismatch = 104,      // the event's schema id is not a version of the topic's subject
  kInvalidPayload = 105,      // the payload does not verify against the topic's schema
  kUnknownGroupMember = 106,  // member id unknown, expired or owned by another connection
  kNotAssigned = 107,         // the partition is not assigned to this member
  // Names the broker refuses or does not know.
  kInvalidTopicName = 120,
  kTopicNotFound = 121,
  kInvalidSubscriptionName = 122,
  kSubscriptionNotFound = 123,
  // The principal may not do this (docs/security.md): under FailedPrecondition.
  kPermissionDenied = 124,
  // Seen by clients: the peer could not be reached at all (nothing was sent).
  kBrokerUnreachable = 130,    // cannot resolve or connect to the broker, or connect timed out
  kRegistryUnreachable = 131,  // cannot reach the schema registry over HTTP
  // The schema registry: Confluent's error codes (the HTTP status is the first three digits).
  kRegistryBadRequest = 400,           // body is not JSON, or a field has the wrong type
  kRegistryNoSuchEndpoint = 404,
  kRegistryMethodNotAllowed = 405,
  kRegistryPayloadTooLarge = 413,
  kRegistryUnsupportedMediaType = 415,
  kRegistryUnauthorized = 40101,  // credentials missing or refused (HTTP 401)
  kRegistryForbidden = 40301,     // the principal may not do this (HTTP 403)
  kIncompatibleSchema = 409,
  kSubjectNotFound = 40401,
  kVersionNotFound = 40402,
  kSchemaNotFound = 40403,
  kSubjectSoftDeleted = 40404,
  kSubjectNotSoftDeleted = 40405,
  kVersionSoftDeleted = 40406,
  kVersionNotSoftDeleted = 40407,
  kSubjectConfigNotFound = 40408,
  kInvalidSchema = 42201,
  kInvalidVersion = 42202,
  kInvalidCompatibilityLevel = 42203,
  kReferenceExists = 42206,
  kInvalidSubject = 42208,
  kRegistryStoreError = 50001,
};

// Stable lowercase name of a reason, e.g. "schema_mismatch"; "reason_<n>" for a number this
// build does not know (a newer peer's), "none" for kNone.
std::string reason_name(Reason reason);

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  // OK
  Status(Code code, std::string_view message);
  // A status with a typed reason. An OK code ignores both.
  Status(Code code, Reason reason, std::string_view message);

  static Status ok_status() noexcept { return Status(); }

  bool ok() const noexcept { return state_ == nullptr; }
  Code code() const noexcept { return state_ ? state_->code : Code::kOk; }
  // kNone for OK and for errors without a finer reason.
  Reason reason() const noexcept { return state_ ? state_->reason : Reason::kNone; }
  // Empty for OK.
  std::string_view message() const noexcept {
    return state_ ? std::string_view(state_->message) : std::string_view();
  }
  // "ok" or "<code name>: <message>".
  std::string to_string() const;

  // Returns a copy whose message is "<prefix>: <message>", with the same code and reason;
  // OK stays OK.
  Status with_context(std::string_view prefix) const;
  // Returns a copy with `reason`; OK stays OK.
  Status with_reason(Reason reason) const;

  // Explicitly ignore a status (e.g. best-effort cleanup on an error path).
  void ignore_error() const noexcept {}

  friend bool operator==(const Status& a, const Status& b) noexcept {
    return a.code() == b.code() && a.reason() == b.reason() && a.message() == b.message();
  }

 private:
  struct State {
    Code code;
    Reason reason;
    std::string message;
  };
  std::shared_ptr<const State> state_;  // null means OK; shared so copies are cheap
};

namespace detail {
// Prints what went wrong (`accessor`, e.g. "value()", and the Status it held) to stderr,
// then std::abort(). Out of line so that the checks stay small where they are inlined.
[[noreturn]] void result_value_of_error(const char* accessor, const Status& status) noexcept;
[[noreturn]] void result_error_of_value() noexcept;
}  // namespace detail

// Named constructors.
Status invalid_argument(std::string_view msg);
Status not_found(std::string_view msg);
Status already_exists(std::string_view msg);
Status corruption(std::string_view msg);
Status io_error(std::string_view msg);
// An IOError naming the call's context and errno's text, e.g. "open /x/y: Permission denied".
Status io_error_errno(std::string_view context, int err);
Status resource_exhausted(std::string_view msg);
Status failed_precondition(std::string_view msg);
Status out_of_range(std::string_view msg);
Status unavailable(std::string_view msg);
Status deadline_exceeded(std::string_view msg);
Status internal_error(std::string_view msg);

// A value of T, or a non-OK Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Status>, "Result<Status> makes no sense");

 public:
  using value_type = T;

  Result(const T& value) : v_(value) {}  // NOLINT(google-explicit-constructor)
  Result(T&& value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  // A non-OK status. Passing an OK status is a bug and becomes kInternal.
  Result(Status status)  // NOLINT(google-explicit-constructor)
      : v_(status.ok() ? internal_error("Result constructed from an OK status") : std::move(status)) {}
  template <typename U, typename = std::enable_if_t<std::is_convertible_v<U&&, T> &&
                                                    !std::is_same_v<std::decay_t<U>, Status> &&
                                                    !std::is_same_v<std::decay_t<U>, Result>>>
  Result(U&& value) : v_(T(std::forward<U>(value))) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const noexcept { return v_.index() == 0; }
  bool ok() const noexcept { return has_value(); }
  explicit operator bool() const noexcept { return has_value(); }

  // Precondition: has_value(). Checked: on an error Result these print the Status to
  // stderr and abort (see the top of this file); they never throw.
  T& value() & { return *checked_value("value()"); }
  const T& value() const& { return *checked_value("value()"); }
  T&& value() && { return std::move(*checked_value("value()")); }
  T& operator*() & { return *checked_value("operator*"); }
  const T& operator*() const& { return *checked_value("operator*"); }
  T&& operator*() && { return std::move(*checked_value("operator*")); }
  T* operator->() { return checked_value("operator->"); }
  const T* operator->() const { return checked_value("operator->"); }

  // OK if has_value(), else the error.
  Status status() const { return has_value() ? Status() : *std::get_if<1>(&v_); }
  // Precondition: !has_value(). Checked as value() is.
  const Status& error() const {
    const Status* status = std::get_if<1>(&v_);
    if (status == nullptr) [[unlikely]] detail::result_error_of_value();
    return *status;
  }

  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  T* checked_value(const char* accessor) {
    T* value = std::get_if<0>(&v_);
    if (value == nullptr) [[unlikely]] detail::result_value_of_error(accessor, *std::get_if<1>(&v_));
    return value;
  }
  const T* checked_value(const char* accessor) const {
    const T* value = std::get_if<0>(&v_);
    if (value == nullptr) [[unlikely]] detail::result_value_of_error(accessor, *std::get_if<1>(&v_));
    return value;
  }

  std::variant<T, Status> v_;
};

}  // namespace causeway

#define CAUSEWAY_CONCAT_INNER_(a, b) a##b
#define CAUSEWAY_CONCAT_(a, b) CAUSEWAY_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define CAUSEWAY_RETURN_IF_ERROR(expr)                  \
  do {                                                  \
    ::causeway::Status causeway_status_ = (expr);       \
    if (!causeway_status_.ok()) return causeway_status_; \
  } while (0)

// `CAUSEWAY_ASSIGN_OR_RETURN(auto x, f());` declares x from a Result or returns its error.
#define CAUSEWAY_ASSIGN_OR_RETURN(lhs, expr) \
  CAUSEWAY_ASSIGN_OR_RETURN_IMPL_(CAUSEWAY_CONCAT_(causeway_result_, __LINE__), lhs, expr)
#define CAUSEWAY_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.has_value()) return tmp.error();             \
  lhs = std::move(tmp).value()
