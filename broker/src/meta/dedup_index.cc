// DedupIndex: dedup keys in their own LMDB environment, with secondary indexes by time
// (expiry) and by offset (truncation). See dedup_index.h for the contract and
// docs/meta-store.md for the databases and key layouts.
#include "meta/dedup_index.h"

#include <fcntl.h>
#include <lmdb.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <tuple>

#include "causeway/common/coding.h"
#include "causeway/schemas/meta_generated.h"
#include "meta/lmdb_env.h"

namespace causeway::meta {

namespace fbs = ::causeway::schemas;
using lmdb::Cursor;
using lmdb::Txn;

struct DedupIndex::Dbs {
  lmdb::Dbi info;         // "info" -> DedupInfo
  lmdb::Dbi dedup;        // entry key (below) -> DedupRecord
  lmdb::Dbi by_time;      // (topic, time, partition, offset) -> entry key; MDB_DUPSORT
  lmdb::Dbi by_offset;    // (topic, partition, offset) -> entry key; MDB_DUPSORT
  lmdb::Dbi checkpoints;  // (topic, partition) -> DedupCheckpoint
};

namespace {

constexpr std::string_view kInfoKey = "info";
constexpr std::string_view kMarkerFile = "OPEN";  // present while open; holds the boot id
constexpr char kInlineTag = 0x00;
constexpr char kDigestTag = 0x01;
constexpr size_t kDigestBytes = 16;
constexpr size_t kEntryKeyHeader = 4 + 1;  // topic_id, tag
constexpr size_t kMaxEntryKeyBytes = kEntryKeyHeader + DedupIndex::kMaxInlineKeyBytes;
constexpr size_t kTimeKeyBytes = 4 + 8 + 4 + 8;
constexpr size_t kOffsetKeyBytes = 4 + 4 + 8;
constexpr size_t kDropBatch = 10000;  // keys deleted per transaction by drop_topic

std::string be32(uint32_t v) {
  std::string s;
  coding::put_big_endian32(s, v);
  return s;
}

std::string digest(std::string_view key) {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  std::string out;
  coding::put_big_endian64(out, h.high64);
  coding::put_big_endian64(out, h.low64);
  return out;
}

// topic_id (u32 BE), then 0x00 + the key itself when it is at most kMaxInlineKeyBytes,
// else 0x01 + XXH3-128 digest of the key (high 64 bits BE, low 64 bits BE).
std::string entry_key(uint32_t topic_id, std::string_view key) {
  std::string k = be32(topic_id);
  if (key.size() <= DedupIndex::kMaxInlineKeyBytes) {
    k.push_back(kInlineTag);
    k.append(key);
  } else {
    k.push_back(kDigestTag);
    k += digest(key);
  }
  return k;
}

bool is_digest_entry_key(std::string_view ek) noexcept { return ek.size() > 4 && ek[4] == kDigestTag; }

// Times are signed; flipping the sign bit makes big-endian byte order match numeric order.
uint64_t sortable_time(int64_t time_ms) noexcept { return static_cast<uint64_t>(time_ms) ^ (1ull << 63); }
int64_t unsortable_time(uint64_t v) noexcept { return static_cast<int64_t>(v ^ (1ull << 63)); }

std::string time_key(uint32_t topic_id, int64_t time_ms, uint32_t partition, uint64_t offset) {
  std::string k = be32(topic_id);
  coding::put_big_endian64(k, sortable_time(time_ms));
  coding::put_big_endian32(k, partition);
  coding::put_big_endian64(k, offset);
  return k;
}

std::string offset_key(uint32_t topic_id, uint32_t partition, uint64_t offset) {
  std::string k = be32(topic_id);
  coding::put_big_endian32(k, partition);
  coding::put_big_endian64(k, offset);
  return k;
}

std::string checkpoint_key(uint32_t topic_id, uint32_t partition) {
  std::string k = be32(topic_id);
  coding::put_big_endian32(k, partition);
  return k;
}

std::string describe_entry_key(std::string_view ek) {
  if (ek.size() < kEntryKeyHeader) return "dedup[" + lmdb::printable_key(ek) + "]";
  std::string out = "dedup[topic " + std::to_string(coding::decode_big_endian32(ek.data()));
  if (ek[4] == kDigestTag) return out + ", digest " + lmdb::printable_key(ek.substr(kEntryKeyHeader)) + "]";
  return out + ", key \"" + lmdb::printable_key(ek.substr(kEntryKeyHeader)) + "\"]";
}

// An entry key read back from a secondary index must be well formed and of this topic.
Status check_entry_key(std::string_view ek, std::string_view topic_prefix, std::string_view where) {
  const bool ok = ek.size() > kEntryKeyHeader && ek.substr(0, 4) == topic_prefix &&
                  ((ek[4] == kInlineTag && ek.size() <= kMaxEntryKeyBytes) ||
                   (ek[4] == kDigestTag && ek.size() == kEntryKeyHeader + kDigestBytes));
  if (ok) return Status();
  return corruption(std::string(where) + " holds a malformed entry key " + lmdb::printable_key(ek));
}

Status validate_key(std::string_view key) {
  if (key.empty()) return invalid_argument("dedup key is empty");
  if (key.size() > DedupIndex::kMaxKeyBytes) {
    return invalid_argument("dedup key length " + std::to_string(key.size()) + " exceeds " +
                            std::to_string(DedupIndex::kMaxKeyBytes));
  }
  return Status();
}

struct Decoded {
  DedupEntry entry;
  lmdb::Verified<fbs::DedupRecord> record;

