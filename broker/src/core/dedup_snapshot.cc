// The dedup window's shutdown snapshot. See core/dedup_snapshot.h.
#include "core/dedup_snapshot.h"

#include <algorithm>
#include <memory>
#include <set>

#include "causeway/common/coding.h"
#include "causeway/common/crc32c.h"

namespace causeway::core {
namespace {

enum RecordType : uint32_t { kFileRecord = 1, kTopicRecord = 2, kKeysRecord = 3, kEndRecord = 4 };
// Version 2 keeps a key's digest in 12 bytes, as the window does (96 bits); version 1,
// written by brokers before commit f74121d (2026-12-06), kept 16. Both are read: a
// version 1 digest loses its top 32 bits, which lookups no longer compare. A broker from
// before version 2 finds an unknown version, discards the file and reads its logs, so it
// never compares digests it lacks.
constexpr uint32_t kVersion = 2;
constexpr uint32_t kVersion1 = 1;
constexpr size_t kHeaderBytes = 12;
constexpr size_t kEntryBytes = 40;
constexpr size_t kVersion1EntryBytes = 44;
// Keys per keys record: 40 x 262,144 = 10.5 MiB, under kMaxSnapshotRecordBytes.
constexpr size_t kKeysPerRecord = 262144;

void put32(std::string& out, uint32_t v) {
  char b[4];
  coding::encode_fixed32(b, v);
  out.append(b, 4);
}
void put64(std::string& out, uint64_t v) {
  char b[8];
  coding::encode_fixed64(b, v);
  out.append(b, 8);
}

// Appends to a file through write_at, in large writes.
class Writer {
 public:
  explicit Writer(storage::File& f) : f_(f) {}
  Status record(uint32_t type, const std::string& payload) {
    std::string header;
    put32(header, type);
    put32(header, static_cast<uint32_t>(payload.size()));
    uint32_t crc = crc32c::value(header.data(), header.size());
    crc = crc32c::extend(crc, payload.data(), payload.size());
    put32(header, crc32c::mask(crc));
    buf_ += header;
    buf_ += payload;
    return buf_.size() >= (4u << 20) ? flush() : Status();
  }
  Status flush() {
    if (buf_.empty()) return Status();
    CAUSEWAY_RETURN_IF_ERROR(f_.write_at(at_, buf_));
    at_ += buf_.size();
    buf_.clear();
    return Status();
  }

