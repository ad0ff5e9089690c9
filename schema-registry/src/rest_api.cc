// The REST API's routing and JSON mapping. Contract: rest_api.h and docs/registry.md.
#include "rest_api.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cstdint>
#include <exception>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

namespace causeway::registry::rest {
namespace {

using nlohmann::json;

constexpr const char* kSchemaType = "FLATBUFFERS";

// Answers echo request text (subject names, versions, paths) that may hold any bytes: bytes
// that are not UTF-8 are written as U+FFFD instead of making dump() throw, so that no
// answer can fail to serialise.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Response json_response(const json& j, int status = 200) {
  Response r;
  r.status = status;
  r.body = dump(j);
  return r;
}

Response from_error(const Status& e) { return error_response(error_code(e), std::string(e.message())); }

bool flag(const Request& req, const char* name) {
  const auto it = req.params.find(name);
  return it != req.params.end() && (it->second == "true" || it->second == "1");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of one path segment ('+' stays '+', as in paths it should).
std::string decode_segment(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const std::size_t end = path.find('/', i);
    parts.push_back(decode_segment(std::string_view(path).substr(i, end == std::string::npos ? std::string::npos : end - i)));
    i = end == std::string::npos ? path.size() : end;
  }
  return parts;
}

// "latest", "-1" or 1..2^31-1; 42202 otherwise.
std::optional<int> parse_version(const std::string& text) {
  if (text == "latest" || text == "-1") return kLatestVersion;
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1) return std::nullopt;
  return v;
}

Response invalid_version(const std::string& text) {
  return error_response(ErrorCode::kInvalidVersion,
                        std::string("The specified version '") + text +
                            "' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "
                            "\"latest\"");
}

bool is_json_content_type(const std::string& ct) {
  if (ct.empty()) return true;  // curl without -H; the body decides
  std::string lower;
  for (char c : ct) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("json") != std::string::npos;
}

// The request body as a JSON object, or the error response to send.
std::variant<json, Response> json_body(const Request& req) {
  if (!is_json_content_type(req.content_type)) {
    return error_response(ErrorCode::kUnsupportedMediaType,
                          std::string("Content-Type '") + req.content_type +
                              "' is not supported; send JSON with Content-Type: " + kContentType +
                              " (with curl: -H 'Content-Type: application/json')");
  }
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded()) {
    return error_response(ErrorCode::kBadRequest, "request body is not valid JSON");
  }
  if (!j.is_object()) return error_response(ErrorCode::kBadRequest, "request body must be a JSON object");
  return j;
}

// {"schema": "...", "schemaType": "FLATBUFFERS", "rootType": "...", "references": [...]}
std::variant<SchemaInput, Response> schema_body(const Request& req) {
  auto body = json_body(req);
  if (auto* r = std::get_if<Response>(&body)) return *r;
  const json& j = std::get<json>(body);
  if (!j.contains("schema") || !j["schema"].is_string() || j["schema"].get_ref<const std::string&>().empty()) {
    return error_response(ErrorCode::kInvalidSchema, "Invalid schema: the body needs a non-empty \"schema\" string "
                                                     "holding the .fbs text");
  }
  if (j.contains("schemaType") &&
      !(j["schemaType"].is_string() && j["schemaType"].get_ref<const std::string&>() == kSchemaType)) {
    return error_response(ErrorCode::kInvalidSchema,
                          std::string("Invalid schema: schemaType ") + dump(j["schemaType"]) +
                              " is not supported; this registry stores \"FLATBUFFERS\" schemas");
  }
  SchemaInput in;
  in.schema = j["schema"].get<std::string>();
  if (j.contains("rootType")) {
    if (!j["rootType"].is_string()) {
      return error_response(ErrorCode::kInvalidSchema, "Invalid schema: \"rootType\" must be a string");
    }
    in.root_type = j["rootType"].get<std::string>();
  }
  if (j.contains("references")) {
    if (!j["references"].is_array()) {
      return error_response(ErrorCode::kInvalidSchema, "Invalid schema: \"references\" must be an array");
    }
    for (const auto& r : j["references"]) {
      // Each member's type is checked before it is read: nlohmann's value()/get() throw on a
      // type mismatch, and an exception here would end the request with a bare 500.
      if (!r.is_object() || !r.contains("subject") || !r["subject"].is_string() || !r.contains("version") ||
          !r["version"].is_number_integer() || (r.contains("name") && !r["name"].is_string())) {
        return error_response(ErrorCode::kInvalidSchema,
                              "Invalid schema: each reference needs a string \"name\", a string \"subject\" and an "
                              "integer \"version\"");
      }
      // A version beyond 32 bits would be truncated by get<int>() into some other version.
      if (r["version"].get<int64_t>() < 1 || r["version"].get<int64_t>() > INT32_MAX) {
        return error_response(ErrorCode::kInvalidSchema, "Invalid schema: reference version " + dump(r["version"]) +
                                                             " is not a positive 32-bit number");
      }
      in.references.push_back(SchemaReference{r.value("name", ""), r["subject"].get<std::string>(),
                                              r["version"].get<int>()});
    }
  }
  return in;
}

