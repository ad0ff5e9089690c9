// RegistryClient over cpp-httplib and nlohmann-json, both private to this file. Contract:
// causeway/client/registry_client.h; API: docs/registry.md.
#include "causeway/client/registry_client.h"

#include <httplib.h>
#include <signal.h>

#include <cctype>
#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <nlohmann/json.hpp>

namespace causeway::client {
namespace {

using nlohmann::json;

constexpr const char* kContentType = "application/vnd.schemaregistry.v1+json";

// Percent-encodes a path segment (subject names may hold anything printable).
std::string encode_segment(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

std::string version_segment(int version) { return version == kLatestVersion ? "latest" : std::to_string(version); }

// The registry's Confluent error code becomes the Status's reason (and stays in the text
// for people).
Status status_for(int error_code, int http_status, const std::string& message) {
  const std::string text = message + std::string(" (error ") + std::to_string(error_code) + ")";
  const Reason reason = error_code > 0 && error_code <= 0xFFFF ? static_cast<Reason>(error_code) : Reason::kNone;
  const int family = error_code >= 1000 ? error_code / 100 : error_code;
  Code code = Code::kInvalidArgument;
  if (family == 404) {
    code = Code::kNotFound;
  } else if (error_code == 409 || (error_code >= 40404 && error_code <= 40407) || error_code == 42206 ||
             family == 401 || family == 403) {
    code = Code::kFailedPrecondition;
  } else if (family == 400 || family == 413 || family == 415 || family == 422) {
    code = Code::kInvalidArgument;
  } else if (http_status >= 500) {
    code = Code::kInternal;
  }
  return Status(code, reason, text);
}

json schema_body(const std::string& schema, const std::string& root_type, const std::vector<SchemaReference>& refs) {
  json j = {{"schema", schema}, {"schemaType", "FLATBUFFERS"}};
  if (!root_type.empty()) j["rootType"] = root_type;
  if (!refs.empty()) {
    json arr = json::array();
    for (const auto& r : refs) arr.push_back({{"name", r.name}, {"subject", r.subject}, {"version", r.version}});
    j["references"] = arr;
  }
  return j;
}

// Members of a registry's answer, read only if they have the expected type: json::value()
// throws type_error otherwise, and a registry's JSON is not ours to trust.
std::string string_at(const json& j, const char* key) {
  const auto it = j.is_object() ? j.find(key) : j.end();
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
int int_at(const json& j, const char* key) {
  const auto it = j.is_object() ? j.find(key) : j.end();
  if (it == j.end() || !it->is_number_integer()) return 0;
  const auto v = it->get<int64_t>();
  return v < INT32_MIN || v > INT32_MAX ? 0 : static_cast<int>(v);
}
bool bool_at(const json& j, const char* key) {
  const auto it = j.is_object() ? j.find(key) : j.end();
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

RegistrySchema schema_from(const json& j, int id) {
  RegistrySchema s;
  s.id = id;
  s.schema = string_at(j, "schema");
  s.root_type = string_at(j, "rootType");
  if (j.is_object() && j.contains("references") && j["references"].is_array()) {
    for (const auto& r : j["references"]) {
      s.references.push_back(SchemaReference{string_at(r, "name"), string_at(r, "subject"), int_at(r, "version")});
    }
  }
  return s;
}

SubjectVersionInfo version_from(const json& j) {
  SubjectVersionInfo v;
  v.subject = string_at(j, "subject");
  v.version = int_at(j, "version");
  v.deleted = bool_at(j, "deleted");
  v.schema = schema_from(j, int_at(j, "id"));
  return v;
}

// The cache key of a registration: references are part of a schema's identity.
std::string references_key(const std::vector<SchemaReference>& refs) {
  std::string out;
  for (const auto& r : refs) {
    out += r.name + '\0' + r.subject + '\0' + std::to_string(r.version) + '\0';
  }
  return out;
}

}  // namespace

int registry_error_code(const Status& status) {
  // The registry's codes are the reasons from 400 up (Confluent's numbers).
  const auto n = static_cast<int>(status.reason());
  return n >= 400 ? n : 0;
}

// Over https, OpenSSL writes to the socket with write(), so a registry that closes the
// connection first (refusing a client certificate, say) would end the calling process with
// SIGPIPE. A library must not change the process's signal handling; instead, as libcurl
// does, SIGPIPE is blocked on the calling thread for the request, and one it raised is
// taken off the thread's pending set before the old mask comes back. The write then fails
// with EPIPE, which the request reports.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      const timespec now{0, 0};
      (void)sigtimedwait(&pipe, nullptr, &now);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_{};
  bool was_pending_ = false;
};

struct RegistryClient::Impl {
  RegistryClientOptions options;
  std::mutex mu;                                  // guards the caches
  std::map<int, RegistrySchema> schemas_by_id;    // guarded by mu
  // (subject, text, root type, references) -> registration; guarded by mu
  std::map<std::tuple<std::string, std::string, std::string, std::string>, RegisteredSchema> ids_by_schema;

  std::unique_ptr<httplib::Client> http() const {
    auto c = options.cert_file.empty() ? std::make_unique<httplib::Client>(options.url)
                                       : std::make_unique<httplib::Client>(options.url, options.cert_file, options.key_file);
    if (!options.ca_file.empty()) c->set_ca_cert_path(options.ca_file.c_str());
    if (!options.token.empty()) c->set_bearer_token_auth(options.token.c_str());
    const auto secs = [](std::chrono::milliseconds ms) { return std::make_pair(ms.count() / 1000, (ms.count() % 1000) * 1000); };
    const auto [cs, cu] = secs(options.connect_timeout);
    const auto [rs, ru] = secs(options.request_timeout);
    c->set_connection_timeout(static_cast<time_t>(cs), static_cast<time_t>(cu));
    c->set_read_timeout(static_cast<time_t>(rs), static_cast<time_t>(ru));
    c->set_write_timeout(static_cast<time_t>(rs), static_cast<time_t>(ru));
    return c;
  }

  // cpp-httplib's error names ("Read", "Write") in words a user can act on.
  static std::string why(httplib::Error error) {
    switch (error) {
      case httplib::Error::Connection: return "connection refused or timed out";
      case httplib::Error::Read:
        // E.g. a Causeway broker's wire port: it reads "GET " as a frame length and closes.
        return "the connection closed without an HTTP answer, so it is not a schema registry (a Causeway broker's "
               "wire port? the registry listens on 127.0.0.1:8081 by default)";
      case httplib::Error::Write: return "the connection closed while sending the request";
      case httplib::Error::ConnectionTimeout: return "no connection within the connect timeout";
      default: return httplib::to_string(error);
    }
  }

  // Sends a request and returns the parsed JSON body of a 2xx answer, or the error.
  Result<json> call(const std::string& method, const std::string& path, const std::optional<json>& body = {}) {
    // A schema file, subject or reference that is not UTF-8 cannot be sent as JSON; dump()
    // would throw. Refused here rather than sent with its bytes replaced.
    std::string text;
    if (body) {
      try {
        text = body->dump();
      } catch (const json::exception&) {
        return invalid_argument(std::string("cannot send ") + method + " " + path +
                                ": the schema text, subject or a reference is not valid UTF-8");
      }
    }
    auto c = http();
    const httplib::Headers headers = {{"Accept", kContentType}};
    const SigpipeBlock no_sigpipe;
    httplib::Result res = [&] {
      if (method == "GET") return c->Get(path, headers);
      if (method == "POST") return c->Post(path, headers, text, kContentType);
      if (method == "PUT") return c->Put(path, headers, text, kContentType);
      return c->Delete(path, headers);
    }();
    if (!res) {
      return Status(Code::kUnavailable, Reason::kRegistryUnreachable,
                    std::string("cannot reach the schema registry at ") + options.url + ": " + why(res.error()));
    }
    json j = json::parse(res->body, nullptr, false);
    if (res->status >= 200 && res->status < 300) {
      if (j.is_discarded()) {
        return internal_error(std::string("registry at ") + options.url + std::string(" answered ") + method + std::string(" ") + path +
                              " with a body that is not JSON");
      }
      return j;
    }
    if (!j.is_discarded() && j.is_object() && j.contains("error_code") && j["error_code"].is_number_integer()) {
      return status_for(int_at(j, "error_code"), res->status, string_at(j, "message"));
    }
    return status_for(res->status, res->status, std::string("HTTP ") + std::to_string(res->status) + std::string(" from ") + method +
                                                     std::string(" ") + path);
  }
};

RegistryClient::RegistryClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RegistryClient::~RegistryClient() = default;

Result<std::unique_ptr<RegistryClient>> RegistryClient::create(RegistryClientOptions options) {
  if (options.url.rfind("http://", 0) != 0 && options.url.rfind("https://", 0) != 0) {
    return invalid_argument(std::string("registry URL \"") + options.url +
                            "\" must start with http:// (e.g. http://127.0.0.1:8081)");
  }
  while (!options.url.empty() && options.url.back() == '/') options.url.pop_back();
  httplib::Client probe(options.url);
  if (!probe.is_valid()) return invalid_argument(std::string("registry URL \"") + options.url + "\" is not valid");
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  return std::unique_ptr<RegistryClient>(new RegistryClient(std::move(impl)));
}

const std::string& RegistryClient::url() const noexcept { return impl_->options.url; }

Result<uint32_t> RegistryClient::schema_id_of(const std::string& subject, int version) {
  auto found = get_version(subject, version);
  if (!found) return found.error();
  if (found->schema.id <= 0) {
    return internal_error("the registry at " + url() + " answered for subject '" + subject + "' without a schema id");
  }
  return static_cast<uint32_t>(found->schema.id);
}

std::string RegistryClient::source_name() const { return url(); }

Result<RegisteredSchema> RegistryClient::register_schema(const std::string& subject, const std::string& schema,
                                                         const std::string& root_type,
                                                         const std::vector<SchemaReference>& references) {
  const auto key = std::make_tuple(subject, schema, root_type, references_key(references));
  {
    std::lock_guard lk(impl_->mu);
    if (auto it = impl_->ids_by_schema.find(key); it != impl_->ids_by_schema.end()) return it->second;
  }
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("POST", std::string("/subjects/") + encode_segment(subject) + "/versions",
                                                schema_body(schema, root_type, references)));
  RegisteredSchema r{int_at(j, "id"), int_at(j, "version")};
  if (r.id <= 0) return internal_error("registry answered a registration without an id");
  if (r.version == 0) {  // a Confluent-style registry answers only the id; ask for the version
    auto found = lookup(subject, schema, root_type, false, references);
    if (found.ok()) r.version = found->version;
  }
  std::lock_guard lk(impl_->mu);
  impl_->ids_by_schema[key] = r;
  return r;
}

Result<SubjectVersionInfo> RegistryClient::lookup(const std::string& subject, const std::string& schema,
                                                  const std::string& root_type, bool include_deleted,
                                                  const std::vector<SchemaReference>& references) {
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("POST",
                                                std::string("/subjects/") + encode_segment(subject) +
                                                    (include_deleted ? "?deleted=true" : ""),
                                                schema_body(schema, root_type, references)));
  return version_from(j);
}

Result<RegistrySchema> RegistryClient::get_schema(int id) {
  {
    std::lock_guard lk(impl_->mu);
    if (auto it = impl_->schemas_by_id.find(id); it != impl_->schemas_by_id.end()) return it->second;
  }
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("GET", std::string("/schemas/ids/") + std::to_string(id)));
  RegistrySchema s = schema_from(j, id);
  std::lock_guard lk(impl_->mu);
  impl_->schemas_by_id[id] = s;
  return s;
}

