// The registry's LMDB wrapper. Contract: lmdb.h.
#include "lmdb.h"

#include <cerrno>
#include <utility>

namespace causeway::registry::lmdb {
namespace {

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
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_READERS_FULL:
    case MDB_DBS_FULL:
    case ENOSPC:
    case ENOMEM:
      return resource_exhausted(msg);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return corruption(msg);
    case MDB_BAD_VALSIZE:
    case EINVAL:
      return invalid_argument(msg);
    default:
      break;
  }
  if (rc < 0) return internal_error(msg);
  return io_error(msg);
}

Txn::Txn(Txn&& other) noexcept : txn_(std::exchange(other.txn_, nullptr)) {}

Txn::~Txn() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
}

Result<std::optional<std::string_view>> Txn::get(MDB_dbi dbi, std::string_view key) {
  MDB_val k = to_val(key);
  MDB_val v;
  const int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != MDB_SUCCESS) return lmdb_status("mdb_get", rc);
  return std::optional<std::string_view>(to_view(v));
}

Status Txn::put(MDB_dbi dbi, std::string_view key, std::string_view value) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  return lmdb_status("mdb_put", mdb_put(txn_, dbi, &k, &v, 0));
}

Result<bool> Txn::del(MDB_dbi dbi, std::string_view key) {
  MDB_val k = to_val(key);
  const int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != MDB_SUCCESS) return lmdb_status("mdb_del", rc);
  return true;
}

Status Txn::scan(MDB_dbi dbi, std::string_view prefix,
                 const std::function<bool(std::string_view, std::string_view)>& fn) {
  MDB_cursor* cursor = nullptr;
  CAUSEWAY_RETURN_IF_ERROR(lmdb_status("mdb_cursor_open", mdb_cursor_open(txn_, dbi, &cursor)));
  MDB_val k = to_val(prefix);
  MDB_val v;
  int rc = prefix.empty() ? mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
                          : mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
  Status status;
  while (rc == MDB_SUCCESS) {
    const std::string_view key = to_view(k);
    if (key.substr(0, prefix.size()) != prefix) break;
    if (!fn(key, to_view(v))) break;
    rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) status = lmdb_status("mdb_cursor_get", rc);
  mdb_cursor_close(cursor);
  return status;
}

Status Txn::commit() {
  MDB_txn* txn = std::exchange(txn_, nullptr);
  return lmdb_status("mdb_txn_commit", mdb_txn_commit(txn));
}

Result<std::unique_ptr<Env>> Env::open(const std::string& dir, std::uint64_t map_bytes,
                                       std::initializer_list<const char*> dbi_names) {
  MDB_env* raw = nullptr;
  CAUSEWAY_RETURN_IF_ERROR(lmdb_status("mdb_env_create", mdb_env_create(&raw)));
  std::unique_ptr<Env> env(new Env(raw));
  CAUSEWAY_RETURN_IF_ERROR(lmdb_status("mdb_env_set_maxdbs", mdb_env_set_maxdbs(raw, 8)));
  CAUSEWAY_RETURN_IF_ERROR(
      lmdb_status("mdb_env_set_mapsize", mdb_env_set_mapsize(raw, static_cast<size_t>(map_bytes))));
  CAUSEWAY_RETURN_IF_ERROR(
      lmdb_status("mdb_env_open " + dir, mdb_env_open(raw, dir.c_str(), MDB_NOTLS, 0640)));
  int dead = 0;
  mdb_reader_check(raw, &dead);  // clear reader slots of dead processes
  CAUSEWAY_ASSIGN_OR_RETURN(Txn txn, env->begin_write());
  std::size_t i = 0;
  for (const char* name : dbi_names) {
    if (i == 8) return invalid_argument("at most 8 databases");
    CAUSEWAY_RETURN_IF_ERROR(lmdb_status(std::string("mdb_dbi_open ") + name,
                                         mdb_dbi_open(txn.txn_, name, MDB_CREATE, &env->dbis_[i])));
    ++i;
  }
  CAUSEWAY_RETURN_IF_ERROR(txn.commit());
  return env;
}

Env::~Env() {
  if (env_ != nullptr) mdb_env_close(env_);
}

Result<Txn> Env::begin_write() {
  MDB_txn* txn = nullptr;
  CAUSEWAY_RETURN_IF_ERROR(lmdb_status("mdb_txn_begin", mdb_txn_begin(env_, nullptr, 0, &txn)));
  return Txn(txn);
}

Result<Txn> Env::begin_read() {
  MDB_txn* txn = nullptr;
  CAUSEWAY_RETURN_IF_ERROR(
      lmdb_status("mdb_txn_begin(read)", mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn)));
  return Txn(txn);
}

}  // namespace causeway::registry::lmdb