json references_json(const std::vector<SchemaReference>& refs) {
  json arr = json::array();
  for (const auto& r : refs) arr.push_back({{"name", r.name}, {"subject", r.subject}, {"version", r.version}});
  return arr;
}

json schema_json(const SchemaRecord& s) {
  json j = {{"schema", s.schema}, {"schemaType", kSchemaType}};
  // A file of shared types has no root type; the field is left out rather than empty.
  if (!s.root_type.empty()) j["rootType"] = s.root_type;
  if (!s.references.empty()) j["references"] = references_json(s.references);
  return j;
}

json version_json(const SubjectVersion& v) {
  json j = schema_json(v.schema);
  j["subject"] = v.subject;
  j["version"] = v.version;
  j["id"] = v.schema.id;
  if (v.deleted) j["deleted"] = true;
  return j;
}

Response text_response(const std::string& text) {
  Response r;
  r.content_type = "text/plain; charset=utf-8";
  r.body = text;
  return r;
}

Response not_found_path(const Request& req) {
  return error_response(ErrorCode::kNotFound, std::string("HTTP 404 Not Found: no endpoint ") + req.method + " " +
                                                  req.path + " (see docs/registry.md)");
}

Response method_not_allowed(const Request& req) {
  return error_response(ErrorCode::kMethodNotAllowed,
                        std::string("HTTP 405 Method Not Allowed: ") + req.method + " " + req.path);
}

// The request's permissions (causeway/registry/access.h). Every check is made before the
// store is read, so a refusal is the same whether or not the subject exists.
class Guard {
 public:
  explicit Guard(const Access* access) : access_(access) {}

  bool may(Operation op, const std::string& subject) const { return access_ == nullptr || access_->allowed(op, subject); }
  bool may_read(const std::string& subject) const { return may(Operation::kRead, subject); }

  // nullopt when allowed, else the 403 to send.
  std::optional<Response> need(Operation op, const std::string& subject) const {
    if (may(op, subject)) return std::nullopt;
    const bool read = op == Operation::kRead;
    return refuse(subject.empty() ? (read ? std::string("read every registry subject")
                                          : std::string("change registry-wide settings"))
                                  : std::string(read ? "read" : "write") + " registry subject \"" + subject + "\"",
                  subject.empty() ? std::string(read ? "needs registry-read" : "needs registry-write") +
                                        " on every subject: causeway acl add --any-subject"
                                  : "no ACL allows it");
  }

  // Registering, looking up or checking a schema that includes other subjects' versions reads them.
  std::optional<Response> need_references(const SchemaInput& in) const {
    for (const SchemaReference& r : in.references) {
      if (auto refused = need(Operation::kRead, r.subject)) return refused;
    }
    return std::nullopt;
  }

  std::optional<Response> refuse_schema(const std::string& id) const {
    return refuse("read schema " + id, "no subject it may read uses it");
  }

 private:
  Response refuse(const std::string& what, const std::string& why) const {
    return error_response(ErrorCode::kForbidden,
                          "principal \"" + access_->principal() + "\" may not " + what + " (" + why + ")");
  }
  const Access* access_;
};

std::variant<CompatibilityMode, Response> mode_body(const Request& req) {
  auto body = json_body(req);
  if (auto* r = std::get_if<Response>(&body)) return *r;
  const json& j = std::get<json>(body);
  const auto invalid = [] {
    return error_response(ErrorCode::kInvalidCompatibilityLevel,
                          "Invalid compatibility level. Valid values are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, "
                          "FORWARD_TRANSITIVE, FULL and FULL_TRANSITIVE");
  };
  if (!j.contains("compatibility") || !j["compatibility"].is_string()) return invalid();
  std::string name = j["compatibility"].get<std::string>();
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto mode = parse_compatibility_mode(name);
  if (!mode) return invalid();
  return *mode;
}

