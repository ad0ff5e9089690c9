// FlatBuffers payloads as patterns see them; see rules/flatbuffers_walker.h.
#include "rules/flatbuffers_walker.h"

#include "causeway/common/flatbuffers_reflection.h"

#include <cstring>
#include <string>

namespace causeway::rules {
namespace {

using flatbuffers::Struct;
using flatbuffers::Table;
using reflection::BaseType;
using nlohmann::json;

constexpr flatbuffers::uoffset_t kMaxDepth = 64;
constexpr flatbuffers::uoffset_t kMaxTables = 1u << 20;

bool is_scalar(BaseType t) { return t >= reflection::UType && t <= reflection::Double; }
bool is_integer(BaseType t) { return t >= reflection::UType && t <= reflection::ULong; }

class Reader {
 public:
  Reader(const reflection::Schema& schema, const PathTrie* paths, LeafSink* sink)
      : schema_(schema), paths_(paths), sink_(sink) {}

  // A scalar of type `base` (enum `enum_index` when >= 0) at `p`.
  ScalarValue scalar(BaseType base, int32_t enum_index, const uint8_t* p) const {
    ScalarValue v;
    if (base == reflection::Bool) {
      v.type = ScalarValue::Type::kBool;
      v.boolean = flatbuffers::GetAnyValueI(base, p) != 0;
      return v;
    }
    if (is_integer(base)) {
      const int64_t i = flatbuffers::GetAnyValueI(base, p);
      if (const auto* name = enum_name(enum_index, i)) {
        v.type = ScalarValue::Type::kString;
        v.text = name->string_view();  // in the schema's bytes
        return v;
      }
      v.type = ScalarValue::Type::kNumber;
      v.number = base == reflection::ULong ? static_cast<double>(static_cast<uint64_t>(i)) : static_cast<double>(i);
      return v;
    }
    v.type = ScalarValue::Type::kNumber;
    v.number = flatbuffers::GetAnyValueF(base, p);
    return v;
  }

  // A table field's scalar, with its default when not stored; nullopt for an optional
  // scalar that is not stored.
  std::optional<ScalarValue> table_scalar(const Table& t, const reflection::Field& f) const {
    const BaseType base = f.type()->base_type();
    const uint8_t* p = t.GetAddressOf(f.offset());
    if (p != nullptr) return scalar(base, f.type()->index(), p);
    if (f.optional()) return std::nullopt;
    ScalarValue v;
    if (base == reflection::Bool) {
      v.type = ScalarValue::Type::kBool;
      v.boolean = f.default_integer() != 0;
    } else if (is_integer(base)) {
      if (const auto* name = enum_name(f.type()->index(), f.default_integer())) {
        v.type = ScalarValue::Type::kString;
        v.text = name->string_view();
      } else {
        v.type = ScalarValue::Type::kNumber;
        v.number = static_cast<double>(f.default_integer());
      }
    } else {
      v.type = ScalarValue::Type::kNumber;
      v.number = f.default_real();
    }
    return v;
  }

  // The member table type of union field `f` in `t`, or null (NONE or unknown).
  const reflection::Object* union_member(const Table& t, const reflection::Object& parent,
                                         const reflection::Field& f) const {
    const auto* type_field = parent.fields()->LookupByKey((f.name()->str() + "_type").c_str());
    if (type_field == nullptr || f.type()->index() < 0) return nullptr;
    const auto tag = flatbuffers::GetAnyFieldI(t, *type_field);
    const auto* e = schema_.enums()->Get(static_cast<flatbuffers::uoffset_t>(f.type()->index()));
    const auto* value = e->values()->LookupByKey(tag);
    if (value == nullptr || value->union_type() == nullptr || value->union_type()->base_type() != reflection::Obj) {
      return nullptr;
    }
    const int32_t index = value->union_type()->index();
    if (index < 0 || static_cast<flatbuffers::uoffset_t>(index) >= schema_.objects()->size()) return nullptr;
    return schema_.objects()->Get(static_cast<flatbuffers::uoffset_t>(index));
  }

