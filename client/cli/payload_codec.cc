// File: client/cli/payload_codec.cc
//
// See payload_codec.h. The FlatBuffers Parser does the JSON work in both directions, so the
// CLI accepts and prints exactly the JSON that flatc does (strict JSON: quoted field names,
// enums by name).
#include "client/cli/payload_codec.h"

#include "causeway/common/flatbuffers_reflection.h"  // first: idl.h includes reflection
#include <flatbuffers/flexbuffers.h>
#include <flatbuffers/idl.h>

#include <algorithm>
#include <cctype>
#include <span>
#include <vector>

#include "causeway/registry/fbs_parser.h"
#include "causeway/registry/payload.h"
#include "causeway/registry/schema.h"
#include "client/cli/event_json.h"
#include "client/cli/cli_args.h"
#include "client/cli/json_schema_hint.h"

namespace causeway::cli {
namespace {

// The parser's error_ reads "<line>: <col>: error: <message>" (no file name). Line and
// column point into the JSON the CLI re-serialised, not into the user's input line, so only
// the message is worth showing.
std::string parser_message(const std::string& error) {
  const std::string marker = "error: ";
  const auto at = error.find(marker);
  std::string msg = at == std::string::npos ? error : error.substr(at + marker.size());
  while (!msg.empty() && std::isspace(static_cast<unsigned char>(msg.back()))) msg.pop_back();
  return msg;
}

// GenerateText trusts what flatbuffers::Verify does not check (FlatBuffers 2.0.8): that a
// union's value comes with its type, that a nested_flatbuffer field holds a valid buffer of
// its type, and that a flexbuffer field holds a valid FlexBuffer. It asserts or reads out of
// bounds otherwise, so `causeway fetch` died on such a payload stored by another producer.
// Checks them in a buffer that flatbuffers::Verify accepted, walking it as GenerateText will.
Status check_printable(const reflection::Schema& schema, const flatbuffers::StructDef& def,
                       const flatbuffers::Table& table, uint32_t depth);

Status check_member(const reflection::Schema& schema, const flatbuffers::FieldDef& field, uint8_t type,
                    const flatbuffers::Table* value, uint32_t depth) {
  const flatbuffers::EnumVal* member = field.value.type.enum_def->ReverseLookup(type, true);
  if (member == nullptr || value == nullptr) return Status();  // GenerateText refuses an unknown type
  const flatbuffers::Type& t = member->union_type;
  if (t.base_type != flatbuffers::BASE_TYPE_STRUCT || t.struct_def == nullptr || t.struct_def->fixed) return Status();
  return check_printable(schema, *t.struct_def, *value, depth + 1);
}

Status check_printable(const reflection::Schema& schema, const flatbuffers::StructDef& def,
                       const flatbuffers::Table& table, uint32_t depth) {
  if (depth > registry::kMaxPayloadDepth) {
    return invalid_argument("payload nests deeper than " + std::to_string(registry::kMaxPayloadDepth) + " tables");
  }
  for (const flatbuffers::FieldDef* fd : def.fields.vec) {
    const flatbuffers::voffset_t slot = fd->value.offset;
    if (!table.CheckField(slot)) continue;
    const flatbuffers::Type& t = fd->value.type;
    const flatbuffers::FieldDef* type_fd =
        t.base_type == flatbuffers::BASE_TYPE_UNION || t.element == flatbuffers::BASE_TYPE_UNION
            ? def.fields.Lookup(fd->name + flatbuffers::UnionTypeFieldSuffix())
            : nullptr;
    if (t.base_type == flatbuffers::BASE_TYPE_UNION) {
      if (type_fd == nullptr || !table.CheckField(type_fd->value.offset)) {
        return invalid_argument("union field \"" + fd->name + "\" holds a value but no type");
      }
      CAUSEWAY_RETURN_IF_ERROR(check_member(schema, *fd, table.GetField<uint8_t>(type_fd->value.offset, 0),
                                            table.GetPointer<const flatbuffers::Table*>(slot), depth));
    } else if (t.base_type == flatbuffers::BASE_TYPE_STRUCT && !t.struct_def->fixed) {
      CAUSEWAY_RETURN_IF_ERROR(
          check_printable(schema, *t.struct_def, *table.GetPointer<const flatbuffers::Table*>(slot), depth + 1));
    } else if (t.base_type == flatbuffers::BASE_TYPE_VECTOR && t.element == flatbuffers::BASE_TYPE_UNION) {
      const auto* values = table.GetPointer<const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::Table>>*>(slot);
      const auto* types = type_fd ? table.GetPointer<const flatbuffers::Vector<uint8_t>*>(type_fd->value.offset)
                                  : nullptr;
      if (types == nullptr || types->size() < values->size()) {
        return invalid_argument("union vector \"" + fd->name + "\" holds more values than types");
      }
      for (flatbuffers::uoffset_t i = 0; i < values->size(); ++i) {
        CAUSEWAY_RETURN_IF_ERROR(check_member(schema, *fd, types->Get(i), values->Get(i), depth));
      }
    } else if (t.base_type == flatbuffers::BASE_TYPE_VECTOR && t.element == flatbuffers::BASE_TYPE_STRUCT &&
               !t.struct_def->fixed) {
      const auto* tables = table.GetPointer<const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::Table>>*>(slot);
      for (const flatbuffers::Table* element : *tables) {
        CAUSEWAY_RETURN_IF_ERROR(check_printable(schema, *t.struct_def, *element, depth + 1));
      }
    } else if (t.base_type == flatbuffers::BASE_TYPE_VECTOR && (fd->nested_flatbuffer || fd->flexbuffer)) {
      const auto* bytes = table.GetPointer<const flatbuffers::Vector<uint8_t>*>(slot);
      if (fd->flexbuffer) {
        if (!flexbuffers::VerifyBuffer(bytes->data(), bytes->size())) {
          return invalid_argument("field \"" + fd->name + "\" does not hold a valid FlexBuffer");
        }
        continue;
      }
      const flatbuffers::StructDef& nested = *fd->nested_flatbuffer;
      const reflection::Object* object =
          schema.objects()->LookupByKey(nested.defined_namespace->GetFullyQualifiedName(nested.name).c_str());
      // Verified in an aligned copy: the nested bytes start wherever the vector does.
      const std::vector<uint8_t> copy(bytes->begin(), bytes->end());
      if (object == nullptr || copy.size() < sizeof(flatbuffers::uoffset_t) ||
          !flatbuffers::Verify(schema, *object, copy.data(), copy.size(), registry::kMaxPayloadDepth,
                               registry::kMaxPayloadTables)) {
        return invalid_argument("field \"" + fd->name + "\" does not hold a valid nested FlatBuffer of " +
                                nested.name);
      }
      CAUSEWAY_RETURN_IF_ERROR(
          check_printable(schema, nested, *flatbuffers::GetRoot<flatbuffers::Table>(bytes->data()), depth + 1));
    }
  }
  return Status();
}

// How deeply `j` nests arrays and objects, counted without recursion (a line of a million
// '[' must not exhaust the stack here either), stopping once it exceeds `limit`.
size_t nesting_depth(const nlohmann::json& j, size_t limit) {
  size_t deepest = 0;
  std::vector<std::pair<const nlohmann::json*, size_t>> pending{{&j, 1}};
  while (!pending.empty() && deepest <= limit) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    if (!node->is_structured()) continue;
    deepest = std::max(deepest, depth);
    for (const auto& child : *node) pending.emplace_back(&child, depth + 1);
  }
  return deepest;
}

}  // namespace

