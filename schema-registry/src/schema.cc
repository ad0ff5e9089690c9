// parse_schema: .fbs text and its references -> reflection bytes plus a canonical form for
// identity. Contract in causeway/registry/schema.h, docs/compatibility.md ("Schema
// identity") and docs/registry.md ("References").
//
// Why reflection bytes rather than the Parser's StructDef/EnumDef: they are flatc's own
// self-contained description (no parser state to keep alive, storable as is), and the same
// bytes drive flatbuffers::Verify and reflection reads of payloads in the broker (validation,
// event patterns).
//
// How includes are resolved without the file system: flatc would look each included name up
// on disk and parse that file before the includer. We find the leading include declarations
// ourselves, resolve each name through the schema's references (and the lookup), blank the
// declarations out (keeping line numbers), and hand the parser every text in the order flatc
// would have parsed them, dependencies first (parser_feed.h). Each subject version is parsed
// once however often it is included, as flatc parses a file once.
#include "causeway/registry/schema.h"

#include <flatbuffers/idl.h>
#include <flatbuffers/reflection.h>

#include <cctype>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "parser_feed.h"

namespace causeway::registry {
namespace {

// One `include "NAME";` declaration: the name, its 1-based line, and its byte range.
struct IncludeDecl {
  std::string name;
  int line = 0;
  std::size_t begin = 0;
  std::size_t end = 0;
};

// Finds the include declarations a schema opens with. FlatBuffers accepts `include` and
// `native_include` only before the first other declaration (a later `include` is the
// parser's error "includes must come before declarations"), so the scan stops there.
// Comments and whitespace are skipped as the parser's lexer does.
class IncludeScanner {
 public:
  explicit IncludeScanner(std::string_view text) : text_(text) {}

  Result<std::vector<IncludeDecl>> scan() {
    std::vector<IncludeDecl> out;
    // The parser skips a UTF-8 byte order mark before anything else (SkipByteOrderMark).
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    for (;;) {
      CAUSEWAY_RETURN_IF_ERROR(skip_space());
      const std::size_t start = pos_;
      const int line = line_;
      const std::string_view word = identifier();
      if (word != "include" && word != "native_include") return out;
      CAUSEWAY_RETURN_IF_ERROR(skip_space());
      CAUSEWAY_ASSIGN_OR_RETURN(std::string name, string_literal(word, line));
      CAUSEWAY_RETURN_IF_ERROR(skip_space());
      if (pos_ >= text_.size() || text_[pos_] != ';') {
        return invalid_argument("line " + std::to_string(line) + ": " + std::string(word) + " \"" + name +
                                "\" must end with ';'");
      }
      ++pos_;
      if (word == "include") out.push_back(IncludeDecl{std::move(name), line, start, pos_});
    }
  }

