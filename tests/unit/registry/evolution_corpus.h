// The evolution corpus: old -> new schema pairs with the expected verdicts for backward
// ("new reads old") and forward ("old reads new"), one or more per rule of
// docs/compatibility.md plus tricky combinations. Checked by compatibility_test.cc through
// the library and by wire_proof_test.cc on real bytes.
#pragma once

#include <span>
#include <string_view>

namespace causeway::registry::testing {

struct EvolutionCase {
  std::string_view name;
  std::string_view old_fbs;
  std::string_view new_fbs;
  bool backward;  // new schema reads old data
  bool forward;   // old schema reads new data
  // Space-separated rule names (change_rules()) that the diff must contain.
  std::string_view rules;
  // For incompatible pairs whose misread is shown on bytes: 'B' (old data read with the new
  // schema) or 'F' (new data read with the old one); 0 for none.
  char misread = 0;
  // JSON written with the writer's schema for the misread; empty: a generated sample.
  std::string_view sample_json = {};
};

std::span<const EvolutionCase> evolution_corpus();

}  // namespace causeway::registry::testing
