// File: tests/fuzz/frame_mutator.cc
//
// See frame_mutator.h. The schema comes from schemas/protocol.fbs through the FlatBuffers
// parser: its definitions (StructDef, FieldDef, EnumDef) say what each JSON field is, its
// text generator turns a verified Message into JSON and its JSON parser builds the mutant.
#include "tests/fuzz/frame_mutator.h"

#include <flatbuffers/idl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "causeway/common/coding.h"
#include "causeway/schemas/protocol_generated.h"
#include "tests/fuzz/batch_crc.h"
#include "tests/fuzz/byte_mutator.h"

#ifndef CAUSEWAY_PROTOCOL_FBS
#error "CAUSEWAY_PROTOCOL_FBS must name schemas/protocol.fbs"
#endif

namespace causeway::fuzz {
namespace {

namespace fb = flatbuffers;
using Json = nlohmann::ordered_json;  // keeps "body_type" before "body", as the parser wants

constexpr size_t kMaxMutatedFieldBytes = 8192;
constexpr size_t kMaxVectorElements = 64;
constexpr int kMaxDepth = 12;
const std::string kUnionTypeSuffix = "_type";  // flatc names a union's type field "<union>_type"

const char* const kWords[] = {"",     "orders", "bound",   "orders.dlq", "sub",  "group",   "none",
                              "token", "$member", "fuzz",   "Order",      ".",    "..",      "a/b",
                              "\xff",  "ordersorders", "orders-value", "shop.Order", "x y"};

bool verifies(const std::vector<uint8_t>& aligned) {
  if (aligned.empty() || aligned.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) return false;
  fb::Verifier v(aligned.data(), aligned.size(), 64, 1000000);
  return protocol::VerifyMessageBuffer(v);
}

// A field of a table (or struct) in the JSON form of a Message: present (value set) or
// absent (only for tables, where it may be added).
struct Site {
  Json* value;
  Json* parent;
  const fb::FieldDef* field;
  const fb::StructDef* owner;
};

}  // namespace

FrameStream split_frames(std::string_view b) {
  FrameStream s;
  while (b.size() >= 4) {
    const uint32_t n = coding::decode_fixed32(b.data());
    if (n > b.size() - 4) break;
    s.frames.emplace_back(b.substr(4, n));
    b.remove_prefix(4 + size_t{n});
  }
  s.tail = std::string(b);
  return s;
}

std::string frame_of(std::string_view message) {
  std::string out(4, '\0');
  coding::encode_fixed32(out.data(), static_cast<uint32_t>(message.size()));
  out.append(message);
  return out;
}

std::string join_frames(const FrameStream& s) {
  std::string out;
  for (const std::string& f : s.frames) out += frame_of(f);
  out += s.tail;
  return out;
}

struct FrameMutator::Impl {
  std::string schema_text;
  std::unique_ptr<fb::Parser> text_parser;  // definitions and GenerateText; never fails after load
  std::unique_ptr<fb::Parser> json_parser;  // parses mutants; replaced after a failed parse
  std::mt19937_64 rng;