  const reflection::Object* object(int32_t index) const {
    if (index < 0 || static_cast<flatbuffers::uoffset_t>(index) >= schema_.objects()->size()) return nullptr;
    return schema_.objects()->Get(static_cast<flatbuffers::uoffset_t>(index));
  }

  // ---------------------------------------------------------------- along pattern paths

  void walk_table(const Table& t, const reflection::Object& obj, uint32_t at) const {
    for (const auto& [name, child] : paths_->nodes[at].children) {
      const auto* f = obj.fields()->LookupByKey(name.c_str());
      if (f != nullptr) walk_table_field(t, obj, *f, child);
    }
  }

  void walk_struct(const Struct& s, const reflection::Object& obj, uint32_t at) const {
    for (const auto& [name, child] : paths_->nodes[at].children) {
      const auto* f = obj.fields()->LookupByKey(name.c_str());
      if (f == nullptr) continue;
      const BaseType base = f->type()->base_type();
      const uint8_t* p = s.GetAddressOf(f->offset());
      if (is_scalar(base)) {
        leaf(child, scalar(base, f->type()->index(), p));
      } else if (base == reflection::Obj) {
        if (const auto* sub = object(f->type()->index()); sub != nullptr && has_children(child)) {
          walk_struct(*reinterpret_cast<const Struct*>(p), *sub, child);
        }
      } else if (base == reflection::Array) {
        const BaseType elem = f->type()->element();
        const uint16_t n = f->type()->fixed_length();
        if (is_scalar(elem)) {
          const size_t size = flatbuffers::GetTypeSize(elem);
          for (uint16_t i = 0; i < n; ++i) leaf(child, scalar(elem, f->type()->index(), p + i * size));
        } else if (elem == reflection::Obj) {
          const auto* sub = object(f->type()->index());
          if (sub == nullptr || !has_children(child)) continue;
          sink_->object_array();
          for (uint16_t i = 0; i < n; ++i)
            walk_struct(*reinterpret_cast<const Struct*>(p + i * sub->bytesize()), *sub, child);
        }
      }
    }
  }

  void walk_table_field(const Table& t, const reflection::Object& parent, const reflection::Field& f,
                        uint32_t at) const {
    const reflection::Type& type = *f.type();
    switch (type.base_type()) {
      case reflection::String:
        if (const auto* s = flatbuffers::GetFieldS(t, f)) leaf(at, string_value(s));
        return;
      case reflection::Obj: {
        const auto* sub = object(type.index());
        if (sub == nullptr || !has_children(at)) return;
        if (sub->is_struct()) {
          if (const auto* s = t.GetStruct<const Struct*>(f.offset())) walk_struct(*s, *sub, at);
        } else if (const auto* tt = flatbuffers::GetFieldT(t, f)) {
          walk_table(*tt, *sub, at);
        }
        return;
      }
      case reflection::Union: {
        const auto* tt = flatbuffers::GetFieldT(t, f);
        const auto* member = tt != nullptr ? union_member(t, parent, f) : nullptr;
        if (member != nullptr && has_children(at)) walk_table(*tt, *member, at);
        return;
      }
      case reflection::Vector: {
        const auto* v = flatbuffers::GetFieldAnyV(t, f);
        if (v == nullptr) return;
        const BaseType elem = type.element();
        if (is_scalar(elem)) {
          const size_t size = flatbuffers::GetTypeSize(elem);
          for (flatbuffers::uoffset_t i = 0; i < v->size(); ++i) leaf(at, scalar(elem, type.index(), v->Data() + i * size));
        } else if (elem == reflection::String) {
          for (flatbuffers::uoffset_t i = 0; i < v->size(); ++i)
            leaf(at, string_value(flatbuffers::GetAnyVectorElemPointer<const flatbuffers::String>(v, i)));
        } else if (elem == reflection::Obj) {
          const auto* sub = object(type.index());
          if (sub == nullptr || !has_children(at) || v->size() == 0) return;
          sink_->object_array();
          for (flatbuffers::uoffset_t i = 0; i < v->size(); ++i) {
            if (sub->is_struct()) {
              walk_struct(*flatbuffers::GetAnyVectorElemAddressOf<const Struct>(v, i, sub->bytesize()), *sub, at);
            } else {
              walk_table(*flatbuffers::GetAnyVectorElemPointer<const Table>(v, i), *sub, at);
            }
          }
        }
        return;
      }
      default:
        if (is_scalar(type.base_type())) {
          if (auto v = table_scalar(t, f)) leaf(at, *v);
        }
        return;
    }
  }

