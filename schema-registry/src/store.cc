// SchemaStore on LMDB. Contract: causeway/registry/store.h; layout: docs/registry.md
// ("Storage layout").
//
// Six named databases in one environment (through the LMDB wrapper shared with the broker,
// causeway/lmdb/lmdb_env.h, which grows the map when it is full):
//   schemas       be32(id)                      -> JSON schema record (text, root, refs, uses)
//   schema_index  fingerprint(16 hex) be32(id)  -> "" (finds identical schemas by fingerprint)
//   versions      subject NUL be32(version)     -> JSON {"id":N,"deleted":bool}
//   config        NUL (global) | subject        -> mode name, e.g. "BACKWARD"
//   meta          "next_id"                     -> decimal
//                 "format"                      -> "2" once `references` is built
//   references    subject NUL be32(version) be32(id) -> "" (schema id references that version)
// Big-endian integers in keys make LMDB's byte order the numeric order. Subjects may not
// contain NUL (nor other control characters), so "subject NUL" is an exact prefix.
#include "causeway/registry/store.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

#include "causeway/common/utf8.h"
#include "causeway/lmdb/lmdb_env.h"

namespace causeway::registry {
namespace {

using nlohmann::json;

constexpr std::size_t kSchemasDb = 0;
constexpr std::size_t kSchemaIndexDb = 1;
constexpr std::size_t kVersionsDb = 2;
constexpr std::size_t kConfigDb = 3;
constexpr std::size_t kMetaDb = 4;
constexpr std::size_t kReferencesDb = 5;
constexpr const char* kDbNames[] = {"schemas", "schema_index", "versions", "config", "meta", "references"};
// Format 2 added the references index; a store of format 1 gets it built on open.
constexpr std::string_view kFormat = "2";
constexpr std::size_t kMaxSubjectBytes = 255;
const std::string kGlobalConfigKey(1, '\0');

Status store_error(const Status& s) { return registry_error(ErrorCode::kStoreError, s.to_string()); }
Status error(ErrorCode code, std::string_view message) { return registry_error(code, message); }

std::string be32(std::uint32_t v) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  return out;
}
std::uint32_t read_be32(std::string_view b) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(b[static_cast<std::size_t>(i)]);
  return v;
}
std::string subject_prefix(const std::string& subject) { return subject + std::string(1, '\0'); }
std::string version_key(const std::string& subject, int version) {
  return subject_prefix(subject) + be32(static_cast<std::uint32_t>(version));
}
std::string quoted(const std::string& s) { return std::string("'") + s + "'"; }
std::string reference_key(const SchemaReference& r, int id) {
  return version_key(r.subject, r.version) + be32(static_cast<std::uint32_t>(id));
}
std::string describe(const SchemaReference& r) {
  return "reference \"" + r.name + "\" (subject " + quoted(r.subject) + " version " + std::to_string(r.version) + ")";
}

// Subject names are UTF-8 without control characters (they appear in JSON answers, logs
// and LMDB keys, where NUL separates the name from the version). A name stored before
// UTF-8 was checked can still be deleted: deletes pass kAllowLegacy.
enum class SubjectCheck { kStrict, kAllowLegacy };
std::optional<Status> validate_subject(const std::string& subject, SubjectCheck check = SubjectCheck::kStrict) {
  if (subject.empty()) return error(ErrorCode::kInvalidSubject, "subject name is empty");
  if (subject.size() > kMaxSubjectBytes) {
    return error(ErrorCode::kInvalidSubject, std::string("subject name is ") + std::to_string(subject.size()) +
                                                 std::string(" bytes, above the limit of ") + std::to_string(kMaxSubjectBytes));
  }
  for (std::size_t i = 0; i < subject.size(); ++i) {
    const auto u = static_cast<unsigned char>(subject[i]);
    if (u < 0x20 || u == 0x7f) {
      return error(ErrorCode::kInvalidSubject, "subject name contains a control character (byte " + std::to_string(u) +
                                                   " at position " + std::to_string(i) + ")");
    }
  }
  if (check == SubjectCheck::kStrict) {
    if (const std::size_t bad = utf8::first_invalid(subject); bad != subject.size()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(subject[bad])));
      return error(ErrorCode::kInvalidSubject, std::string("subject name is not valid UTF-8 (byte ") + hex +
                                                   " at position " + std::to_string(bad) + ")");
    }
  }
  return std::nullopt;
}

struct VersionEntry {
  int version = 0;
  int id = 0;
  bool deleted = false;
};

struct StoredSchema {
  SchemaRecord record;
  std::string canonical_form;
  int uses = 0;  // versions (live or soft-deleted) that point at this id
};

json references_to_json(const std::vector<SchemaReference>& refs) {
  json arr = json::array();
  for (const auto& r : refs) arr.push_back({{"name", r.name}, {"subject", r.subject}, {"version", r.version}});
  return arr;
}

std::string encode_schema(const StoredSchema& s) {
  return json{{"schema", s.record.schema},
              {"rootType", s.record.root_type},
              {"fingerprint", s.record.fingerprint},
              {"canonical", s.canonical_form},
              {"references", references_to_json(s.record.references)},
              {"uses", s.uses}}
      .dump();
}

Result<StoredSchema> decode_schema(int id, std::string_view bytes) {
  const json j = json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("schema") || !j["schema"].is_string() ||
      !j.contains("rootType") || !j.contains("canonical") || !j.contains("uses")) {
    return error(ErrorCode::kStoreError, std::string("schema record ") + std::to_string(id) + " is corrupt");
  }
  StoredSchema s;
  s.record.id = id;
  s.record.schema = j["schema"].get<std::string>();
  s.record.root_type = j.value("rootType", "");
  s.record.fingerprint = j.value("fingerprint", "");
  s.canonical_form = j.value("canonical", "");
  s.uses = j.value("uses", 0);
  if (j.contains("references") && j["references"].is_array()) {
    for (const auto& r : j["references"]) {
      s.record.references.push_back(
          SchemaReference{r.value("name", ""), r.value("subject", ""), r.value("version", 0)});
    }
  }
  return s;
}

