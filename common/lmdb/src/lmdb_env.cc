// LMDB RAII wrappers: environment, transactions, cursors, map growth. Contract:
// causeway/lmdb/lmdb_env.h; what the broker and the registry store with them:
// docs/meta-store.md and docs/registry.md.
#include "causeway/lmdb/lmdb_env.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

namespace causeway::lmdb {
namespace {

// Directories (canonical paths) with an open Env in this process. LMDB's locks are
// per-process: a second handle on the same files would share them and one close would
// release the other's.
std::mutex& registry_mutex() {
  static std::mutex mu;
  return mu;
}
std::set<std::string>& registry() {
  static std::set<std::string> open_dirs;  // guarded by registry_mutex()
  return open_dirs;
}

// Unregisters `path` unless release()d: undoes registration on every failure path of open.
class RegistryGuard {
 public:
  explicit RegistryGuard(std::string path) : path_(std::move(path)) {}
  ~RegistryGuard() {
    if (path_.empty()) return;
    std::lock_guard lk(registry_mutex());
    registry().erase(path_);
  }
  RegistryGuard(const RegistryGuard&) = delete;
  RegistryGuard& operator=(const RegistryGuard&) = delete;
  void release() { path_.clear(); }

 private:
  std::string path_;
};

Result<std::string> canonical_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::canonical(dir, ec);
  if (ec) return io_error_errno("resolve " + dir, ec.value());
  return p.string();
}

MDB_val to_val(std::string_view bytes) noexcept {
  MDB_val v;
  v.mv_size = bytes.size();
  v.mv_data = const_cast<char*>(bytes.data());
  return v;
}
std::string_view to_view(const MDB_val& v) noexcept {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

}  // namespace

Status lmdb_status(std::string_view call, int rc) {
  if (rc == MDB_SUCCESS) return Status();
  std::string msg(call);
  msg += ": ";
  msg += mdb_strerror(rc);
  switch (rc) {
    case MDB_NOTFOUND:
      return not_found(msg);
    case MDB_KEYEXIST:
      return already_exists(msg);
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_READERS_FULL:
    case MDB_DBS_FULL:
    case MDB_TLS_FULL:
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL:
    case ENOSPC:
    case ENOMEM:
#ifdef EDQUOT
    case EDQUOT:
#endif
      return resource_exhausted(msg);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return corruption(msg);
    case MDB_MAP_RESIZED:
      return unavailable(msg);
    case MDB_BAD_VALSIZE:
    case EINVAL:
      return invalid_argument(msg);
    case MDB_INCOMPATIBLE:
      return failed_precondition(msg);
    default:
      break;
  }
  if (rc < 0) return internal_error(msg);  // LMDB's own codes are negative
  return io_error(msg);
}

std::string printable_key(std::string_view key) {
  static constexpr size_t kMaxShown = 64;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < key.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  if (key.size() > kMaxShown) out += "...(" + std::to_string(key.size()) + " bytes)";
  return out;
}

// ---------------------------------------------------------------------------------------
// Txn

Txn::Txn(Txn&& other) noexcept
    : txn_(std::exchange(other.txn_, nullptr)),
      read_only_(other.read_only_),
      saw_map_full_(other.saw_map_full_),
      resize_lock_(std::move(other.resize_lock_)) {}

Txn::~Txn() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
}

Status Txn::check(std::string_view call, const Dbi& dbi, int rc) {
  if (rc == MDB_SUCCESS) return Status();
  if (rc == MDB_MAP_FULL) saw_map_full_ = true;
  std::string where(call);
  where += "(";
  where += dbi.name;
  where += ")";
  return lmdb_status(where, rc);
}

Result<Dbi> Txn::open_dbi(const char* name, unsigned flags) {
  Dbi dbi;
  dbi.name = name;
  const int rc = mdb_dbi_open(txn_, name, flags, &dbi.handle);
  CAUSEWAY_RETURN_IF_ERROR(check("mdb_dbi_open", dbi, rc));
  return dbi;
}

