// File: rules/matcher.h
//
// Matcher: many patterns compiled together, so that the cost of matching one event grows
// far slower than the number of patterns (docs/patterns.md, "How matching scales").
//
// Compiling expands each pattern's $or into conjunctions of clauses (a clause: one field
// path and the OR of its conditions) and indexes every condition by the field path it
// reads: exact strings and numbers in hash maps, prefixes and suffixes by their length,
// numeric ranges in an interval tree, networks by prefix length. An event is read once:
// its source (rules/event_source.h) walks only the paths some pattern reads and hands
// each scalar to the index of its path, which marks the clauses it satisfies; a
// conjunction matches when all of its clauses are marked. Clauses that `exists: false`
// satisfies are checked against the paths the event had. Events whose arrays hold objects
// on a path a pattern reads are the one case the index cannot decide alone (fields must
// match within one array element): its candidates are confirmed by the reference
// evaluation on a document of just the paths patterns read.
//
// Thread-safety: a Matcher is immutable after compile() and may be shared; each thread
// that matches passes its own Scratch.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/strings/string_view.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "rules/pattern.h"

namespace causeway::rules {

// The field paths patterns read, as a trie of keys. Event sources walk it together with
// the event and skip every other part of the event.
struct PathTrie {
  struct Node {
    absl::flat_hash_map<std::string, uint32_t> children;  // key -> node index
    int32_t leaf = -1;  // index of the path's value index, or -1 when no pattern reads a value here
  };
  std::vector<Node> nodes;  // nodes[0] is the root (the event object)

  const Node& root() const { return nodes[0]; }
  // The child `key` of node `at`, or -1.
  int64_t child(uint32_t at, std::string_view key) const {
    const auto& c = nodes[at].children;
    // Debian's Abseil has its own string_view type (not an alias of std's).
    const auto it = c.find(absl::string_view(key.data(), key.size()));
    return it == c.end() ? -1 : static_cast<int64_t>(it->second);
  }
};

// What an event source reports while it walks an event.
class LeafSink {
 public:
  virtual ~LeafSink() = default;
  // A scalar at the path whose value index is `leaf`.
  virtual void leaf(uint32_t leaf, const ScalarValue& value) = 0;
  // The event has an array holding objects on a path some pattern reads below it.
  virtual void object_array() = 0;
};

// An event as the matcher reads it (rules/event_source.h has the implementations).
class EventSource {
 public:
  virtual ~EventSource() = default;
  // Walks the event along `paths`, reporting every scalar at a path with a value index.
  virtual void walk(const PathTrie& paths, LeafSink& sink) const = 0;
  // The event's JSON view, restricted to `paths` (or whole); only for events that
  // reported object_array().
  virtual nlohmann::json materialize(const PathTrie& paths) const = 0;
};

class Matcher {
 public:
  // Per-thread state of one match; reusable across events of any Matcher.
  struct Scratch {
    uint32_t epoch = 0;
    std::vector<uint32_t> clause_epoch;  // clause evaluated (or hit) in this event
    std::vector<uint8_t> clause_result;
    std::vector<uint32_t> conj_epoch;    // conjunction already a candidate
    std::vector<uint32_t> leaf_epoch;    // path has a value in this event
    std::vector<int32_t> leaf_first;     // its first and last value in `values`
    std::vector<int32_t> leaf_last;
    std::vector<uint32_t> pattern_epoch;  // pattern decided
    std::vector<uint32_t> touched;        // candidate conjunctions
    std::vector<std::pair<uint32_t, ScalarValue>> values;  // the event's values along pattern paths
    std::vector<int32_t> value_next;                       // next value of the same path
    bool object_array = false;
  };

  // Compiles patterns; `ids[i]` is what match() reports for `patterns[i]`. Fails with
  // kInvalidArgument when a pattern's $or expand to more than kMaxConjunctionsPerPattern
  // combinations (naming the pattern's id).
  static constexpr size_t kMaxConjunctionsPerPattern = 1024;
  static Result<std::shared_ptr<const Matcher>> compile(const std::vector<std::shared_ptr<const Pattern>>& patterns,
                                                        const std::vector<uint32_t>& ids);

  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  const PathTrie& paths() const { return paths_; }
  size_t pattern_count() const { return patterns_.size(); }

  // The ids of the patterns `event` matches, appended to `out` (each once, in no
  // particular order).
  void match(const EventSource& event, Scratch& scratch, std::vector<uint32_t>& out) const;

  struct Impl;

 private:
  Matcher();
  PathTrie paths_;
  std::vector<std::shared_ptr<const Pattern>> patterns_;
  std::vector<uint32_t> ids_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway::rules
