// File: causeway/registry/store.h
//
// SchemaStore: the registry's durable state in LMDB — subjects and their versions, schemas
// with global ids, per-subject and global compatibility modes, soft and hard deletes — with
// the semantics of Confluent Schema Registry. The REST layer (server.h) is a thin mapping of
// this class; the storage layout and every error code are in docs/registry.md.
//
// Errors are Status values whose reason is Confluent's error code (40401 subject not found,
// 409 incompatible, 42201 invalid schema, 50001 store error, ...; registry_error() and
// error_code()) so that the REST layer sends them as they are.
//
// Thread-safety: every method may be called from any thread. Writes (register, delete,
// config) are serialised by one mutex and one LMDB write transaction each, so two concurrent
// registrations of the same schema yield one id and one version; reads run concurrently on
// LMDB snapshots. One SchemaStore per directory per process (LMDB's locks are per process);
// across processes the daemon's LOCK file keeps a second writer out.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "causeway/common/status.h"
#include "causeway/registry/compatibility.h"
#include "causeway/registry/schema.h"

namespace causeway::registry {

// Confluent Schema Registry's error codes (and the HTTP status is the first three digits).
enum class ErrorCode : int {
  kBadRequest = 400,                 // body is not JSON, or a field has the wrong type
  kNotFound = 404,                   // no such endpoint
  kMethodNotAllowed = 405,           // the endpoint does not take this method
  kPayloadTooLarge = 413,            // body above --max-body-bytes
  kUnsupportedMediaType = 415,       // Content-Type is not JSON
  kUnauthorized = 40101,             // no credentials where needed, or a token refused (HTTP 401)
  kForbidden = 40301,                // the principal may not do this (HTTP 403; docs/security.md)
  kSubjectNotFound = 40401,
  kVersionNotFound = 40402,
  kSchemaNotFound = 40403,
  kSubjectSoftDeleted = 40404,       // soft-deleting a subject that is already soft-deleted
  kSubjectNotSoftDeleted = 40405,    // permanent delete of a subject not soft-deleted first
  kVersionSoftDeleted = 40406,       // soft-deleting a version that is already soft-deleted
  kVersionNotSoftDeleted = 40407,    // permanent delete of a version not soft-deleted first
  kSubjectConfigNotFound = 40408,    // GET /config/{s} with no subject-level mode
  kIncompatible = 409,
  kInvalidSchema = 42201,
  kInvalidVersion = 42202,
  kInvalidCompatibilityLevel = 42203,
  kReferenceExists = 42206,          // deleting a version that another schema references
  kInvalidSubject = 42208,           // empty, too long, not UTF-8 or control characters
  kStoreError = 50001,
};

// The HTTP status for a code: 40401 -> 404, 409 -> 409, 50001 -> 500.
int http_status(ErrorCode code) noexcept;

// A registry error: a Status whose reason is the Confluent code (Reason has the same
// numbers) and whose code says what kind of failure it is: kNotFound for 404xx, kFailedPrecondition
// for 409, 40101, 40301, 40404-40407 and 42206, kResourceExhausted for 413, kIOError for 50001,
// kInvalidArgument otherwise.
Status registry_error(ErrorCode code, std::string_view message);
// The registry code of a status from the store: its reason, or kStoreError for a status
// without a registry reason.
ErrorCode error_code(const Status& status) noexcept;

// A schema as submitted: .fbs text, root type (empty: the schema's root_type declaration,
// or none for a file of shared types), references (SchemaReference, schema.h: each
// `include "NAME";` of the text names one).
struct SchemaInput {
  std::string schema;
  std::string root_type;
  std::vector<SchemaReference> references;
};

struct SchemaRecord {
  int id = 0;
  std::string schema;     // the text as first registered
  std::string root_type;  // fully qualified, as resolved by the parser; empty: none
  std::vector<SchemaReference> references;
  std::string fingerprint;
};

struct SubjectVersion {
  std::string subject;
  int version = 0;
  bool deleted = false;  // soft-deleted
  SchemaRecord schema;
};

struct Registration {
  int id = 0;
  int version = 0;
  bool created = false;  // false: the subject already had this schema
};

struct CompatibilityReport {
  bool is_compatible = true;
  // One line per violation: "<path>: <what changed> (<direction> against version N)".
  std::vector<std::string> messages;
};

// Version selector: a positive version or kLatestVersion.
inline constexpr int kLatestVersion = -1;

struct StoreOptions {
  std::string dir;  // created if missing
  // The LMDB map (address space; the file grows only as pages are used) starts at
  // initial_map_bytes and doubles when a write finds it full, up to max_map_bytes; a write
  // past that fails with kStoreError ("... reached max_map_bytes ...") and changes nothing.
  std::uint64_t initial_map_bytes = 16ull << 20;
  std::uint64_t max_map_bytes = 4ull << 30;
  // Mode for subjects with none of their own, until PUT /config changes it.
  CompatibilityMode default_mode = CompatibilityMode::kBackward;
};

class SchemaStore {
 public:
  // Opens or creates the store in options.dir. kStoreError if LMDB cannot open it.
  static Result<std::unique_ptr<SchemaStore>> open(const StoreOptions& options);
  ~SchemaStore();
  SchemaStore(const SchemaStore&) = delete;
  SchemaStore& operator=(const SchemaStore&) = delete;

