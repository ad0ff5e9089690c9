// File: client/cli/json_schema_hint.cc
//
// See json_schema_hint.h.
#include "client/cli/json_schema_hint.h"

#include <flatbuffers/idl.h>

#include <sstream>

namespace causeway::cli {
namespace {

using flatbuffers::BaseType;
using nlohmann::json;

constexpr std::size_t kMaxQuoted = 40;  // of a wrong value, quoted in the message

std::string describe_value(const json& v) {
  std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxQuoted) text = text.substr(0, kMaxQuoted) + "...";
  return std::string(v.is_string() ? "the string " : v.is_number() ? "the number " : std::string("")) +
         (v.is_string() || v.is_number() ? text : std::string(v.type_name()) + " " + text);
}

std::string qualified_name(const flatbuffers::Definition& d) {
  const std::string ns = d.defined_namespace ? d.defined_namespace->GetFullyQualifiedName(d.name) : d.name;
  return ns;
}

// The enum value names a string may hold (a bit_flags enum takes several, space-separated).
bool is_enum_text(const flatbuffers::EnumDef& e, const std::string& text) {
  std::istringstream words(text);
  std::string word;
  bool any = false;
  while (words >> word) {
    if (e.Lookup(word) == nullptr) return false;
    any = true;
  }
  return any;
}

bool is_number_text(const std::string& text) {
  if (text.empty()) return false;
  std::istringstream in(text);
  double d = 0;
  in >> d;
  return !in.fail() && in.eof();
}

std::string enum_names(const flatbuffers::EnumDef& e) {
  std::string out;
  for (const flatbuffers::EnumVal* v : e.Vals()) out += (out.empty() ? "" : ", ") + v->name;
  return out;
}

// "" when `value` is of a kind that `type` takes; else what the schema expects.
std::optional<std::string> check(const flatbuffers::Type& type, const json& value, const std::string& path,
                                 const std::string& owner, int depth);

std::optional<std::string> wrong_kind(const std::string& path, const std::string& owner, const std::string& expected,
                                    const json& value) {
  return "field \"" + path + "\" of " + owner + " is " + expected + ", got " + describe_value(value);
}

std::optional<std::string> check_table(const flatbuffers::StructDef& def, const json& object, const std::string& prefix,
                                       int depth) {
  if (depth > 64) return std::nullopt;  // the parser bounds nesting itself
  for (auto it = object.begin(); it != object.end(); ++it) {
    const flatbuffers::FieldDef* field = def.fields.Lookup(it.key());
    if (field == nullptr) continue;  // the parser's "unknown field" names it already
    if (auto why = check(field->value.type, it.value(), prefix + it.key(), qualified_name(def), depth)) return why;
  }
  return std::nullopt;
}

std::optional<std::string> check(const flatbuffers::Type& type, const json& value, const std::string& path,
                                 const std::string& owner, int depth) {
  if (value.is_null()) return std::nullopt;
  const BaseType bt = type.base_type;
  const std::string type_name = flatbuffers::kTypeNames[bt];
  if (bt == flatbuffers::BASE_TYPE_BOOL) {
    if (value.is_boolean() || value.is_number_integer()) return std::nullopt;
    return wrong_kind(path, owner, "a bool (true or false)", value);
  }
  if (type.enum_def != nullptr && !type.enum_def->is_union && flatbuffers::IsScalar(bt)) {
    if (value.is_number_integer() || (value.is_string() && is_enum_text(*type.enum_def, value.get<std::string>()))) {
      return std::nullopt;
    }
    return wrong_kind(path, owner,
                    "enum " + qualified_name(*type.enum_def) + " (one of " + enum_names(*type.enum_def) +
                        ", or its number)",
                    value);
  }
  if (flatbuffers::IsInteger(bt)) {
    if (value.is_number_integer() || (value.is_string() && is_number_text(value.get<std::string>()))) {
      return std::nullopt;
    }
    return wrong_kind(path, owner, "a " + type_name + " (a JSON integer)", value);
  }
  if (flatbuffers::IsFloat(bt)) {
    if (value.is_number() || (value.is_string() && is_number_text(value.get<std::string>()))) return std::nullopt;
    return wrong_kind(path, owner, "a " + type_name + " (a JSON number)", value);
  }
  if (bt == flatbuffers::BASE_TYPE_STRING) {
    if (value.is_string()) return std::nullopt;
    return wrong_kind(path, owner, "a string", value);
  }
  if (bt == flatbuffers::BASE_TYPE_STRUCT && type.struct_def != nullptr) {
    if (!value.is_object()) {
      return wrong_kind(path, owner, "a " + qualified_name(*type.struct_def) + " (a JSON object)", value);
    }
    return check_table(*type.struct_def, value, path + ".", depth + 1);
  }
  if (bt == flatbuffers::BASE_TYPE_VECTOR || bt == flatbuffers::BASE_TYPE_ARRAY) {
    if (!value.is_array()) return wrong_kind(path, owner, "a vector (a JSON array)", value);
    const flatbuffers::Type element = type.VectorType();
    std::size_t i = 0;
    for (const json& item : value) {
      if (auto why = check(element, item, path + "[" + std::to_string(i++) + "]", owner, depth + 1)) return why;
    }
  }
  return std::nullopt;  // unions and anything else: the parser's message stands
}

}  // namespace

std::optional<std::string> explain_type_mismatch(const flatbuffers::StructDef& table, const json& object) {
  if (!object.is_object()) return std::nullopt;
  return check_table(table, object, "", 0);
}

}  // namespace causeway::cli