// flatbuffers reports "<line>: <col>: error: <message>"; say "line L, column C: <message>".
std::string readable_parse_error(std::string_view message) {
  constexpr std::string_view kPrefix = "invalid schema: ";
  if (message.substr(0, kPrefix.size()) == kPrefix) message.remove_prefix(kPrefix.size());
  const auto first = message.find(": ");
  const auto second = first == std::string_view::npos ? first : message.find(": ", first + 2);
  const auto error_word = second == std::string_view::npos ? second : message.find("error: ", second + 2);
  if (error_word != second + 2) return std::string(message);
  const std::string_view line = message.substr(0, first);
  const std::string_view column = message.substr(first + 2, second - first - 2);
  const auto is_number = [](std::string_view t) {
    return !t.empty() && t.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (!is_number(line) || !is_number(column)) return std::string(message);
  return std::string("line ") + std::string(line) + ", column " + std::string(column) + ": " +
         std::string(message.substr(error_word + 7));
}

std::string encode_version(const VersionEntry& v) { return json{{"id", v.id}, {"deleted", v.deleted}}.dump(); }

}  // namespace

int http_status(ErrorCode code) noexcept {
  const int c = static_cast<int>(code);
  return c >= 1000 ? c / 100 : c;
}

Status registry_error(ErrorCode code, std::string_view message) {
  const auto reason = static_cast<Reason>(static_cast<uint16_t>(code));
  switch (code) {
    case ErrorCode::kSubjectNotFound:
    case ErrorCode::kVersionNotFound:
    case ErrorCode::kSchemaNotFound:
    case ErrorCode::kSubjectConfigNotFound:
      return Status(Code::kNotFound, reason, message);
    case ErrorCode::kSubjectSoftDeleted:
    case ErrorCode::kSubjectNotSoftDeleted:
    case ErrorCode::kVersionSoftDeleted:
    case ErrorCode::kVersionNotSoftDeleted:
    case ErrorCode::kIncompatible:
    case ErrorCode::kReferenceExists:
    case ErrorCode::kUnauthorized:
    case ErrorCode::kForbidden:
      return Status(Code::kFailedPrecondition, reason, message);
    case ErrorCode::kPayloadTooLarge:
      return Status(Code::kResourceExhausted, reason, message);
    case ErrorCode::kStoreError:
      return Status(Code::kIOError, reason, message);
    default:
      return Status(Code::kInvalidArgument, reason, message);
  }
}

ErrorCode error_code(const Status& status) noexcept {
  const auto n = static_cast<int>(status.reason());
  return n >= 400 ? static_cast<ErrorCode>(n) : ErrorCode::kStoreError;
}

struct SchemaStore::Impl {
  StoreOptions options;
  std::unique_ptr<lmdb::Env> env;
  std::vector<lmdb::Dbi> dbis;  // indexed by kSchemasDb ... kReferencesDb (kDbNames)
  // Serialises every write, so that the compatibility check and the id/version assignment
  // of a registration see the state they change (and the cache below stays consistent).
  std::mutex write_mu;
  std::mutex cache_mu;
  std::map<int, std::shared_ptr<const ParsedSchema>> parsed;  // guarded by cache_mu

  const lmdb::Dbi& db(std::size_t i) const { return dbis[i]; }

  // Runs `fn` in a read-only transaction. An error from `fn` is returned as is; an LMDB
  // failure to begin becomes kStoreError.
  template <typename T, typename Fn>
  Result<T> in_read(Fn&& fn) {
    std::optional<Result<T>> out;
    Status s = env->read([&](lmdb::Txn& txn) -> Status {
      out.emplace(fn(txn));
      return Status();
    });
    if (!s.ok()) return store_error(s);
    return std::move(*out);
  }

  // Runs `fn` in a write transaction, committed if `fn` returns a value. The shared LMDB
  // wrapper runs `fn` again from the start after growing a full map, so `fn` must only
  // touch the transaction and its own locals.
  template <typename T, typename Fn>
  Result<T> in_write(Fn&& fn) {
    static constexpr std::string_view kRefused = "the store refused the write";
    std::optional<Result<T>> out;
    Status s = env->write([&](lmdb::Txn& txn) -> Status {
      out.emplace(fn(txn));
      // Any error aborts the transaction; Env::write runs `fn` again only if LMDB said
      // MDB_MAP_FULL and the map could grow.
      return out->ok() ? Status() : failed_precondition(kRefused);
    });
    if (s.ok() || (s.code() == Code::kFailedPrecondition && s.message() == kRefused)) return std::move(*out);
    // Could not begin or commit, or the map is at max_map_bytes: say so, not what the
    // aborted attempt ran into.
    return store_error(s);
  }

  Result<std::vector<VersionEntry>> load_versions(lmdb::Txn& txn, const std::string& subject) {
    std::vector<VersionEntry> out;
    bool corrupt = false;
    const std::string prefix = subject_prefix(subject);
    Status s = lmdb::for_each_with_prefix(txn, db(kVersionsDb), prefix, [&](std::string_view key, std::string_view value) {
      if (key.size() != prefix.size() + 4) {
        corrupt = true;
        return false;
      }
      const json j = json::parse(value, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        corrupt = true;
        return false;
      }
      out.push_back(VersionEntry{static_cast<int>(read_be32(key.substr(prefix.size()))), j.value("id", 0),
                                 j.value("deleted", false)});
      return true;
    });
    if (!s.ok()) return store_error(s);
    if (corrupt) return error(ErrorCode::kStoreError, std::string("version records of subject ") + quoted(subject) + " are corrupt");
    return out;
  }

