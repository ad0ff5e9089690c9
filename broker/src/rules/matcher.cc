// The compiled many-pattern matcher; see rules/matcher.h and docs/patterns.md.
#include "rules/matcher.h"

#include <arpa/inet.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "rules/reference_matcher.h"

namespace causeway::rules {
namespace {

using ClauseList = std::vector<uint32_t>;
using StringMap = absl::flat_hash_map<std::string, ClauseList>;

// Strings indexed by their first (or last) `length` bytes, one hash map per distinct
// length: a value is looked up once per length present, not once per pattern.
class AffixIndex {
 public:
  void add(const std::string& affix, uint32_t clause) {
    auto it = std::find_if(by_length_.begin(), by_length_.end(), [&](const auto& e) { return e.first == affix.size(); });
    if (it == by_length_.end()) {
      by_length_.emplace_back(affix.size(), StringMap());
      it = std::prev(by_length_.end());
    }
    it->second[affix].push_back(clause);
  }
  template <typename Fn>
  void find(std::string_view value, bool suffix, Fn&& emit) const {
    for (const auto& [length, map] : by_length_) {
      if (length > value.size()) continue;
      const std::string_view key = suffix ? value.substr(value.size() - length) : value.substr(0, length);
      const auto it = map.find(absl::string_view(key.data(), key.size()));
      if (it == map.end()) continue;
      for (uint32_t c : it->second) emit(c);
    }
  }
  bool empty() const { return by_length_.empty(); }

 private:
  std::vector<std::pair<size_t, StringMap>> by_length_;
};

// Numeric ranges, stabbed by a value in O(log n + matches): a centered interval tree.
class IntervalTree {
 public:
  void add(const NumericRange& r, uint32_t clause) { ranges_.push_back({r, clause}); }

  void build() {
    std::vector<uint32_t> all(ranges_.size());
    for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
    nodes_.clear();
    if (!all.empty()) build_node(std::move(all), 0);
  }

  template <typename Fn>
  void find(double x, Fn&& emit) const {
    int32_t at = nodes_.empty() ? -1 : 0;
    while (at >= 0) {
      const Node& n = nodes_[static_cast<size_t>(at)];
      if (x < n.center) {
        for (uint32_t i : n.by_low) {
          if (low(i) > x) break;
          if (ranges_[i].range.contains(x)) emit(ranges_[i].clause);
        }
        at = n.left;
      } else if (x > n.center) {
        for (uint32_t i : n.by_high) {
          if (high(i) < x) break;
          if (ranges_[i].range.contains(x)) emit(ranges_[i].clause);
        }
        at = n.right;
      } else {
        for (uint32_t i : n.by_low)
          if (ranges_[i].range.contains(x)) emit(ranges_[i].clause);
        at = -1;
      }
    }
  }
  bool empty() const { return ranges_.empty(); }

 private:
  struct Entry {
    NumericRange range;
    uint32_t clause;
  };
  struct Node {
    double center = 0;
    std::vector<uint32_t> by_low;   // ranges holding the center, by lower bound ascending
    std::vector<uint32_t> by_high;  // the same, by upper bound descending
    int32_t left = -1;
    int32_t right = -1;
  };

  double low(uint32_t i) const {
    return ranges_[i].range.lower ? *ranges_[i].range.lower : -std::numeric_limits<double>::infinity();
  }
  double high(uint32_t i) const {
    return ranges_[i].range.upper ? *ranges_[i].range.upper : std::numeric_limits<double>::infinity();
  }

