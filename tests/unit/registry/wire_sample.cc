// Sample encoding and reflection dumps for wire_proof_test.cc; see wire_sample.h.
#include "tests/unit/registry/wire_sample.h"

#include <flatbuffers/idl.h>
#include <flatbuffers/reflection.h>

#include "causeway/registry/fbs_parser.h"

#include <cstdio>

namespace causeway::registry::testing {
namespace {

using reflection::BaseType;

const reflection::Schema& schema_of(const ParsedSchema& s) {
  return *reflection::GetSchema(s.reflection_bytes.data());
}

constexpr int kMaxSampleDepth = 3;
const std::string kDefaultSuffix = " (default)";

std::string without_default_suffix(const std::string& v) {
  if (v.size() >= kDefaultSuffix.size() &&
      v.compare(v.size() - kDefaultSuffix.size(), kDefaultSuffix.size(), kDefaultSuffix) == 0) {
    return v.substr(0, v.size() - kDefaultSuffix.size());
  }
  return v;
}
bool is_default(const std::string& v) { return v != without_default_suffix(v); }

class SampleWriter {
 public:
  explicit SampleWriter(const reflection::Schema& s) : s_(s) {}

  std::string table(const reflection::Object& obj, int depth) {
    std::string out = "{";
    bool first = true;
    for (const auto* f : *obj.fields()) {
      if (f->deprecated()) continue;
      const auto bt = f->type()->base_type();
      if (bt == BaseType::UType) continue;  // written with its union
      std::string value;
      if (bt == BaseType::Union) {
        const auto* e = s_.enums()->Get(static_cast<unsigned>(f->type()->index()));
        const reflection::EnumVal* member = nullptr;
        for (const auto* v : *e->values()) {
          if (v->value() != 0) { member = v; break; }
        }
        if (member == nullptr || depth >= kMaxSampleDepth) continue;
        const auto* mobj = s_.objects()->Get(static_cast<unsigned>(member->union_type()->index()));
        out += std::string(first ? "" : ", ") + f->name()->str() + "_type: \"" +
               member->name()->str() + "\", " + f->name()->str() + ": " + table(*mobj, depth + 1);
        first = false;
        continue;
      }
      if (!field_value(*f, depth, value)) continue;
      out += std::string(first ? "" : ", ") + f->name()->str() + ": " + value;
      first = false;
    }
    return out + "}";
  }

 private:
  std::string scalar(BaseType bt, int index, const reflection::Field* f, int seed) {
    if (index >= 0) {  // an enum: a declared value other than the default
      const auto* e = s_.enums()->Get(static_cast<unsigned>(index));
      const std::int64_t def = f != nullptr ? f->default_integer() : 0;
      for (const auto* v : *e->values()) {
        if (v->value() != def) return std::to_string(v->value());
      }
      return std::to_string(def);
    }
    if (bt == BaseType::Bool) return (f != nullptr && f->default_integer() != 0) ? "false" : "true";
    if (bt == BaseType::Float || bt == BaseType::Double) {
      double v = seed + 0.5;
      if (f != nullptr && !f->optional() && v == f->default_real()) v += 1;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", v);
      return buf;
    }
    std::int64_t v = 3 + seed;
    if (f != nullptr && !f->optional() && v == f->default_integer()) v += 1;
    return std::to_string(v);
  }

