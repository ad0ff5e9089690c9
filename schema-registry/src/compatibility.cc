// The schema differ and the compatibility modes. Contract: causeway/registry/compatibility.h;
// rules and reasons: docs/compatibility.md (and change_rules.cc).
//
// The differ walks the old and the new reflection::Schema in step from their root tables:
// a field's type in the old schema is compared with the type at the same slot in the new one,
// recursing into tables, structs, enums and unions. Each (old, new) pair of types is visited
// once, which ends recursion for recursive types and reports a shared type once.
#include "causeway/registry/compatibility.h"

#include <flatbuffers/reflection.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <utility>

namespace causeway::registry {
namespace {

using reflection::BaseType;

// A type as seen at one position: a field's type, or a vector's element type.
struct TypeRef {
  BaseType base = BaseType::None;
  BaseType element = BaseType::None;  // for Vector and Array
  int index = -1;                     // object or enum index, for Obj/Union/enums
  std::uint16_t fixed_length = 0;     // for Array
};

TypeRef type_ref(const reflection::Type& t) {
  return TypeRef{t.base_type(), t.element(), t.index(), t.fixed_length()};
}
TypeRef element_ref(const TypeRef& t) { return TypeRef{t.element, BaseType::None, t.index, 0}; }

const char* scalar_name(BaseType b) {
  switch (b) {
    case BaseType::UType: return "utype";
    case BaseType::Bool: return "bool";
    case BaseType::Byte: return "byte";
    case BaseType::UByte: return "ubyte";
    case BaseType::Short: return "short";
    case BaseType::UShort: return "ushort";
    case BaseType::Int: return "int";
    case BaseType::UInt: return "uint";
    case BaseType::Long: return "long";
    case BaseType::ULong: return "ulong";
    case BaseType::Float: return "float";
    case BaseType::Double: return "double";
    case BaseType::String: return "string";
    default: return "?";
  }
}

bool is_byte_vector(const TypeRef& t) {
  return t.base == BaseType::Vector && t.index < 0 &&
         (t.element == BaseType::UByte || t.element == BaseType::Byte);
}

std::string short_name(const std::string& qualified) {
  const auto dot = qualified.rfind('.');
  return dot == std::string::npos ? qualified : qualified.substr(dot + 1);
}

class Differ {
 public:
  Differ(const reflection::Schema& old_schema, const reflection::Schema& new_schema)
      : old_(old_schema), new_(new_schema) {}

  std::vector<SchemaChange> run() {
    const auto* o_root = old_.root_table();
    const auto* n_root = new_.root_table();
    const std::string root_path = o_root != nullptr ? o_root->name()->str() : n_root != nullptr ? n_root->name()->str() : "";
    const std::string o_ident = old_.file_ident() ? old_.file_ident()->str() : "";
    const std::string n_ident = new_.file_ident() ? new_.file_ident()->str() : "";
    if (o_ident != n_ident) {
      add(ChangeKind::kFileIdentifierChanged, root_path.empty() ? "(schema)" : root_path, quoted(o_ident),
          quoted(n_ident), "file_identifier changed from " + quoted(o_ident) + " to " + quoted(n_ident));
    }
    if (o_root == nullptr || n_root == nullptr) {
      if (o_root != n_root) {
        const std::string o_name = o_root != nullptr ? o_root->name()->str() : "none";
        const std::string n_name = n_root != nullptr ? n_root->name()->str() : "none";
        add(ChangeKind::kRootTypeChanged, root_path, o_name, n_name,
            "root type changed from " + o_name + " to " + n_name + "; declarations compared by name");
      }
      compare_declarations_by_name();
      return std::move(changes_);
    }
    if (o_root->name()->str() != n_root->name()->str()) {
      add(ChangeKind::kRootTypeChanged, root_path, o_root->name()->str(), n_root->name()->str(),
          "root type changed from " + o_root->name()->str() + " to " + n_root->name()->str() +
              "; compared by position");
    }
    compare_tables(root_path, *o_root, *n_root, /*is_root=*/true);
    return std::move(changes_);
  }

