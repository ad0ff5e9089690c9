// Status and Result<T>; see causeway/common/status.h.
#include "causeway/common/status.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

Status::Status(Code code, std::string_view message) {
  if (code != Code::kOk) state_ = std::make_shared<const State>(State{code, std::string(message)});
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
  return Status(code(), msg);
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
