// File: core/registry_schema_checker.h
//
// The SchemaChecker over the embedded registry's SchemaStore. Which subjects a schema id
// belongs to, and whether it has a root type, is cached for a few seconds (a version
// deleted meanwhile may still be accepted for that long); parsed schemas (their references
// resolved by the store) are cached by the store itself. A schema without a root type (a
// file of shared types, used only through references) cannot have events written with it:
// its id is refused whatever the subject.
//
// Thread-safety: check() may be called from any thread.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "core/schema_checker.h"

namespace causeway::registry {
class SchemaStore;
}

namespace causeway::core {

class RegistrySchemaChecker final : public SchemaChecker {
 public:
  explicit RegistrySchemaChecker(registry::SchemaStore& store,
                                 std::chrono::milliseconds cache_for = std::chrono::seconds(5))
      : store_(store), cache_for_(cache_for) {}

  // Always answers (a local LMDB read at worst).
  SchemaCheck check(std::string_view subject, uint32_t schema_id, std::string_view payload, bool verify_payload);

  std::optional<SchemaCheck> try_check(std::string_view subject, uint32_t schema_id, std::string_view payload,
                                       bool verify_payload) override {
    return check(subject, schema_id, payload, verify_payload);
  }
  void check_async(std::string_view subject, uint32_t schema_id, std::string_view payload, bool verify_payload,
                   CheckDone done) override {
    done(check(subject, schema_id, payload, verify_payload));
  }
  // A local LMDB read at worst (the store caches parsed schemas).
  Result<std::vector<uint8_t>> reflection_schema(uint32_t schema_id) override;

 private:
  struct Subjects {
    std::set<std::string, std::less<>> live;  // subjects with a live version using the id
    bool has_root_type = true;
    std::chrono::steady_clock::time_point until;
  };
  static constexpr size_t kMaxCachedIds = 4096;
  registry::SchemaStore& store_;
  const std::chrono::milliseconds cache_for_;
  std::mutex mu_;  // guards cache_
  std::map<uint32_t, Subjects> cache_;
};

}  // namespace causeway::core