struct PayloadCodec::Verified {
  registry::ParsedSchema schema;
};

PayloadCodec::PayloadCodec() = default;
PayloadCodec::~PayloadCodec() = default;

// Referenced versions, fetched from the registry (soft-deleted ones too: data written with
// a schema needs what it included, whatever happened to it since).
registry::ReferenceLookup registry_lookup(client::RegistryClient* registry) {
  return [registry](const std::string& subject, int version) -> Result<registry::ReferencedSchema> {
    if (registry == nullptr) return not_found("no registry to fetch referenced versions from");
    auto v = registry->get_version(subject, version, /*include_deleted=*/true);
    if (!v) return v.error();
    registry::ReferencedSchema out{v->schema.schema, {}};
    for (const auto& r : v->schema.references) out.references.push_back({r.name, r.subject, r.version});
    return out;
  };
}

Result<std::unique_ptr<PayloadCodec>> PayloadCodec::create(const client::RegistrySchema& schema,
                                                           client::RegistryClient* registry) {
  std::vector<registry::SchemaReference> references;
  for (const auto& r : schema.references) references.push_back({r.name, r.subject, r.version});
  auto parsed = registry::parse_schema(schema.schema, schema.root_type, references, registry_lookup(registry),
                                       registry::RootTypeRule::kRequired);
  if (!parsed) return parsed.error().with_context("schema id " + std::to_string(schema.id));
  std::unique_ptr<PayloadCodec> codec(new PayloadCodec());
  codec->schema_id_ = schema.id;
  codec->root_type_ = parsed->root_type;
  codec->verified_ = std::make_unique<Verified>(Verified{std::move(*parsed)});
  CAUSEWAY_RETURN_IF_ERROR(codec->reset_parser());
  return codec;
}