  int32_t build_node(std::vector<uint32_t> items, size_t depth) {
    std::vector<double> points;
    for (uint32_t i : items) {
      if (ranges_[i].range.lower) points.push_back(*ranges_[i].range.lower);
      if (ranges_[i].range.upper) points.push_back(*ranges_[i].range.upper);
    }
    Node n;
    if (!points.empty()) {
      std::nth_element(points.begin(), points.begin() + static_cast<std::ptrdiff_t>(points.size() / 2), points.end());
      n.center = points[points.size() / 2];
    }
    std::vector<uint32_t> left, right;
    for (uint32_t i : items) {
      if (high(i) < n.center) left.push_back(i);
      else if (low(i) > n.center) right.push_back(i);
      else n.by_low.push_back(i);
    }
    // The median of the endpoints always splits or places something; past a depth that
    // no sane input reaches, keep what is left here rather than recurse further.
    if (depth > 64) {
      n.by_low.insert(n.by_low.end(), left.begin(), left.end());
      n.by_low.insert(n.by_low.end(), right.begin(), right.end());
      left.clear();
      right.clear();
      // Checked by contains() on every probe: scanning stops are not valid here.
      n.center = std::numeric_limits<double>::quiet_NaN();
    }
    n.by_high = n.by_low;
    std::sort(n.by_low.begin(), n.by_low.end(), [&](uint32_t a, uint32_t b) { return low(a) < low(b); });
    std::sort(n.by_high.begin(), n.by_high.end(), [&](uint32_t a, uint32_t b) { return high(a) > high(b); });
    const auto index = static_cast<int32_t>(nodes_.size());
    nodes_.push_back(std::move(n));
    if (!left.empty()) {
      const int32_t l = build_node(std::move(left), depth + 1);
      nodes_[static_cast<size_t>(index)].left = l;
    }
    if (!right.empty()) {
      const int32_t r = build_node(std::move(right), depth + 1);
      nodes_[static_cast<size_t>(index)].right = r;
    }
    return index;
  }

  std::vector<Entry> ranges_;
  std::vector<Node> nodes_;
};

// Networks by (family, prefix length): an address is masked once per length present and
// looked up.
class CidrIndex {
 public:
  void add(const Cidr& c, uint32_t clause) {
    auto it = std::find_if(groups_.begin(), groups_.end(),
                           [&](const Group& g) { return g.v6 == c.v6 && g.bits == c.prefix_bits; });
    if (it == groups_.end()) {
      groups_.push_back(Group{c.v6, c.prefix_bits, {}});
      it = std::prev(groups_.end());
    }
    it->networks[std::string(reinterpret_cast<const char*>(c.network.data()), 16)].push_back(clause);
  }
  template <typename Fn>
  void find(std::string_view text, Fn&& emit) const {
    if (text.size() > 64) return;
    const std::string s(text);
    std::array<uint8_t, 16> a{};
    bool v6 = false;
    uint8_t bytes[16];
    if (::inet_pton(AF_INET, s.c_str(), bytes) == 1) {
      std::memcpy(a.data() + 12, bytes, 4);
    } else if (::inet_pton(AF_INET6, s.c_str(), bytes) == 1) {
      std::memcpy(a.data(), bytes, 16);
      v6 = true;
    } else {
      return;
    }
    for (const Group& g : groups_) {
      if (g.v6 != v6) continue;
      std::array<uint8_t, 16> masked{};
      int bits = g.bits;
      for (size_t i = v6 ? 0 : 12; i < 16 && bits > 0; ++i, bits -= 8) {
        masked[i] = static_cast<uint8_t>(a[i] & (bits >= 8 ? 0xFF : (0xFF << (8 - bits))));
      }
      const auto it = g.networks.find(absl::string_view(reinterpret_cast<const char*>(masked.data()), 16));
      if (it == g.networks.end()) continue;
      for (uint32_t c : it->second) emit(c);
    }
  }
  bool empty() const { return groups_.empty(); }