  Result<std::optional<StoredSchema>> load_schema(lmdb::Txn& txn, int id) {
    auto v = txn.get(db(kSchemasDb), be32(static_cast<std::uint32_t>(id)));
    if (!v) return store_error(v.error());
    if (!v->has_value()) return std::optional<StoredSchema>();
    auto s = decode_schema(id, **v);
    if (!s) return s.error();
    return std::optional<StoredSchema>(std::move(*s));
  }

  // Finds referenced versions for parse_schema in this transaction: their text and own
  // references. Soft-deleted versions count only with include_deleted (registration wants
  // live ones; a stored schema is read whatever happened to what it references since).
  // Records the schema id of every version it finds in `seen`, if given.
  ReferenceLookup lookup_in(lmdb::Txn& txn, bool include_deleted, std::map<std::pair<std::string, int>, int>* seen) {
    return [this, &txn, include_deleted, seen](const std::string& subject, int version) -> Result<ReferencedSchema> {
      if (auto e = validate_subject(subject)) return not_found(e->message());
      auto versions = load_versions(txn, subject);
      if (!versions) return io_error(versions.error().message());
      const VersionEntry* found = nullptr;
      for (const auto& v : *versions)
        if (v.version == version && (include_deleted || !v.deleted)) found = &v;
      if (found == nullptr) {
        const bool soft_deleted = std::any_of(versions->begin(), versions->end(),
                                              [&](const VersionEntry& v) { return v.version == version; });
        return not_found(soft_deleted ? std::string("that version is soft-deleted")
                                      : versions->empty() ? std::string("no such subject")
                                                          : std::string("no such version"));
      }
      auto stored = load_schema(txn, found->id);
      if (!stored) return io_error(stored.error().message());
      if (!stored->has_value()) return io_error("version points at missing schema " + std::to_string(found->id));
      if (seen != nullptr) (*seen)[{subject, version}] = found->id;
      return ReferencedSchema{(*stored)->record.schema, (*stored)->record.references};
    };
  }

  // The parsed form of a stored schema (references resolved in `txn`), parsed once per
  // process: a stored schema never changes, nor does a version it references (deleting a
  // referenced version is refused).
  Result<std::shared_ptr<const ParsedSchema>> parsed_schema(lmdb::Txn& txn, const StoredSchema& s) {
    {
      std::lock_guard lk(cache_mu);
      if (auto it = parsed.find(s.record.id); it != parsed.end()) return it->second;
    }
    auto p = parse_schema(s.record.schema, s.record.root_type, s.record.references,
                          lookup_in(txn, /*include_deleted=*/true, nullptr), RootTypeRule::kOptional);
    if (!p) {
      return error(ErrorCode::kStoreError,
                   std::string("stored schema ") + std::to_string(s.record.id) + std::string(" no longer parses: ") + std::string(p.error().message()));
    }
    auto shared = std::make_shared<const ParsedSchema>(std::move(*p));
    std::lock_guard lk(cache_mu);
    parsed.emplace(s.record.id, shared);
    return shared;
  }

  Result<CompatibilityMode> mode_of(lmdb::Txn& txn, const std::string* subject) {
    if (subject != nullptr) {
      auto v = txn.get(db(kConfigDb), *subject);
      if (!v) return store_error(v.error());
      if (v->has_value()) {
        auto m = parse_compatibility_mode(**v);
        if (!m) return error(ErrorCode::kStoreError, std::string("stored mode of ") + quoted(*subject) + " is corrupt");
        return *m;
      }
    }
    auto v = txn.get(db(kConfigDb), kGlobalConfigKey);
    if (!v) return store_error(v.error());
    if (!v->has_value()) return options.default_mode;
    auto m = parse_compatibility_mode(**v);
    if (!m) return error(ErrorCode::kStoreError, "stored global mode is corrupt");
    return *m;
  }

  static bool is_identical(const StoredSchema& s, const ParsedSchema& p, const std::vector<SchemaReference>& refs) {
    return s.canonical_form == p.canonical_form && s.record.references == refs;
  }

  // Checks `candidate` against `against` (oldest first) under `mode`; messages name the
  // version each violation is against.
  Result<CompatibilityReport> run_check(lmdb::Txn& txn, CompatibilityMode mode, const ParsedSchema& candidate,
                                             const std::vector<VersionEntry>& against) {
    std::vector<ParsedSchema> previous;
    previous.reserve(against.size());
    // Non-transitive modes look at the latest only; parse no more than they need.
    const bool transitive = mode == CompatibilityMode::kBackwardTransitive ||
                            mode == CompatibilityMode::kForwardTransitive ||
                            mode == CompatibilityMode::kFullTransitive;
    std::vector<VersionEntry> used = against;
    if (!transitive && used.size() > 1) used.erase(used.begin(), used.end() - 1);
    for (const auto& v : used) {
      auto s = load_schema(txn, v.id);
      if (!s) return s.error();
      if (!s->has_value()) return error(ErrorCode::kStoreError, std::string("version points at missing schema ") + std::to_string(v.id));
      auto p = parsed_schema(txn, **s);
      if (!p) return p.error();
      previous.push_back(**p);
    }
    const CompatibilityResult r = check(mode, candidate, previous);
    CompatibilityReport report;
    report.is_compatible = r.is_compatible;
    for (const auto& v : r.violations) {
      const int against_version = v.previous_index < used.size() ? used[v.previous_index].version : 0;
      report.messages.push_back(v.change.message + " (" +
                                (v.direction == Direction::kBackward ? "backward" : "forward") +
                                std::string(", against version ") + std::to_string(against_version) + ")");
    }
    return report;
  }

  // A schema as submitted, parsed with its references resolved in a read transaction.
  struct ParsedInput {
    ParsedSchema schema;
    // The schema id of every version the resolution read, to confirm in the write
    // transaction that none changed in between.
    std::map<std::pair<std::string, int>, int> resolved_ids;
  };