 private:
  static std::string quoted(const std::string& s) { return s.empty() ? "none" : "\"" + s + "\""; }

  void add(ChangeKind kind, const std::string& path, std::string old_side, std::string new_side,
           const std::string& what) {
    changes_.push_back(
        SchemaChange{kind, path, std::move(old_side), std::move(new_side), path + ": " + what});
  }

  std::string type_name(const reflection::Schema& s, const TypeRef& t) const {
    switch (t.base) {
      case BaseType::Vector: return "[" + type_name(s, element_ref(t)) + "]";
      case BaseType::Array:
        return "[" + type_name(s, element_ref(t)) + ":" + std::to_string(t.fixed_length) + "]";
      case BaseType::Obj: return s.objects()->Get(static_cast<unsigned>(t.index))->name()->str();
      case BaseType::Union: return s.enums()->Get(static_cast<unsigned>(t.index))->name()->str();
      default:
        if (t.index >= 0 && t.base != BaseType::UType) {
          return s.enums()->Get(static_cast<unsigned>(t.index))->name()->str();
        }
        return scalar_name(t.base);
    }
  }

  // Reports a renamed type (or one moved to another namespace) at `path`.
  void note_type_name(const std::string& path, const std::string& o, const std::string& n,
                      const char* what) {
    if (o == n) return;
    const ChangeKind kind =
        short_name(o) == short_name(n) ? ChangeKind::kNamespaceChanged : ChangeKind::kTypeRenamed;
    add(kind, path, o, n,
        std::string(what) + (kind == ChangeKind::kNamespaceChanged ? " moved from " : " renamed from ") +
            o + " to " + n);
  }

  bool first_visit(const void* o, const void* n) { return visited_.emplace(o, n).second; }

  // Compares the types found at the same position. Returns true if the slot holds the same
  // wire type on both sides (so defaults are comparable).
  bool compare_types(const std::string& path, const std::string& where, const TypeRef& o,
                     const TypeRef& n) {
    // Every recursion of the differ passes through here. Bounding its depth keeps a schema
    // with thousands of nested types (or two cycles of coprime lengths, whose pairs repeat
    // only after their product) from overflowing the stack of the process checking it.
    if (depth_ >= kMaxTypeDepth) {
      if (!too_deep_reported_) {
        too_deep_reported_ = true;
        add(ChangeKind::kTypeGraphTooDeep, where, "", "",
            "types nest more than " + std::to_string(kMaxTypeDepth) +
                " levels below the root; deeper positions are not compared");
      }
      return false;
    }
    ++depth_;
    const bool same = compare_types_at_depth(path, where, o, n);
    --depth_;
    return same;
  }