  // The whole dedup key: from the entry key when inline, else from the record.
  std::string_view full_key(std::string_view ek) const {
    if (!is_digest_entry_key(ek)) return ek.substr(kEntryKeyHeader);
    const flatbuffers::Vector<uint8_t>* key = record->key();
    if (key == nullptr) return {};  // decode_entry rejects this for digest keys
    return std::string_view(reinterpret_cast<const char*>(key->data()), key->size());
  }
};

// Decodes the value stored under entry key `ek`. A value that fails verification, or a
// digest entry whose stored key is missing or does not hash to the digest, is kCorruption.
Result<Decoded> decode_entry(std::string_view ek, std::string_view bytes) {
  CAUSEWAY_ASSIGN_OR_RETURN(auto rec, lmdb::read_verified<fbs::DedupRecord>(bytes, describe_entry_key(ek)));
  Decoded d{DedupEntry{rec->partition(), rec->offset(), rec->lamport(), rec->time_ms()}, std::move(rec)};
  if (is_digest_entry_key(ek)) {
    const auto* key = d.record->key();
    if (key == nullptr || key->size() <= DedupIndex::kMaxInlineKeyBytes || key->size() > DedupIndex::kMaxKeyBytes ||
        digest(d.full_key(ek)) != ek.substr(kEntryKeyHeader)) {
      return corruption(describe_entry_key(ek) + " does not hold the key its digest names");
    }
  }
  return d;
}

std::string encode_entry(uint32_t partition, const DedupInsert& e) {
  flatbuffers::FlatBufferBuilder fbb(64 + (e.key.size() > DedupIndex::kMaxInlineKeyBytes ? e.key.size() : 0));
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> key;
  if (e.key.size() > DedupIndex::kMaxInlineKeyBytes) {
    key = fbb.CreateVector(reinterpret_cast<const uint8_t*>(e.key.data()), e.key.size());
  }
  fbb.Finish(fbs::CreateDedupRecord(fbb, partition, e.offset, e.lamport, e.time_ms, key));
  return std::string(lmdb::builder_bytes(fbb));
}

std::string encode_checkpoint(uint64_t next_offset) {
  flatbuffers::FlatBufferBuilder fbb(32);
  fbb.Finish(fbs::CreateDedupCheckpoint(fbb, next_offset));
  return std::string(lmdb::builder_bytes(fbb));
}

std::string encode_info() {
  flatbuffers::FlatBufferBuilder fbb(32);
  fbb.Finish(fbs::CreateDedupInfo(fbb, DedupIndex::kFormatVersion, DedupIndex::kMaxInlineKeyBytes));
  return std::string(lmdb::builder_bytes(fbb));
}

Result<uint64_t> read_checkpoint(Txn& txn, const lmdb::Dbi& checkpoints, uint32_t topic_id, uint32_t partition) {
  CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(checkpoints, checkpoint_key(topic_id, partition)));
  if (!value) return uint64_t{0};
  CAUSEWAY_ASSIGN_OR_RETURN(auto rec, lmdb::read_verified<fbs::DedupCheckpoint>(
                                          *value, "checkpoints[topic " + std::to_string(topic_id) + ", partition " +
                                                      std::to_string(partition) + "]"));
  return rec->next_offset();
}

// Removes the entry stored under entry key `ek`, whose value decoded to `e`, and its two
// secondary index entries.
Status erase_entry(Txn& txn, const lmdb::Dbi& dedup, const lmdb::Dbi& by_time, const lmdb::Dbi& by_offset,
                   uint32_t topic_id, std::string_view ek, const DedupEntry& e) {
  CAUSEWAY_RETURN_IF_ERROR(txn.del(dedup, ek).status());
  CAUSEWAY_RETURN_IF_ERROR(txn.del(by_time, time_key(topic_id, e.time_ms, e.partition, e.offset), ek).status());
  return txn.del(by_offset, offset_key(topic_id, e.partition, e.offset), ek).status();
}

// --- The boot marker: tells a process crash (page cache intact) from an OS crash. ---

std::string current_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (!(in >> id)) return "unknown";
  return id;
}