 private:
  struct Group {
    bool v6;
    uint8_t bits;
    StringMap networks;
  };
  std::vector<Group> groups_;
};

// Everything the patterns test at one field path.
struct LeafIndex {
  StringMap strings;
  absl::flat_hash_map<double, ClauseList> numbers;
  ClauseList trues, falses, nulls;
  AffixIndex prefixes, suffixes, prefixes_folded, suffixes_folded;
  StringMap folded;
  // Wildcards by their literal first piece; those starting with '*' are tried one by one.
  AffixIndex wildcard_heads;
  std::vector<std::pair<const Wildcard*, uint32_t>> wildcards;  // indexed by the heads' clause lists
  std::vector<std::pair<const Wildcard*, uint32_t>> headless_wildcards;
  IntervalTree ranges;
  CidrIndex networks;
  std::vector<std::pair<const Condition*, uint32_t>> tested;  // anything-but and $and: evaluated one by one
  ClauseList present;  // exists: true
  bool fold = false;   // some index needs the case-folded value
};

// A clause: one field path and the OR of its conditions. Identical clauses of different
// patterns (the same path and the same conditions, e.g. "source": ["shop"]) are one, so
// that an event evaluates each at most once.
struct ClauseDef {
  uint32_t leaf = 0;
  const std::vector<Condition>* conditions = nullptr;
  bool absent_ok = false;     // exists: false is one of its conditions
  ClauseList anchored;        // conjunctions this clause anchors (then it is indexed)
};

// An AND of clauses, from one pattern's $or expansion. It is looked at only when its
// anchor (its most selective clause, indexed) is satisfied by the event; conjunctions
// without any clause that needs a value are looked at for every event.
struct Conjunction {
  uint32_t pattern = 0;   // index into the compiled patterns
  ClauseList clauses;     // ClauseDef ids
  int64_t anchor = -1;    // a ClauseDef id, or -1
};

struct ClauseSpec {
  std::vector<std::string> path;
  const std::vector<Condition>* conditions;
};
using ConjunctionSpec = std::vector<ClauseSpec>;

Status expand(const PatternNode& node, const std::vector<std::string>& prefix, std::vector<ConjunctionSpec>& out) {
  std::vector<ConjunctionSpec> result(1);
  const auto cross = [&](std::vector<ConjunctionSpec>& acc, const std::vector<ConjunctionSpec>& with) -> Status {
    if (acc.size() * with.size() > Matcher::kMaxConjunctionsPerPattern) {
      return invalid_argument("the pattern's $or expand to more than " +
                              std::to_string(Matcher::kMaxConjunctionsPerPattern) + " combinations");
    }
    std::vector<ConjunctionSpec> next;
    next.reserve(acc.size() * with.size());
    for (const auto& a : acc) {
      for (const auto& w : with) {
        ConjunctionSpec c = a;
        c.insert(c.end(), w.begin(), w.end());
        next.push_back(std::move(c));
      }
    }
    acc = std::move(next);
    return Status();
  };
  for (const FieldPattern& f : node.fields) {
    std::vector<std::string> path = prefix;
    path.push_back(f.name);
    if (f.nested) {
      std::vector<ConjunctionSpec> sub;
      CAUSEWAY_RETURN_IF_ERROR(expand(*f.nested, path, sub));
      CAUSEWAY_RETURN_IF_ERROR(cross(result, sub));
    } else {
      for (auto& c : result) c.push_back(ClauseSpec{path, &f.conditions});
    }
  }
  for (const auto& alternatives : node.ors) {
    std::vector<ConjunctionSpec> any;
    for (const PatternNode& alt : alternatives) {
      std::vector<ConjunctionSpec> sub;
      CAUSEWAY_RETURN_IF_ERROR(expand(alt, prefix, sub));
      any.insert(any.end(), sub.begin(), sub.end());
      if (any.size() > Matcher::kMaxConjunctionsPerPattern) {
        return invalid_argument("the pattern's $or expand to more than " +
                                std::to_string(Matcher::kMaxConjunctionsPerPattern) + " combinations");
      }
    }
    CAUSEWAY_RETURN_IF_ERROR(cross(result, any));
  }
  out = std::move(result);
  return Status();
}

}  // namespace

struct Matcher::Impl {
  std::vector<LeafIndex> leaves;
  std::vector<ClauseDef> clauses;
  std::vector<Conjunction> conjunctions;
  ClauseList unanchored;  // conjunctions every event is a candidate for