  bool compare_types_at_depth(const std::string& path, const std::string& where, const TypeRef& o,
                              const TypeRef& n) {
    if (o.base != n.base && flatbuffers::IsScalar(o.base) && flatbuffers::IsScalar(n.base) &&
        o.index >= 0 && n.index >= 0 && o.base != BaseType::UType && n.base != BaseType::UType) {
      // Both enums: the underlying type changed; reported once, by the enum comparison.
      compare_enums(path, *old_.enums()->Get(static_cast<unsigned>(o.index)),
                    *new_.enums()->Get(static_cast<unsigned>(n.index)));
      return false;
    }
    if (o.base != n.base) {
      const std::string on = type_name(old_, o);
      const std::string nn = type_name(new_, n);
      if (o.base == BaseType::String && is_byte_vector(n)) {
        add(ChangeKind::kStringToBytes, where, on, nn, "type changed from string to " + nn);
      } else if (is_byte_vector(o) && n.base == BaseType::String) {
        add(ChangeKind::kBytesToString, where, on, nn, "type changed from " + on + " to string");
      } else {
        add(ChangeKind::kFieldTypeChanged, where, on, nn,
            "type changed from " + on + " to " + nn);
      }
      return false;
    }
    switch (o.base) {
      case BaseType::String: return true;
      case BaseType::UType: return true;  // the union itself is compared at its value field
      case BaseType::Vector:
      case BaseType::Array: {
        if (o.element != n.element ||
            (o.base == BaseType::Array && o.fixed_length != n.fixed_length)) {
          const std::string on = type_name(old_, o);
          const std::string nn = type_name(new_, n);
          add(ChangeKind::kFieldTypeChanged, where, on, nn,
              "type changed from " + on + " to " + nn);
          return false;
        }
        return compare_types(path + "[]", where, element_ref(o), element_ref(n));
      }
      case BaseType::Obj: {
        const auto& oo = *old_.objects()->Get(static_cast<unsigned>(o.index));
        const auto& no = *new_.objects()->Get(static_cast<unsigned>(n.index));
        if (oo.is_struct() != no.is_struct()) {
          const std::string on = (oo.is_struct() ? "struct " : "table ") + oo.name()->str();
          const std::string nn = (no.is_struct() ? "struct " : "table ") + no.name()->str();
          add(ChangeKind::kTableStructChanged, where, on, nn, "changed from " + on + " to " + nn);
          return false;
        }
        if (oo.is_struct()) {
          compare_structs(path, oo, no);
        } else {
          compare_tables(path, oo, no, /*is_root=*/false);
        }
        return true;
      }
      case BaseType::Union:
        compare_enums(path, *old_.enums()->Get(static_cast<unsigned>(o.index)),
                      *new_.enums()->Get(static_cast<unsigned>(n.index)));
        return true;
      default: break;
    }
    // Scalars of the same base type; either side may be an enum over it.
    const bool o_enum = o.index >= 0;
    const bool n_enum = n.index >= 0;
    if (o_enum && n_enum) {
      compare_enums(path, *old_.enums()->Get(static_cast<unsigned>(o.index)),
                    *new_.enums()->Get(static_cast<unsigned>(n.index)));
    } else if (o_enum != n_enum) {
      const std::string on = type_name(old_, o);
      const std::string nn = type_name(new_, n);
      add(ChangeKind::kEnumWrapped, where, on, nn,
          "type changed from " + on + " to " + nn + " (same " + scalar_name(o.base) +
              " on the wire)");
    }
    return true;
  }

  void compare_defaults(const std::string& where, const reflection::Field& fo,
                        const reflection::Field& fn) {
    const BaseType b = fo.type()->base_type();
    if (!flatbuffers::IsScalar(b) || b == BaseType::UType) return;
    auto show = [b](const reflection::Field& f) -> std::string {
      if (f.optional()) return "null";
      if (flatbuffers::IsFloat(b)) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", f.default_real());
        return buf;
      }
      if (b == BaseType::Bool) return f.default_integer() != 0 ? "true" : "false";
      return std::to_string(f.default_integer());
    };
    bool same = fo.optional() == fn.optional();
    if (same && !fo.optional()) {
      if (flatbuffers::IsFloat(b)) {
        const double a = fo.default_real();
        const double c = fn.default_real();
        same = (std::isnan(a) && std::isnan(c)) || std::memcmp(&a, &c, sizeof a) == 0;
      } else {
        same = fo.default_integer() == fn.default_integer();
      }
    }
    if (!same) {
      add(ChangeKind::kDefaultChanged, where, show(fo), show(fn),
          "default changed from " + show(fo) + " to " + show(fn));
    }
  }

  static std::string at_slot(const std::string& path, const reflection::Field& f) {
    return path + "." + f.name()->str() + " (id " + std::to_string(f.id()) + ")";
  }