  bool field_value(const reflection::Field& f, int depth, std::string& out) {
    const auto& t = *f.type();
    const int seed = static_cast<int>(f.id()) * 7 + depth;
    switch (t.base_type()) {
      case BaseType::String: out = "\"s" + std::to_string(seed) + "\""; return true;
      case BaseType::Obj: {
        const auto& obj = *s_.objects()->Get(static_cast<unsigned>(t.index()));
        if (obj.is_struct()) { out = strukt(obj, seed); return true; }
        if (depth >= kMaxSampleDepth) return false;
        out = table(obj, depth + 1);
        return true;
      }
      case BaseType::Vector: {
        std::string e[2];
        for (int i = 0; i < 2; ++i) {
          if (t.element() == BaseType::String) {
            e[i] = "\"e" + std::to_string(i) + "\"";
          } else if (t.element() == BaseType::Obj) {
            const auto& obj = *s_.objects()->Get(static_cast<unsigned>(t.index()));
            if (obj.is_struct()) {
              e[i] = strukt(obj, seed + i);
            } else {
              if (depth >= kMaxSampleDepth) return false;
              e[i] = table(obj, depth + 1);
            }
          } else if (t.element() == BaseType::Union) {
            return false;
          } else {
            e[i] = scalar(t.element(), t.index(), nullptr, seed + i);
          }
        }
        out = "[" + e[0] + ", " + e[1] + "]";
        return true;
      }
      default:
        out = scalar(t.base_type(), t.index(), &f, seed);
        return true;
    }
  }

  std::string strukt(const reflection::Object& obj, int seed) {
    std::string out = "{";
    bool first = true;
    for (const auto* f : *obj.fields()) {
      const auto& t = *f->type();
      std::string v;
      if (t.base_type() == BaseType::Obj) {
        v = strukt(*s_.objects()->Get(static_cast<unsigned>(t.index())), seed + 1);
      } else if (t.base_type() == BaseType::Array) {
        v = "[";
        for (int i = 0; i < t.fixed_length(); ++i) {
          v += i ? ", " : "";
          v += t.element() == BaseType::Obj
                   ? strukt(*s_.objects()->Get(static_cast<unsigned>(t.index())), seed + i + 1)
                   : scalar(t.element(), t.index(), nullptr, seed + i);
        }
        v += "]";
      } else {
        v = scalar(t.base_type(), t.index(), nullptr, seed + static_cast<int>(f->id()));
      }
      out += std::string(first ? "" : ", ") + f->name()->str() + ": " + v;
      first = false;
    }
    return out + "}";
  }