  uint32_t leaf_for(PathTrie& trie, const std::vector<std::string>& path) {
    uint32_t at = 0;
    for (const std::string& key : path) {
      auto& children = trie.nodes[at].children;
      const auto it = children.find(key);
      if (it != children.end()) {
        at = it->second;
        continue;
      }
      const auto next = static_cast<uint32_t>(trie.nodes.size());
      trie.nodes[at].children.emplace(key, next);
      trie.nodes.emplace_back();
      at = next;
    }
    if (trie.nodes[at].leaf < 0) {
      trie.nodes[at].leaf = static_cast<int32_t>(leaves.size());
      leaves.emplace_back();
    }
    return static_cast<uint32_t>(trie.nodes[at].leaf);
  }

  void index(LeafIndex& idx, const Condition& c, uint32_t clause) {
    switch (c.kind) {
      case Condition::Kind::kString: idx.strings[c.text].push_back(clause); break;
      case Condition::Kind::kNumber: idx.numbers[c.number == 0 ? 0.0 : c.number].push_back(clause); break;
      case Condition::Kind::kBool: (c.flag ? idx.trues : idx.falses).push_back(clause); break;
      case Condition::Kind::kNull: idx.nulls.push_back(clause); break;
      case Condition::Kind::kPrefix: idx.prefixes.add(c.text, clause); break;
      case Condition::Kind::kSuffix: idx.suffixes.add(c.text, clause); break;
      case Condition::Kind::kEqualsIgnoreCase:
        idx.folded[c.text].push_back(clause);
        idx.fold = true;
        break;
      case Condition::Kind::kPrefixIgnoreCase:
        idx.prefixes_folded.add(c.text, clause);
        idx.fold = true;
        break;
      case Condition::Kind::kSuffixIgnoreCase:
        idx.suffixes_folded.add(c.text, clause);
        idx.fold = true;
        break;
      case Condition::Kind::kWildcard:
        if (c.wildcard.pieces.front().empty()) {
          idx.headless_wildcards.emplace_back(&c.wildcard, clause);
        } else {
          // The head's clause list holds indexes into `wildcards`, not clauses.
          idx.wildcard_heads.add(c.wildcard.pieces.front(), static_cast<uint32_t>(idx.wildcards.size()));
          idx.wildcards.emplace_back(&c.wildcard, clause);
        }
        break;
      case Condition::Kind::kNumeric:
        if (c.range.lower && c.range.upper && *c.range.lower == *c.range.upper) {
          idx.numbers[*c.range.lower == 0 ? 0.0 : *c.range.lower].push_back(clause);
        } else {
          idx.ranges.add(c.range, clause);
        }
        break;
      case Condition::Kind::kCidr: idx.networks.add(c.cidr, clause); break;
      case Condition::Kind::kAnythingBut:
      case Condition::Kind::kAnd: idx.tested.emplace_back(&c, clause); break;
      case Condition::Kind::kExists:
        if (c.flag) idx.present.push_back(clause);
        break;  // exists: false is the clause's absent_ok flag; such clauses anchor nothing
    }
  }

  // The index reported that the event satisfies clause `def`.
  void hit(uint32_t def, Scratch& s) const {
    if (s.clause_epoch[def] == s.epoch) return;
    s.clause_epoch[def] = s.epoch;
    s.clause_result[def] = 1;
    for (uint32_t conj : clauses[def].anchored) {
      if (s.conj_epoch[conj] == s.epoch) continue;
      s.conj_epoch[conj] = s.epoch;
      s.touched.push_back(conj);
    }
  }

  // Whether the event satisfies clause `def`, evaluated from the values the walk kept (once
  // per event). `relaxed`: absent-ok clauses count as satisfied (arrays of objects).
  bool satisfied(uint32_t def, Scratch& s, bool relaxed) const {
    const ClauseDef& c = clauses[def];
    if (relaxed && c.absent_ok) return true;
    if (s.clause_epoch[def] == s.epoch) return s.clause_result[def] != 0;
    bool result = false;
    const bool present = s.leaf_epoch[c.leaf] == s.epoch;
    if (!present) {
      result = c.absent_ok;
    } else {
      for (const Condition& cond : *c.conditions) {
        if (cond.kind == Condition::Kind::kExists) {
          result = cond.flag;
        } else {
          for (int32_t i = s.leaf_first[c.leaf]; i >= 0 && !result; i = s.value_next[static_cast<size_t>(i)]) {
            result = condition_matches(cond, s.values[static_cast<size_t>(i)].second);
          }
        }
        if (result) break;
      }
    }
    s.clause_epoch[def] = s.epoch;
    s.clause_result[def] = result ? 1 : 0;
    return result;
  }
};

namespace {

class Sink final : public LeafSink {
 public:
  Sink(const Matcher::Impl& m, Matcher::Scratch& s) : m_(m), s_(s) {}