  void compare_tables(const std::string& path, const reflection::Object& o,
                      const reflection::Object& n, bool is_root) {
    if (!first_visit(&o, &n)) return;
    if (!is_root) note_type_name(path, o.name()->str(), n.name()->str(), "table");

    std::map<std::uint16_t, const reflection::Field*> o_by_id, n_by_id;
    std::map<std::string, const reflection::Field*> o_by_name, n_by_name;
    for (const auto* f : *o.fields()) {
      o_by_id[f->id()] = f;
      o_by_name[f->name()->str()] = f;
    }
    for (const auto* f : *n.fields()) {
      n_by_id[f->id()] = f;
      n_by_name[f->name()->str()] = f;
    }

    // A name on both sides in different slots: the field moved (an inserted field shifted it,
    // or its id changed). Its slots are not compared again below.
    std::set<std::string> moved;
    for (const auto& [id, fo] : o_by_id) {
      const auto it = n_by_name.find(fo->name()->str());
      if (it == n_by_name.end() || it->second->id() == id) continue;
      // A union's hidden `x_type` field moves with `x`; report the union field only.
      moved.insert(fo->name()->str());
      if (fo->type()->base_type() == BaseType::UType) continue;
      const std::string where = path + "." + fo->name()->str();
      add(ChangeKind::kFieldMoved, where, "id " + std::to_string(id),
          "id " + std::to_string(it->second->id()),
          "slot changed from id " + std::to_string(id) + " to id " +
              std::to_string(it->second->id()));
    }

    for (const auto& [id, fo] : o_by_id) {
      const std::string o_name = fo->name()->str();
      if (moved.count(o_name) != 0) continue;
      const auto nit = n_by_id.find(id);
      const std::string where = at_slot(path, *fo);
      if (nit == n_by_id.end() || moved.count(nit->second->name()->str()) != 0) {
        if (fo->type()->base_type() == BaseType::UType) continue;  // reported with the union
        const bool required = fo->required() && !fo->deprecated();
        add(required ? ChangeKind::kRequiredFieldRemoved : ChangeKind::kFieldRemoved, where,
            type_name(old_, type_ref(*fo->type())), "",
            std::string(required ? "required " : "") + "field removed" +
                (fo->deprecated() ? " (was deprecated)" : ""));
        continue;
      }
      compare_field(path, where, *fo, *nit->second);
    }
    for (const auto& [id, fn] : n_by_id) {
      if (moved.count(fn->name()->str()) != 0) continue;
      if (o_by_id.count(id) != 0 && moved.count(o_by_id[id]->name()->str()) == 0) continue;
      if (fn->type()->base_type() == BaseType::UType) continue;
      const std::string where = at_slot(path, *fn);
      const std::string nn = type_name(new_, type_ref(*fn->type()));
      if (fn->required() && !fn->deprecated()) {
        add(ChangeKind::kRequiredFieldAdded, where, "", nn, "required field added");
      } else {
        add(ChangeKind::kFieldAdded, where, "", nn, "field added");
      }
    }
  }

  void compare_field(const std::string& path, const std::string& where,
                     const reflection::Field& fo, const reflection::Field& fn) {
    const std::string o_name = fo.name()->str();
    const std::string n_name = fn.name()->str();
    const bool is_utype = fo.type()->base_type() == BaseType::UType &&
                          fn.type()->base_type() == BaseType::UType;
    if (o_name != n_name && !is_utype) {
      add(ChangeKind::kFieldRenamed, where, o_name, n_name, "renamed to " + n_name);
    }
    if (!fo.deprecated() && fn.deprecated()) {
      add(fo.required() ? ChangeKind::kRequiredFieldDeprecated : ChangeKind::kFieldDeprecated,
          where, "", "deprecated", std::string(fo.required() ? "required " : "") + "field deprecated");
    } else if (fo.deprecated() && !fn.deprecated()) {
      add(ChangeKind::kFieldUndeprecated, where, "deprecated", "", "field no longer deprecated");
    }
    // A deprecated slot is neither read nor written on that side; older versions that still
    // use it are compared by the transitive modes.
    if (fo.deprecated() || fn.deprecated()) return;

    const std::string child = path + "." + n_name;
    if (compare_types(child, where, type_ref(*fo.type()), type_ref(*fn.type()))) {
      compare_defaults(where, fo, fn);
    }
    if (!fo.required() && fn.required()) {
      add(ChangeKind::kRequiredAdded, where, "optional", "required", "field became required");
    } else if (fo.required() && !fn.required()) {
      add(ChangeKind::kRequiredRemoved, where, "required", "optional",
          "field is no longer required");
    }
  }