  std::unique_ptr<fb::Parser> make_parser() const {
    fb::IDLOptions opts;
    opts.strict_json = true;
    opts.output_default_scalars_in_json = true;
    opts.indent_step = -1;
    auto p = std::make_unique<fb::Parser>(opts);
    if (!p->Parse(schema_text.c_str(), nullptr, CAUSEWAY_PROTOCOL_FBS)) {
      std::fprintf(stderr, "frame_mutator: %s does not parse: %s\n", CAUSEWAY_PROTOCOL_FBS, p->error_.c_str());
      std::abort();
    }
    return p;
  }

  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); }
  const fb::StructDef& root() const { return *text_parser->root_struct_def_; }

  // ------------------------------------------------------------ values by schema type

  template <typename T>
  Json pick_integer(const Json& current) {
    using L = std::numeric_limits<T>;
    const int64_t now = current.is_number_integer() ? current.get<int64_t>() : 0;
    const uint64_t unow = current.is_number_unsigned() ? current.get<uint64_t>() : static_cast<uint64_t>(now);
    switch (below(9)) {
      case 0: return Json(L::min());
      case 1: return Json(L::max());
      case 2: return Json(T{0});
      case 3: return Json(T{1});
      case 4: return Json(static_cast<T>(L::max() - 1));
      case 5: return Json(static_cast<T>(unow + 1));  // wraps within T
      case 6: return Json(static_cast<T>(unow - 1));
      case 7:  // a power of two, e.g. 2^62: near the limits of Lamport and offset arithmetic
        return Json(static_cast<T>(uint64_t{1} << below(L::digits)));
      default: return Json(static_cast<T>(rng()));
    }
  }

  Json pick_scalar(const fb::Type& t, const Json& current) {
    if (t.enum_def != nullptr && !t.enum_def->Vals().empty() && below(2) == 0) {
      return Json(t.enum_def->Vals()[below(t.enum_def->Vals().size())]->name);
    }
    switch (t.base_type) {
      case fb::BASE_TYPE_BOOL: return Json(below(2) == 0);
      case fb::BASE_TYPE_CHAR: return pick_integer<int8_t>(current);
      case fb::BASE_TYPE_UCHAR: return pick_integer<uint8_t>(current);
      case fb::BASE_TYPE_SHORT: return pick_integer<int16_t>(current);
      case fb::BASE_TYPE_USHORT: return pick_integer<uint16_t>(current);
      case fb::BASE_TYPE_INT: return pick_integer<int32_t>(current);
      case fb::BASE_TYPE_UINT: return pick_integer<uint32_t>(current);
      case fb::BASE_TYPE_LONG: return pick_integer<int64_t>(current);
      case fb::BASE_TYPE_ULONG: return pick_integer<uint64_t>(current);
      case fb::BASE_TYPE_FLOAT:
      case fb::BASE_TYPE_DOUBLE: {
        static constexpr double kFloats[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1e9, -1e9, 3.4e38, 1e-40};
        return Json(kFloats[below(std::size(kFloats))]);
      }
      default: return Json(0);
    }
  }

  std::string pick_word() { return kWords[below(std::size(kWords))]; }

  std::string mutate_bytes(std::string bytes) {
    bytes.resize(std::min(bytes.size(), kMaxMutatedFieldBytes));
    std::vector<uint8_t> buf(kMaxMutatedFieldBytes);
    std::memcpy(buf.data(), bytes.data(), bytes.size());
    const size_t n = LLVMFuzzerMutate(buf.data(), bytes.size(), buf.size());
    return std::string(reinterpret_cast<const char*>(buf.data()), n);
  }

  void mutate_string(Json& v) {
    std::string s = v.is_string() ? v.get<std::string>() : std::string();
    switch (below(5)) {
      case 0: s = pick_word(); break;
      case 1: s.clear(); break;
      case 2: s.append(1 + below(300), static_cast<char>('a' + below(26))); break;
      case 3: s += pick_word(); break;
      default: s = mutate_bytes(s); break;  // may not be UTF-8: dump() replaces such bytes
    }
    v = s;
  }

  Json default_value(const fb::Type& t) {
    switch (t.base_type) {
      case fb::BASE_TYPE_STRING: return Json(pick_word());
      case fb::BASE_TYPE_VECTOR: return Json::array();
      case fb::BASE_TYPE_STRUCT: {
        Json obj = Json::object();
        if (t.struct_def->fixed) {  // a struct needs every field
          for (const fb::FieldDef* f : t.struct_def->fields.vec) obj[f->name] = default_value(f->value.type);
        }
        return obj;
      }
      default: return pick_scalar(t, Json(0));
    }
  }

  void mutate_vector(Json& v, const fb::FieldDef& field) {
    if (!v.is_array()) {
      v = Json::array();
      return;
    }
    const fb::Type& t = field.value.type;
    if ((t.element == fb::BASE_TYPE_UCHAR || t.element == fb::BASE_TYPE_CHAR) && below(2) == 0) {
      std::string bytes;
      for (const Json& e : v) bytes.push_back(static_cast<char>(e.is_number() ? e.get<int64_t>() : 0));
      bytes = mutate_bytes(bytes);
      // A FetchResponse's log batches: keep their CRCs right most of the time, so that the
      // client's batch decoding behind them is reached.
      if (field.name == "batches" && below(8) != 0) {
        fix_batch_crcs(reinterpret_cast<uint8_t*>(bytes.data()), bytes.size());
      }
      v = Json::array();
      for (const char c : bytes) {
        v.push_back(t.element == fb::BASE_TYPE_CHAR ? Json(static_cast<int8_t>(c)) : Json(static_cast<uint8_t>(c)));
      }
      return;
    }
    switch (below(4)) {
      case 0:
        if (!v.empty()) v.erase(v.begin() + static_cast<std::ptrdiff_t>(below(v.size())));
        break;
      case 1:
        if (!v.empty() && v.size() < kMaxVectorElements) {
          const Json copy = v[below(v.size())];
          v.insert(v.begin() + static_cast<std::ptrdiff_t>(below(v.size() + 1)), copy);
        }
        break;
      case 2: v = Json::array(); break;
      default:
        if (v.size() < kMaxVectorElements) v.push_back(default_value(t.VectorType()));
        break;
    }
  }

  // The table a union field holds, from its "<name>_type" sibling.
  const fb::StructDef* union_member(const Json& parent, const fb::FieldDef& field) const {
    auto it = parent.find(field.name + kUnionTypeSuffix);
    if (it == parent.end() || field.value.type.enum_def == nullptr) return nullptr;
    const fb::EnumVal* val = nullptr;
    if (it->is_string()) val = field.value.type.enum_def->Lookup(it->get<std::string>());
    if (it->is_number_integer()) val = field.value.type.enum_def->ReverseLookup(it->get<int64_t>(), true);
    return val != nullptr && val->union_type.struct_def != nullptr ? val->union_type.struct_def : nullptr;
  }

  // Sets the union whose type field is `type_field` to another member, with an empty table.
  void switch_union(Json& parent, const fb::FieldDef& type_field) {
    const fb::EnumDef* e = type_field.value.type.enum_def;
    if (e == nullptr || e->Vals().size() < 2) return;
    const fb::EnumVal* member = e->Vals()[1 + below(e->Vals().size() - 1)];  // not NONE
    const std::string value_name = type_field.name.substr(0, type_field.name.size() - kUnionTypeSuffix.size());
    parent[type_field.name] = member->name;
    parent[value_name] = Json::object();
  }

  void collect(Json& obj, const fb::StructDef& def, std::vector<Site>& sites, int depth) {
    if (!obj.is_object() || depth > kMaxDepth) return;
    for (const fb::FieldDef* f : def.fields.vec) {
      if (f->deprecated) continue;
      auto it = obj.find(f->name);
      if (it == obj.end()) {
        if (!def.fixed && f->value.type.base_type != fb::BASE_TYPE_UTYPE) sites.push_back({nullptr, &obj, f, &def});
        continue;
      }
      Json& v = it.value();
      sites.push_back({&v, &obj, f, &def});
      const fb::Type& t = f->value.type;
      if (t.base_type == fb::BASE_TYPE_STRUCT) {
        collect(v, *t.struct_def, sites, depth + 1);
      } else if (t.base_type == fb::BASE_TYPE_UNION) {
        if (const fb::StructDef* member = union_member(obj, *f)) collect(v, *member, sites, depth + 1);
      } else if (t.base_type == fb::BASE_TYPE_VECTOR && t.element == fb::BASE_TYPE_STRUCT && v.is_array()) {
        for (Json& e : v) collect(e, *t.struct_def, sites, depth + 1);
      }
    }
  }

  // Changes one site; false if nothing changed.
  bool mutate_site(const Site& s) {
    const fb::FieldDef& f = *s.field;
    const fb::Type& t = f.value.type;
    if (s.value == nullptr) {  // add an absent field
      if (t.base_type == fb::BASE_TYPE_UNION) {
        for (const fb::FieldDef* g : s.owner->fields.vec) {
          if (g->name == f.name + kUnionTypeSuffix) switch_union(*s.parent, *g);
        }
        return true;
      }
      (*s.parent)[f.name] = default_value(t);
      return true;
    }
    if (!s.owner->fixed && below(8) == 0) {  // drop a present field
      s.parent->erase(f.name);
      if (t.base_type == fb::BASE_TYPE_UNION) s.parent->erase(f.name + kUnionTypeSuffix);
      return true;
    }
    switch (t.base_type) {
      case fb::BASE_TYPE_UTYPE: switch_union(*s.parent, f); return true;
      case fb::BASE_TYPE_STRING: mutate_string(*s.value); return true;
      case fb::BASE_TYPE_VECTOR: mutate_vector(*s.value, f); return true;
      case fb::BASE_TYPE_STRUCT:
        if (t.struct_def->fixed) return false;  // its fields are sites of their own
        *s.value = Json::object();
        return true;
      case fb::BASE_TYPE_UNION: *s.value = Json::object(); return true;
      case fb::BASE_TYPE_ARRAY: return false;
      default: *s.value = pick_scalar(t, *s.value); return true;
    }
  }
};