Status fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error_errno("open " + dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return io_error_errno("fsync " + dir, err);
  return Status();
}

Status write_marker(const std::string& dir, const std::string& content) {
  const std::string path = dir + "/" + std::string(kMarkerFile);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return io_error_errno("open " + path, errno);
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return io_error_errno("write " + path, err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return io_error_errno("fsync " + path, err);
  }
  ::close(fd);
  return fsync_dir(dir);
}

Status remove_if_exists(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return io_error_errno("unlink " + path, errno);
  return Status();
}

}  // namespace

DedupIndex::DedupIndex(std::unique_ptr<lmdb::Env> env, std::unique_ptr<Dbs> dbs, std::string dir)
    : env_(std::move(env)), dbs_(std::move(dbs)), dir_(std::move(dir)) {}

DedupIndex::~DedupIndex() {
  // Only a synced index may lose its marker: without it, the next open trusts the files
  // even after an OS crash.
  const Status synced = env_->sync(true);
  if (!synced.ok()) {
    spdlog::error("dedup index {}: sync on close failed, it will be rebuilt after an OS restart: {}", dir_,
                  synced.to_string());
    return;
  }
  const Status removed = remove_if_exists(dir_ + "/" + std::string(kMarkerFile));
  if (removed.ok()) fsync_dir(dir_).ignore_error();  // best effort: a stale marker only forces a rebuild
}