  // Structs have no vtable: a reader finds each field at the byte offset its own schema
  // gives, so a field is compatible only if it keeps its offset, size and type. Fields are
  // matched by name first: a name found at another offset is a move (swapping two fields of
  // one type keeps every offset and type, yet each side reads the other's value). A field
  // whose name is gone but whose offset holds a field new to the other side is a rename.
  void compare_structs(const std::string& path, const reflection::Object& o,
                       const reflection::Object& n) {
    if (!first_visit(&o, &n)) return;
    note_type_name(path, o.name()->str(), n.name()->str(), "struct");
    if (o.bytesize() != n.bytesize()) {
      add(ChangeKind::kStructLayoutChanged, path, "size " + std::to_string(o.bytesize()),
          "size " + std::to_string(n.bytesize()),
          "struct layout changed: size changed from " + std::to_string(o.bytesize()) + " to " +
              std::to_string(n.bytesize()) + " bytes");
    }
    if (o.minalign() != n.minalign()) {
      const bool raised = n.minalign() > o.minalign();
      add(raised ? ChangeKind::kStructAlignmentRaised : ChangeKind::kStructAlignmentLowered, path,
          "alignment " + std::to_string(o.minalign()), "alignment " + std::to_string(n.minalign()),
          std::string("struct alignment ") + (raised ? "raised" : "lowered") + " from " +
              std::to_string(o.minalign()) + " to " + std::to_string(n.minalign()) + " bytes");
    }
    std::map<std::string, const reflection::Field*> o_by_name, n_by_name;
    std::map<std::uint32_t, const reflection::Field*> o_by_offset, n_by_offset;
    std::map<std::uint16_t, const reflection::Field*> o_in_order;
    for (const auto* f : *o.fields()) {
      o_by_name[f->name()->str()] = f;
      o_by_offset[f->offset()] = f;
      o_in_order[f->id()] = f;  // struct ids follow declaration order
    }
    for (const auto* f : *n.fields()) {
      n_by_name[f->name()->str()] = f;
      n_by_offset[f->offset()] = f;
    }
    auto where_of = [&path](const reflection::Field& f) {
      return path + "." + f.name()->str() + " (offset " + std::to_string(f.offset()) + ")";
    };
    // The field of `other` at `f`'s offset, if its name is unknown to `f`'s side: f renamed.
    auto renamed_to = [](const reflection::Field& f, const auto& other_by_offset, const auto& same_by_name)
        -> const reflection::Field* {
      const auto it = other_by_offset.find(f.offset());
      if (it == other_by_offset.end() || same_by_name.count(it->second->name()->str()) != 0) return nullptr;
      return it->second;
    };
    for (const auto& [id, fo] : o_in_order) {
      const std::string where = where_of(*fo);
      const std::string o_type = type_name(old_, type_ref(*fo->type()));
      const reflection::Field* fn = nullptr;
      if (const auto it = n_by_name.find(fo->name()->str()); it != n_by_name.end()) {
        fn = it->second;
        if (fo->offset() != fn->offset()) {
          add(ChangeKind::kStructLayoutChanged, where, "offset " + std::to_string(fo->offset()),
              "offset " + std::to_string(fn->offset()),
              "struct layout changed: field " + fo->name()->str() + " moved from offset " +
                  std::to_string(fo->offset()) + " to " + std::to_string(fn->offset()) +
                  ", so each side reads another field's bytes there");
          continue;
        }
      } else if ((fn = renamed_to(*fo, n_by_offset, o_by_name)) != nullptr) {
        add(ChangeKind::kFieldRenamed, where, fo->name()->str(), fn->name()->str(),
            "renamed to " + fn->name()->str());
      } else {
        add(ChangeKind::kStructLayoutChanged, where, o_type, "",
            "struct layout changed: field " + fo->name()->str() + " (" + o_type + ") removed");
        continue;
      }
      const TypeRef ot = type_ref(*fo->type());
      const TypeRef nt = type_ref(*fn->type());
      if (ot.base != nt.base || ot.element != nt.element || ot.fixed_length != nt.fixed_length) {
        const std::string nn = type_name(new_, nt);
        add(ChangeKind::kStructLayoutChanged, where, o_type, nn,
            "struct layout changed: type changed from " + o_type + " to " + nn);
        continue;
      }
      // Same base type: nested structs, arrays of them and enums are compared in turn.
      compare_types(path + "." + fn->name()->str(), where, ot, nt);
    }
    for (const auto* fn : *n.fields()) {
      if (o_by_name.count(fn->name()->str()) != 0) continue;
      if (const auto at = o_by_offset.find(fn->offset());
          at != o_by_offset.end() && renamed_to(*at->second, n_by_offset, o_by_name) == fn) {
        continue;  // reported as a rename above
      }
      const std::string n_type = type_name(new_, type_ref(*fn->type()));
      add(ChangeKind::kStructLayoutChanged, where_of(*fn), "", n_type,
          "struct layout changed: field " + fn->name()->str() + " (" + n_type + ") added at offset " +
              std::to_string(fn->offset()));
    }
  }

