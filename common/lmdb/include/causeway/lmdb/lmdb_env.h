// File: causeway/lmdb/lmdb_env.h
//
// causeway::lmdb — the one LMDB wrapper of the project, linked privately by the broker's
// metadata store (docs/meta-store.md) and the schema registry's store (docs/registry.md,
// "Storage layout"): small RAII wrappers over the LMDB C API in the style of lmdbxx's
// lmdb++.h, with map growth and errors as causeway::Status values naming the call, the
// database and mdb_strerror's text. Not installed: nothing of it appears in a public header
// of the client.
//
// What the wrappers take care of:
//  - Env opens with MDB_NOTLS (a read transaction is not tied to the thread that began it),
//    clears stale reader slots (mdb_reader_check) on open and when the reader table is full,
//    and refuses to open the same directory twice in one process (LMDB's locks are
//    per-process; a second handle would silently break them).
//  - Env::write runs a function in a write transaction and commits it. When LMDB reports
//    MDB_MAP_FULL the transaction is aborted, the map is grown (doubling, up to
//    EnvOptions::max_map_bytes) and the function runs again from scratch, so it must have no
//    effects outside the transaction. At the maximum the error is kResourceExhausted.
//  - When another process has grown the map (MDB_MAP_RESIZED), the new size is adopted and
//    the transaction begun again.
//  - Txn aborts unless committed. Bytes returned by Txn/Cursor point into the map and are
//    valid only until the transaction ends: copy them out first.
//
// Thread-safety: Env is thread-safe. A Txn and its Cursors belong to the one call of
// Env::read/Env::write that created them. LMDB allows one write transaction per
// environment at a time (it serialises writers with its own lock); never call Env::write or
// Env::read from inside the function passed to Env::write or Env::read (it would wait on
// itself or block a map resize).
#pragma once

#include <lmdb.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "causeway/common/status.h"

namespace causeway::lmdb {

// A Status for LMDB return code `rc` from `call` ("mdb_put(topics)"), with mdb_strerror's
// text. Codes: MDB_NOTFOUND -> kNotFound; MDB_KEYEXIST -> kAlreadyExists; MDB_MAP_FULL,
// MDB_TXN_FULL, MDB_READERS_FULL, MDB_DBS_FULL and other table limits, ENOSPC ->
// kResourceExhausted; MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID, MDB_VERSION_MISMATCH
// -> kCorruption; MDB_MAP_RESIZED -> kUnavailable; MDB_BAD_VALSIZE, EINVAL ->
// kInvalidArgument; MDB_INCOMPATIBLE -> kFailedPrecondition; other LMDB codes -> kInternal;
// other errno values -> kIOError.
Status lmdb_status(std::string_view call, int rc);

struct EnvOptions {
  // Initial size of the memory map (address space, not disk: the file grows as pages are
  // used). Grown automatically on MDB_MAP_FULL.
  uint64_t initial_map_bytes = 64ull << 20;
  // The map never grows past this; a write that needs more fails with kResourceExhausted.
  uint64_t max_map_bytes = 16ull << 30;
  unsigned max_dbs = 8;
  unsigned max_readers = 126;
  // Extra mdb_env_open flags (e.g. MDB_NOSYNC | MDB_NOMETASYNC). MDB_NOTLS is always set.
  unsigned flags = 0;
  mode_t file_mode = 0640;
};

// A named database handle. Handles are opened once, in Env's first write transaction, and
// stay valid until the Env is closed.
struct Dbi {
  MDB_dbi handle = 0;
  std::string name;  // for error messages
};

class Env;

// A transaction; aborted on destruction unless commit() succeeded.
class Txn {
 public:
  Txn(Txn&& other) noexcept;
  Txn& operator=(Txn&&) = delete;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn();

  bool is_read_only() const noexcept { return read_only_; }
  MDB_txn* handle() const noexcept { return txn_; }

  // Opens (creating if absent, in a write transaction) a named database.
  Result<Dbi> open_dbi(const char* name, unsigned flags);

  // The value stored under `key`, or nullopt. The view points into the map: valid until
  // this transaction ends.
  Result<std::optional<std::string_view>> get(const Dbi& dbi, std::string_view key);
  Status put(const Dbi& dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  // Deletes `key` (every duplicate, in an MDB_DUPSORT database). False if it was absent.
  Result<bool> del(const Dbi& dbi, std::string_view key);
  // Deletes one (key, value) pair of an MDB_DUPSORT database. False if it was absent.
  Result<bool> del(const Dbi& dbi, std::string_view key, std::string_view value);

  // Commits; afterwards the transaction is gone whatever the outcome.
  Status commit();
  // True once any call in this transaction failed with MDB_MAP_FULL (Env::write retries).
  bool saw_map_full() const noexcept { return saw_map_full_; }

 private:
  friend class Env;
  friend class Cursor;
  Txn(MDB_txn* txn, bool read_only, std::shared_lock<std::shared_mutex> resize_lock) noexcept
      : txn_(txn), read_only_(read_only), resize_lock_(std::move(resize_lock)) {}
  Status check(std::string_view call, const Dbi& dbi, int rc);

  MDB_txn* txn_ = nullptr;
  bool read_only_ = true;
  bool saw_map_full_ = false;
  // Held for the transaction's life: the map may only be resized when no transaction of
  // this process is running (mdb_env_set_mapsize remaps the file).
  std::shared_lock<std::shared_mutex> resize_lock_;
};

// A cursor over one database of one transaction; closed on destruction, which must come
// before the transaction ends (a write transaction frees its cursors itself).
class Cursor {
 public:
  static Result<Cursor> open(Txn& txn, const Dbi& dbi);
  Cursor(Cursor&& other) noexcept
      : cursor_(std::exchange(other.cursor_, nullptr)), txn_(other.txn_), dbi_(other.dbi_) {}
  Cursor& operator=(Cursor&&) = delete;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor();

