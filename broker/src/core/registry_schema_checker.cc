// RegistrySchemaChecker: schema-bound topics checked against the embedded registry. See
// registry_schema_checker.h.
#include "core/registry_schema_checker.h"

#include <span>

#include "causeway/registry/payload.h"
#include "causeway/registry/store.h"

namespace causeway::core {

SchemaCheck RegistrySchemaChecker::check(std::string_view subject, uint32_t schema_id, std::string_view payload,
                                         bool verify_payload) {
  // Appended, not `"\"" + std::string(...)`: GCC 12 warns (-Wrestrict) about that form in
  // Release builds, a false positive inside libstdc++ that -Werror would make fatal.
  const std::string quoted_subject = std::string("\"").append(subject).append("\"");
  if (schema_id == 0)
    return {SchemaVerdict::kNotAVersion,
            "the event has no schema id; this topic takes events whose schema is a version of subject " +
                quoted_subject};
  if (schema_id > static_cast<uint32_t>(INT32_MAX))
    return {SchemaVerdict::kNotAVersion, "schema id " + std::to_string(schema_id) + " does not exist"};
  const int id = static_cast<int>(schema_id);

  bool member = false;
  bool has_root_type = true;
  {
    const auto now = std::chrono::steady_clock::now();
    std::unique_lock lk(mu_);
    auto it = cache_.find(schema_id);
    if (it == cache_.end() || it->second.until <= now) {
      lk.unlock();
      auto versions = store_.subject_versions_of(id);
      if (!versions) {
        if (registry::error_code(versions.error()) == registry::ErrorCode::kSchemaNotFound)
          return {SchemaVerdict::kNotAVersion, "schema id " + std::to_string(schema_id) + " does not exist"};
        return {SchemaVerdict::kUnavailable, "schema registry: " + std::string(versions.error().message())};
      }
      auto record = store_.get_schema(id);
      if (!record) {
        if (registry::error_code(record.error()) == registry::ErrorCode::kSchemaNotFound)
          return {SchemaVerdict::kNotAVersion, "schema id " + std::to_string(schema_id) + " does not exist"};
        return {SchemaVerdict::kUnavailable, "schema registry: " + std::string(record.error().message())};
      }
      Subjects entry;
      for (const auto& [s, v] : *versions) entry.live.insert(s);
      entry.has_root_type = !record->root_type.empty();
      entry.until = now + cache_for_;
      lk.lock();
      if (cache_.size() >= kMaxCachedIds) cache_.clear();  // bounded; refilled on demand
      it = cache_.insert_or_assign(schema_id, std::move(entry)).first;
    }
    member = it->second.live.count(subject) > 0;
    has_root_type = it->second.has_root_type;
  }
  if (!has_root_type) return {SchemaVerdict::kNotAVersion, no_root_type_message(schema_id)};
  if (!member)
    return {SchemaVerdict::kNotAVersion,
            "schema id " + std::to_string(schema_id) + " is not a version of subject " + quoted_subject};
  if (!verify_payload) return {};

  auto parsed = store_.parsed_schema(id);
  if (!parsed) return {SchemaVerdict::kUnavailable, "schema registry: " + std::string(parsed.error().message())};
  const Status verified = registry::verify_payload(
      **parsed, std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
  if (!verified.ok())
    return {SchemaVerdict::kInvalidPayload,
            "payload does not verify against schema id " + std::to_string(schema_id) + ": " +
                std::string(verified.message())};
  return {};
}

Result<std::vector<uint8_t>> RegistrySchemaChecker::reflection_schema(uint32_t schema_id) {
  CAUSEWAY_ASSIGN_OR_RETURN(auto parsed, store_.parsed_schema(schema_id));
  return parsed->reflection_bytes;
}

}  // namespace causeway::core