  // Without a root on one side there is no position to start from: the schema is a file of
  // shared types (used through references). Every declaration of the old schema is compared
  // with the new one's of the same fully qualified name, as the root of its own graph; one
  // that is gone is type-removed. Schemas that include the file compare its types again, by
  // position, when they move to the new version.
  void compare_declarations_by_name() {
    std::map<std::string, const reflection::Object*> n_objects;
    std::map<std::string, const reflection::Enum*> n_enums;
    for (const auto* o : *new_.objects()) n_objects[o->name()->str()] = o;
    for (const auto* e : *new_.enums()) n_enums[e->name()->str()] = e;
    for (const auto* o : *old_.objects()) {
      const std::string name = o->name()->str();
      const std::string kind = o->is_struct() ? "struct" : "table";
      const auto it = n_objects.find(name);
      if (it == n_objects.end()) {
        add(ChangeKind::kTypeRemoved, name, kind + " " + name, "", kind + " removed");
        continue;
      }
      const auto& n = *it->second;
      if (o->is_struct() != n.is_struct()) {
        const std::string nk = n.is_struct() ? "struct" : "table";
        add(ChangeKind::kTableStructChanged, name, kind + " " + name, nk + " " + name,
            "changed from " + kind + " to " + nk);
      } else if (o->is_struct()) {
        compare_structs(name, *o, n);
      } else {
        compare_tables(name, *o, n, /*is_root=*/true);
      }
    }
    for (const auto* e : *old_.enums()) {
      const std::string name = e->name()->str();
      const std::string kind = e->is_union() ? "union" : "enum";
      const auto it = n_enums.find(name);
      if (it == n_enums.end()) {
        add(ChangeKind::kTypeRemoved, name, kind + " " + name, "", kind + " removed");
      } else if (e->is_union() != it->second->is_union()) {
        const std::string nk = it->second->is_union() ? "union" : "enum";
        add(ChangeKind::kFieldTypeChanged, name, kind + " " + name, nk + " " + name,
            "changed from " + kind + " to " + nk);
      } else {
        compare_enums(name, *e, *it->second);
      }
    }
  }