Result<std::optional<std::string_view>> Txn::get(const Dbi& dbi, std::string_view key) {
  MDB_val k = to_val(key);
  MDB_val v;
  const int rc = mdb_get(txn_, dbi.handle, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  CAUSEWAY_RETURN_IF_ERROR(check("mdb_get", dbi, rc));
  return std::optional<std::string_view>(to_view(v));
}

Status Txn::put(const Dbi& dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  return check("mdb_put", dbi, mdb_put(txn_, dbi.handle, &k, &v, flags));
}

Result<bool> Txn::del(const Dbi& dbi, std::string_view key) {
  MDB_val k = to_val(key);
  const int rc = mdb_del(txn_, dbi.handle, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  CAUSEWAY_RETURN_IF_ERROR(check("mdb_del", dbi, rc));
  return true;
}

Result<bool> Txn::del(const Dbi& dbi, std::string_view key, std::string_view value) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  const int rc = mdb_del(txn_, dbi.handle, &k, &v);
  if (rc == MDB_NOTFOUND) return false;
  CAUSEWAY_RETURN_IF_ERROR(check("mdb_del", dbi, rc));
  return true;
}

Status Txn::commit() {
  if (txn_ == nullptr) return internal_error("commit of a finished LMDB transaction");
  const int rc = mdb_txn_commit(std::exchange(txn_, nullptr));  // frees the txn either way
  if (resize_lock_.owns_lock()) resize_lock_.unlock();
  if (rc == MDB_MAP_FULL) saw_map_full_ = true;
  return lmdb_status("mdb_txn_commit", rc);
}

// ---------------------------------------------------------------------------------------
// Cursor

Result<Cursor> Cursor::open(Txn& txn, const Dbi& dbi) {
  MDB_cursor* cursor = nullptr;
  CAUSEWAY_RETURN_IF_ERROR(txn.check("mdb_cursor_open", dbi, mdb_cursor_open(txn.txn_, dbi.handle, &cursor)));
  return Cursor(cursor, &txn, &dbi);
}

Cursor::~Cursor() {
  if (cursor_ != nullptr) mdb_cursor_close(cursor_);
}

Result<bool> Cursor::get(MDB_cursor_op op, const char* op_name, std::string_view& key, std::string_view& value) {
  MDB_val k = to_val(key);
  MDB_val v;
  v.mv_size = 0;
  v.mv_data = nullptr;
  const int rc = mdb_cursor_get(cursor_, &k, &v, op);
  if (rc == MDB_NOTFOUND) return false;
  CAUSEWAY_RETURN_IF_ERROR(txn_->check(op_name, *dbi_, rc));
  key = to_view(k);
  value = to_view(v);
  return true;
}

Result<bool> Cursor::first(std::string_view& key, std::string_view& value) {
  key = {};
  return get(MDB_FIRST, "mdb_cursor_get/MDB_FIRST", key, value);
}
Result<bool> Cursor::seek(std::string_view at, std::string_view& key, std::string_view& value) {
  key = at;
  return get(MDB_SET_RANGE, "mdb_cursor_get/MDB_SET_RANGE", key, value);
}
Result<bool> Cursor::next(std::string_view& key, std::string_view& value) {
  return get(MDB_NEXT, "mdb_cursor_get/MDB_NEXT", key, value);
}
Result<bool> Cursor::next_key(std::string_view& key, std::string_view& value) {
  return get(MDB_NEXT_NODUP, "mdb_cursor_get/MDB_NEXT_NODUP", key, value);
}

Status for_each_with_prefix(Txn& txn, const Dbi& dbi, std::string_view prefix,
                            const std::function<bool(std::string_view, std::string_view)>& fn) {
  CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbi));
  std::string_view key;
  std::string_view value;
  CAUSEWAY_ASSIGN_OR_RETURN(bool found, prefix.empty() ? cursor.first(key, value) : cursor.seek(prefix, key, value));
  while (found) {
    if (key.substr(0, prefix.size()) != prefix || !fn(key, value)) break;
    CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, value));
  }
  return Status();
}

// ---------------------------------------------------------------------------------------
// Env