Response handle_subjects(SchemaStore& store, const Request& req, const std::vector<std::string>& p, const Guard& guard) {
  const bool deleted = flag(req, "deleted");
  if (p.size() == 1) {
    if (req.method != "GET") return method_not_allowed(req);
    auto subjects = store.list_subjects(deleted);
    if (!subjects) return from_error(subjects.error());
    // Only the subjects this principal may read (as topic lists are filtered).
    std::erase_if(*subjects, [&](const std::string& s) { return !guard.may_read(s); });
    return json_response(*subjects);
  }
  const std::string& subject = p[1];
  // Reading is GET and the POST of a lookup; the rest (register, delete) writes.
  const bool reads = req.method == "GET" || (req.method == "POST" && p.size() == 2);
  if (auto refused = guard.need(reads ? Operation::kRead : Operation::kWrite, subject)) return *refused;
  if (p.size() == 2) {
    if (req.method == "POST") {  // look up a schema under the subject
      auto in = schema_body(req);
      if (auto* r = std::get_if<Response>(&in)) return *r;
      if (auto refused = guard.need_references(std::get<SchemaInput>(in))) return *refused;
      auto found = store.lookup(subject, std::get<SchemaInput>(in), deleted);
      if (!found) return from_error(found.error());
      return json_response(version_json(*found));
    }
    if (req.method == "DELETE") {
      auto versions = store.delete_subject(subject, flag(req, "permanent"));
      if (!versions) return from_error(versions.error());
      return json_response(*versions);
    }
    return method_not_allowed(req);
  }
  if (p[2] != "versions") return not_found_path(req);
  if (p.size() == 3) {
    if (req.method == "GET") {
      auto versions = store.list_versions(subject, deleted);
      if (!versions) return from_error(versions.error());
      return json_response(*versions);
    }
    if (req.method == "POST") {
      auto in = schema_body(req);
      if (auto* r = std::get_if<Response>(&in)) return *r;
      if (auto refused = guard.need_references(std::get<SchemaInput>(in))) return *refused;
      auto reg = store.register_schema(subject, std::get<SchemaInput>(in));
      if (!reg) {
        Response out = from_error(reg.error());
        if (error_code(reg.error()) == ErrorCode::kIncompatible) out.incompatible = "register";
        return out;
      }
      return json_response({{"id", reg->id}, {"version", reg->version}});
    }
    return method_not_allowed(req);
  }
  const auto version = parse_version(p[3]);
  if (!version) return invalid_version(p[3]);
  if (p.size() == 4) {
    if (req.method == "GET") {
      auto v = store.get_version(subject, *version, deleted);
      if (!v) return from_error(v.error());
      return json_response(version_json(*v));
    }
    if (req.method == "DELETE") {
      auto v = store.delete_version(subject, *version, flag(req, "permanent"));
      if (!v) return from_error(v.error());
      return json_response(*v);
    }
    return method_not_allowed(req);
  }
  if (p.size() == 5 && p[4] == "schema") {
    if (req.method != "GET") return method_not_allowed(req);
    auto v = store.get_version(subject, *version, deleted);
    if (!v) return from_error(v.error());
    return text_response(v->schema.schema);
  }
  if (p.size() == 5 && p[4] == "referencedby") {
    if (req.method != "GET") return method_not_allowed(req);
    auto ids = store.referenced_by(subject, *version);
    if (!ids) return from_error(ids.error());
    return json_response(*ids);
  }
  return not_found_path(req);
}

Response handle_schemas(SchemaStore& store, const Request& req, const std::vector<std::string>& p, const Guard& guard) {
  if (p.size() == 2 && p[1] == "types") {
    if (req.method != "GET") return method_not_allowed(req);
    return json_response(json::array({kSchemaType}));
  }
  if (p.size() < 3 || p[1] != "ids" || p.size() > 4) return not_found_path(req);
  if (req.method != "GET") return method_not_allowed(req);
  int id = 0;
  const auto [end, ec] = std::from_chars(p[2].data(), p[2].data() + p[2].size(), id);
  if (ec != std::errc() || end != p[2].data() + p[2].size() || id < 1) {
    return error_response(ErrorCode::kSchemaNotFound, std::string("Schema ") + p[2] + " not found");
  }
  // A schema is readable through any subject the principal may read that uses it (deleted
  // versions included, as Confluent serves them by id), or by a principal that reads all.
  // An id that does not exist is refused alike, so that ids cannot be probed.
  if (!guard.may_read("")) {
    auto uses = store.subject_versions_of(id, /*deleted=*/true);
    if (!uses && error_code(uses.error()) != ErrorCode::kSchemaNotFound) return from_error(uses.error());
    if (!uses || std::none_of(uses->begin(), uses->end(), [&](const auto& use) { return guard.may_read(use.first); }))
      return *guard.refuse_schema(p[2]);
  }
  if (p.size() == 3) {
    auto s = store.get_schema(id);
    if (!s) return from_error(s.error());
    return json_response(schema_json(*s));
  }
  if (p[3] == "schema") {
    auto s = store.get_schema(id);
    if (!s) return from_error(s.error());
    return text_response(s->schema);
  }
  if (p[3] == "versions") {
    auto uses = store.subject_versions_of(id, flag(req, "deleted"));
    if (!uses) return from_error(uses.error());
    json arr = json::array();
    for (const auto& [subject, version] : *uses) {
      if (guard.may_read(subject)) arr.push_back({{"subject", subject}, {"version", version}});
    }
    return json_response(arr);
  }
  return not_found_path(req);
}