Result<std::unique_ptr<DedupIndex>> DedupIndex::open(const std::string& dir, const DedupIndexOptions& options) {
  lmdb::EnvOptions env_options;
  env_options.initial_map_bytes = options.initial_map_bytes;
  env_options.max_map_bytes = options.max_map_bytes;
  env_options.max_readers = options.max_readers;
  env_options.max_dbs = 8;
  // The logs are the source of truth (see the header): no fsync per commit, and commits
  // write pages straight into the shared map (MDB_WRITEMAP) instead of one write() per
  // dirty page: 19k -> 91k single-key inserts/s measured (bench/micro/dedup_bench.cc).
  // WRITEMAP gives up LMDB's protection against stray writes into the map and lets the OS
  // flush pages in any order; both only matter after an OS crash, which the boot-id marker
  // already turns into a rebuild from the logs.
  env_options.flags = MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP;
  CAUSEWAY_ASSIGN_OR_RETURN(auto env, lmdb::Env::open(dir, env_options));

  if (env->max_key_bytes() < 0 || static_cast<size_t>(env->max_key_bytes()) < kMaxEntryKeyBytes) {
    return failed_precondition("LMDB max key size " + std::to_string(env->max_key_bytes()) + " is below the " +
                               std::to_string(kMaxEntryKeyBytes) + " bytes the dedup index needs");
  }

  const std::string marker_path = dir + "/" + std::string(kMarkerFile);
  const std::string boot_id = current_boot_id();
  {
    std::ifstream in(marker_path);
    std::string marker_boot;
    if (in && (in >> marker_boot)) {
      if (marker_boot != boot_id) {
        return corruption("dedup index " + dir + " was open when the OS stopped (boot " + marker_boot + ", now " +
                          boot_id + "); unsynced writes may be lost or torn: destroy it and rebuild it from the logs");
      }
      spdlog::info("dedup index {}: was not closed cleanly (process crash in this boot); its commits are intact", dir);
    }
  }

  auto dbs = std::make_unique<Dbs>();
  const Status status = env->write([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->info, txn.open_dbi("info", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->dedup, txn.open_dbi("dedup", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->by_time, txn.open_dbi("by_time", MDB_CREATE | MDB_DUPSORT));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->by_offset, txn.open_dbi("by_offset", MDB_CREATE | MDB_DUPSORT));
    CAUSEWAY_ASSIGN_OR_RETURN(dbs->checkpoints, txn.open_dbi("checkpoints", MDB_CREATE));
    CAUSEWAY_ASSIGN_OR_RETURN(auto info, txn.get(dbs->info, kInfoKey));
    if (!info) return txn.put(dbs->info, kInfoKey, encode_info());
    CAUSEWAY_ASSIGN_OR_RETURN(auto rec, lmdb::read_verified<fbs::DedupInfo>(*info, "info[\"info\"]"));
    if (rec->format_version() != kFormatVersion || rec->max_inline_key_bytes() != kMaxInlineKeyBytes) {
      return corruption("dedup index " + dir + " has format version " + std::to_string(rec->format_version()) +
                        " with inline keys up to " + std::to_string(rec->max_inline_key_bytes()) +
                        " bytes; this broker uses version " + std::to_string(kFormatVersion) + " with " +
                        std::to_string(kMaxInlineKeyBytes) + ": destroy it and rebuild it from the logs");
    }
    return Status();
  });
  if (status.code() == Code::kFailedPrecondition) {
    // MDB_INCOMPATIBLE: a database exists with other flags; not a file we wrote.
    return corruption("dedup index " + dir + ": " + std::string(status.message()));
  }
  CAUSEWAY_RETURN_IF_ERROR(status);
  CAUSEWAY_RETURN_IF_ERROR(env->sync(true));  // the marker must not claim more than is on disk
  CAUSEWAY_RETURN_IF_ERROR(write_marker(dir, boot_id + "\n"));
  return std::unique_ptr<DedupIndex>(new DedupIndex(std::move(env), std::move(dbs), dir));
}

Status DedupIndex::destroy(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return Status();
  if (lmdb::Env::is_open_in_process(dir)) {
    return failed_precondition("dedup index " + dir + " is open; close it before destroying it");
  }
  CAUSEWAY_RETURN_IF_ERROR(remove_if_exists(dir + "/data.mdb"));
  CAUSEWAY_RETURN_IF_ERROR(remove_if_exists(dir + "/lock.mdb"));
  CAUSEWAY_RETURN_IF_ERROR(remove_if_exists(dir + "/" + std::string(kMarkerFile)));
  spdlog::warn("dedup index {}: destroyed; it will be rebuilt from the logs", dir);
  return fsync_dir(dir);
}

Result<std::optional<DedupEntry>> DedupIndex::lookup(uint32_t topic_id, std::string_view key, int64_t not_before_ms) {
  CAUSEWAY_RETURN_IF_ERROR(validate_key(key));
  const std::string ek = entry_key(topic_id, key);
  std::optional<DedupEntry> result;
  const Status status = env_->read([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->dedup, ek));
    if (!value) return Status();
    CAUSEWAY_ASSIGN_OR_RETURN(Decoded d, decode_entry(ek, *value));
    // A digest names one key; another key with the same digest is a miss, not a hit.
    if (is_digest_entry_key(ek) && d.full_key(ek) != key) return Status();
    if (d.entry.time_ms < not_before_ms) return Status();  // expired: outside the window
    result = d.entry;
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return result;
}