FrameMutator& FrameMutator::instance() {
  static FrameMutator m;
  return m;
}

FrameMutator::FrameMutator() : impl_(std::make_unique<Impl>()) {
  std::ifstream in(CAUSEWAY_PROTOCOL_FBS);
  impl_->schema_text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  impl_->text_parser = impl_->make_parser();
  impl_->json_parser = impl_->make_parser();
}

FrameMutator::~FrameMutator() = default;

std::optional<std::string> FrameMutator::to_json(std::string_view message) {
  const std::vector<uint8_t> aligned(message.begin(), message.end());
  if (!verifies(aligned)) return std::nullopt;
  // The verifier accepts a union table whose type is NONE, and FlatBuffers 2.0.8's text
  // generator asserts on it (idl_gen_text.cpp, PrintOffset: prev_val). Body is the one
  // union of the protocol.
  const protocol::Message* m = protocol::GetMessage(aligned.data());
  if (m->body() != nullptr && m->body_type() == protocol::Body::NONE) return std::nullopt;
  std::string text;
  if (!fb::GenerateText(*impl_->text_parser, aligned.data(), &text)) return std::nullopt;
  return text;
}

std::optional<std::string> FrameMutator::from_json(const std::string& json) {
  fb::Parser& p = *impl_->json_parser;
  p.builder_.Clear();
  if (!p.Parse(json.c_str(), nullptr, nullptr)) {
    impl_->json_parser = impl_->make_parser();  // a failed parse may leave half-built state
    return std::nullopt;
  }
  std::string out(reinterpret_cast<const char*>(p.builder_.GetBufferPointer()), p.builder_.GetSize());
  p.builder_.Clear();
  return out;
}