Result<SubjectVersionInfo> RegistryClient::get_version(const std::string& subject, int version, bool include_deleted) {
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("GET", std::string("/subjects/") + encode_segment(subject) + "/versions/" +
                                                           version_segment(version) +
                                                           (include_deleted ? "?deleted=true" : "")));
  return version_from(j);
}

Result<std::vector<std::string>> RegistryClient::list_subjects(bool include_deleted) {
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("GET", include_deleted ? "/subjects?deleted=true" : "/subjects"));
  if (!j.is_array()) return internal_error("registry answered GET /subjects with something other than a list");
  std::vector<std::string> out;
  for (const auto& s : j)
    if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

Result<std::vector<int>> RegistryClient::list_versions(const std::string& subject, bool include_deleted) {
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("GET", std::string("/subjects/") + encode_segment(subject) + "/versions" +
                                                           (include_deleted ? "?deleted=true" : "")));
  if (!j.is_array()) return internal_error("registry answered a version list with something other than a list");
  std::vector<int> out;
  for (const auto& v : j)
    if (v.is_number_integer()) out.push_back(v.get<int>());
  return out;
}

Result<std::vector<std::pair<std::string, int>>> RegistryClient::subject_versions_of(int id) {
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("GET", std::string("/schemas/ids/") + std::to_string(id) + "/versions"));
  std::vector<std::pair<std::string, int>> out;
  if (!j.is_array()) return out;
  for (const auto& e : j) out.emplace_back(string_at(e, "subject"), int_at(e, "version"));
  return out;
}