  void object_array() override { s_.object_array = true; }

  void leaf(uint32_t leaf, const ScalarValue& v) override {
    const LeafIndex& idx = m_.leaves[leaf];
    const auto emit = [this](uint32_t clause) { m_.hit(clause, s_); };
    // Kept for the clauses evaluated after the walk (chained per leaf).
    const auto at = static_cast<int32_t>(s_.values.size());
    s_.values.emplace_back(leaf, v);
    s_.value_next.push_back(-1);
    if (s_.leaf_epoch[leaf] != s_.epoch) {
      s_.leaf_epoch[leaf] = s_.epoch;
      s_.leaf_first[leaf] = at;
      s_.leaf_last[leaf] = at;
      for (uint32_t c : idx.present) emit(c);
    } else {
      s_.value_next[static_cast<size_t>(s_.leaf_last[leaf])] = at;
      s_.leaf_last[leaf] = at;
    }
    switch (v.type) {
      case ScalarValue::Type::kNull:
        for (uint32_t c : idx.nulls) emit(c);
        break;
      case ScalarValue::Type::kBool:
        for (uint32_t c : (v.boolean ? idx.trues : idx.falses)) emit(c);
        break;
      case ScalarValue::Type::kNumber: {
        if (!idx.numbers.empty()) {
          const auto it = idx.numbers.find(v.number == 0 ? 0.0 : v.number);
          if (it != idx.numbers.end())
            for (uint32_t c : it->second) emit(c);
        }
        if (!idx.ranges.empty()) idx.ranges.find(v.number, emit);
        break;
      }
      case ScalarValue::Type::kString: {
        const std::string_view text = v.text;
        if (!idx.strings.empty()) {
          const auto it = idx.strings.find(absl::string_view(text.data(), text.size()));
          if (it != idx.strings.end())
            for (uint32_t c : it->second) emit(c);
        }
        if (!idx.prefixes.empty()) idx.prefixes.find(text, false, emit);
        if (!idx.suffixes.empty()) idx.suffixes.find(text, true, emit);
        if (idx.fold) {
          if (const auto folded = fold_case(text)) {
            const auto it = idx.folded.find(*folded);
            if (it != idx.folded.end())
              for (uint32_t c : it->second) emit(c);
            idx.prefixes_folded.find(*folded, false, emit);
            idx.suffixes_folded.find(*folded, true, emit);
          }
        }
        if (!idx.wildcard_heads.empty()) {
          idx.wildcard_heads.find(text, false, [&](uint32_t w) {
            if (idx.wildcards[w].first->matches(text)) emit(idx.wildcards[w].second);
          });
        }
        for (const auto& [w, clause] : idx.headless_wildcards)
          if (w->matches(text)) emit(clause);
        if (!idx.networks.empty()) idx.networks.find(text, emit);
        break;
      }
    }
    for (const auto& [condition, clause] : idx.tested)
      if (condition_matches(*condition, v)) emit(clause);
  }