Status DedupIndex::insert(uint32_t topic_id, uint32_t partition, std::span<const DedupInsert> entries,
                          uint64_t checkpoint_next_offset) {
  for (const DedupInsert& e : entries) {
    CAUSEWAY_RETURN_IF_ERROR(validate_key(e.key));
    if (e.offset >= checkpoint_next_offset) {
      return invalid_argument("dedup entry at offset " + std::to_string(e.offset) + " is not below checkpoint " +
                              std::to_string(checkpoint_next_offset));
    }
  }
  return env_->write([&](Txn& txn) -> Status {
    for (const DedupInsert& e : entries) {
      const std::string ek = entry_key(topic_id, e.key);
      CAUSEWAY_ASSIGN_OR_RETURN(auto existing, txn.get(dbs_->dedup, ek));
      if (existing) {
        CAUSEWAY_ASSIGN_OR_RETURN(Decoded old, decode_entry(ek, *existing));
        const bool same_key = !is_digest_entry_key(ek) || old.full_key(ek) == e.key;
        if (!same_key) {
          spdlog::warn("dedup index: keys of {} and {} bytes share an XXH3-128 digest in topic {}; the older entry is "
                       "replaced",
                       old.full_key(ek).size(), e.key.size(), topic_id);
        }
        if (same_key && old.entry.lamport > e.lamport) continue;  // keep the newer entry
        CAUSEWAY_RETURN_IF_ERROR(erase_entry(txn, dbs_->dedup, dbs_->by_time, dbs_->by_offset, topic_id, ek, old.entry));
      }
      CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->dedup, ek, encode_entry(partition, e)));
      CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->by_time, time_key(topic_id, e.time_ms, partition, e.offset), ek));
      CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->by_offset, offset_key(topic_id, partition, e.offset), ek));
    }
    CAUSEWAY_ASSIGN_OR_RETURN(uint64_t current, read_checkpoint(txn, dbs_->checkpoints, topic_id, partition));
    if (checkpoint_next_offset > current) {
      CAUSEWAY_RETURN_IF_ERROR(txn.put(dbs_->checkpoints, checkpoint_key(topic_id, partition),
                                       encode_checkpoint(checkpoint_next_offset)));
    }
    return Status();
  });
}

Result<uint64_t> DedupIndex::checkpoint(uint32_t topic_id, uint32_t partition) {
  uint64_t result = 0;
  const Status status = env_->read([&](Txn& txn) -> Status {
    CAUSEWAY_ASSIGN_OR_RETURN(result, read_checkpoint(txn, dbs_->checkpoints, topic_id, partition));
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return result;
}

Result<size_t> DedupIndex::truncate_partition(uint32_t topic_id, uint32_t partition, uint64_t from_offset) {
  size_t removed = 0;
  const std::string topic_prefix = be32(topic_id);
  const std::string partition_prefix = checkpoint_key(topic_id, partition);
  const Status status = env_->write([&](Txn& txn) -> Status {
    removed = 0;
    std::vector<std::pair<std::string, std::string>> doomed;  // (by_offset key, entry key)
    {
      CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->by_offset));
      std::string_view key, ek;
      CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.seek(offset_key(topic_id, partition, from_offset), key, ek));
      while (found && key.starts_with(partition_prefix)) {
        if (key.size() != kOffsetKeyBytes) {
          return corruption("by_offset key " + lmdb::printable_key(key) + " has length " + std::to_string(key.size()));
        }
        CAUSEWAY_RETURN_IF_ERROR(check_entry_key(ek, topic_prefix, "by_offset"));
        doomed.emplace_back(key, ek);
        CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, ek));
      }
    }
    for (const auto& [okey, ek] : doomed) {
      const uint64_t offset = coding::decode_big_endian64(okey.data() + 8);
      CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->dedup, ek));
      if (value) {
        CAUSEWAY_ASSIGN_OR_RETURN(Decoded d, decode_entry(ek, *value));
        if (d.entry.partition == partition && d.entry.offset == offset) {
          CAUSEWAY_RETURN_IF_ERROR(erase_entry(txn, dbs_->dedup, dbs_->by_time, dbs_->by_offset, topic_id, ek, d.entry));
          ++removed;
          continue;
        }
      }
      // A by_offset entry whose key now points elsewhere (cannot happen through this API).
      CAUSEWAY_RETURN_IF_ERROR(txn.del(dbs_->by_offset, okey, ek).status());
    }
    CAUSEWAY_ASSIGN_OR_RETURN(uint64_t current, read_checkpoint(txn, dbs_->checkpoints, topic_id, partition));
    if (current > from_offset) {
      CAUSEWAY_RETURN_IF_ERROR(
          txn.put(dbs_->checkpoints, checkpoint_key(topic_id, partition), encode_checkpoint(from_offset)));
    }
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  if (removed > 0) {
    spdlog::info("dedup index: topic {} partition {}: removed {} key(s) at or above offset {}", topic_id, partition,
                 removed, from_offset);
  }
  return removed;
}