  const reflection::Schema& s_;
};

std::string hex(const std::uint8_t* p, std::size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out = "bytes:";
  for (std::size_t i = 0; i < n; ++i) {
    out += d[p[i] >> 4];
    out += d[p[i] & 15];
  }
  return out;
}

std::string float_text(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

class Dumper {
 public:
  explicit Dumper(const reflection::Schema& s) : s_(s) {}
  std::map<std::string, std::string> out;

  void table(const std::string& prefix, const reflection::Object& obj, const flatbuffers::Table& t) {
    const auto* vtable = t.GetVTable();
    const auto vsize = flatbuffers::ReadScalar<flatbuffers::voffset_t>(vtable);
    const int slots = (vsize - 4) / 2;
    // Absent scalars read as the reader's default: dumped as such, because a changed
    // default is exactly such a misread.
    for (const auto* f : *obj.fields()) {
      const auto bt = f->type()->base_type();
      if (f->deprecated() || !flatbuffers::IsScalar(bt) || f->optional()) continue;
      const auto voffset = static_cast<flatbuffers::voffset_t>(4 + 2 * f->id());
      if (f->id() < slots && t.GetOptionalFieldOffset(voffset) != 0) continue;
      const std::string key = prefix + "#" + std::to_string(f->id());
      out[key] = (flatbuffers::IsFloat(bt) ? float_text(f->default_real())
                                           : std::to_string(f->default_integer())) +
                 kDefaultSuffix;
    }
    for (int id = 0; id < slots; ++id) {
      const auto voffset = static_cast<flatbuffers::voffset_t>(4 + 2 * id);
      if (t.GetOptionalFieldOffset(voffset) == 0) continue;
      const std::string key = prefix + "#" + std::to_string(id);
      const reflection::Field* field = nullptr;
      for (const auto* f : *obj.fields()) {
        if (f->id() == id) field = f;
      }
      if (field == nullptr || field->deprecated()) {
        out[key] = "<unread>";
        continue;
      }
      value(key, obj, *field, t);
    }
  }

 private:
  void value(const std::string& key, const reflection::Object& obj, const reflection::Field& f,
             const flatbuffers::Table& t) {
    const auto& type = *f.type();
    switch (type.base_type()) {
      case BaseType::String: {
        const auto* str = flatbuffers::GetFieldS(t, f);
        out[key] = hex(reinterpret_cast<const std::uint8_t*>(str->data()), str->size());
        return;
      }
      case BaseType::Obj: {
        const auto& sub = *s_.objects()->Get(static_cast<unsigned>(type.index()));
        if (sub.is_struct()) {
          strukt(key, key, sub, flatbuffers::GetFieldStruct(t, f)->GetAddressOf(0));
        } else {
          table(key, sub, *flatbuffers::GetFieldT(t, f));
        }
        return;
      }
      case BaseType::Union: {
        const reflection::Field* utype = nullptr;
        for (const auto* g : *obj.fields()) {
          if (g->id() + 1 == f.id()) utype = g;
        }
        const auto tag = utype ? flatbuffers::GetAnyFieldI(t, *utype) : 0;
        const auto* e = s_.enums()->Get(static_cast<unsigned>(type.index()));
        const auto* member = e->values()->LookupByKey(tag);
        if (member == nullptr) {
          out[key] = "<unknown union member " + std::to_string(tag) + ">";
          return;
        }
        table(key, *s_.objects()->Get(static_cast<unsigned>(member->union_type()->index())),
              *flatbuffers::GetFieldT(t, f));
        return;
      }
      case BaseType::Vector: vector(key, type, *flatbuffers::GetFieldAnyV(t, f)); return;
      case BaseType::Float:
      case BaseType::Double: out[key] = float_text(flatbuffers::GetAnyFieldF(t, f)); return;
      default: out[key] = std::to_string(flatbuffers::GetAnyFieldI(t, f)); return;
    }
  }

  void vector(const std::string& key, const reflection::Type& type,
              const flatbuffers::VectorOfAny& v) {
    const auto el = type.element();
    if (el == BaseType::UByte || el == BaseType::Byte) {
      out[key] = hex(v.Data(), v.size());
      return;
    }
    for (flatbuffers::uoffset_t i = 0; i < v.size(); ++i) {
      const std::string k = key + "[" + std::to_string(i) + "]";
      if (el == BaseType::String) {
        const auto* str = flatbuffers::GetAnyVectorElemPointer<const flatbuffers::String>(&v, i);
        out[k] = hex(reinterpret_cast<const std::uint8_t*>(str->data()), str->size());
      } else if (el == BaseType::Obj) {
        const auto& obj = *s_.objects()->Get(static_cast<unsigned>(type.index()));
        if (obj.is_struct()) {
          strukt(k, k, obj, v.Data() + static_cast<std::size_t>(i) * obj.bytesize());
        } else {
          table(k, obj, *flatbuffers::GetAnyVectorElemPointer<const flatbuffers::Table>(&v, i));
        }
      } else if (el == BaseType::Float || el == BaseType::Double) {
        out[k] = float_text(flatbuffers::GetAnyVectorElemF(&v, el, i));
      } else {
        out[k] = std::to_string(flatbuffers::GetAnyVectorElemI(&v, el, i));
      }
    }
  }

  // A struct's fields by offset ("key@4"), which is what a reader sees, and also by name
  // ("key~b"), so that a field that moved to another offset shows up as a misread: the
  // reader's field named b holds what the writer wrote as another field. By-name keys of a
  // renamed field match nothing and are not compared (first_misread).
  void strukt(const std::string& key, const std::string& name_key, const reflection::Object& obj,
              const std::uint8_t* base) {
    for (const auto* f : *obj.fields()) {
      const std::string k = key + "@" + std::to_string(f->offset());
      const std::string nk = name_key + "~" + f->name()->str();
      const auto& t = *f->type();
      const std::uint8_t* p = base + f->offset();
      if (t.base_type() == BaseType::Obj) {
        strukt(k, nk, *s_.objects()->Get(static_cast<unsigned>(t.index())), p);
      } else if (t.base_type() == BaseType::Array) {
        const bool of_structs = t.element() == BaseType::Obj;
        const auto* element_obj = of_structs ? s_.objects()->Get(static_cast<unsigned>(t.index())) : nullptr;
        const std::size_t size = of_structs ? element_obj->bytesize() : flatbuffers::GetTypeSize(t.element());
        for (int i = 0; i < t.fixed_length(); ++i) {
          const std::string at = "[" + std::to_string(i) + "]";
          const std::uint8_t* e = p + static_cast<std::size_t>(i) * size;
          if (of_structs) {
            strukt(k + at, nk + at, *element_obj, e);
          } else {
            const std::string v = flatbuffers::IsFloat(t.element())
                                      ? float_text(flatbuffers::GetAnyValueF(t.element(), e))
                                      : std::to_string(flatbuffers::GetAnyValueI(t.element(), e));
            out[k + at] = v;
            out[nk + at] = v;
          }
        }
      } else {
        const std::string v = flatbuffers::IsFloat(t.base_type())
                                  ? float_text(flatbuffers::GetAnyValueF(t.base_type(), p))
                                  : std::to_string(flatbuffers::GetAnyValueI(t.base_type(), p));
        out[k] = v;
        out[nk] = v;
      }
    }
  }

  const reflection::Schema& s_;
};

}  // namespace

std::string sample_json(const ParsedSchema& schema) {
  const auto& s = schema_of(schema);
  return SampleWriter(s).table(*s.root_table(), 0);
}

Result<std::vector<std::uint8_t>> encode_json(const ParsedSchema& schema, std::string_view json) {
  flatbuffers::Parser parser;
  CAUSEWAY_RETURN_IF_ERROR(load_schema(schema, parser));
  const std::string text(json);
  if (!parser.ParseJson(text.c_str())) return invalid_argument("json: " + parser.error_);
  const auto* p = parser.builder_.GetBufferPointer();
  return std::vector<std::uint8_t>(p, p + parser.builder_.GetSize());
}

bool verify_with(const ParsedSchema& schema, const std::vector<std::uint8_t>& buffer) {
  const auto& s = schema_of(schema);
  return flatbuffers::Verify(s, *s.root_table(), buffer.data(), buffer.size());
}

std::map<std::string, std::string> dump_as(const ParsedSchema& schema,
                                           const std::vector<std::uint8_t>& buffer) {
  const auto& s = schema_of(schema);
  Dumper d(s);
  d.table("", *s.root_table(), *flatbuffers::GetAnyRoot(buffer.data()));
  return std::move(d.out);
}

std::string first_misread(const std::map<std::string, std::string>& writer,
                          const std::map<std::string, std::string>& reader) {
  // Keys with '~' name a struct field; compared only where both sides have the name.
  auto is_by_name = [](const std::string& key) { return key.find('~') != std::string::npos; };
  for (const auto& [k, v] : reader) {
    if (v == "<unread>") continue;
    const auto it = writer.find(k);
    if (it == writer.end() && is_by_name(k)) continue;
    if (it == writer.end()) {
      if (is_default(v)) continue;  // a field the writer's schema lacks: the reader's default
      return k + ": reader sees " + v + ", writer wrote nothing";
    }
    if (without_default_suffix(it->second) != without_default_suffix(v)) {
      return k + ": writer wrote " + it->second + ", reader sees " + v;
    }
  }
  // A slot the reader does not read hides everything written beneath it.
  auto is_under_unread = [&reader](const std::string& key) {
    for (const auto& [rk, rv] : reader) {
      if (rv == "<unread>" && key.size() > rk.size() && key.compare(0, rk.size(), rk) == 0 &&
          (key[rk.size()] == '#' || key[rk.size()] == '[' || key[rk.size()] == '@')) {
        return true;
      }
    }
    return false;
  };
  for (const auto& [k, v] : writer) {
    if (reader.count(k) == 0 && !is_by_name(k) && !is_under_unread(k) && !is_default(v)) {
      return k + ": writer wrote " + v + ", reader lost it";
    }
  }
  return "";
}

}  // namespace causeway::registry::testing