 private:
  Status skip_space() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
        const int opened = line_;
        pos_ += 2;
        while (pos_ + 1 < text_.size() && !(text_[pos_] == '*' && text_[pos_ + 1] == '/')) {
          if (text_[pos_] == '\n') ++line_;
          ++pos_;
        }
        if (pos_ + 1 >= text_.size()) {
          return invalid_argument("line " + std::to_string(opened) + ": comment is not closed");
        }
        pos_ += 2;
      } else {
        break;
      }
    }
    return Status();
  }

  std::string_view identifier() {
    std::size_t end = pos_;
    if (end < text_.size() && (std::isalpha(static_cast<unsigned char>(text_[end])) || text_[end] == '_')) {
      while (end < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_')) ++end;
    }
    const std::string_view word = text_.substr(pos_, end - pos_);
    if (word == "include" || word == "native_include") pos_ = end;
    return word;
  }

  // A plain "..." literal. Escapes are refused: a reference name is matched byte for byte,
  // and the parser would unescape what we compare.
  Result<std::string> string_literal(std::string_view word, int line) {
    const std::string what = "line " + std::to_string(line) + ": " + std::string(word);
    if (pos_ >= text_.size() || text_[pos_] != '"') return invalid_argument(what + " must be followed by a \"quoted\" name");
    const std::size_t open = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      const char c = text_[pos_];
      if (c == '\\') return invalid_argument(what + ": escape sequences in the name are not supported");
      if (c == '\n') return invalid_argument(what + ": the name is not closed on its line");
      ++pos_;
    }
    if (pos_ >= text_.size()) return invalid_argument(what + ": the name is not closed");
    std::string name(text_.substr(open, pos_ - open));
    ++pos_;
    if (name.empty()) return invalid_argument(what + " names nothing (\"\")");
    return name;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

// The text with the include declarations replaced by spaces (line breaks kept, so the
// parser's line and column numbers still point into the submitted text).
std::string without_includes(std::string_view text, const std::vector<IncludeDecl>& includes) {
  std::string out(text);
  for (const auto& inc : includes) {
    for (std::size_t i = inc.begin; i < inc.end; ++i) {
      if (out[i] != '\n' && out[i] != '\r') out[i] = ' ';
    }
  }
  return out;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// flatbuffers reports "<line>: <col>: error: <message>"; says "line L, column C: <message>".
std::string readable_parser_error(std::string_view message) {
  const auto first = message.find(": ");
  const auto second = first == std::string_view::npos ? first : message.find(": ", first + 2);
  if (second == std::string_view::npos || message.substr(second + 2, 7) != "error: ") return std::string(message);
  return "line " + std::string(message.substr(0, first)) + ", column " +
         std::string(message.substr(first + 2, second - first - 2)) + ": " + std::string(message.substr(second + 9));
}

// Resolves the include graph of one schema into the parser's inputs, dependencies first.
class Resolver {
 public:
  explicit Resolver(const ReferenceLookup& lookup) : lookup_(lookup) {}

  std::vector<std::string> inputs;
  std::vector<std::string> labels;  // per input, for parser errors: "" for the schema itself

  Status resolve_root(std::string_view text, std::span<const SchemaReference> references) {
    return resolve(text, references, /*where=*/"", /*depth=*/0);
  }

 private:
  using Key = std::pair<std::string, int>;
  enum class State { kVisiting, kDone };

  static std::string label(const SchemaReference& r) {
    return "subject " + quoted(r.subject) + " version " + std::to_string(r.version) + " (included as \"" + r.name +
           "\")";
  }

  // `where` is empty for the schema itself, else " of subject 'S' version V (included as
  // "N")": appended to each include's line so a message names the file it is in.
  Status resolve(std::string_view text, std::span<const SchemaReference> references, const std::string& where,
                 std::size_t depth) {
    auto includes = IncludeScanner(text).scan();
    if (!includes) {
      if (where.empty()) return includes.error();
      return invalid_argument("in" + where + ": " + std::string(includes.error().message()));
    }
    for (const IncludeDecl& inc : *includes) {
      const std::string at = "include \"" + inc.name + "\" (line " + std::to_string(inc.line) + where + ")";
      const SchemaReference* ref = nullptr;
      for (const auto& r : references) {
        if (r.name == inc.name) ref = &r;
      }
      if (ref == nullptr) {
        std::string names;
        for (const auto& r : references) names += (names.empty() ? "" : ", ") + ("\"" + r.name + "\"");
        return invalid_argument(at + ": no reference is named \"" + inc.name + "\" (" +
                                (names.empty() ? std::string("the schema has no references") : "references: " + names) +
                                "); add {\"name\": \"" + inc.name + "\", \"subject\": ..., \"version\": ...}");
      }
      const Key key{ref->subject, ref->version};
      if (const auto it = state_.find(key); it != state_.end()) {
        if (it->second == State::kDone) continue;  // parsed once, as flatc does
        std::string chain;
        for (const auto& k : stack_) chain += quoted(k.first) + " v" + std::to_string(k.second) + " -> ";
        return invalid_argument(at + " leads back to subject " + quoted(ref->subject) + " version " +
                                std::to_string(ref->version) + ": the includes form a cycle (" + chain +
                                quoted(ref->subject) + " v" + std::to_string(ref->version) + ")");
      }
      if (depth + 1 > kMaxIncludeDepth) {
        return invalid_argument(at + ": includes nest more than " + std::to_string(kMaxIncludeDepth) + " deep");
      }
      if (state_.size() + 1 > kMaxReferencedSchemas) {
        return invalid_argument(at + ": the schema reaches more than " + std::to_string(kMaxReferencedSchemas) +
                                " referenced subject versions");
      }
      auto found = lookup_ ? lookup_(ref->subject, ref->version)
                           : Result<ReferencedSchema>(not_found("no registry to look references up in"));
      if (!found) {
        if (found.error().code() != Code::kNotFound) return found.error();
        return invalid_argument(at + ": subject " + quoted(ref->subject) + " version " + std::to_string(ref->version) +
                                " does not exist (" + std::string(found.error().message()) + ")");
      }
      if (found->schema.size() > kMaxSchemaTextBytes || found->schema.find('\0') != std::string::npos) {
        return invalid_argument(at + ": subject " + quoted(ref->subject) + " version " + std::to_string(ref->version) +
                                " is not a schema text this registry accepts (over " +
                                std::to_string(kMaxSchemaTextBytes) + " bytes or holding a NUL byte)");
      }
      total_bytes_ += found->schema.size();
      if (total_bytes_ > kMaxResolvedTextBytes) {
        return invalid_argument(at + ": the schema and the versions it includes hold more than " +
                                std::to_string(kMaxResolvedTextBytes) + " bytes of text");
      }
      state_[key] = State::kVisiting;
      stack_.push_back(key);
      const ReferencedSchema referenced = std::move(*found);
      CAUSEWAY_RETURN_IF_ERROR(resolve(referenced.schema, referenced.references,
                                       " of subject " + quoted(ref->subject) + " version " +
                                           std::to_string(ref->version) + " (included as \"" + ref->name + "\")",
                                       depth + 1));
      stack_.pop_back();
      state_[key] = State::kDone;
      // resolve() appended the referenced text's own dependencies and then the text itself.
      labels.back() = label(*ref);
    }
    inputs.push_back(without_includes(text, *includes));
    labels.emplace_back();
    return Status();
  }

  const ReferenceLookup& lookup_;
  std::map<Key, State> state_;
  std::vector<Key> stack_;
  std::size_t total_bytes_ = 0;
};


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

Result<ParsedSchema> parse_schema(std::string_view fbs_text, std::string_view root_type,
                                  std::span<const SchemaReference> references, const ReferenceLookup& lookup,
                                  RootTypeRule root_rule) {
  if (fbs_text.size() > kMaxSchemaTextBytes) {
    return invalid_argument("schema text is " + std::to_string(fbs_text.size()) +
                            " bytes, above the limit of " + std::to_string(kMaxSchemaTextBytes));
  }
  if (fbs_text.find('\0') != std::string_view::npos) {
    return invalid_argument("schema text contains a NUL byte");
  }
  Resolver resolver(lookup);
  CAUSEWAY_RETURN_IF_ERROR(resolver.resolve_root(fbs_text, references));

  flatbuffers::IDLOptions opts;
  opts.binary_schema_comments = false;  // doc comments must not change the identity
  flatbuffers::Parser parser(opts);
  {
    internal::FileAccessGuard no_files;
    if (const auto failed = internal::feed(parser, resolver.inputs)) {
      // error_ reads "<line>: <col>: error: <message>".
      if (resolver.labels[*failed].empty()) return invalid_argument("invalid schema: " + parser.error_);
      return invalid_argument("invalid schema: in " + resolver.labels[*failed] + ": " +
                              readable_parser_error(parser.error_));
    }
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
  out.references.assign(references.begin(), references.end());
  out.parser_inputs = std::move(resolver.inputs);
  out.reflection_bytes.assign(parser.builder_.GetBufferPointer(),
                              parser.builder_.GetBufferPointer() + parser.builder_.GetSize());
  const auto* schema = reflection::GetSchema(out.reflection_bytes.data());
  const auto* root = schema->root_table();
  if (root == nullptr && root_rule == RootTypeRule::kRequired) {
    return invalid_argument("no root type: pass one or declare `root_type` in the schema");
  }
  if (root != nullptr && root->is_struct()) {
    return invalid_argument("root type '" + root->name()->str() +
                            "' is a struct; the root of a buffer must be a table");
  }
  out.root_type = root != nullptr ? root->name()->str() : std::string();
  if (const std::string field = find_union_vector(out); !field.empty()) {
    return invalid_argument("field " + field +
                            " is a vector of unions, which this registry does not accept: FlatBuffers 2.0.8 cannot "
                            "verify such payloads safely; use a vector of tables that each hold the union");
  }
  out.canonical_form = canonical_form(*schema);
  out.fingerprint = fnv1a64_hex(out.canonical_form);
  return out;
}

Result<ParsedSchema> parse_schema(std::string_view fbs_text, std::string_view root_type) {
  return parse_schema(fbs_text, root_type, {}, ReferenceLookup(), RootTypeRule::kRequired);
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
