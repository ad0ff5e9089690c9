// File: schema-registry/src/lmdb.h
//
// The registry's own small LMDB wrapper: an environment, RAII transactions that abort unless
// committed, and prefix scans. The broker has a fuller one (broker/src/meta/lmdb_env.h, with
// map growth and verified FlatBuffers values); the registry keeps this one so that
// causeway::registry does not depend on causeway::broker (the broker will embed the registry,
// not the other way round) and because it needs none of the broker's extras: registry data
// is small (a map of `map_bytes` address space, 1 GiB by default, never grows) and values are
// JSON. What is stored with it: docs/registry.md, "Storage layout".
//
// Thread-safety: Env is thread-safe. A Txn belongs to the thread that began it; views it
// returns point into the map and are valid only until the transaction ends.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "causeway/common/status.h"

namespace causeway::registry::lmdb {

// A Status for LMDB return code `rc` of `call`, with mdb_strerror's text. MDB_NOTFOUND ->
// kNotFound; MDB_MAP_FULL and other table limits -> kResourceExhausted; MDB_CORRUPTED,
// MDB_INVALID, MDB_VERSION_MISMATCH -> kCorruption; other -> kIOError / kInternal.
Status lmdb_status(std::string_view call, int rc);

class Txn {
 public:
  Txn(Txn&& other) noexcept;
  Txn& operator=(Txn&&) = delete;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn();

  // The value under `key` in `dbi`, or nullopt; valid until the transaction ends.
  Result<std::optional<std::string_view>> get(MDB_dbi dbi, std::string_view key);
  Status put(MDB_dbi dbi, std::string_view key, std::string_view value);
  // False if `key` was absent.
  Result<bool> del(MDB_dbi dbi, std::string_view key);
  // Calls `fn(key, value)` for every entry whose key starts with `prefix`, in key order,
  // until it returns false. Do not modify `dbi` from `fn`.
  Status scan(MDB_dbi dbi, std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn);
  Status commit();

 private:
  friend class Env;
  explicit Txn(MDB_txn* txn) noexcept : txn_(txn) {}
  MDB_txn* txn_ = nullptr;
};

class Env {
 public:
  // Opens (creating if absent) the environment in the existing directory `dir` and the named
  // databases `dbi_names` (at most 8), in that order; dbi(i) is the i-th.
  static Result<std::unique_ptr<Env>> open(const std::string& dir, std::uint64_t map_bytes,
                                           std::initializer_list<const char*> dbi_names);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  MDB_dbi dbi(std::size_t index) const { return dbis_[index]; }
  Result<Txn> begin_write();
  Result<Txn> begin_read();

 private:
  explicit Env(MDB_env* env) : env_(env) {}
  MDB_env* env_ = nullptr;
  MDB_dbi dbis_[8] = {};
};

}  // namespace causeway::registry::lmdb