Result<std::vector<int>> RegistryClient::referenced_by(const std::string& subject, int version) {
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("GET", std::string("/subjects/") + encode_segment(subject) + "/versions/" +
                                                           version_segment(version) + "/referencedby"));
  if (!j.is_array()) return internal_error("registry answered referencedby with something other than a list");
  std::vector<int> out;
  for (const auto& v : j)
    if (v.is_number_integer()) out.push_back(v.get<int>());
  return out;
}

Result<CompatibilityCheck> RegistryClient::check_compatibility(const std::string& subject, const std::string& schema,
                                                               const std::string& root_type, int version,
                                                               const std::vector<SchemaReference>& references) {
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("POST",
                                                std::string("/compatibility/subjects/") + encode_segment(subject) + "/versions/" +
                                                    version_segment(version) + "?verbose=true",
                                                schema_body(schema, root_type, references)));
  CompatibilityCheck c;
  c.is_compatible = bool_at(j, "is_compatible");
  if (j.contains("messages") && j["messages"].is_array()) {
    for (const auto& m : j["messages"])
      if (m.is_string()) c.messages.push_back(m.get<std::string>());
  }
  return c;
}

Result<std::string> RegistryClient::get_mode(const std::string& subject, bool default_to_global) {
  const std::string path = subject.empty() ? std::string("/config")
                                           : std::string("/config/") + encode_segment(subject) +
                                                 (default_to_global ? "?defaultToGlobal=true" : "");
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("GET", path));
  return string_at(j, "compatibilityLevel");
}