 private:
  storage::File& f_;
  uint64_t at_ = 0;
  std::string buf_;
};

}  // namespace

Status write_dedup_snapshot(storage::FileSystem& fs, const std::string& path, const DedupWindow& window,
                            const std::vector<SnapshotTopic>& topics, int64_t now_ms) {
  const std::string tmp = path + ".tmp";
  if (fs.exists(tmp)) CAUSEWAY_RETURN_IF_ERROR(fs.remove(tmp));
  CAUSEWAY_ASSIGN_OR_RETURN(std::unique_ptr<storage::File> f, fs.open(tmp, storage::OpenMode::kCreateNew));
  Writer w(*f);
  std::string payload;
  put32(payload, kVersion);
  put64(payload, static_cast<uint64_t>(now_ms));
  CAUSEWAY_RETURN_IF_ERROR(w.record(kFileRecord, payload));
  uint64_t keys = 0;
  for (const SnapshotTopic& t : topics) {
    payload.clear();
    put32(payload, t.topic_id);
    put64(payload, static_cast<uint64_t>(t.dropped_below_ms));
    put32(payload, static_cast<uint32_t>(t.partitions.size()));
    for (const SnapshotPartition& p : t.partitions) {
      put64(payload, p.start_offset);
      put64(payload, p.end_offset);
      put64(payload, p.last_lamport);
    }
    CAUSEWAY_RETURN_IF_ERROR(w.record(kTopicRecord, payload));
    Status written;
    window.export_topic(t.topic_id, kKeysPerRecord, [&](std::span<const DedupDigestEntry> entries) {
      if (!written.ok()) return;
      payload.clear();
      payload.reserve(8 + entries.size() * kEntryBytes);
      put32(payload, t.topic_id);
      put32(payload, static_cast<uint32_t>(entries.size()));
      for (const DedupDigestEntry& e : entries) {
        put64(payload, e.digest_lo);
        put32(payload, e.digest_hi);
        put32(payload, e.entry.partition);
        put64(payload, e.entry.offset);
        put64(payload, e.entry.lamport);
        put64(payload, static_cast<uint64_t>(e.entry.time_ms));
      }
      keys += entries.size();
      written = w.record(kKeysRecord, payload);
    });
    CAUSEWAY_RETURN_IF_ERROR(written);
  }
  payload.clear();
  put32(payload, static_cast<uint32_t>(topics.size()));
  put64(payload, keys);
  CAUSEWAY_RETURN_IF_ERROR(w.record(kEndRecord, payload));
  CAUSEWAY_RETURN_IF_ERROR(w.flush());
  f.reset();
  return fs.rename(tmp, path);
}

Status read_dedup_snapshot(storage::FileSystem& fs, const std::string& path,
                           const std::function<std::vector<bool>(const SnapshotTopic&)>& on_topic,
                           const std::function<void(uint32_t, std::span<const DedupDigestEntry>)>& on_keys) {
  CAUSEWAY_ASSIGN_OR_RETURN(std::unique_ptr<storage::File> f, fs.open(path, storage::OpenMode::kReadOnly));
  CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t size, f->size());
  uint64_t at = 0;
  std::string payload;
  const auto bad = [&](const std::string& why) {
    return corruption("dedup snapshot " + path + ": " + why + " at byte " + std::to_string(at));
  };
  // The current topic: its id, partition count and which partitions' keys are taken.
  bool in_topic = false;
  uint32_t topic_id = 0;
  std::vector<bool> take;
  uint32_t topics = 0;
  uint64_t keys = 0;
  bool first = true;
  size_t entry_bytes = kEntryBytes;
  std::vector<DedupDigestEntry> entries;
  std::set<uint32_t> seen_topics;
  for (;;) {
    if (at == size) return bad("no end record (the file is torn)");
    if (size - at < kHeaderBytes) return bad("a short record header");
    char header[kHeaderBytes];
    CAUSEWAY_ASSIGN_OR_RETURN(const size_t got, f->read_at(at, kHeaderBytes, header));
    if (got != kHeaderBytes) return bad("a short read");
    const uint32_t type = coding::decode_fixed32(header);
    const uint32_t length = coding::decode_fixed32(header + 4);
    const uint32_t stored_crc = crc32c::unmask(coding::decode_fixed32(header + 8));
    if (length > kMaxSnapshotRecordBytes || length > size - at - kHeaderBytes) return bad("a bad record length");
    payload.resize(length);
    CAUSEWAY_ASSIGN_OR_RETURN(const size_t body, f->read_at(at + kHeaderBytes, length, payload.data()));
    if (body != length) return bad("a short read");
    uint32_t crc = crc32c::value(header, 8);
    crc = crc32c::extend(crc, payload.data(), payload.size());
    if (crc != stored_crc) return bad("a CRC mismatch");
    const char* p = payload.data();
    if (first != (type == kFileRecord)) return bad("records out of order");
    first = false;
    switch (type) {
      case kFileRecord:
        if (length != 12) return bad("a short file record");
        if (const uint32_t version = coding::decode_fixed32(p); version == kVersion1)
          entry_bytes = kVersion1EntryBytes;
        else if (version != kVersion)
          return bad("an unknown version " + std::to_string(version));
        break;
      case kTopicRecord: {
        if (length < 16) return bad("a short topic record");
        SnapshotTopic t;
        t.topic_id = coding::decode_fixed32(p);
        t.dropped_below_ms = static_cast<int64_t>(coding::decode_fixed64(p + 4));
        const uint32_t partitions = coding::decode_fixed32(p + 12);
        if (length != 16 + uint64_t{partitions} * 24) return bad("a topic record of the wrong length");
        if (!seen_topics.insert(t.topic_id).second) return bad("a second record of topic " + std::to_string(t.topic_id));
        for (uint32_t i = 0; i < partitions; ++i) {
          const char* q = p + 16 + size_t{i} * 24;
          t.partitions.push_back(
              SnapshotPartition{coding::decode_fixed64(q), coding::decode_fixed64(q + 8), coding::decode_fixed64(q + 16)});
        }
        in_topic = true;
        topic_id = t.topic_id;
        take = on_topic(t);
        take.resize(partitions, false);
        ++topics;
        break;
      }
      case kKeysRecord: {
        if (length < 8) return bad("a short keys record");
        const uint32_t id = coding::decode_fixed32(p);
        const uint32_t count = coding::decode_fixed32(p + 4);
        if (!in_topic || id != topic_id) return bad("keys of a topic without its topic record");
        if (length != 8 + uint64_t{count} * entry_bytes) return bad("a keys record of the wrong length");
        entries.clear();
        for (uint32_t i = 0; i < count; ++i) {
          const char* e = p + 8 + size_t{i} * entry_bytes;
          DedupDigestEntry d;
          d.digest_lo = coding::decode_fixed64(e);
          d.digest_hi = coding::decode_fixed32(e + 8);  // version 1: the low half of a u64
          e += entry_bytes - 28;                          // the entry's 28 bytes end the key
          d.entry.partition = coding::decode_fixed32(e);
          d.entry.offset = coding::decode_fixed64(e + 4);
          d.entry.lamport = coding::decode_fixed64(e + 12);
          d.entry.time_ms = static_cast<int64_t>(coding::decode_fixed64(e + 20));
          if (d.entry.partition >= take.size()) return bad("a key of a partition the topic does not have");
          if (take[d.entry.partition]) entries.push_back(d);
        }
        keys += count;
        if (!entries.empty()) on_keys(topic_id, entries);
        break;
      }
      case kEndRecord:
        if (length != 12) return bad("a short end record");
        if (coding::decode_fixed32(p) != topics || coding::decode_fixed64(p + 4) != keys)
          return bad("an end record that does not match the records before it");
        if (at + kHeaderBytes + length != size) return bad("bytes after the end record");
        return Status();
      default:
        return bad("an unknown record type " + std::to_string(type));
    }
    at += kHeaderBytes + length;
  }
}

}  // namespace causeway::core
