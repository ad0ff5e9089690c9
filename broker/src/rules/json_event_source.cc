// See rules/json_event_source.h.
#include "rules/json_event_source.h"

#include "rules/reference_matcher.h"

namespace causeway::rules {
namespace {

using nlohmann::json;

// Walks `v` at trie node `at`. `in_array`: v is an element of an array (objects there
// make the event need confirmation when patterns read below them).
void walk_value(const PathTrie& paths, uint32_t at, const json& v, bool in_array, LeafSink& sink) {
  const PathTrie::Node& node = paths.nodes[at];
  if (v.is_array()) {
    for (const auto& e : v) walk_value(paths, at, e, true, sink);
    return;
  }
  if (v.is_object()) {
    if (node.children.empty()) return;  // an object where patterns read a value: absent
    if (in_array) sink.object_array();
    for (const auto& [key, child] : v.items()) {
      const int64_t next = paths.child(at, key);
      if (next >= 0) walk_value(paths, static_cast<uint32_t>(next), child, false, sink);
    }
    return;
  }
  if (node.leaf >= 0) sink.leaf(static_cast<uint32_t>(node.leaf), scalar_of(v));
}

}  // namespace

void JsonEventSource::walk(const PathTrie& paths, LeafSink& sink) const {
  if (event_.is_object()) walk_value(paths, 0, event_, false, sink);
}

nlohmann::json JsonEventSource::materialize(const PathTrie&) const { return event_; }

}  // namespace causeway::rules
