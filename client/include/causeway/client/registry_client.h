// File: causeway/client/registry_client.h
//
// RegistryClient: a client for the schema registry's REST API (causeway-registry, or the
// registry embedded in causeway-broker; API in docs/registry.md). Registers, looks up,
// fetches and checks FlatBuffers schemas (with references to other subjects' versions),
// manages compatibility modes and deletes, and caches what never changes: schema id ->
// schema, and (subject, schema text, root type, references) -> id and version.
//
// Errors are Status values: kUnavailable when the registry cannot be reached (the message
// names the URL); otherwise the registry's error, with its Confluent code as the Status's
// reason (Reason::kSubjectNotFound = 40401, ...) and in the message ("... (error 40401)"):
// 404xx -> kNotFound, 409 (incompatible), 4040[4-7] (delete order)
// and 42206 (a referenced version) -> kFailedPrecondition, other 422xx / 400 / 413 / 415 ->
// kInvalidArgument, 5xx -> kInternal. An answer that is not the JSON expected is kInternal;
// nothing throws.
// registry_error_code() is the reason as a number.
//
// Thread-safety: all methods may be called concurrently; each request uses its own HTTP
// connection. The HTTP library is private (no third-party header is included here).
//
// CMake target: causeway::registry_client (find_package(causeway COMPONENTS
// registry_client)), apart from causeway::client so that publishers and subscribers do not
// need cpp-httplib. A RegistryClient is a SchemaIdSource: give it to
// PublisherOptions::registry to publish with a subject's schema id.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "causeway/client/options.h"
#include "causeway/common/status.h"

namespace causeway::client {

struct RegistryClientOptions {
  std::string url = "http://127.0.0.1:8081";
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  // For an https:// URL (docs/security.md): PEM CAs the registry's certificate must chain to
  // (empty: the system's store), and a client certificate and key for a registry that asks.
  // (Initialized, so that designated initializers may leave them out under -Wextra.)
  std::string ca_file{};
  std::string cert_file{};
  std::string key_file{};
  // Sent as `Authorization: Bearer TOKEN` (a token from `causeway auth token create`, for a
  // broker's embedded registry that enforces ACLs; docs/security.md). Empty: none.
  std::string token{};
};

// A dependency on a version of another subject: the schema's `include "NAME";` means that
// version's text (docs/registry.md, "References").
struct SchemaReference {
  std::string name;  // what the schema includes
  std::string subject;
  int version = 0;
  friend bool operator==(const SchemaReference&, const SchemaReference&) = default;
};

struct RegistrySchema {
  int id = 0;
  std::string schema;     // .fbs text
  std::string root_type;  // fully qualified; empty for a file of shared types
  std::vector<SchemaReference> references;
};

struct SubjectVersionInfo {
  std::string subject;
  int version = 0;
  bool deleted = false;
  RegistrySchema schema;
};

struct RegisteredSchema {
  int id = 0;
  int version = 0;
};

struct CompatibilityCheck {
  bool is_compatible = false;
  std::vector<std::string> messages;  // one per violation (asked for verbosely)
};

// The version selector meaning "the latest live version".
inline constexpr int kLatestVersion = -1;

// The registry's numeric error code in a Status from RegistryClient (40401, 409, 42201...),
// or 0 when there is none (OK, or the registry was not reached).
int registry_error_code(const Status& status);

class RegistryClient : public SchemaIdSource {
 public:
  // Checks the URL ("http://HOST:PORT"); does not connect. kInvalidArgument for a bad URL.
  static Result<std::unique_ptr<RegistryClient>> create(RegistryClientOptions options);
  ~RegistryClient() override;
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  const std::string& url() const noexcept;

  // SchemaIdSource, for PublisherOptions::registry: get_version()'s schema id, and url().
  Result<uint32_t> schema_id_of(const std::string& subject, int version) override;
  std::string source_name() const override;

  // POST /subjects/{s}/versions. An identical schema already under the subject returns its
  // id and version. Each `include "NAME";` of the text needs a reference named NAME; a
  // schema without a root type registers as a file of shared types. Cached per (subject,
  // text, root type, references).
  Result<RegisteredSchema> register_schema(const std::string& subject, const std::string& schema,
                                           const std::string& root_type,
                                           const std::vector<SchemaReference>& references = {});
  // POST /subjects/{s}: the version holding this schema (with these references).
  Result<SubjectVersionInfo> lookup(const std::string& subject, const std::string& schema,
                                    const std::string& root_type, bool include_deleted = false,
                                    const std::vector<SchemaReference>& references = {});
  // GET /schemas/ids/{id}; cached (a schema id's text never changes).
  Result<RegistrySchema> get_schema(int id);
  // GET /subjects/{s}/versions/{v|latest}.
  Result<SubjectVersionInfo> get_version(const std::string& subject, int version = kLatestVersion,
                                         bool include_deleted = false);
  // GET /subjects and GET /subjects/{s}/versions.
  Result<std::vector<std::string>> list_subjects(bool include_deleted = false);
  Result<std::vector<int>> list_versions(const std::string& subject, bool include_deleted = false);
  // GET /schemas/ids/{id}/versions.
  Result<std::vector<std::pair<std::string, int>>> subject_versions_of(int id);
  // GET /subjects/{s}/versions/{v|latest}/referencedby: ids of the schemas that reference
  // that version (a version that has any cannot be deleted: error 42206).
  Result<std::vector<int>> referenced_by(const std::string& subject, int version = kLatestVersion);
  // POST /compatibility/subjects/{s}/versions/{v|latest}?verbose=true.
  Result<CompatibilityCheck> check_compatibility(const std::string& subject, const std::string& schema,
                                                 const std::string& root_type, int version = kLatestVersion,
                                                 const std::vector<SchemaReference>& references = {});
  // GET /config or /config/{s} (subject empty: the global mode). With default_to_global a
  // subject without its own mode reports the global one instead of kNotFound (40408).
  Result<std::string> get_mode(const std::string& subject = {}, bool default_to_global = false);
  // PUT /config or /config/{s}; `mode` is a Confluent name ("BACKWARD", "FULL_TRANSITIVE").
  Result<std::string> set_mode(const std::string& subject, const std::string& mode);
  // DELETE /subjects/{s}[?permanent=true]: the versions deleted.
  Result<std::vector<int>> delete_subject(const std::string& subject, bool permanent = false);
  // DELETE /subjects/{s}/versions/{v}[?permanent=true]: the version deleted.
  Result<int> delete_version(const std::string& subject, int version, bool permanent = false);

 private:
  struct Impl;
  explicit RegistryClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway::client