  // Enums and unions: values matched by number (what the wire holds) and by name.
  void compare_enums(const std::string& path, const reflection::Enum& o, const reflection::Enum& n) {
    if (!first_visit(&o, &n)) return;
    const bool is_union = o.is_union();
    const char* what = is_union ? "union" : "enum";
    note_type_name(path, o.name()->str(), n.name()->str(), what);
    const std::string label = path + " (" + what + " " + o.name()->str() + ")";
    if (!is_union) {
      const BaseType ou = o.underlying_type()->base_type();
      const BaseType nu = n.underlying_type()->base_type();
      if (ou != nu) {
        add(ChangeKind::kEnumUnderlyingTypeChanged, label, scalar_name(ou), scalar_name(nu),
            std::string("underlying type changed from ") + scalar_name(ou) + " to " +
                scalar_name(nu));
      }
      // bit_flags is not kept in the reflection form; adding or removing it shows up as
      // every value renumbered (n becomes 1 << n), which is what it does to the wire.
    }
    std::map<std::int64_t, const reflection::EnumVal*> o_by_value, n_by_value;
    std::map<std::string, const reflection::EnumVal*> o_by_name, n_by_name;
    for (const auto* v : *o.values()) {
      o_by_value[v->value()] = v;
      o_by_name[v->name()->str()] = v;
    }
    for (const auto* v : *n.values()) {
      n_by_value[v->value()] = v;
      n_by_name[v->name()->str()] = v;
    }
    const ChangeKind renumbered =
        is_union ? ChangeKind::kUnionMemberRenumbered : ChangeKind::kEnumValueRenumbered;
    const ChangeKind added = is_union ? ChangeKind::kUnionMemberAdded : ChangeKind::kEnumValueAdded;
    const ChangeKind removed =
        is_union ? ChangeKind::kUnionMemberRemoved : ChangeKind::kEnumValueRemoved;
    std::set<std::string> renumbered_names;
    for (const auto& [name, ov] : o_by_name) {
      const auto it = n_by_name.find(name);
      if (it == n_by_name.end() || it->second->value() == ov->value()) continue;
      renumbered_names.insert(name);
      add(renumbered, label, name + " = " + std::to_string(ov->value()),
          name + " = " + std::to_string(it->second->value()),
          std::string(is_union ? "member " : "value ") + name + " renumbered from " +
              std::to_string(ov->value()) + " to " + std::to_string(it->second->value()));
    }
    auto describe = [](const reflection::EnumVal& v) {
      return v.name()->str() + " = " + std::to_string(v.value());
    };
    for (const auto& [value, ov] : o_by_value) {
      const auto it = n_by_value.find(value);
      const bool o_renumbered = renumbered_names.count(ov->name()->str()) != 0;
      if (it == n_by_value.end()) {
        if (!o_renumbered) {
          add(removed, label, describe(*ov), "",
              std::string(is_union ? "member " : "value ") + describe(*ov) + " removed");
        }
        continue;
      }
      const auto& nv = *it->second;
      const bool n_renumbered = renumbered_names.count(nv.name()->str()) != 0;
      if (o_renumbered || n_renumbered) continue;
      if (ov->name()->str() != nv.name()->str()) {
        add(ChangeKind::kEnumValueRenamed, label, describe(*ov), describe(nv),
            std::string(is_union ? "member " : "value ") + describe(*ov) + " renamed to " +
                nv.name()->str());
      }
      if (is_union && value != 0 && ov->union_type() != nullptr && nv.union_type() != nullptr) {
        compare_types(path + "<" + nv.name()->str() + ">",
                      label + " member " + nv.name()->str(), type_ref(*ov->union_type()),
                      type_ref(*nv.union_type()));
      }
    }
    for (const auto& [value, nv] : n_by_value) {
      if (o_by_value.count(value) != 0 || renumbered_names.count(nv->name()->str()) != 0) continue;
      add(added, label, "", describe(*nv),
          std::string(is_union ? "member " : "value ") + describe(*nv) + " added");
    }
  }

