// File: rules/reference_matcher.h
//
// The reference evaluation of one pattern against one event given as a JSON document (the
// event's view, docs/patterns.md "The event as patterns see it"). It is the semantics,
// written as directly as possible: `causeway pattern test` uses it, the property tests
// check the compiled many-pattern matcher (rules/matcher.h) against it, and the matcher
// falls back to it for events whose arrays hold objects on a path a pattern reads.
//
// Thread-safe (pure function).
#pragma once

#include <nlohmann/json.hpp>

#include "rules/pattern.h"

namespace causeway::rules {

// Whether `event` matches `pattern`. Arrays in the event match when any element matches
// (nested arrays count as flattened); fields of a nested pattern that meets an array of
// objects must all match within one element.
bool reference_matches(const PatternNode& pattern, const nlohmann::json& event);
inline bool reference_matches(const Pattern& pattern, const nlohmann::json& event) {
  return reference_matches(pattern.root, event);
}

// Converts one JSON scalar to the matcher's value (strings keep a view into `v`).
ScalarValue scalar_of(const nlohmann::json& v);

}  // namespace causeway::rules