  // ---------------------------------------------------------------- the whole payload

  json table_json(const Table& t, const reflection::Object& obj) const {
    json out = json::object();
    for (const auto* f : *obj.fields()) {
      if (f->deprecated()) continue;
      const reflection::Type& type = *f->type();
      const std::string name = f->name()->str();
      switch (type.base_type()) {
        case reflection::String:
          if (const auto* s = flatbuffers::GetFieldS(t, *f)) out[name] = s->str();
          break;
        case reflection::Obj: {
          const auto* sub = object(type.index());
          if (sub == nullptr) break;
          if (sub->is_struct()) {
            if (const auto* s = t.GetStruct<const Struct*>(f->offset())) out[name] = struct_json(*s, *sub);
          } else if (const auto* tt = flatbuffers::GetFieldT(t, *f)) {
            out[name] = table_json(*tt, *sub);
          }
          break;
        }
        case reflection::Union: {
          const auto* tt = flatbuffers::GetFieldT(t, *f);
          if (const auto* member = tt != nullptr ? union_member(t, obj, *f) : nullptr) out[name] = table_json(*tt, *member);
          break;
        }
        case reflection::Vector: {
          const auto* v = flatbuffers::GetFieldAnyV(t, *f);
          if (v == nullptr) break;
          json arr = json::array();
          const BaseType elem = type.element();
          for (flatbuffers::uoffset_t i = 0; i < v->size(); ++i) {
            if (is_scalar(elem)) {
              arr.push_back(to_json(scalar(elem, type.index(), v->Data() + i * flatbuffers::GetTypeSize(elem))));
            } else if (elem == reflection::String) {
              arr.push_back(flatbuffers::GetAnyVectorElemPointer<const flatbuffers::String>(v, i)->str());
            } else if (elem == reflection::Obj) {
              const auto* sub = object(type.index());
              if (sub == nullptr) break;
              arr.push_back(sub->is_struct()
                                ? struct_json(*flatbuffers::GetAnyVectorElemAddressOf<const Struct>(v, i, sub->bytesize()), *sub)
                                : table_json(*flatbuffers::GetAnyVectorElemPointer<const Table>(v, i), *sub));
            }
          }
          out[name] = std::move(arr);
          break;
        }
        default:
          if (is_scalar(type.base_type())) {
            if (auto v = table_scalar(t, *f)) out[name] = to_json(*v);
          }
          break;
      }
    }
    return out;
  }

  json struct_json(const Struct& s, const reflection::Object& obj) const {
    json out = json::object();
    for (const auto* f : *obj.fields()) {
      const BaseType base = f->type()->base_type();
      const uint8_t* p = s.GetAddressOf(f->offset());
      const std::string name = f->name()->str();
      if (is_scalar(base)) {
        out[name] = to_json(scalar(base, f->type()->index(), p));
      } else if (base == reflection::Obj) {
        if (const auto* sub = object(f->type()->index())) out[name] = struct_json(*reinterpret_cast<const Struct*>(p), *sub);
      } else if (base == reflection::Array) {
        json arr = json::array();
        const BaseType elem = f->type()->element();
        for (uint16_t i = 0; i < f->type()->fixed_length(); ++i) {
          if (is_scalar(elem)) {
            arr.push_back(to_json(scalar(elem, f->type()->index(), p + i * flatbuffers::GetTypeSize(elem))));
          } else if (const auto* sub = object(f->type()->index())) {
            arr.push_back(struct_json(*reinterpret_cast<const Struct*>(p + i * sub->bytesize()), *sub));
          }
        }
        out[name] = std::move(arr);
      }
    }
    return out;
  }