Result<std::string> RegistryClient::set_mode(const std::string& subject, const std::string& mode) {
  const std::string path = subject.empty() ? std::string("/config") : std::string("/config/") + encode_segment(subject);
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("PUT", path, json{{"compatibility", mode}}));
  return string_at(j, "compatibility");
}

Result<std::vector<int>> RegistryClient::delete_subject(const std::string& subject, bool permanent) {
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("DELETE", std::string("/subjects/") + encode_segment(subject) +
                                                              (permanent ? "?permanent=true" : "")));
  {
    std::lock_guard lk(impl_->mu);
    std::erase_if(impl_->ids_by_schema, [&](const auto& kv) { return std::get<0>(kv.first) == subject; });
  }
  std::vector<int> out;
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_number_integer()) out.push_back(v.get<int>());
  return out;
}

Result<int> RegistryClient::delete_version(const std::string& subject, int version, bool permanent) {
  CAUSEWAY_ASSIGN_OR_RETURN(json j, impl_->call("DELETE", std::string("/subjects/") + encode_segment(subject) + "/versions/" +
                                                              version_segment(version) +
                                                              (permanent ? "?permanent=true" : "")));
  {
    std::lock_guard lk(impl_->mu);
    std::erase_if(impl_->ids_by_schema, [&](const auto& kv) { return std::get<0>(kv.first) == subject; });
  }
  if (!j.is_number_integer()) return internal_error("registry answered a version delete without a version");
  return j.get<int>();
}

}  // namespace causeway::client
