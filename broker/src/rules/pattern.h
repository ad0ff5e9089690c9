// File: rules/pattern.h
//
// Event patterns: Amazon EventBridge's pattern language, parsed and validated into a tree
// that the matchers (rules/reference_matcher.h, rules/matcher.h) evaluate. The language,
// the JSON view of an event it is matched against, and our one extension ($and of several
// conditions on one value) are written down in docs/patterns.md; a change here changes
// that page and tests/unit/rules/ with it.
//
// Thread-safety: a Pattern is immutable after parse_pattern and may be shared freely.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/common/status.h"

namespace causeway::rules {

// Bounds on what a pattern may hold (docs/patterns.md, "Limits"); above them parse_pattern
// refuses the pattern with kInvalidArgument.
inline constexpr size_t kMaxPatternBytes = 64 * 1024;
inline constexpr size_t kMaxPatternDepth = 32;         // nested objects and $or levels
inline constexpr size_t kMaxValuesPerPattern = 10000;  // conditions, all fields together
// EventBridge limits how much work a wildcard may cause; ours: the '*' of every wildcard
// (plain or in anything-but) in one pattern, summed.
inline constexpr size_t kMaxWildcardComplexity = 100;

// A numeric range ("numeric": [">", 0, "<=", 5]); an "=" is a closed range of one value.
struct NumericRange {
  std::optional<double> lower;
  bool lower_inclusive = false;
  std::optional<double> upper;
  bool upper_inclusive = false;

  bool contains(double v) const noexcept {
    if (lower && (lower_inclusive ? v < *lower : v <= *lower)) return false;
    if (upper && (upper_inclusive ? v > *upper : v >= *upper)) return false;
    return true;
  }
};

// An IPv4 or IPv6 network ("cidr": "10.0.0.0/24"); IPv4 is kept in the last 4 bytes.
struct Cidr {
  bool v6 = false;
  std::array<uint8_t, 16> network{};  // host bits zeroed
  uint8_t prefix_bits = 0;

  // Whether `address` (an IP address as text) is inside the network. False for text
  // that is not an address of the same family.
  bool contains(std::string_view address) const;
};

// A wildcard value split at its unescaped '*': "a*b\\*c*" is pieces {"a", "b*c", ""}.
struct Wildcard {
  std::vector<std::string> pieces;  // pieces.size() == stars + 1
  bool matches(std::string_view value) const;
};

struct Condition;

// What "anything-but" excludes: a value matches when it is a string (or number) that none
// of these match.
struct AnythingBut {
  enum class Kind : uint8_t { kStrings, kNumbers, kPrefix, kSuffix, kEqualsIgnoreCase, kWildcard };
  Kind kind = Kind::kStrings;
  std::vector<std::string> strings;  // kStrings, kPrefix, kSuffix; case-folded for kEqualsIgnoreCase
  std::vector<double> numbers;       // kNumbers
  std::vector<Wildcard> wildcards;   // kWildcard
};

// One element of a field's value array. A value (one scalar of the event) matches a field
// when any of its conditions matches it.
struct Condition {
  enum class Kind : uint8_t {
    kString,            // exact string
    kNumber,            // exact number, compared as a number (300 matches 3.0e2)
    kBool,              // true / false
    kNull,              // null
    kPrefix,            // {"prefix": "x"}
    kSuffix,            // {"suffix": "x"}
    kEqualsIgnoreCase,  // {"equals-ignore-case": "x"}
    kPrefixIgnoreCase,  // {"prefix": {"equals-ignore-case": "x"}}
    kSuffixIgnoreCase,  // {"suffix": {"equals-ignore-case": "x"}}
    kWildcard,          // {"wildcard": "a*b"}
    kAnythingBut,       // {"anything-but": ...}
    kNumeric,           // {"numeric": [...]}
    kCidr,              // {"cidr": "10.0.0.0/8"}
    kExists,            // {"exists": true|false}
    kAnd,               // our extension: {"$and": [condition, ...]}, all on the same value
  };
  Kind kind = Kind::kString;
  std::string text;  // kString, kPrefix, kSuffix; case-folded for the *IgnoreCase kinds
  double number = 0;
  bool flag = false;  // kBool's value; kExists's true/false
  NumericRange range;
  Cidr cidr;
  Wildcard wildcard;
  AnythingBut anything_but;
  std::vector<Condition> all;  // kAnd
};

struct PatternNode;

// A key of a pattern object: either a leaf (a non-empty array of conditions) or a nested
// pattern object.
struct FieldPattern {
  std::string name;
  std::vector<Condition> conditions;    // leaf: OR
  std::unique_ptr<PatternNode> nested;  // or a nested object
};

// A pattern object: every field must match (AND), and for every "$or" one of its
// alternatives must match.
struct PatternNode {
  std::vector<FieldPattern> fields;
  std::vector<std::vector<PatternNode>> ors;
};

struct Pattern {
  PatternNode root;
  std::string text;  // the pattern as given (validated JSON)
};

// Parses and validates a pattern. kInvalidArgument with a message that names the bad part
// and its path (`detail.state[1]: unknown operator "prefx"`) for every case EventBridge's
// PutRule/TestEventPattern refuses: not an object, empty objects or arrays, bare values,
// unknown operators, operands of the wrong type, mixed-type anything-but lists, numeric
// ranges out of order, consecutive or badly escaped wildcards, bad CIDRs, $or with fewer
// than two objects, duplicate keys, and the limits above.
Result<Pattern> parse_pattern(std::string_view json);

// Unicode simple case folding of UTF-8 text (equals-ignore-case); nullopt if the text is
// not UTF-8.
std::optional<std::string> fold_case(std::string_view text);

// Whether one scalar value satisfies one condition (kExists is decided by the caller,
// which knows whether the field is present).
struct ScalarValue {
  enum class Type : uint8_t { kString, kNumber, kBool, kNull };
  Type type = Type::kNull;
  std::string_view text;  // kString
  double number = 0;      // kNumber
  bool boolean = false;   // kBool
};
bool condition_matches(const Condition& c, const ScalarValue& v);

}  // namespace causeway::rules