  // Parses the input, resolving its references against live versions; kInvalidSchema with
  // the parser's message or the unresolvable include, kStoreError if the store failed.
  Result<ParsedInput> parse_input(const SchemaInput& input) {
    // Stored as JSON and answered as JSON: text that is not UTF-8 is refused here rather
    // than failing (or being altered) when it is written out.
    const auto not_utf8 = [](std::string_view what, std::string_view text) -> std::optional<Status> {
      const std::size_t bad = utf8::first_invalid(text);
      if (bad == text.size()) return std::nullopt;
      return error(ErrorCode::kInvalidSchema, std::string("Invalid schema: ") + std::string(what) +
                                                  " is not valid UTF-8 (bad byte at position " + std::to_string(bad) + ")");
    };
    if (auto e = not_utf8("the schema text", input.schema)) return *e;
    if (auto e = not_utf8("the root type", input.root_type)) return *e;
    for (const auto& r : input.references)
      if (auto e = not_utf8("a reference name", r.name)) return *e;
    if (auto e = check_reference_names(input.references)) return *e;
    return in_read<ParsedInput>([&](lmdb::Txn& txn) -> Result<ParsedInput> {
      ParsedInput out;
      auto p = parse_schema(input.schema, input.root_type, input.references,
                            lookup_in(txn, /*include_deleted=*/false, &out.resolved_ids), RootTypeRule::kOptional);
      if (!p) {
        if (p.error().code() != Code::kInvalidArgument) return store_error(p.error());
        return error(ErrorCode::kInvalidSchema, std::string("Invalid schema: ") + readable_parse_error(p.error().message()));
      }
      out.schema = std::move(*p);
      return out;
    });
  }

  // Reference names are what includes match: each must be unique and non-empty. A subject
  // name that could not exist is 42208, as for the subject registered under.
  static std::optional<Status> check_reference_names(const std::vector<SchemaReference>& refs) {
    std::set<std::string> names;
    for (const auto& r : refs) {
      if (auto e = validate_subject(r.subject)) {
        return error(error_code(*e), describe(r) + ": " + std::string(e->message()));
      }
      if (r.name.empty()) {
        return error(ErrorCode::kInvalidSchema, "Invalid schema: " + describe(r) +
                                                    " has no name; the name is what the schema includes");
      }
      if (!names.insert(r.name).second) {
        return error(ErrorCode::kInvalidSchema, "Invalid schema: two references are named \"" + r.name + "\"");
      }
      if (r.version < 1) {
        return error(ErrorCode::kInvalidSchema, "Invalid schema: " + describe(r) + " needs a positive version");
      }
    }
    return std::nullopt;
  }

  // In the write transaction: every declared reference names a live version, and every
  // version the parse read still holds the schema it read.
  std::optional<Status> check_references(lmdb::Txn& txn, const std::vector<SchemaReference>& refs,
                                             const std::map<std::pair<std::string, int>, int>& resolved_ids) {
    for (const auto& r : refs) {
      auto found = lookup_in(txn, /*include_deleted=*/false, nullptr)(r.subject, r.version);
      if (!found) {
        if (found.error().code() != Code::kNotFound) return store_error(found.error());
        return error(ErrorCode::kInvalidSchema, "Invalid schema: " + describe(r) + " does not exist (" +
                                                    std::string(found.error().message()) + ")");
      }
    }
    for (const auto& [key, id] : resolved_ids) {
      auto versions = load_versions(txn, key.first);
      if (!versions) return versions.error();
      // Clang 14 cannot capture structured bindings: copy what the lambda needs.
      const bool same = std::any_of(versions->begin(), versions->end(), [version = key.second, id = id](const VersionEntry& v) {
        return v.version == version && v.id == id && !v.deleted;
      });
      if (!same) {
        return error(ErrorCode::kInvalidSchema, std::string("Invalid schema: subject ") + quoted(key.first) + " version " +
                                                    std::to_string(key.second) +
                                                    ", which it includes, was deleted while it was being registered");
      }
    }
    return std::nullopt;
  }

  // Ids of the schemas that reference `subject` version `version`.
  Result<std::vector<int>> referencing_ids(lmdb::Txn& txn, const std::string& subject, int version) {
    std::vector<int> ids;
    const std::string prefix = version_key(subject, version);
    Status s = lmdb::for_each_with_prefix(txn, db(kReferencesDb), prefix, [&](std::string_view key, std::string_view) {
      if (key.size() == prefix.size() + 4) ids.push_back(static_cast<int>(read_be32(key.substr(prefix.size()))));
      return true;
    });
    if (!s.ok()) return store_error(s);
    return ids;
  }

  // kReferenceExists if another schema references `subject` version `version`.
  std::optional<Status> refuse_if_referenced(lmdb::Txn& txn, const std::string& subject, int version) {
    auto ids = referencing_ids(txn, subject, version);
    if (!ids) return ids.error();
    if (ids->empty()) return std::nullopt;
    std::string list;
    for (int id : *ids) list += (list.empty() ? "" : ", ") + std::to_string(id);
    return error(ErrorCode::kReferenceExists,
                 std::string("One or more references exist to the schema {subject=") + subject +
                     ", version=" + std::to_string(version) + "}: schema id" + (ids->size() > 1 ? "s " : " ") + list +
                     " (GET /subjects/.../versions/" + std::to_string(version) +
                     "/referencedby); delete the referencing versions permanently first");
  }

  // For deleting all of `subject` (`versions`): kReferenceExists if a schema used by
  // anything but this subject's versions references one of them. References among the
  // subject's own versions go with it.
  std::optional<Status> refuse_if_referenced_from_outside(lmdb::Txn& txn, const std::string& subject,
                                                              const std::vector<VersionEntry>& versions) {
    for (const auto& v : versions) {
      auto ids = referencing_ids(txn, subject, v.version);
      if (!ids) return ids.error();
      for (int id : *ids) {
        const auto own = std::count_if(versions.begin(), versions.end(), [id](const VersionEntry& e) { return e.id == id; });
        auto referrer = load_schema(txn, id);
        if (!referrer) return referrer.error();
        if (*referrer && (*referrer)->uses > own) return refuse_if_referenced(txn, subject, v.version);
      }
    }
    return std::nullopt;
  }

