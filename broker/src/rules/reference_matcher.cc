// The reference pattern evaluation; see rules/reference_matcher.h and docs/patterns.md.
#include "rules/reference_matcher.h"

#include <vector>

namespace causeway::rules {
namespace {

using nlohmann::json;

// The scalars of a leaf: a scalar itself, or the scalars of an array (nested arrays
// flattened). Objects, in place of the leaf or inside its array, do not count: "an object
// in place of a leaf counts as not existing".
void collect_scalars(const json& v, std::vector<const json*>& out) {
  if (v.is_array()) {
    for (const auto& e : v) collect_scalars(e, out);
  } else if (!v.is_object() && !v.is_discarded()) {
    out.push_back(&v);
  }
}

bool leaf_matches(const std::vector<Condition>& conditions, const json* v) {
  std::vector<const json*> scalars;
  if (v != nullptr) collect_scalars(*v, scalars);
  for (const Condition& c : conditions) {
    if (c.kind == Condition::Kind::kExists) {
      if (c.flag == !scalars.empty()) return true;
      continue;
    }
    for (const json* s : scalars)
      if (condition_matches(c, scalar_of(*s))) return true;
  }
  return false;
}

bool node_matches(const PatternNode& p, const json* v);

// A pattern object against an array: some element matches all of it (flattening nested
// arrays); an array with no elements is as good as absent.
bool node_matches_array(const PatternNode& p, const json& arr, bool& any_element) {
  for (const auto& e : arr) {
    if (e.is_array()) {
      if (node_matches_array(p, e, any_element)) return true;
      continue;
    }
    any_element = true;
    if (node_matches(p, &e)) return true;
  }
  return false;
}

bool node_matches(const PatternNode& p, const json* v) {
  if (v != nullptr && v->is_array()) {
    bool any_element = false;
    if (node_matches_array(p, *v, any_element)) return true;
    return !any_element && node_matches(p, nullptr);
  }
  // Fields of a scalar, or of nothing, are all absent.
  const json* object = v != nullptr && v->is_object() ? v : nullptr;
  for (const FieldPattern& f : p.fields) {
    const json* child = nullptr;
    if (object != nullptr) {
      const auto it = object->find(f.name);
      if (it != object->end()) child = &*it;
    }
    if (f.nested ? !node_matches(*f.nested, child) : !leaf_matches(f.conditions, child)) return false;
  }
  for (const auto& alternatives : p.ors) {
    bool any = false;
    for (const PatternNode& alt : alternatives) {
      if (node_matches(alt, v)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

}  // namespace

ScalarValue scalar_of(const json& v) {
  ScalarValue s;
  if (v.is_string()) {
    s.type = ScalarValue::Type::kString;
    const auto& str = v.get_ref<const std::string&>();
    s.text = str;
  } else if (v.is_number()) {
    s.type = ScalarValue::Type::kNumber;
    s.number = v.get<double>();
  } else if (v.is_boolean()) {
    s.type = ScalarValue::Type::kBool;
    s.boolean = v.get<bool>();
  } else {
    s.type = ScalarValue::Type::kNull;
  }
  return s;
}

bool reference_matches(const PatternNode& pattern, const json& event) { return node_matches(pattern, &event); }

}  // namespace causeway::rules
