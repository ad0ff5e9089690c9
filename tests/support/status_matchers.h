// gMock matchers for Status and Result<T>: a test that expects a specific failure says which,
// and a mismatch prints the whole status.
//
//   EXPECT_THAT(store.append(...), StatusIs(Code::kResourceExhausted));
//   EXPECT_THAT(publisher->publish(t, e).get(), StatusIs(Code::kInvalidArgument, HasSubstr("topic")));
//   EXPECT_THAT(admin->create_topic(spec), IsOk());
#pragma once

#include <gmock/gmock.h>

#include <ostream>
#include <string>
#include <type_traits>

#include "causeway/common/status.h"

namespace causeway {

// gtest prints these when a matcher fails.
inline void PrintTo(const Status& s, std::ostream* os) { *os << s.to_string(); }
inline void PrintTo(Code c, std::ostream* os) { *os << code_name(c); }
template <typename T>
void PrintTo(const Result<T>& r, std::ostream* os) {
  *os << (r.ok() ? std::string("a value") : r.error().to_string());
}

namespace testing {

inline const Status& status_of(const Status& s) { return s; }
template <typename T>
Status status_of(const Result<T>& r) {
  return r.status();
}

// Matches a Status or Result<T> whose code is `code` and whose message matches `message`.
MATCHER_P2(StatusIs, code, message,
           std::string(negation ? "isn't" : "is") + " a status with code " + std::string(code_name(code))) {
  const Status s = status_of(arg);
  *result_listener << "whose status is " << s.to_string();
  if (s.code() != code) return false;
  return ::testing::ExplainMatchResult(message, std::string(s.message()), result_listener);
}

// Matches a Status or Result<T> whose code is `code`, whatever its message.
MATCHER_P(StatusIs, code, std::string(negation ? "isn't" : "is") + " a status with code " + std::string(code_name(code))) {
  const Status s = status_of(arg);
  *result_listener << "whose status is " << s.to_string();
  return s.code() == code;
}

// Matches an OK Status or a Result<T> holding a value.
MATCHER(IsOk, std::string(negation ? "isn't" : "is") + " OK") {
  const Status s = status_of(arg);
  if (!s.ok()) *result_listener << "whose status is " << s.to_string();
  return s.ok();
}

}  // namespace testing
}  // namespace causeway