  const reflection::Schema& old_;
  const reflection::Schema& new_;
  std::set<std::pair<const void*, const void*>> visited_;
  static constexpr int kMaxTypeDepth = 64;
  int depth_ = 0;  // compare_types calls on the stack
  bool too_deep_reported_ = false;
  std::vector<SchemaChange> changes_;
};

std::vector<Violation> filter(const std::vector<SchemaChange>& changes, Direction direction,
                              Verdict wanted, std::size_t previous_index) {
  std::vector<Violation> out;
  for (const auto& c : changes) {
    const ChangeRule& rule = change_rule(c.kind);
    const Verdict v = direction == Direction::kBackward ? rule.backward : rule.forward;
    if (v == wanted) out.push_back(Violation{c, direction, previous_index});
  }
  return out;
}

void append(std::vector<Violation>& to, std::vector<Violation>&& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

constexpr std::pair<CompatibilityMode, std::string_view> kModeNames[] = {
    {CompatibilityMode::kBackward, "BACKWARD"},
    {CompatibilityMode::kBackwardTransitive, "BACKWARD_TRANSITIVE"},
    {CompatibilityMode::kForward, "FORWARD"},
    {CompatibilityMode::kForwardTransitive, "FORWARD_TRANSITIVE"},
    {CompatibilityMode::kFull, "FULL"},
    {CompatibilityMode::kFullTransitive, "FULL_TRANSITIVE"},
    {CompatibilityMode::kNone, "NONE"},
};

}  // namespace

std::string_view format_compatibility_mode(CompatibilityMode mode) noexcept {
  for (const auto& [m, name] : kModeNames) {
    if (m == mode) return name;
  }
  return "UNKNOWN";
}

Result<CompatibilityMode> parse_compatibility_mode(std::string_view name) {
  for (const auto& [m, n] : kModeNames) {
    if (n == name) return m;
  }
  return invalid_argument("unknown compatibility mode '" + std::string(name) +
                          "'; expected one of BACKWARD, BACKWARD_TRANSITIVE, FORWARD, "
                          "FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE");
}

std::vector<SchemaChange> diff_schemas(const ParsedSchema& old_schema,
                                       const ParsedSchema& new_schema) {
  Differ differ(*reflection::GetSchema(old_schema.reflection_bytes.data()),
                *reflection::GetSchema(new_schema.reflection_bytes.data()));
  return differ.run();
}

std::vector<Violation> check_backward(const ParsedSchema& new_schema,
                                      const ParsedSchema& old_schema) {
  return filter(diff_schemas(old_schema, new_schema), Direction::kBackward,
                Verdict::kIncompatible, 0);
}

std::vector<Violation> check_forward(const ParsedSchema& new_schema,
                                     const ParsedSchema& old_schema) {
  return filter(diff_schemas(old_schema, new_schema), Direction::kForward,
                Verdict::kIncompatible, 0);
}

CompatibilityResult check(CompatibilityMode mode, const ParsedSchema& candidate,
                          std::span<const ParsedSchema> previous_versions_oldest_first) {
  CompatibilityResult result;
  const auto& previous = previous_versions_oldest_first;
  if (mode == CompatibilityMode::kNone || previous.empty()) return result;
  const bool transitive = mode == CompatibilityMode::kBackwardTransitive ||
                          mode == CompatibilityMode::kForwardTransitive ||
                          mode == CompatibilityMode::kFullTransitive;
  const bool backward = mode != CompatibilityMode::kForward &&
                        mode != CompatibilityMode::kForwardTransitive;
  const bool forward = mode != CompatibilityMode::kBackward &&
                       mode != CompatibilityMode::kBackwardTransitive;
  const std::size_t first = transitive ? 0 : previous.size() - 1;
  for (std::size_t i = first; i < previous.size(); ++i) {
    const auto changes = diff_schemas(previous[i], candidate);
    for (const Direction d : {Direction::kBackward, Direction::kForward}) {
      if ((d == Direction::kBackward && !backward) || (d == Direction::kForward && !forward)) {
        continue;
      }
      append(result.violations, filter(changes, d, Verdict::kIncompatible, i));
      append(result.notes, filter(changes, d, Verdict::kNote, i));
    }
  }
  result.is_compatible = result.violations.empty();
  return result;
}

}  // namespace causeway::registry