  Status index_references(lmdb::Txn& txn, const SchemaRecord& record) {
    for (const auto& r : record.references) {
      CAUSEWAY_RETURN_IF_ERROR(txn.put(db(kReferencesDb), reference_key(r, record.id), ""));
    }
    return Status();
  }

  // Format 1 stores kept references without this index; built once, on open.
  Status build_reference_index(lmdb::Txn& txn) {
    CAUSEWAY_ASSIGN_OR_RETURN(auto format, txn.get(db(kMetaDb), "format"));
    if (format && *format == kFormat) return Status();
    std::vector<SchemaRecord> records;
    bool corrupt = false;
    CAUSEWAY_RETURN_IF_ERROR(lmdb::for_each_with_prefix(txn, db(kSchemasDb), "", [&](std::string_view key, std::string_view value) {
      if (key.size() != 4) return true;
      auto s = decode_schema(static_cast<int>(read_be32(key)), value);
      if (!s) {
        corrupt = true;
        return false;
      }
      if (!s->record.references.empty()) records.push_back(std::move(s->record));
      return true;
    }));
    if (corrupt) return corruption("a schema record is corrupt; cannot index its references");
    for (const auto& r : records) CAUSEWAY_RETURN_IF_ERROR(index_references(txn, r));
    return txn.put(db(kMetaDb), "format", kFormat);
  }

  // The stored schema identical to `candidate` + `refs` (found by fingerprint, confirmed by the
  // canonical form), if any. One index probe instead of reading every version's schema.
  Result<std::optional<StoredSchema>> find_identical(lmdb::Txn& txn, const ParsedSchema& candidate,
                                                          const std::vector<SchemaReference>& refs) {
    std::optional<StoredSchema> found;
    std::optional<Status> failure;
    Status scanned = lmdb::for_each_with_prefix(txn, db(kSchemaIndexDb), candidate.fingerprint, [&](std::string_view key, std::string_view) {
      if (key.size() != candidate.fingerprint.size() + 4) return true;
      const int id = static_cast<int>(read_be32(key.substr(candidate.fingerprint.size())));
      auto s = load_schema(txn, id);
      if (!s) {
        failure = s.error();
        return false;
      }
      if (s->has_value() && is_identical(**s, candidate, refs)) {
        found = std::move(**s);
        return false;
      }
      return true;
    });
    if (!scanned.ok()) return store_error(scanned);
    if (failure) return *failure;
    return found;
  }

  // Drops one use of schema `id`; removes it (record, index entry, cache) at zero.
  std::optional<Status> release_schema(lmdb::Txn& txn, int id) {
    auto s = load_schema(txn, id);
    if (!s) return s.error();
    if (!s->has_value()) return std::nullopt;
    StoredSchema stored = std::move(**s);
    if (--stored.uses > 0) {
      if (Status st = txn.put(db(kSchemasDb), be32(static_cast<std::uint32_t>(id)), encode_schema(stored)); !st.ok())
        return store_error(st);
      return std::nullopt;
    }
    auto d1 = txn.del(db(kSchemasDb), be32(static_cast<std::uint32_t>(id)));
    if (!d1) return store_error(d1.error());
    auto d2 = txn.del(db(kSchemaIndexDb), stored.record.fingerprint + be32(static_cast<std::uint32_t>(id)));
    if (!d2) return store_error(d2.error());
    for (const auto& r : stored.record.references) {
      auto d3 = txn.del(db(kReferencesDb), reference_key(r, id));
      if (!d3) return store_error(d3.error());
    }
    std::lock_guard lk(cache_mu);
    parsed.erase(id);
    return std::nullopt;
  }
};

SchemaStore::SchemaStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SchemaStore::~SchemaStore() = default;

Result<std::unique_ptr<SchemaStore>> SchemaStore::open(const StoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return store_error(io_error_errno(std::string("create ") + options.dir, ec.value()));
  lmdb::EnvOptions env_options;
  env_options.initial_map_bytes = options.initial_map_bytes;
  env_options.max_map_bytes = options.max_map_bytes;
  auto env = lmdb::Env::open(options.dir, env_options);
  if (!env) return store_error(env.error());
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->env = std::move(*env);
  Status opened = impl->env->write([&](lmdb::Txn& txn) -> Status {
    impl->dbis.clear();
    for (const char* name : kDbNames) {
      CAUSEWAY_ASSIGN_OR_RETURN(lmdb::Dbi dbi, txn.open_dbi(name, MDB_CREATE));
      impl->dbis.push_back(std::move(dbi));
    }
    return impl->build_reference_index(txn);
  });
  if (!opened.ok()) return store_error(opened);
  return std::unique_ptr<SchemaStore>(new SchemaStore(std::move(impl)));
}

