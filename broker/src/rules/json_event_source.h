// File: rules/json_event_source.h
//
// An event given as a JSON document (nlohmann) as the matcher reads it: the CLI's
// `pattern test`, tests, and the reference the other sources are checked against.
// Payload sources for the broker's hot path (on-demand JSON, FlatBuffers reflection) live
// in rules/event_source.h.
#pragma once

#include <nlohmann/json.hpp>

#include "rules/matcher.h"

namespace causeway::rules {

class JsonEventSource final : public EventSource {
 public:
  explicit JsonEventSource(const nlohmann::json& event) : event_(event) {}
  void walk(const PathTrie& paths, LeafSink& sink) const override;
  nlohmann::json materialize(const PathTrie& paths) const override;

 private:
  const nlohmann::json& event_;
};

}  // namespace causeway::rules