size_t FrameMutator::mutate(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  Impl& m = *impl_;
  m.rng.seed(seed);
  FrameStream s = split_frames(std::string_view(reinterpret_cast<const char*>(data), size));
  const size_t choice = m.below(100);
  if (s.frames.empty() || choice < 10) {  // bytes of the whole stream, prefixes and all
    ++stats_.byte_level;
    return LLVMFuzzerMutate(data, size, max_size);
  }
  bool changed = false;
  if (choice < 60) {  // one field of one Message, by its schema type
    for (int attempt = 0; attempt < 3 && !changed; ++attempt) {
      const size_t i = m.below(s.frames.size());
      auto text = to_json(s.frames[i]);
      if (!text) continue;
      Json doc = Json::parse(*text, nullptr, false);
      if (doc.is_discarded()) continue;
      std::vector<Site> sites;
      m.collect(doc, m.root(), sites, 0);
      if (sites.empty() || !m.mutate_site(sites[m.below(sites.size())])) continue;
      auto rebuilt = from_json(doc.dump(-1, ' ', false, Json::error_handler_t::replace));
      if (!rebuilt) continue;
      s.frames[i] = std::move(*rebuilt);
      changed = true;
      ++stats_.structural;
    }
  } else if (choice < 75) {  // whole frames
    const size_t i = m.below(s.frames.size());
    const size_t j = m.below(s.frames.size());
    switch (m.below(4)) {
      case 0: s.frames.insert(s.frames.begin() + static_cast<std::ptrdiff_t>(j), s.frames[i]); break;
      case 1:
        if (s.frames.size() > 1) s.frames.erase(s.frames.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      case 2: std::swap(s.frames[i], s.frames[j]); break;
      default: {  // a new message of any body type, with an empty table
        const auto& vals = m.root().fields.Lookup("body_type")->value.type.enum_def->Vals();
        Json doc = Json::object();
        doc["correlation_id"] = m.below(8);
        doc["body_type"] = vals[1 + m.below(vals.size() - 1)]->name;
        doc["body"] = Json::object();
        if (auto built = from_json(doc.dump())) s.frames.insert(s.frames.begin() + static_cast<std::ptrdiff_t>(j), *built);
        break;
      }
    }
    changed = true;
    ++stats_.frame_level;
  }
  if (!changed) {  // bytes of one frame; its length prefix follows
    const size_t i = m.below(s.frames.size());
    s.frames[i] = m.mutate_bytes(s.frames[i]);
    ++stats_.byte_level;
  }
  const std::string out = join_frames(s);
  if (out.empty() || out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

size_t FrameMutator::cross_over(const uint8_t* data1, size_t size1, const uint8_t* data2, size_t size2,
                                uint8_t* out, size_t max_out_size, unsigned int seed) {
  Impl& m = *impl_;
  m.rng.seed(seed);
  FrameStream a = split_frames(std::string_view(reinterpret_cast<const char*>(data1), size1));
  const FrameStream b = split_frames(std::string_view(reinterpret_cast<const char*>(data2), size2));
  std::string joined;
  if (!a.frames.empty() && !b.frames.empty()) {
    const size_t from = m.below(b.frames.size());
    const size_t to = std::min(b.frames.size(), from + 1 + m.below(4));
    // Never before the first frame: it is the Hello of a server stream.
    const size_t at = 1 + m.below(a.frames.size());
    a.frames.insert(a.frames.begin() + static_cast<std::ptrdiff_t>(at), b.frames.begin() + static_cast<std::ptrdiff_t>(from),
                    b.frames.begin() + static_cast<std::ptrdiff_t>(to));
    joined = join_frames(a);
  }
  if (joined.empty() || joined.size() > max_out_size) {  // a prefix of one and a suffix of the other
    const size_t head = std::min(m.below(size1 + 1), max_out_size);
    const size_t tail_from = m.below(size2 + 1);
    const size_t tail = std::min(size2 - tail_from, max_out_size - head);
    std::memcpy(out, data1, head);
    std::memcpy(out + head, data2 + tail_from, tail);
    return head + tail;
  }
  std::memcpy(out, joined.data(), joined.size());
  return joined.size();
}

}  // namespace causeway::fuzz