  // Each positions the cursor and fills key/value (views valid until the transaction
  // ends). False when there is no such entry (end of database, nothing at or after `at`).
  Result<bool> first(std::string_view& key, std::string_view& value);
  // The first entry whose key is >= `at` (MDB_SET_RANGE).
  Result<bool> seek(std::string_view at, std::string_view& key, std::string_view& value);
  // The next entry, including the next duplicate of the same key (MDB_NEXT).
  Result<bool> next(std::string_view& key, std::string_view& value);
  // The first entry of the next distinct key (MDB_NEXT_NODUP).
  Result<bool> next_key(std::string_view& key, std::string_view& value);

 private:
  Cursor(MDB_cursor* cursor, Txn* txn, const Dbi* dbi) noexcept : cursor_(cursor), txn_(txn), dbi_(dbi) {}
  Result<bool> get(MDB_cursor_op op, const char* op_name, std::string_view& key, std::string_view& value);

  MDB_cursor* cursor_ = nullptr;
  Txn* txn_ = nullptr;
  const Dbi* dbi_ = nullptr;
};

// Calls `fn(key, value)` for every entry of `dbi` whose key starts with `prefix` (all
// entries for an empty prefix), in key order, until `fn` returns false. Views are valid
// until the transaction ends. Do not write to `dbi` from `fn`.
Status for_each_with_prefix(Txn& txn, const Dbi& dbi, std::string_view prefix,
                            const std::function<bool(std::string_view key, std::string_view value)>& fn);

class Env {
 public:
  // Opens (creating the directory and the environment if absent) the LMDB environment in
  // `dir`. Errors: kCorruption when the files are not a readable LMDB environment (bad
  // magic, wrong version, data file shorter than its own meta page says); kFailedPrecondition
  // when `dir` is already open in this process; kIOError / kResourceExhausted from the OS.
  static Result<std::unique_ptr<Env>> open(const std::string& dir, const EnvOptions& options);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // Runs `fn` in a write transaction and commits it if `fn` returned OK; otherwise aborts
  // and returns fn's error. On MDB_MAP_FULL grows the map and runs `fn` again (so `fn` must
  // only touch the transaction and its own outputs). Blocks while another thread writes;
  // with synchronous commits it returns after the data is on disk.
  Status write(const std::function<Status(Txn&)>& fn);
  // Runs `fn` in a read-only transaction (a consistent snapshot).
  Status read(const std::function<Status(Txn&)>& fn);

  // mdb_env_sync: flushes data written by commits made with MDB_NOSYNC/MDB_NOMETASYNC.
  Status sync(bool force);

  MDB_env* handle() const noexcept { return env_; }
  const std::string& dir() const noexcept { return dir_; }
  uint64_t map_bytes() const noexcept { return map_bytes_.load(std::memory_order_relaxed); }
  int max_key_bytes() const noexcept { return mdb_env_get_maxkeysize(env_); }
  // Stale reader slots (of dead processes) cleared when the environment was opened.
  int stale_readers_cleared() const noexcept { return stale_readers_cleared_; }

  // True while an Env for `dir` is open in this process.
  static bool is_open_in_process(const std::string& dir);

 private:
  Env(MDB_env* env, std::string dir, std::string registered_path, EnvOptions options);
  // Begins a transaction holding a shared lock on resize_mu_. Handles MDB_MAP_RESIZED
  // (another process grew the map) and MDB_READERS_FULL (clears stale readers, retries).
  Result<Txn> begin(bool read_only);
  // Grows the map after a transaction that saw MDB_MAP_FULL at map size `seen_map_bytes`.
  Status grow(uint64_t seen_map_bytes);
  Status adopt_new_map_size();  // after MDB_MAP_RESIZED

  MDB_env* env_ = nullptr;
  std::string dir_;
  std::string registered_path_;  // canonical path in the open-in-process registry
  EnvOptions options_;
  std::atomic<uint64_t> map_bytes_{0};
  int stale_readers_cleared_ = 0;
  // Shared by every running transaction of this process; exclusive while resizing the map.
  std::shared_mutex resize_mu_;
};

// Key bytes for messages: printable ASCII as is, everything else as \xNN, cut at 64 bytes.
std::string printable_key(std::string_view key);

}  // namespace causeway::lmdb