// A parser that failed on a JSON document may hold half-built state, so encode() starts over
// with a fresh one after an error. parse_schema accepted the same resolved texts, so this
// succeeds unless the parser itself misbehaves.
Status PayloadCodec::reset_parser() {
  flatbuffers::IDLOptions opts;
  opts.strict_json = true;  // GenText then writes JSON that nlohmann::json reads back
  opts.indent_step = -1;    // one line
  // Fields the JSON gives are written even when they equal their default, so that GenText,
  // which prints the fields present in a buffer, gives back the same object on fetch.
  opts.force_defaults = true;
  auto parser = std::make_unique<flatbuffers::Parser>(opts);
  CAUSEWAY_RETURN_IF_ERROR(registry::load_schema(verified_->schema, *parser)
                               .with_context("schema id " + std::to_string(schema_id_)));
  parser_ = std::move(parser);
  return Status();
}

Result<std::string> PayloadCodec::encode(const nlohmann::json& object) {
  if (!object.is_object()) {
    return invalid_argument(std::string("\"data\" for schema ") + root_type_ + " must be a JSON object, got " +
                            object.type_name());
  }
  // FlatBuffers' parser refuses deeper JSON anyway; refusing it first also keeps to_line's
  // recursive dump from overflowing the stack on a hostile line.
  if (nesting_depth(object, FLATBUFFERS_MAX_PARSING_DEPTH) > FLATBUFFERS_MAX_PARSING_DEPTH) {
    return invalid_argument("\"data\" nests arrays and objects deeper than " +
                            std::to_string(FLATBUFFERS_MAX_PARSING_DEPTH) + " levels, the FlatBuffers parser's limit");
  }
  if (!parser_) {
    CAUSEWAY_RETURN_IF_ERROR(reset_parser());
  }
  const std::string text = to_line(object);
  parser_->builder_.Clear();
  if (!parser_->Parse(text.c_str(), nullptr, nullptr)) {
    // The parser's words for a value of the wrong kind do not name the field; say which.
    const std::optional<std::string> hint =
        parser_->root_struct_def_ != nullptr ? explain_type_mismatch(*parser_->root_struct_def_, object) : std::nullopt;
    const std::string why = hint ? *hint : parser_message(parser_->error_);
    parser_.reset();
    reset_parser().ignore_error();  // decode() and the next encode() need a clean parser
    return invalid_argument("\"data\" does not match schema " + root_type_ + " (id " + std::to_string(schema_id_) +
                            "): " + why);
  }
  const auto* bytes = reinterpret_cast<const char*>(parser_->builder_.GetBufferPointer());
  std::string out(bytes, parser_->builder_.GetSize());
  parser_->builder_.Clear();
  // The parser accepts JSON that does not make a valid buffer (a union's _type without its
  // value): refuse it here rather than publish what the broker (validate=full) refuses and
  // fetch cannot print. A fresh copy: verify_payload reads scalars in place.
  const std::vector<uint8_t> aligned(out.begin(), out.end());
  if (Status verified = registry::verify_payload(verified_->schema, std::span<const uint8_t>(aligned)); !verified.ok()) {
    return invalid_argument("\"data\" does not make a valid " + root_type_ + " (id " + std::to_string(schema_id_) +
                            "): " + std::string(verified.message()) + " (a union's _type given without its value?)");
  }
  return out;
}