Response handle_compatibility(SchemaStore& store, const Request& req, const std::vector<std::string>& p,
                              const Guard& guard) {
  // /compatibility/subjects/{s}/versions[/{v}]
  if (p.size() < 4 || p.size() > 5 || p[1] != "subjects" || p[3] != "versions") return not_found_path(req);
  if (req.method != "POST") return method_not_allowed(req);
  if (auto refused = guard.need(Operation::kRead, p[2])) return *refused;
  int version = kLatestVersion;
  if (p.size() == 5) {
    const auto v = parse_version(p[4]);
    if (!v) return invalid_version(p[4]);
    version = *v;
  }
  auto in = schema_body(req);
  if (auto* r = std::get_if<Response>(&in)) return *r;
  if (auto refused = guard.need_references(std::get<SchemaInput>(in))) return *refused;
  auto report = store.check_compatibility(p[2], version, std::get<SchemaInput>(in));
  if (!report) return from_error(report.error());
  json j = {{"is_compatible", report->is_compatible}};
  if (flag(req, "verbose")) j["messages"] = report->messages;
  Response out = json_response(j);
  if (!report->is_compatible) out.incompatible = "check";
  return out;
}

Response handle_config(SchemaStore& store, const Request& req, const std::vector<std::string>& p, const Guard& guard) {
  if (p.size() == 1) {
    if (req.method == "GET") {  // the registry-wide default: anyone may read it
      auto mode = store.global_mode();
      if (!mode) return from_error(mode.error());
      return json_response({{"compatibilityLevel", format_compatibility_mode(*mode)}});
    }
    if (req.method == "PUT") {
      if (auto refused = guard.need(Operation::kWrite, "")) return *refused;
      auto mode = mode_body(req);
      if (auto* r = std::get_if<Response>(&mode)) return *r;
      auto set = store.set_global_mode(std::get<CompatibilityMode>(mode));
      if (!set) return from_error(set.error());
      return json_response({{"compatibility", format_compatibility_mode(*set)}});
    }
    return method_not_allowed(req);
  }
  if (p.size() != 2) return not_found_path(req);
  const std::string& subject = p[1];
  if (req.method == "GET" || req.method == "PUT" || req.method == "DELETE") {
    if (auto refused = guard.need(req.method == "GET" ? Operation::kRead : Operation::kWrite, subject)) return *refused;
  }
  if (req.method == "GET") {
    auto mode = store.subject_mode(subject, flag(req, "defaultToGlobal"));
    if (!mode) return from_error(mode.error());
    return json_response({{"compatibilityLevel", format_compatibility_mode(*mode)}});
  }
  if (req.method == "PUT") {
    auto mode = mode_body(req);
    if (auto* r = std::get_if<Response>(&mode)) return *r;
    auto set = store.set_subject_mode(subject, std::get<CompatibilityMode>(mode));
    if (!set) return from_error(set.error());
    return json_response({{"compatibility", format_compatibility_mode(*set)}});
  }
  if (req.method == "DELETE") {
    auto old = store.delete_subject_mode(subject);
    if (!old) return from_error(old.error());
    return json_response({{"compatibilityLevel", format_compatibility_mode(*old)}});
  }
  return method_not_allowed(req);
}

Response route(SchemaStore& store, const Request& req, const Guard& guard) {
  const auto p = split_path(req.path);
  if (p.empty()) {
    if (req.method != "GET") return method_not_allowed(req);
    return json_response(json::object());
  }
  if (p[0] == "subjects") return handle_subjects(store, req, p, guard);
  if (p[0] == "schemas") return handle_schemas(store, req, p, guard);
  if (p[0] == "compatibility") return handle_compatibility(store, req, p, guard);
  if (p[0] == "config") return handle_config(store, req, p, guard);
  return not_found_path(req);
}

}  // namespace

Response error_response(ErrorCode code, const std::string& message) {
  return json_response({{"error_code", static_cast<int>(code)}, {"message", message}}, http_status(code));
}

Response handle_request(SchemaStore& store, const Request& req, const Access* access) {
  // No request may end the process or reach the transport as an exception: whatever a
  // handler throws (an allocation failure, a JSON type error we did not foresee) becomes
  // a 500 with a JSON body, and the request is logged by the server.
  try {
    return route(store, req, Guard(access));
  } catch (const std::exception& e) {
    return error_response(ErrorCode::kStoreError, std::string("internal error: ") + e.what());
  } catch (...) {
    return error_response(ErrorCode::kStoreError, "internal error");
  }
}

}  // namespace causeway::registry::rest