Result<Registration> SchemaStore::register_schema(const std::string& subject, const SchemaInput& input) {
  if (auto e = validate_subject(subject)) return *e;
  auto parsed = impl_->parse_input(input);  // outside the lock: parsing is the costly part
  if (!parsed) return parsed.error();

  std::lock_guard lk(impl_->write_mu);
  auto registered = impl_->in_write<Registration>([&](lmdb::Txn& txn) -> Result<Registration> {
    auto versions = impl_->load_versions(txn, subject);
    if (!versions) return versions.error();
    auto existing = impl_->find_identical(txn, parsed->schema, input.references);
    if (!existing) return existing.error();
    std::vector<VersionEntry> live;
    for (const auto& v : *versions) {
      if (v.deleted) continue;
      live.push_back(v);
      if (*existing && (*existing)->record.id == v.id) return Registration{v.id, v.version, false};
    }
    if (auto e = impl_->check_references(txn, input.references, parsed->resolved_ids)) return *e;

    auto mode = impl_->mode_of(txn, &subject);
    if (!mode) return mode.error();
    auto report = impl_->run_check(txn, *mode, parsed->schema, live);
    if (!report) return report.error();
    if (!report->is_compatible) {
      std::string msg = std::string("Schema being registered is incompatible with an earlier schema for subject ") + quoted(subject) +
                        std::string(" (mode ") + std::string(format_compatibility_mode(*mode)) + "): ";
      for (std::size_t i = 0; i < report->messages.size(); ++i) {
        if (i > 0) msg += "; ";
        msg += report->messages[i];
      }
      return error(ErrorCode::kIncompatible, msg);
    }

    // The global id: an identical schema registered anywhere keeps its id.
    StoredSchema stored;
    if (*existing) {
      stored = std::move(**existing);
    } else {
      auto next = txn.get(impl_->db(kMetaDb), "next_id");
      if (!next) return store_error(next.error());
      int id = 1;
      if (next->has_value()) id = std::atoi(std::string(**next).c_str());
      if (id <= 0) return error(ErrorCode::kStoreError, "stored next_id is corrupt");
      if (Status s = txn.put(impl_->db(kMetaDb), "next_id", std::to_string(id + 1)); !s.ok()) return store_error(s);
      stored.record.id = id;
      stored.record.schema = input.schema;
      stored.record.root_type = parsed->schema.root_type;
      stored.record.references = input.references;
      stored.record.fingerprint = parsed->schema.fingerprint;
      stored.canonical_form = parsed->schema.canonical_form;
      if (Status s = txn.put(impl_->db(kSchemaIndexDb), parsed->schema.fingerprint + be32(static_cast<std::uint32_t>(id)), "-");
          !s.ok())
        return store_error(s);
      if (Status s = impl_->index_references(txn, stored.record); !s.ok()) return store_error(s);
    }
    ++stored.uses;
    const int id = stored.record.id;
    if (Status s = txn.put(impl_->db(kSchemasDb), be32(static_cast<std::uint32_t>(id)), encode_schema(stored)); !s.ok())
      return store_error(s);
    const int version = versions->empty() ? 1 : versions->back().version + 1;
    if (Status s = txn.put(impl_->db(kVersionsDb), version_key(subject, version), encode_version({version, id, false}));
        !s.ok())
      return store_error(s);
    return Registration{id, version, true};
  });
  if (registered.ok() && registered->created) {
    std::lock_guard clk(impl_->cache_mu);
    impl_->parsed.emplace(registered->id, std::make_shared<const ParsedSchema>(std::move(parsed->schema)));
  }
  return registered;
}

Result<SubjectVersion> SchemaStore::lookup(const std::string& subject, const SchemaInput& input,
                                                bool include_deleted) {
  if (auto e = validate_subject(subject)) return *e;
  auto parsed = impl_->parse_input(input);
  if (!parsed) return parsed.error();
  return impl_->in_read<SubjectVersion>([&](lmdb::Txn& txn) -> Result<SubjectVersion> {
    auto versions = impl_->load_versions(txn, subject);
    if (!versions) return versions.error();
    auto existing = impl_->find_identical(txn, parsed->schema, input.references);
    if (!existing) return existing.error();
    bool any = false;
    for (const auto& v : *versions) {
      if (v.deleted && !include_deleted) continue;
      any = true;
      if (*existing && (*existing)->record.id == v.id) return SubjectVersion{subject, v.version, v.deleted, (*existing)->record};
    }
    if (!any) return error(ErrorCode::kSubjectNotFound, std::string("Subject ") + quoted(subject) + " not found");
    return error(ErrorCode::kSchemaNotFound, std::string("Schema not found under subject ") + quoted(subject));
  });
}

Result<std::vector<std::string>> SchemaStore::list_subjects(bool include_deleted) {
  return impl_->in_read<std::vector<std::string>>([&](lmdb::Txn& txn) -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    Status s = lmdb::for_each_with_prefix(txn, impl_->db(kVersionsDb), "", [&](std::string_view key, std::string_view value) {
      const auto nul = key.find('\0');
      if (nul == std::string_view::npos) return true;
      const std::string_view subject = key.substr(0, nul);
      if (!out.empty() && out.back() == subject) return true;
      const json j = json::parse(value, nullptr, false);
      const bool deleted = !j.is_discarded() && j.is_object() && j.value("deleted", false);
      if (!deleted || include_deleted) out.emplace_back(subject);
      return true;
    });
    if (!s.ok()) return store_error(s);
    return out;
  });
}

Result<std::vector<int>> SchemaStore::list_versions(const std::string& subject, bool include_deleted) {
  if (auto e = validate_subject(subject)) return *e;
  return impl_->in_read<std::vector<int>>([&](lmdb::Txn& txn) -> Result<std::vector<int>> {
    auto versions = impl_->load_versions(txn, subject);
    if (!versions) return versions.error();
    std::vector<int> out;
    for (const auto& v : *versions)
      if (!v.deleted || include_deleted) out.push_back(v.version);
    if (out.empty()) return error(ErrorCode::kSubjectNotFound, std::string("Subject ") + quoted(subject) + " not found");
    return out;
  });
}

Result<SubjectVersion> SchemaStore::get_version(const std::string& subject, int version, bool include_deleted) {
  if (auto e = validate_subject(subject)) return *e;
  return impl_->in_read<SubjectVersion>([&](lmdb::Txn& txn) -> Result<SubjectVersion> {
    auto versions = impl_->load_versions(txn, subject);
    if (!versions) return versions.error();
    const VersionEntry* found = nullptr;
    bool any = false;
    for (const auto& v : *versions) {
      if (v.deleted && !include_deleted) continue;
      any = true;
      if (version == kLatestVersion || v.version == version) found = &v;
    }
    if (!any) return error(ErrorCode::kSubjectNotFound, std::string("Subject ") + quoted(subject) + " not found");
    if (found == nullptr) {
      return error(ErrorCode::kVersionNotFound,
                   std::string("Version ") + std::to_string(version) + std::string(" of subject ") + quoted(subject) + " not found");
    }
    auto s = impl_->load_schema(txn, found->id);
    if (!s) return s.error();
    if (!s->has_value()) return error(ErrorCode::kStoreError, std::string("version points at missing schema ") + std::to_string(found->id));
    return SubjectVersion{subject, found->version, found->deleted, (*s)->record};
  });
}