 private:
  const flatbuffers::String* enum_name(int32_t enum_index, int64_t value) const {
    if (enum_index < 0 || static_cast<flatbuffers::uoffset_t>(enum_index) >= schema_.enums()->size()) return nullptr;
    const auto* e = schema_.enums()->Get(static_cast<flatbuffers::uoffset_t>(enum_index));
    const auto* v = e->values()->LookupByKey(value);
    return v != nullptr ? v->name() : nullptr;
  }
  static ScalarValue string_value(const flatbuffers::String* s) {
    ScalarValue v;
    v.type = ScalarValue::Type::kString;
    v.text = s->string_view();
    return v;
  }
  static json to_json(const ScalarValue& v) {
    switch (v.type) {
      case ScalarValue::Type::kString: return std::string(v.text);
      case ScalarValue::Type::kNumber: return v.number;
      case ScalarValue::Type::kBool: return v.boolean;
      case ScalarValue::Type::kNull: return nullptr;
    }
    return nullptr;
  }
  bool has_children(uint32_t at) const { return !paths_->nodes[at].children.empty(); }
  void leaf(uint32_t at, const ScalarValue& v) const {
    const int32_t leaf = paths_->nodes[at].leaf;
    if (leaf >= 0) sink_->leaf(static_cast<uint32_t>(leaf), v);
  }

  const reflection::Schema& schema_;
  const PathTrie* paths_;
  LeafSink* sink_;
};

}  // namespace

Result<std::unique_ptr<FlatbuffersWalker>> FlatbuffersWalker::create(std::vector<uint8_t> reflection_bytes) {
  flatbuffers::Verifier verifier(reflection_bytes.data(), reflection_bytes.size());
  if (!reflection::VerifySchemaBuffer(verifier)) return invalid_argument("schema bytes are not a reflection::Schema");
  std::unique_ptr<FlatbuffersWalker> w(new FlatbuffersWalker());
  w->bytes_ = std::move(reflection_bytes);
  w->schema_ = reflection::GetSchema(w->bytes_.data());
  w->root_ = w->schema_->root_table();
  if (w->root_ == nullptr) return invalid_argument("schema has no root table");
  // FlatBuffers 2.0.8's verifier reads a union vector's type vector out of bounds (or
  // aborts) when it is shorter than the values: payloads of such schemas are never read.
  for (const auto* object : *w->schema_->objects()) {
    for (const auto* field : *object->fields()) {
      if (field->type()->base_type() == reflection::Vector && field->type()->element() == reflection::Union) {
        return invalid_argument("field " + object->name()->str() + "." + field->name()->str() +
                                " is a vector of unions, which cannot be verified safely");
      }
    }
  }
  return w;
}

const uint8_t* FlatbuffersWalker::verified(std::string_view payload) const {
  if (payload.size() < 8 || payload.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) return nullptr;
  const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  if (reinterpret_cast<uintptr_t>(p) % 8 != 0) {
    // FlatBuffers reads scalars in place: give them their natural alignment.
    thread_local std::vector<uint64_t> aligned;
    aligned.resize((payload.size() + 7) / 8);
    std::memcpy(aligned.data(), payload.data(), payload.size());
    p = reinterpret_cast<const uint8_t*>(aligned.data());
  }
  if (!flatbuffers::Verify(*schema_, *root_, p, payload.size(), kMaxDepth, kMaxTables)) return nullptr;
  return p;
}

bool FlatbuffersWalker::walk(std::string_view payload, const PathTrie& paths, uint32_t data, LeafSink& sink) const {
  const uint8_t* p = verified(payload);
  if (p == nullptr) return false;
  Reader(*schema_, &paths, &sink).walk_table(*flatbuffers::GetAnyRoot(p), *root_, data);
  return true;
}

std::optional<nlohmann::json> FlatbuffersWalker::to_json(std::string_view payload) const {
  const uint8_t* p = verified(payload);
  if (p == nullptr) return std::nullopt;
  return Reader(*schema_, nullptr, nullptr).table_json(*flatbuffers::GetAnyRoot(p), *root_);
}

}  // namespace causeway::rules