 private:
  const Matcher::Impl& m_;
  Matcher::Scratch& s_;
};

}  // namespace

Matcher::Matcher() : impl_(std::make_unique<Impl>()) { paths_.nodes.emplace_back(); }
Matcher::~Matcher() = default;

namespace {

// A rough cost of anchoring on a clause: how often it is likely to be satisfied, from the
// kind of its conditions and, for exact values, how many conjunctions share the clause (a
// value many patterns name, like "source": ["shop"], is likely common in events too).
double anchor_cost(const std::vector<Condition>& conditions, size_t shared) {
  double cost = 0;
  for (const Condition& c : conditions) {
    switch (c.kind) {
      case Condition::Kind::kString:
      case Condition::Kind::kNumber:
      case Condition::Kind::kNull:
        cost += 1 + static_cast<double>(shared) / 8;
        break;
      case Condition::Kind::kBool: cost += 30; break;
      case Condition::Kind::kPrefix:
      case Condition::Kind::kPrefixIgnoreCase:
        cost += c.text.size() >= 4 ? 2 : 10;
        break;
      case Condition::Kind::kSuffix:
      case Condition::Kind::kSuffixIgnoreCase:
      case Condition::Kind::kEqualsIgnoreCase:
        cost += 3;
        break;
      case Condition::Kind::kNumeric:
      case Condition::Kind::kCidr:
        cost += 4;
        break;
      case Condition::Kind::kWildcard: cost += c.wildcard.pieces.front().empty() ? 20 : 5; break;
      case Condition::Kind::kAnythingBut:
      case Condition::Kind::kAnd:
      case Condition::Kind::kExists:
        cost += 100;
        break;
    }
  }
  return cost;
}

// A clause's identity for sharing: its path and the pattern text of its conditions.
std::string clause_key(const std::vector<std::string>& path, const std::vector<Condition>& conditions) {
  std::string key;
  for (const auto& p : path) {
    key += p;
    key += '\x1f';
  }
  key += '\x1e';
  // Conditions are compared by address of their vector when they differ in ways the text
  // below does not capture; the text covers every kind's operands.
  for (const Condition& c : conditions) {
    key += std::to_string(static_cast<int>(c.kind));
    key += ':';
    key += c.text;
    key += ':';
    key += std::to_string(std::bit_cast<uint64_t>(c.number));  // exact, unlike a decimal rendering
    key += c.flag ? 'T' : 'F';
    if (c.kind == Condition::Kind::kNumeric || c.kind == Condition::Kind::kCidr || c.kind == Condition::Kind::kWildcard ||
        c.kind == Condition::Kind::kAnythingBut || c.kind == Condition::Kind::kAnd) {
      // Operands not in `text`: do not share such clauses across patterns.
      key += '@';
      key += std::to_string(reinterpret_cast<uintptr_t>(&c));
    }
    key += '\x1d';
  }
  return key;
}

}  // namespace

Result<std::shared_ptr<const Matcher>> Matcher::compile(const std::vector<std::shared_ptr<const Pattern>>& patterns,
                                                        const std::vector<uint32_t>& ids) {
  if (patterns.size() != ids.size()) return invalid_argument("one id per pattern is needed");
  std::shared_ptr<Matcher> m(new Matcher());
  Impl& impl = *m->impl_;
  m->patterns_ = patterns;
  m->ids_ = ids;
  absl::flat_hash_map<std::string, uint32_t> shared_clauses;
  // How many conjunctions use each clause, for the anchor costs.
  std::vector<size_t> uses;
  for (uint32_t p = 0; p < patterns.size(); ++p) {
    std::vector<ConjunctionSpec> conjunctions;
    if (Status s = expand(patterns[p]->root, {}, conjunctions); !s.ok()) {
      return invalid_argument("pattern " + std::to_string(ids[p]) + ": " + std::string(s.message()));
    }
    for (const ConjunctionSpec& spec : conjunctions) {
      Conjunction c;
      c.pattern = p;
      for (const ClauseSpec& cs : spec) {
        const std::string key = clause_key(cs.path, *cs.conditions);
        auto [it, inserted] = shared_clauses.emplace(key, static_cast<uint32_t>(impl.clauses.size()));
        if (inserted) {
          ClauseDef def;
          def.leaf = impl.leaf_for(m->paths_, cs.path);
          def.conditions = cs.conditions;
          for (const Condition& cond : *cs.conditions)
            if (cond.kind == Condition::Kind::kExists && !cond.flag) def.absent_ok = true;
          impl.clauses.push_back(std::move(def));
          uses.push_back(0);
        }
        if (std::find(c.clauses.begin(), c.clauses.end(), it->second) == c.clauses.end()) {
          c.clauses.push_back(it->second);
          ++uses[it->second];
        }
      }
      impl.conjunctions.push_back(std::move(c));
    }
  }
  // Anchor each conjunction on its cheapest clause that needs a value, and index the
  // conditions of every clause that anchors something.
  std::vector<uint8_t> indexed(impl.clauses.size(), 0);
  for (uint32_t conj = 0; conj < impl.conjunctions.size(); ++conj) {
    Conjunction& c = impl.conjunctions[conj];
    double best = 0;
    for (uint32_t def : c.clauses) {
      const ClauseDef& d = impl.clauses[def];
      if (d.absent_ok) continue;
      const double cost = anchor_cost(*d.conditions, uses[def]);
      if (c.anchor < 0 || cost < best) {
        c.anchor = def;
        best = cost;
      }
    }
    if (c.anchor < 0) {
      impl.unanchored.push_back(conj);
      continue;
    }
    const auto anchor = static_cast<uint32_t>(c.anchor);
    impl.clauses[anchor].anchored.push_back(conj);
    if (!indexed[anchor]) {
      indexed[anchor] = 1;
      const ClauseDef& d = impl.clauses[anchor];
      for (const Condition& cond : *d.conditions) impl.index(impl.leaves[d.leaf], cond, anchor);
    }
  }
  for (LeafIndex& idx : impl.leaves) idx.ranges.build();
  return std::shared_ptr<const Matcher>(std::move(m));
}

void Matcher::match(const EventSource& event, Scratch& s, std::vector<uint32_t>& out) const {
  const Impl& impl = *impl_;
  const size_t clauses = impl.clauses.size();
  if (s.clause_epoch.size() < clauses) {
    s.clause_epoch.resize(clauses, 0);
    s.clause_result.resize(clauses, 0);
  }
  if (s.conj_epoch.size() < impl.conjunctions.size()) s.conj_epoch.resize(impl.conjunctions.size(), 0);
  if (s.leaf_epoch.size() < impl.leaves.size()) {
    s.leaf_epoch.resize(impl.leaves.size(), 0);
    s.leaf_first.resize(impl.leaves.size(), -1);
    s.leaf_last.resize(impl.leaves.size(), -1);
  }
  if (s.pattern_epoch.size() < patterns_.size()) s.pattern_epoch.resize(patterns_.size(), 0);
  if (++s.epoch == 0) {  // wrapped: old stamps could look current
    std::fill(s.clause_epoch.begin(), s.clause_epoch.end(), 0);
    std::fill(s.conj_epoch.begin(), s.conj_epoch.end(), 0);
    std::fill(s.leaf_epoch.begin(), s.leaf_epoch.end(), 0);
    std::fill(s.pattern_epoch.begin(), s.pattern_epoch.end(), 0);
    s.epoch = 1;
  }
  s.touched.clear();
  s.values.clear();
  s.value_next.clear();
  s.object_array = false;

  Sink sink(impl, s);
  event.walk(paths_, sink);

  // With arrays of objects the values of all elements are seen at once: a candidate may
  // not match within one element, and "absent in some element" is invisible to
  // exists:false. There, absent-ok clauses do not veto, and every candidate is confirmed
  // by the reference evaluation of its pattern.
  const bool confirm = s.object_array;
  std::optional<nlohmann::json> document;
  const auto consider = [&](uint32_t conj) {
    const Conjunction& c = impl.conjunctions[conj];
    if (s.pattern_epoch[c.pattern] == s.epoch) return;  // already decided
    for (uint32_t def : c.clauses)
      if (!impl.satisfied(def, s, confirm)) return;
    s.pattern_epoch[c.pattern] = s.epoch;
    if (confirm) {
      if (!document) document = event.materialize(paths_);
      if (!reference_matches(*patterns_[c.pattern], *document)) return;
    }
    out.push_back(ids_[c.pattern]);
  };
  for (size_t i = 0; i < s.touched.size(); ++i) consider(s.touched[i]);
  for (uint32_t conj : impl.unanchored) consider(conj);
}

}  // namespace causeway::rules
