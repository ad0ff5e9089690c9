// Fuzz target for the registry's schema parser input (docs/registry.md, DESIGN.md "Schema
// registry"): a root type and .fbs text, as POST /subjects/{s}/versions hands them to
// parse_schema. Any input must parse or fail with a Status, never crash, hang or read out of
// bounds. Two schemas that both parse are also compared by the compatibility checker in
// both directions, and the raw input is verified as a payload of the first one.
//
// Input: "<root type>\n<fbs text>", optionally followed by "\n%%\n<root type>\n<fbs text>"
// for a second schema. Each text is also parsed with references, as a file of shared types
// may be: `include "b.fbs";` in the first means the second, `include "a.fbs";` in the second
// the first (so includes may nest, repeat and form cycles), `include "c.fbs";` a version that
// does not exist. Built as a libFuzzer target with Clang (-DCAUSEWAY_BUILD_FUZZERS=ON)
// and, always, linked with corpus_driver.cc so that ctest replays corpus/registry_schema.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/registry/compatibility.h"
#include "causeway/registry/payload.h"
#include "causeway/registry/schema.h"

namespace {

struct SchemaInput {
  std::string_view root_type;
  std::string_view text;
};

SchemaInput split(std::string_view in) {
  const auto nl = in.find('\n');
  if (nl == std::string_view::npos) return {std::string_view(), in};
  return {in.substr(0, nl), in.substr(nl + 1)};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace causeway::registry;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto sep = bytes.find("\n%%\n");
  const SchemaInput first = split(bytes.substr(0, sep));
  const SchemaInput second_or_none = sep == std::string_view::npos ? SchemaInput{} : split(bytes.substr(sep + 4));
  const SchemaReference refs[] = {{"a.fbs", "a", 1}, {"b.fbs", "b", 1}, {"c.fbs", "c", 1}};
  const ReferenceLookup lookup = [&](const std::string& subject, int) -> causeway::Result<ReferencedSchema> {
    const std::vector<SchemaReference> all(std::begin(refs), std::end(refs));
    if (subject == "a") return ReferencedSchema{std::string(first.text), all};
    if (subject == "b") return ReferencedSchema{std::string(second_or_none.text), all};
    return causeway::not_found("no such subject");
  };
  (void)parse_schema(first.text, first.root_type, refs, lookup, RootTypeRule::kOptional);
  (void)parse_schema(second_or_none.text, second_or_none.root_type, refs, lookup, RootTypeRule::kOptional);

  auto a = parse_schema(first.text, first.root_type);
  if (!a.ok()) return 0;
  (void)verify_payload(*a, std::span<const uint8_t>(data, size));
  if (sep == std::string_view::npos) return 0;
  const SchemaInput second = split(bytes.substr(sep + 4));
  auto b = parse_schema(second.text, second.root_type);
  if (!b.ok()) return 0;
  const ParsedSchema previous[] = {*a};
  (void)check(CompatibilityMode::kFullTransitive, *b, previous);
  (void)diff_schemas(*b, *a);
  return 0;
}