  // Registers `input` under `subject`. The schema is parsed with its references resolved
  // (its includes read from the referenced live versions, recursively); a schema without a
  // root type registers as a file of shared types. If a live (not soft-deleted) version of
  // the subject already has an identical schema (same resolved canonical form and the same
  // references), returns it (created=false). Otherwise checks it against the live versions
  // under the subject's mode (kIncompatible listing every violation), gives it the global id
  // of an identical schema registered anywhere else or a new one, and appends version max+1
  // (versions are never reused while any, even soft-deleted, exist).
  // Errors: kInvalidSubject, kInvalidSchema (parser message with line and column; an
  // include without a matching reference, a reference to a subject or version that does not
  // exist or is soft-deleted, a cycle: each naming the include or reference), kIncompatible,
  // kStoreError.
  Result<Registration> register_schema(const std::string& subject, const SchemaInput& input);

  // The live version of `subject` whose schema is identical to `input` (with
  // include_deleted also soft-deleted ones). kSubjectNotFound, kSchemaNotFound,
  // kInvalidSchema.
  Result<SubjectVersion> lookup(const std::string& subject, const SchemaInput& input,
                                     bool include_deleted = false);

  // Subjects with at least one live version (with include_deleted, also those whose every
  // version is soft-deleted), sorted.
  Result<std::vector<std::string>> list_subjects(bool include_deleted = false);
  // Version numbers, ascending. kSubjectNotFound if there are none to list.
  Result<std::vector<int>> list_versions(const std::string& subject,
                                              bool include_deleted = false);
  // One version (kLatestVersion: the highest live one). kSubjectNotFound, kVersionNotFound.
  Result<SubjectVersion> get_version(const std::string& subject, int version,
                                          bool include_deleted = false);
  // kSchemaNotFound.
  Result<SchemaRecord> get_schema(int id);
  // The parsed form of schema `id` (parsed once per process and shared), for payload
  // verification (verify_payload) and reflection reads on a publish path. kSchemaNotFound.
  Result<std::shared_ptr<const ParsedSchema>> parsed_schema(int id);
  // (subject, version) pairs using schema `id`, live ones only unless include_deleted.
  Result<std::vector<std::pair<std::string, int>>> subject_versions_of(
      int id, bool include_deleted = false);
  // Ids of the schemas whose references name `subject` version `version` (kLatestVersion:
  // the latest live one), ascending; Confluent's GET .../versions/V/referencedby. A schema
  // counts while any version, live or soft-deleted, points at it. kSubjectNotFound,
  // kVersionNotFound.
  Result<std::vector<int>> referenced_by(const std::string& subject, int version);

  // Soft delete (permanent=false): marks every live version deleted and returns their
  // numbers; kSubjectSoftDeleted if all were already. Permanent: removes every version and
  // the subject's mode; only after a soft delete (kSubjectNotSoftDeleted otherwise). Either
  // is refused with kReferenceExists while another schema references a version it would
  // delete (as in Confluent: delete the referencing schemas first).
  Result<std::vector<int>> delete_subject(const std::string& subject, bool permanent);
  // The same for one version (kLatestVersion allowed for soft delete); returns its number.
  // kVersionSoftDeleted, kVersionNotSoftDeleted, kReferenceExists.
  Result<int> delete_version(const std::string& subject, int version, bool permanent);

  // Checks `input` against the subject. With version == kLatestVersion, as registration
  // would (the subject's mode, against the latest or every live version); an unknown
  // subject is compatible. With a version number, against that version only, in the
  // subject's mode's directions. kSubjectNotFound, kVersionNotFound, kInvalidSchema.
  Result<CompatibilityReport> check_compatibility(const std::string& subject, int version,
                                                       const SchemaInput& input);

  Result<CompatibilityMode> global_mode();
  Result<CompatibilityMode> set_global_mode(CompatibilityMode mode);
  // The subject's own mode; kSubjectConfigNotFound if it has none (unless
  // default_to_global, which then returns the global mode).
  Result<CompatibilityMode> subject_mode(const std::string& subject, bool default_to_global);
  Result<CompatibilityMode> set_subject_mode(const std::string& subject,
                                                  CompatibilityMode mode);
  // Removes the subject's own mode and returns it; kSubjectConfigNotFound if none.
  Result<CompatibilityMode> delete_subject_mode(const std::string& subject);

 private:
  struct Impl;
  explicit SchemaStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway::registry
