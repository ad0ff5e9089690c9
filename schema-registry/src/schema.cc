// parse_schema: .fbs text -> reflection bytes plus a canonical form for identity. Contract in
// causeway/registry/schema.h and docs/compatibility.md ("Schema identity").
//
// Why reflection bytes rather than the Parser's StructDef/EnumDef: they are flatc's own
// self-contained description (no parser state to keep alive, storable as is), and the same
// bytes drive flatbuffers::Verify and reflection reads of payloads in the broker (validation,
// event patterns).
#include "causeway/registry/schema.h"

#include <flatbuffers/idl.h>
#include <flatbuffers/reflection.h>

#include <cctype>
#include <cstdio>
#include <string>

namespace causeway::registry {
namespace {

// Finds a top-level `include "..."` declaration, skipping comments and string literals.
// Returns its 1-based line, or 0 if there is none. The parser would resolve includes against
// the file system, which a registry must never do for user input.
int find_include_line(std::string_view text) {
  int line = 1;
  bool at_statement_start = true;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (c == '/' && i + 1 < n && text[i + 1] == '/') {
      while (i < n && text[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && text[i + 1] == '*') {
      i += 2;
      while (i + 1 < n && !(text[i] == '*' && text[i + 1] == '/')) {
        if (text[i] == '\n') ++line;
        ++i;
      }
      i += 2;
    } else if (c == '"') {
      ++i;
      while (i < n && text[i] != '"') {
        if (text[i] == '\\') ++i;
        else if (text[i] == '\n') ++line;
        ++i;
      }
      ++i;
      at_statement_start = false;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const std::size_t start = i;
      while (i < n && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) ++i;
      if (at_statement_start && text.substr(start, i - start) == "include") return line;
      at_statement_start = false;
    } else {
      if (c == ';' || c == '}') at_statement_start = true;
      else if (!std::isspace(static_cast<unsigned char>(c))) at_statement_start = false;
      ++i;
    }
  }
  return 0;
}

std::string fnv1a64_hex(std::string_view bytes) {
  std::uint64_t h = 14695981039346656037ULL;
  for (char c : bytes) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string(buf, 16);
}

// One line per declaration, every wire-relevant property, in the reflection form's order
// (objects, enums and fields sorted by name). Serialize() sorts those vectors but writes the
// tables themselves in declaration order, so the reflection bytes alone are not canonical.
void append_type(std::string& out, const reflection::Type& t) {
  out += " type=" + std::to_string(static_cast<int>(t.base_type())) + "/" +
         std::to_string(static_cast<int>(t.element())) + "/" + std::to_string(t.index()) + "/" +
         std::to_string(t.fixed_length());
}

void append_attributes(
    std::string& out,
    const flatbuffers::Vector<flatbuffers::Offset<reflection::KeyValue>>* attrs) {
  if (attrs == nullptr) return;
  for (const auto* kv : *attrs) {
    out += " @" + kv->key()->str() + "=" + (kv->value() ? kv->value()->str() : "");
  }
}

std::string canonical_form(const reflection::Schema& s) {
  std::string out;
  out += "root " + (s.root_table() ? s.root_table()->name()->str() : "") + "\n";
  out += "file_ident " + (s.file_ident() ? s.file_ident()->str() : "") + "\n";
  out += "file_ext " + (s.file_ext() ? s.file_ext()->str() : "") + "\n";
  for (const auto* o : *s.objects()) {
    out += std::string(o->is_struct() ? "struct " : "table ") + o->name()->str() +
           " size=" + std::to_string(o->bytesize()) + " align=" + std::to_string(o->minalign());
    append_attributes(out, o->attributes());
    out += "\n";
    for (const auto* f : *o->fields()) {
      out += "  field " + f->name()->str() + " id=" + std::to_string(f->id()) +
             " offset=" + std::to_string(f->offset()) +
             " default=" + std::to_string(f->default_integer()) + "/";
      char real[32];
      std::snprintf(real, sizeof real, "%.17g", f->default_real());
      out += real;
      out += std::string(f->deprecated() ? " deprecated" : "") + (f->required() ? " required" : "") +
             (f->key() ? " key" : "") + (f->optional() ? " optional" : "") +
             " padding=" + std::to_string(f->padding());
      append_type(out, *f->type());
      append_attributes(out, f->attributes());
      out += "\n";
    }
  }
  for (const auto* e : *s.enums()) {
    out += std::string(e->is_union() ? "union " : "enum ") + e->name()->str();
    append_type(out, *e->underlying_type());
    append_attributes(out, e->attributes());
    out += "\n";
    for (const auto* v : *e->values()) {
      out += "  value " + v->name()->str() + "=" + std::to_string(v->value());
      if (v->union_type() != nullptr) append_type(out, *v->union_type());
      out += "\n";
    }
  }
  return out;
}

}  // namespace

Result<ParsedSchema> parse_schema(std::string_view fbs_text, std::string_view root_type) {
  if (fbs_text.size() > kMaxSchemaTextBytes) {
    return invalid_argument("schema text is " + std::to_string(fbs_text.size()) +
                            " bytes, above the limit of " + std::to_string(kMaxSchemaTextBytes));
  }
  if (fbs_text.find('\0') != std::string_view::npos) {
    return invalid_argument("schema text contains a NUL byte");
  }
  if (const int line = find_include_line(fbs_text); line != 0) {
    return invalid_argument("line " + std::to_string(line) +
                            ": include declarations are not supported; submit one "
                            "self-contained schema");
  }

  flatbuffers::IDLOptions opts;
  opts.binary_schema_comments = false;  // doc comments must not change the identity
  flatbuffers::Parser parser(opts);
  const std::string text(fbs_text);  // the parser needs a NUL-terminated buffer
  if (!parser.Parse(text.c_str(), nullptr, nullptr)) {
    // error_ reads "<line>: <col>: error: <message>".
    return invalid_argument("invalid schema: " + parser.error_);
  }
  if (!root_type.empty()) {
    const std::string name(root_type);
    if (!parser.SetRootType(name.c_str())) {
      return invalid_argument("root type '" + name + "' is not declared in the schema");
    }
  }
  parser.Serialize();

  ParsedSchema out;
  out.source = std::string(fbs_text);
  out.reflection_bytes.assign(parser.builder_.GetBufferPointer(),
                              parser.builder_.GetBufferPointer() + parser.builder_.GetSize());
  const auto* schema = reflection::GetSchema(out.reflection_bytes.data());
  const auto* root = schema->root_table();
  if (root == nullptr) {
    return invalid_argument("no root type: pass one or declare `root_type` in the schema");
  }
  if (root->is_struct()) {
    return invalid_argument("root type '" + root->name()->str() +
                            "' is a struct; the root of a buffer must be a table");
  }
  out.root_type = root->name()->str();
  if (const std::string field = find_union_vector(out); !field.empty()) {
    return invalid_argument("field " + field +
                            " is a vector of unions, which this registry does not accept: FlatBuffers 2.0.8 cannot "
                            "verify such payloads safely; use a vector of tables that each hold the union");
  }
  out.canonical_form = canonical_form(*schema);
  out.fingerprint = fnv1a64_hex(out.canonical_form);
  return out;
}

std::string find_union_vector(const ParsedSchema& parsed) {
  if (parsed.reflection_bytes.empty()) return "";
  const auto* schema = reflection::GetSchema(parsed.reflection_bytes.data());
  for (const auto* object : *schema->objects()) {
    for (const auto* field : *object->fields()) {
      if (field->type()->base_type() == reflection::Vector && field->type()->element() == reflection::Union) {
        return object->name()->str() + "." + field->name()->str();
      }
    }
  }
  return "";
}

}  // namespace causeway::registry