Result<SchemaRecord> SchemaStore::get_schema(int id) {
  return impl_->in_read<SchemaRecord>([&](lmdb::Txn& txn) -> Result<SchemaRecord> {
    if (id <= 0) return error(ErrorCode::kSchemaNotFound, std::string("Schema ") + std::to_string(id) + " not found");
    auto s = impl_->load_schema(txn, id);
    if (!s) return s.error();
    if (!s->has_value()) return error(ErrorCode::kSchemaNotFound, std::string("Schema ") + std::to_string(id) + " not found");
    return (*s)->record;
  });
}

Result<std::shared_ptr<const ParsedSchema>> SchemaStore::parsed_schema(int id) {
  {
    std::lock_guard lk(impl_->cache_mu);
    if (auto it = impl_->parsed.find(id); it != impl_->parsed.end()) return it->second;
  }
  return impl_->in_read<std::shared_ptr<const ParsedSchema>>([&](lmdb::Txn& txn) -> Result<std::shared_ptr<const ParsedSchema>> {
    auto s = impl_->load_schema(txn, id);
    if (!s) return s.error();
    if (!s->has_value()) return error(ErrorCode::kSchemaNotFound, std::string("Schema ") + std::to_string(id) + " not found");
    return impl_->parsed_schema(txn, **s);
  });
}

Result<std::vector<std::pair<std::string, int>>> SchemaStore::subject_versions_of(int id, bool include_deleted) {
  auto schema = get_schema(id);
  if (!schema) return schema.error();
  return impl_->in_read<std::vector<std::pair<std::string, int>>>([&](lmdb::Txn& txn) -> Result<std::vector<std::pair<std::string, int>>> {
    std::vector<std::pair<std::string, int>> out;
    Status s = lmdb::for_each_with_prefix(txn, impl_->db(kVersionsDb), "", [&](std::string_view key, std::string_view value) {
      const auto nul = key.find('\0');
      if (nul == std::string_view::npos || key.size() != nul + 5) return true;
      const json j = json::parse(value, nullptr, false);
      if (j.is_discarded() || !j.is_object() || j.value("id", 0) != id) return true;
      if (j.value("deleted", false) && !include_deleted) return true;
      out.emplace_back(std::string(key.substr(0, nul)), static_cast<int>(read_be32(key.substr(nul + 1))));
      return true;
    });
    if (!s.ok()) return store_error(s);
    return out;
  });
}

Result<std::vector<int>> SchemaStore::referenced_by(const std::string& subject, int version) {
  if (auto e = validate_subject(subject)) return *e;
  return impl_->in_read<std::vector<int>>([&](lmdb::Txn& txn) -> Result<std::vector<int>> {
    auto versions = impl_->load_versions(txn, subject);
    if (!versions) return versions.error();
    const VersionEntry* found = nullptr;
    bool any_live = false;
    for (const auto& v : *versions) {
      any_live = any_live || !v.deleted;
      if (version == kLatestVersion ? !v.deleted : v.version == version) found = &v;
    }
    if (!any_live) return error(ErrorCode::kSubjectNotFound, std::string("Subject ") + quoted(subject) + " not found");
    if (found == nullptr) {
      return error(ErrorCode::kVersionNotFound,
                   std::string("Version ") + std::to_string(version) + std::string(" of subject ") + quoted(subject) + " not found");
    }
    return impl_->referencing_ids(txn, subject, found->version);
  });
}

Result<std::vector<int>> SchemaStore::delete_subject(const std::string& subject, bool permanent) {
  if (auto e = validate_subject(subject, SubjectCheck::kAllowLegacy)) return *e;
  std::lock_guard lk(impl_->write_mu);
  return impl_->in_write<std::vector<int>>([&](lmdb::Txn& txn) -> Result<std::vector<int>> {
    auto versions = impl_->load_versions(txn, subject);
    if (!versions) return versions.error();
    if (versions->empty()) return error(ErrorCode::kSubjectNotFound, std::string("Subject ") + quoted(subject) + " not found");
    const bool any_live =
        std::any_of(versions->begin(), versions->end(), [](const VersionEntry& v) { return !v.deleted; });
    std::vector<int> out;
    if (!permanent && !any_live) {
      return error(ErrorCode::kSubjectSoftDeleted,
                   std::string("Subject ") + quoted(subject) + " was soft deleted. Set permanent=true to delete permanently");
    }
    if (permanent && any_live) {
      return error(ErrorCode::kSubjectNotSoftDeleted,
                   std::string("Subject ") + quoted(subject) + " was not deleted first before being permanently deleted");
    }
    if (auto e = impl_->refuse_if_referenced_from_outside(txn, subject, *versions)) return *e;
    if (!permanent) {
      for (auto v : *versions) {
        if (v.deleted) continue;
        v.deleted = true;
        if (Status s = txn.put(impl_->db(kVersionsDb), version_key(subject, v.version), encode_version(v)); !s.ok())
          return store_error(s);
        out.push_back(v.version);
      }
    } else {
      for (const auto& v : *versions) {
        auto d = txn.del(impl_->db(kVersionsDb), version_key(subject, v.version));
        if (!d) return store_error(d.error());
        if (auto e = impl_->release_schema(txn, v.id)) return *e;
        out.push_back(v.version);
      }
      auto d = txn.del(impl_->db(kConfigDb), subject);
      if (!d) return store_error(d.error());
    }
    return out;
  });
}