Result<nlohmann::json> PayloadCodec::decode(std::string_view payload) const {
  // A copy in a vector: the payload string's bytes need not be aligned for FlatBuffers'
  // scalar reads, a fresh heap block is.
  const std::vector<uint8_t> buffer(payload.begin(), payload.end());
  CAUSEWAY_RETURN_IF_ERROR(registry::verify_payload(verified_->schema, std::span<const uint8_t>(buffer)));
  if (!parser_) {
    return internal_error("schema id " + std::to_string(schema_id_) + ": parser unavailable after an earlier error");
  }
  const Status printable =
      check_printable(*reflection::GetSchema(verified_->schema.reflection_bytes.data()), *parser_->root_struct_def_,
                      *flatbuffers::GetRoot<flatbuffers::Table>(buffer.data()), 0);
  if (!printable.ok()) {
    return printable.with_context("payload of schema " + root_type_ + " (id " + std::to_string(schema_id_) + ")");
  }
  std::string text;
  if (!flatbuffers::GenerateText(*parser_, buffer.data(), &text)) {
    return invalid_argument("payload of schema " + root_type_ + " (id " + std::to_string(schema_id_) +
                            ") holds a string that is not UTF-8");
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    // GenText writes nan/inf for such floats, which JSON cannot hold.
    return invalid_argument("payload of schema " + root_type_ + " (id " + std::to_string(schema_id_) +
                            ") has no JSON form (a NaN or infinite float?)");
  }
  return j;
}

Result<std::unique_ptr<client::RegistryClient>> renderer_registry(const std::string& url) {
  client::RegistryClientOptions options = registry_client_options(url);
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.request_timeout = std::chrono::milliseconds(10000);
  return client::RegistryClient::create(options);
}

PayloadCodec* PayloadRenderer::codec_for(uint32_t schema_id) {
  if (auto it = codecs_.find(schema_id); it != codecs_.end()) return it->second.get();
  if (registry_unreachable_) return nullptr;
  auto schema = registry_->get_schema(static_cast<int>(schema_id));
  if (!schema) {
    if (schema.error().code() == Code::kUnavailable) {
      // Every other id would fail the same way: stop asking, say it once.
      registry_unreachable_ = true;
      notes_ << "causeway: note: payloads are printed as stored, not decoded: " << schema.error().message()
             << " (--registry URL names the registry; --raw skips decoding)\n";
      return nullptr;
    }
    note_once(schema_id, std::string(schema.error().message()));
    codecs_[schema_id] = nullptr;
    return nullptr;
  }
  auto codec = PayloadCodec::create(*schema, registry_);
  if (!codec) {
    note_once(schema_id, std::string(codec.error().message()));
    codecs_[schema_id] = nullptr;
    return nullptr;
  }
  return (codecs_[schema_id] = std::move(*codec)).get();
}

void PayloadRenderer::note_once(uint32_t schema_id, const std::string& text) {
  if (!noted_.insert(schema_id).second) return;
  notes_ << "causeway: note: payloads with schema id " << schema_id << " are printed as stored, not decoded: " << text
         << "\n";
}

nlohmann::json PayloadRenderer::render(const client::FetchedEvent& event) {
  nlohmann::json j = event_to_json(event);
  if (registry_ == nullptr || event.schema_id == 0) return j;
  PayloadCodec* codec = codec_for(event.schema_id);
  if (codec == nullptr) return j;
  auto decoded = codec->decode(event.payload);
  if (!decoded) {
    note_once(event.schema_id, std::string(decoded.error().message()) + " (first at partition " +
                                   std::to_string(event.partition) + " offset " + std::to_string(event.offset) + ")");
    return j;
  }
  j.erase("data_base64");
  j["data"] = std::move(*decoded);
  return j;
}

}  // namespace causeway::cli