Result<size_t> DedupIndex::expire(uint32_t topic_id, int64_t older_than_ms, size_t max_entries) {
  size_t removed = 0;
  if (max_entries == 0) return removed;
  const std::string topic_prefix = be32(topic_id);
  const Status status = env_->write([&](Txn& txn) -> Status {
    removed = 0;
    std::vector<std::pair<std::string, std::string>> doomed;  // (by_time key, entry key)
    {
      CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->by_time));
      std::string_view key, ek;
      CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.seek(topic_prefix, key, ek));
      while (found && doomed.size() < max_entries && key.starts_with(topic_prefix)) {
        if (key.size() != kTimeKeyBytes) {
          return corruption("by_time key " + lmdb::printable_key(key) + " has length " + std::to_string(key.size()));
        }
        if (unsortable_time(coding::decode_big_endian64(key.data() + 4)) >= older_than_ms) break;
        CAUSEWAY_RETURN_IF_ERROR(check_entry_key(ek, topic_prefix, "by_time"));
        doomed.emplace_back(key, ek);
        CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, ek));
      }
    }
    for (const auto& [tkey, ek] : doomed) {
      const int64_t time_ms = unsortable_time(coding::decode_big_endian64(tkey.data() + 4));
      const uint32_t partition = coding::decode_big_endian32(tkey.data() + 12);
      const uint64_t offset = coding::decode_big_endian64(tkey.data() + 16);
      CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->dedup, ek));
      if (value) {
        CAUSEWAY_ASSIGN_OR_RETURN(Decoded d, decode_entry(ek, *value));
        if (d.entry.time_ms == time_ms && d.entry.partition == partition && d.entry.offset == offset) {
          CAUSEWAY_RETURN_IF_ERROR(erase_entry(txn, dbs_->dedup, dbs_->by_time, dbs_->by_offset, topic_id, ek, d.entry));
          ++removed;
          continue;
        }
      }
      CAUSEWAY_RETURN_IF_ERROR(txn.del(dbs_->by_time, tkey, ek).status());
    }
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return removed;
}

Result<std::vector<std::pair<std::string, DedupEntry>>> DedupIndex::entries_for_partition(uint32_t topic_id,
                                                                                          uint32_t partition) {
  std::vector<std::pair<std::string, DedupEntry>> out;
  const std::string topic_prefix = be32(topic_id);
  const std::string partition_prefix = checkpoint_key(topic_id, partition);
  const Status status = env_->read([&](Txn& txn) -> Status {
    out.clear();
    CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->by_offset));
    std::string_view key, ek;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.seek(partition_prefix, key, ek));
    while (found && key.starts_with(partition_prefix)) {
      if (key.size() != kOffsetKeyBytes) {
        return corruption("by_offset key " + lmdb::printable_key(key) + " has length " + std::to_string(key.size()));
      }
      CAUSEWAY_RETURN_IF_ERROR(check_entry_key(ek, topic_prefix, "by_offset"));
      const uint64_t offset = coding::decode_big_endian64(key.data() + 8);
      CAUSEWAY_ASSIGN_OR_RETURN(auto value, txn.get(dbs_->dedup, ek));
      if (!value) return corruption("by_offset at offset " + std::to_string(offset) + " names missing " + describe_entry_key(ek));
      CAUSEWAY_ASSIGN_OR_RETURN(Decoded d, decode_entry(ek, *value));
      if (d.entry.partition != partition || d.entry.offset != offset) {
        return corruption("by_offset at partition " + std::to_string(partition) + " offset " + std::to_string(offset) +
                          " names " + describe_entry_key(ek) + ", which is at partition " +
                          std::to_string(d.entry.partition) + " offset " + std::to_string(d.entry.offset));
      }
      out.emplace_back(std::string(d.full_key(ek)), d.entry);
      CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, ek));
    }
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return out;
}