Result<int> SchemaStore::delete_version(const std::string& subject, int version, bool permanent) {
  if (auto e = validate_subject(subject, SubjectCheck::kAllowLegacy)) return *e;
  std::lock_guard lk(impl_->write_mu);
  return impl_->in_write<int>([&](lmdb::Txn& txn) -> Result<int> {
    auto versions = impl_->load_versions(txn, subject);
    if (!versions) return versions.error();
    if (versions->empty()) return error(ErrorCode::kSubjectNotFound, std::string("Subject ") + quoted(subject) + " not found");
    std::optional<VersionEntry> target;
    for (const auto& v : *versions) {
      if (version == kLatestVersion ? (permanent || !v.deleted) : v.version == version) target = v;
    }
    if (!target) {
      return error(ErrorCode::kVersionNotFound,
                   std::string("Version ") + std::to_string(version) + std::string(" of subject ") + quoted(subject) + " not found");
    }
    const std::string key = version_key(subject, target->version);
    if (target->deleted != permanent) {
      // Soft-deleting a soft-deleted version, or permanently deleting a live one: the delete
      // order errors below come first, as in Confluent.
    } else if (auto e = impl_->refuse_if_referenced(txn, subject, target->version)) {
      return *e;
    }
    if (!permanent) {
      if (target->deleted) {
        return error(ErrorCode::kVersionSoftDeleted, std::string("Version ") + std::to_string(target->version) + " of subject " +
                                                         quoted(subject) +
                                                         " was soft deleted. Set permanent=true to delete permanently");
      }
      target->deleted = true;
      if (Status s = txn.put(impl_->db(kVersionsDb), key, encode_version(*target)); !s.ok()) return store_error(s);
    } else {
      if (!target->deleted) {
        return error(ErrorCode::kVersionNotSoftDeleted, std::string("Version ") + std::to_string(target->version) + " of subject " +
                                                            quoted(subject) +
                                                            " was not deleted first before being permanently deleted");
      }
      auto d = txn.del(impl_->db(kVersionsDb), key);
      if (!d) return store_error(d.error());
      if (auto e = impl_->release_schema(txn, target->id)) return *e;
    }
    return target->version;
  });
}

Result<CompatibilityReport> SchemaStore::check_compatibility(const std::string& subject, int version,
                                                                  const SchemaInput& input) {
  if (auto e = validate_subject(subject)) return *e;
  auto parsed = impl_->parse_input(input);
  if (!parsed) return parsed.error();
  return impl_->in_read<CompatibilityReport>([&](lmdb::Txn& txn) -> Result<CompatibilityReport> {
    auto versions = impl_->load_versions(txn, subject);
    if (!versions) return versions.error();
    std::vector<VersionEntry> live;
    for (const auto& v : *versions)
      if (!v.deleted) live.push_back(v);
    if (live.empty()) return error(ErrorCode::kSubjectNotFound, std::string("Subject ") + quoted(subject) + " not found");
    auto mode = impl_->mode_of(txn, &subject);
    if (!mode) return mode.error();
    if (version != kLatestVersion) {
      const auto it = std::find_if(live.begin(), live.end(), [&](const VersionEntry& v) { return v.version == version; });
      if (it == live.end()) {
        return error(ErrorCode::kVersionNotFound,
                     std::string("Version ") + std::to_string(version) + std::string(" of subject ") + quoted(subject) + " not found");
      }
      live = {*it};
    }
    return impl_->run_check(txn, *mode, parsed->schema, live);
  });
}

Result<CompatibilityMode> SchemaStore::global_mode() {
  return impl_->in_read<CompatibilityMode>([&](lmdb::Txn& txn) -> Result<CompatibilityMode> {
    return impl_->mode_of(txn, nullptr);
  });
}

Result<CompatibilityMode> SchemaStore::set_global_mode(CompatibilityMode mode) {
  std::lock_guard lk(impl_->write_mu);
  return impl_->in_write<CompatibilityMode>([&](lmdb::Txn& txn) -> Result<CompatibilityMode> {
    if (Status s = txn.put(impl_->db(kConfigDb), kGlobalConfigKey, format_compatibility_mode(mode)); !s.ok())
      return store_error(s);
    return mode;
  });
}

Result<CompatibilityMode> SchemaStore::subject_mode(const std::string& subject, bool default_to_global) {
  if (auto e = validate_subject(subject)) return *e;
  return impl_->in_read<CompatibilityMode>([&](lmdb::Txn& txn) -> Result<CompatibilityMode> {
    auto v = txn.get(impl_->db(kConfigDb), subject);
    if (!v) return store_error(v.error());
    if (!v->has_value()) {
      if (default_to_global) return impl_->mode_of(txn, nullptr);
      return error(ErrorCode::kSubjectConfigNotFound,
                   std::string("Subject ") + quoted(subject) + " does not have subject-level compatibility configured");
    }
    auto m = parse_compatibility_mode(**v);
    if (!m) return error(ErrorCode::kStoreError, std::string("stored mode of ") + quoted(subject) + " is corrupt");
    return *m;
  });
}

Result<CompatibilityMode> SchemaStore::set_subject_mode(const std::string& subject, CompatibilityMode mode) {
  if (auto e = validate_subject(subject)) return *e;
  std::lock_guard lk(impl_->write_mu);
  return impl_->in_write<CompatibilityMode>([&](lmdb::Txn& txn) -> Result<CompatibilityMode> {
    if (Status s = txn.put(impl_->db(kConfigDb), subject, format_compatibility_mode(mode)); !s.ok())
      return store_error(s);
    return mode;
  });
}

Result<CompatibilityMode> SchemaStore::delete_subject_mode(const std::string& subject) {
  auto current = subject_mode(subject, false);
  if (!current) return current.error();
  std::lock_guard lk(impl_->write_mu);
  return impl_->in_write<CompatibilityMode>([&](lmdb::Txn& txn) -> Result<CompatibilityMode> {
    auto d = txn.del(impl_->db(kConfigDb), subject);
    if (!d) return store_error(d.error());
    return *current;
  });
}

}  // namespace causeway::registry