Env::Env(MDB_env* env, std::string dir, std::string registered_path, EnvOptions options)
    : env_(env), dir_(std::move(dir)), registered_path_(std::move(registered_path)), options_(options) {}

Env::~Env() {
  mdb_env_close(env_);
  std::lock_guard lk(registry_mutex());
  registry().erase(registered_path_);
}

bool Env::is_open_in_process(const std::string& dir) {
  auto canon = canonical_dir(dir);
  if (!canon) return false;
  std::lock_guard lk(registry_mutex());
  return registry().count(*canon) > 0;
}

Result<std::unique_ptr<Env>> Env::open(const std::string& dir, const EnvOptions& options) {
  if (options.initial_map_bytes == 0 || options.max_map_bytes < options.initial_map_bytes) {
    return invalid_argument("LMDB map sizes: initial_map_bytes " + std::to_string(options.initial_map_bytes) +
                            " must be positive and at most max_map_bytes " +
                            std::to_string(options.max_map_bytes));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error_errno("create directory " + dir, ec.value());
  CAUSEWAY_ASSIGN_OR_RETURN(std::string canon, canonical_dir(dir));
  {
    std::lock_guard lk(registry_mutex());
    if (!registry().insert(canon).second) {
      return failed_precondition("LMDB environment " + dir + " is already open in this process");
    }
  }
  RegistryGuard guard(canon);

  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != MDB_SUCCESS) return lmdb_status("mdb_env_create", rc);
  auto fail = [&](std::string_view call, int code) {
    mdb_env_close(env);
    return lmdb_status(std::string(call) + " " + dir, code);
  };
  if ((rc = mdb_env_set_maxdbs(env, options.max_dbs)) != MDB_SUCCESS) return fail("mdb_env_set_maxdbs", rc);
  if ((rc = mdb_env_set_maxreaders(env, options.max_readers)) != MDB_SUCCESS) {
    return fail("mdb_env_set_maxreaders", rc);
  }
  if ((rc = mdb_env_set_mapsize(env, options.initial_map_bytes)) != MDB_SUCCESS) {
    return fail("mdb_env_set_mapsize", rc);
  }
  if ((rc = mdb_env_open(env, dir.c_str(), MDB_NOTLS | options.flags, options.file_mode)) != MDB_SUCCESS) {
    return fail("mdb_env_open", rc);
  }

  // Reader slots left by processes that died inside a read transaction pin old pages (the
  // file grows) and eventually fill the table.
  int dead = 0;
  if ((rc = mdb_reader_check(env, &dead)) != MDB_SUCCESS) return fail("mdb_reader_check", rc);
  if (dead > 0) spdlog::warn("LMDB {}: cleared {} stale reader slot(s)", dir, dead);

  // A data file shorter than the pages its meta page claims would turn reads into SIGBUS
  // through the map; report it as corruption instead.
  MDB_envinfo info;
  MDB_stat stat;
  if ((rc = mdb_env_info(env, &info)) != MDB_SUCCESS) return fail("mdb_env_info", rc);
  if ((rc = mdb_env_stat(env, &stat)) != MDB_SUCCESS) return fail("mdb_env_stat", rc);
  const uint64_t needed = (static_cast<uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
  const std::string data_file = dir + "/data.mdb";
  const uint64_t actual = std::filesystem::file_size(data_file, ec);
  if (ec) {
    mdb_env_close(env);
    return io_error_errno("stat " + data_file, ec.value());
  }
  if (actual < needed) {
    mdb_env_close(env);
    return corruption("LMDB data file " + data_file + " is " + std::to_string(actual) +
                      " bytes but its last page ends at byte " + std::to_string(needed));
  }

  std::unique_ptr<Env> out(new Env(env, dir, canon, options));
  out->map_bytes_.store(info.me_mapsize, std::memory_order_relaxed);
  out->stale_readers_cleared_ = dead;
  guard.release();
  return out;
}

Result<Txn> Env::begin(bool read_only) {
  const char* call = read_only ? "mdb_txn_begin(read)" : "mdb_txn_begin(write)";
  bool checked_readers = false;
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::shared_lock lk(resize_mu_);
    MDB_txn* txn = nullptr;
    const int rc = mdb_txn_begin(env_, nullptr, read_only ? MDB_RDONLY : 0u, &txn);
    if (rc == MDB_SUCCESS) return Txn(txn, read_only, std::move(lk));
    lk.unlock();
    if (rc == MDB_MAP_RESIZED) {
      CAUSEWAY_RETURN_IF_ERROR(adopt_new_map_size());
      continue;
    }
    if (rc == MDB_READERS_FULL && !checked_readers) {
      checked_readers = true;
      int dead = 0;
      if (mdb_reader_check(env_, &dead) == MDB_SUCCESS && dead > 0) {
        spdlog::warn("LMDB {}: reader table full; cleared {} stale reader slot(s)", dir_, dead);
        continue;
      }
    }
    return lmdb_status(call, rc);
  }
  return unavailable(std::string(call) + ": the map kept being resized by another process");
}