Status DedupIndex::drop_topic(uint32_t topic_id) {
  const std::string prefix = be32(topic_id);
  size_t total = 0;
  // Checkpoints last: topic_ids() finds a half-dropped topic through its entries.
  for (const lmdb::Dbi* dbi : {&dbs_->dedup, &dbs_->by_time, &dbs_->by_offset, &dbs_->checkpoints}) {
    for (;;) {
      size_t batch = 0;
      const Status status = env_->write([&](Txn& txn) -> Status {
        std::vector<std::string> keys;
        {
          CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, *dbi));
          std::string_view key, value;
          CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.seek(prefix, key, value));
          while (found && keys.size() < kDropBatch && key.starts_with(prefix)) {
            keys.emplace_back(key);
            CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next_key(key, value));
          }
        }
        for (const std::string& key : keys) CAUSEWAY_RETURN_IF_ERROR(txn.del(*dbi, key).status());
        batch = keys.size();
        return Status();
      });
      CAUSEWAY_RETURN_IF_ERROR(status);
      total += batch;
      if (batch < kDropBatch) break;
    }
  }
  spdlog::info("dedup index: dropped topic {} ({} key(s) across databases)", topic_id, total);
  return Status();
}

Result<std::vector<uint32_t>> DedupIndex::topic_ids() {
  std::set<uint32_t> ids;
  const Status status = env_->read([&](Txn& txn) -> Status {
    for (const lmdb::Dbi* dbi : {&dbs_->dedup, &dbs_->checkpoints}) {
      CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, *dbi));
      std::string_view key, value;
      CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(key, value));
      while (found) {
        if (key.size() < 4) return corruption(dbi->name + " key " + lmdb::printable_key(key) + " is too short");
        const uint32_t id = coding::decode_big_endian32(key.data());
        ids.insert(id);
        if (id == UINT32_MAX) break;
        CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.seek(be32(id + 1), key, value));  // skip the rest of this topic
      }
    }
    return Status();
  });
  CAUSEWAY_RETURN_IF_ERROR(status);
  return std::vector<uint32_t>(ids.begin(), ids.end());
}

Status DedupIndex::check_consistency() {
  return env_->read([&](Txn& txn) -> Status {
    // Every secondary entry as key || value: the keys have fixed lengths, so the
    // concatenation is unambiguous.
    std::set<std::string> by_time, by_offset;
    for (auto [dbi, entries, key_bytes] : {std::tuple{&dbs_->by_time, &by_time, kTimeKeyBytes},
                                       std::tuple{&dbs_->by_offset, &by_offset, kOffsetKeyBytes}}) {
      CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, *dbi));
      std::string_view key, value;
      CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(key, value));
      while (found) {
        if (key.size() != key_bytes) {
          return corruption(dbi->name + " key " + lmdb::printable_key(key) + " has length " +
                            std::to_string(key.size()));
        }
        CAUSEWAY_RETURN_IF_ERROR(check_entry_key(value, key.substr(0, 4), dbi->name));
        entries->insert(std::string(key) + std::string(value));
        CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(key, value));
      }
    }
    CAUSEWAY_ASSIGN_OR_RETURN(Cursor cursor, Cursor::open(txn, dbs_->dedup));
    std::string_view ek, value;
    CAUSEWAY_ASSIGN_OR_RETURN(bool found, cursor.first(ek, value));
    while (found) {
      CAUSEWAY_RETURN_IF_ERROR(check_entry_key(ek, ek.substr(0, std::min<size_t>(4, ek.size())), "dedup"));
      CAUSEWAY_ASSIGN_OR_RETURN(Decoded d, decode_entry(ek, value));
      const uint32_t topic_id = coding::decode_big_endian32(ek.data());
      const DedupEntry& e = d.entry;
      if (by_time.erase(time_key(topic_id, e.time_ms, e.partition, e.offset) + std::string(ek)) != 1) {
        return corruption(describe_entry_key(ek) + " has no by_time entry");
      }
      if (by_offset.erase(offset_key(topic_id, e.partition, e.offset) + std::string(ek)) != 1) {
        return corruption(describe_entry_key(ek) + " has no by_offset entry");
      }
      CAUSEWAY_ASSIGN_OR_RETURN(found, cursor.next(ek, value));
    }
    if (!by_time.empty()) return corruption(std::to_string(by_time.size()) + " by_time entries name no entry");
    if (!by_offset.empty()) return corruption(std::to_string(by_offset.size()) + " by_offset entries name no entry");
    return Status();
  });
}

Status DedupIndex::sync() { return env_->sync(true); }

}  // namespace causeway::meta