Status Env::adopt_new_map_size() {
  std::unique_lock lk(resize_mu_);
  // Size 0 adopts the size another process has set (lmdb.h, mdb_env_set_mapsize).
  CAUSEWAY_RETURN_IF_ERROR(lmdb_status("mdb_env_set_mapsize(0)", mdb_env_set_mapsize(env_, 0)));
  MDB_envinfo info;
  CAUSEWAY_RETURN_IF_ERROR(lmdb_status("mdb_env_info", mdb_env_info(env_, &info)));
  map_bytes_.store(info.me_mapsize, std::memory_order_relaxed);
  return Status();
}

Status Env::grow(uint64_t seen_map_bytes) {
  // Exclusive: mdb_env_set_mapsize remaps the file, so no transaction of this process may
  // be running (every Txn holds resize_mu_ shared).
  std::unique_lock lk(resize_mu_);
  const uint64_t current = map_bytes_.load(std::memory_order_relaxed);
  if (current != seen_map_bytes) return Status();  // another writer grew it meanwhile
  if (current >= options_.max_map_bytes) {
    return resource_exhausted("LMDB environment " + dir_ + " is full: map size " + std::to_string(current) +
                              " bytes reached max_map_bytes " + std::to_string(options_.max_map_bytes));
  }
  const uint64_t next = std::min(options_.max_map_bytes, std::max<uint64_t>(current * 2, current + (uint64_t{1} << 20)));
  CAUSEWAY_RETURN_IF_ERROR(lmdb_status("mdb_env_set_mapsize " + dir_, mdb_env_set_mapsize(env_, next)));
  MDB_envinfo info;
  CAUSEWAY_RETURN_IF_ERROR(lmdb_status("mdb_env_info", mdb_env_info(env_, &info)));
  map_bytes_.store(info.me_mapsize, std::memory_order_relaxed);
  spdlog::info("LMDB {}: map grown from {} to {} bytes", dir_, current, info.me_mapsize);
  return Status();
}

Status Env::write(const std::function<Status(Txn&)>& fn) {
  for (;;) {
    const uint64_t seen = map_bytes();
    Status status;
    bool map_full = false;
    {
      CAUSEWAY_ASSIGN_OR_RETURN(Txn txn, begin(false));
      status = fn(txn);
      if (status.ok()) status = txn.commit();
      if (status.ok()) return status;
      map_full = txn.saw_map_full();
    }  // an uncommitted txn aborts here, before the resize lock is taken exclusively
    if (!map_full) return status;
    CAUSEWAY_RETURN_IF_ERROR(grow(seen));
  }
}

Status Env::read(const std::function<Status(Txn&)>& fn) {
  CAUSEWAY_ASSIGN_OR_RETURN(Txn txn, begin(true));
  return fn(txn);  // the read txn is aborted (released) when txn goes out of scope
}

Status Env::sync(bool force) {
  return lmdb_status("mdb_env_sync " + dir_, mdb_env_sync(env_, force ? 1 : 0));
}

}  // namespace causeway::lmdb
