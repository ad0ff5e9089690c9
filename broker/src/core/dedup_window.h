// File: core/dedup_window.h
//
// DedupWindow: for every topic, the dedup keys it stored within its dedup window, in memory,
// each with the (partition, offset, lamport, time) of the event that carries it. The
// partition logs are the source of truth: every record keeps its own dedup key, so the
// window is rebuilt on open by reading each partition from the first record inside the
// window (JetStream rebuilds its Nats-Msg-Id table from the stream the same way). Because
// the index is derived from exactly what recovery kept, it can never disagree with the log
// after a crash: no checkpoint, no reconciliation. After a clean shutdown the keys of a
// partition that recovered to the end the shutdown saw come from the shutdown snapshot
// instead (core/dedup_snapshot.h), which is only a faster way to the same contents.
//
// Why memory and not LMDB: an LMDB B-tree insert per key (plus its time and offset
// indexes) capped dedup publishes at ~110k events/s against ~580k/s without keys
// (bench/load, pub100_os_dedup_c8); an open-addressing table (absl::flat_hash_map) of
// 96-bit XXH3 digests costs about one cache miss per lookup or insert. The price is
// memory, about 61 bytes per key in the window at any size (a 36-byte slot and its control
// byte at the tables' load factor; measured, docs/meta-store.md "Deduplication"), and a
// rebuild on open proportional to the window's events unless the shutdown snapshot serves
// it.
//
// A lookup matches on the digest of the key: two different keys of one topic collide with
// probability about n^2 / 2^97 for n keys in the window (2e-14 for 60 million keys).
//
// Thread-safety: all methods may be called from any thread. Each topic is split into
// shards by digest, each with its own mutex. A lookup followed by an insert is not atomic:
// the publish pipeline holds back concurrent publishes of one key (its in-flight table).
#pragma once

#include <absl/container/flat_hash_map.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace causeway::core {

struct DedupEntry {
  uint32_t partition = 0;
  uint64_t offset = 0;
  uint64_t lamport = 0;
  int64_t time_ms = 0;  // broker time the event was appended

  friend bool operator==(const DedupEntry&, const DedupEntry&) = default;
};

// One key of the window as the shutdown snapshot stores it (core/dedup_snapshot.h): the
// key's digest (the window never holds the key itself), 96 bits of XXH3's 128: all of the
// low half and the low 32 bits of the high half, and its entry.
struct DedupDigestEntry {
  uint64_t digest_lo = 0;
  uint32_t digest_hi = 0;
  DedupEntry entry;
};

struct DedupInsert {
  std::string_view key;
  uint64_t offset = 0;
  uint64_t lamport = 0;
  int64_t time_ms = 0;
};

// A key to record by its digest, for a caller that hashed it already: digest_lo and
// digest_hi are the low 64 bits and the low 32 bits of the high 64 of the key's
// XXH3_128bits (what DedupDigestEntry keeps).
struct DedupDigestInsert {
  uint64_t digest_lo = 0;
  uint32_t digest_hi = 0;
  uint64_t offset = 0;
  uint64_t lamport = 0;
  int64_t time_ms = 0;
};

class DedupWindow {
 public:
  DedupWindow() = default;
  DedupWindow(const DedupWindow&) = delete;
  DedupWindow& operator=(const DedupWindow&) = delete;

  // Starts tracking a topic (idempotent; a new window replaces nothing).
  void add_topic(uint32_t topic_id, std::chrono::milliseconds window);
  // Forgets a topic and all its keys.
  void drop_topic(uint32_t topic_id);

  // The event stored under `key` at or after `not_before_ms`, if any. Unknown topics have
  // no keys.
  std::optional<DedupEntry> find(uint32_t topic_id, std::string_view key, int64_t not_before_ms) const;
  // find() for many keys at once: out[i] answers keys[i]. Each shard's lock is taken once.
  void find_many(uint32_t topic_id, std::span<const std::string_view> keys, int64_t not_before_ms,
                 std::vector<std::optional<DedupEntry>>& out) const;

  // Records the keys of events appended to one partition. A key stored again (after its
  // earlier event left the window) points at the newer event.
  void insert(uint32_t topic_id, uint32_t partition, std::span<const DedupInsert> inserts);
  // A key's digest as insert_digests() takes it (offset, lamport and time left zero).
  static DedupDigestInsert digest_of(std::string_view key);
  // insert() for keys hashed already (DedupDigestInsert): the same entries, without hashing.
  void insert_digests(uint32_t topic_id, uint32_t partition, std::span<const DedupDigestInsert> inserts);

  // Drops keys older than each topic's window as of now_ms; returns how many. Sweeps each
  // shard that holds an expired key, unless it was swept less than a sixteenth of the
  // window ago: keys may outlive the window by that much (lookups still check their time).
  size_t expire(int64_t now_ms);

  // The shutdown snapshot (core/dedup_snapshot.h). export_topic hands `sink` every key of
  // the topic once, shard by shard, in pieces of at most `chunk` (each shard's lock is held
  // while its pieces are handed over). import_entries puts keys back by digest.
  void export_topic(uint32_t topic_id, size_t chunk,
                    const std::function<void(std::span<const DedupDigestEntry>)>& sink) const;
  void import_entries(uint32_t topic_id, std::span<const DedupDigestEntry> entries);

  // Keys held, over every topic (for logs and tests).
  size_t size() const;
  // Heap bytes the tables hold, over every topic: each table's slots and control bytes at
  // its capacity (absl's layout), not counting malloc's own overhead (for metrics and tests).
  size_t memory_bytes() const;

  // The highest time below which keys of the topic may have been dropped (expiry's cutoff,
  // or what the open that loaded the window skipped); INT64_MIN when none. The shutdown
  // snapshot is only as complete as this allows: keys older than it may be missing.
  int64_t dropped_below(uint32_t topic_id) const;
  void note_dropped_below(uint32_t topic_id, int64_t time_ms);

 private:
  // The table's slot is a Digest and a PackedEntry, 36 bytes with 4-byte alignment (40 with
  // the natural alignment of their 64-bit fields): every word it saves counts nine times
  // over the tables' load factor. DedupWindow.TablesHoldAKeyInAtMost64BytesAtEverySize.
#pragma pack(push, 4)
  // 96 of XXH3's 128 bits: `lo` is the table's hash and `hi` picks the shard. Bits that
  // pick the shard are nearly constant within it, so they must not feed the table's hash
  // (abseil takes its 7-bit control tag from the low bits today, from the top in newer
  // releases).
  struct Digest {
    uint64_t lo = 0;
    uint32_t hi = 0;
    friend bool operator==(const Digest&, const Digest&) = default;
  };
  // A DedupEntry as a table holds it: 24 bytes, not 32. The partition (topics have at most
  // 10,000) takes the low 16 bits of the word it shares with the time, which keeps 48 bits
  // signed: milliseconds to the year 6429 either side of 1970 (clamped beyond).
  struct PackedEntry {
    uint64_t offset = 0;
    uint64_t lamport = 0;
    uint64_t time_partition = 0;

    static PackedEntry pack(uint32_t partition, uint64_t offset, uint64_t lamport, int64_t time_ms);
    static PackedEntry pack(const DedupEntry& e) { return pack(e.partition, e.offset, e.lamport, e.time_ms); }
    int64_t time_ms() const noexcept { return static_cast<int64_t>(time_partition) >> 16; }
    DedupEntry unpack() const noexcept {
      return DedupEntry{static_cast<uint32_t>(time_partition & 0xFFFF), offset, lamport, time_ms()};
    }
  };
#pragma pack(pop)
  struct DigestHash {
    size_t operator()(const Digest& d) const noexcept { return static_cast<size_t>(d.lo); }
  };
  struct Shard {
    mutable std::mutex mu;  // guards the fields below
    absl::flat_hash_map<Digest, PackedEntry, DigestHash> keys;
    // The oldest time any key may have (a bound: a key stored again may be newer), and
    // when expiry last swept the shard (expire()).
    int64_t oldest_ms = std::numeric_limits<int64_t>::max();
    int64_t swept_at_ms = std::numeric_limits<int64_t>::min();
  };
  // Many shards keep each table's occasional rehash (a pause proportional to its size)
  // small, and spread lock traffic. Shards take unequal shares of the digests, so that they
  // double one after another instead of all at once (shard_of, in the .cc).
  static constexpr size_t kShards = 64;
  static uint32_t shard_of(const Digest& d) noexcept;
  struct Topic {
    std::chrono::milliseconds window{0};
    std::atomic<int64_t> dropped_below{std::numeric_limits<int64_t>::min()};
    Shard shards[kShards];
  };

  static Digest digest(std::string_view key);
  // A batch's keys with their digests, ordered by shard (counting sort, stable), so that
  // each shard's lock is taken once. In storage owned by the calling thread, valid until
  // its next call.
  struct Keyed {
    Digest d;
    uint32_t shard;
    uint32_t index;  // in the batch
  };
  static constexpr size_t kScratchKeep = 1 << 16;
  template <typename DigestOf>
  static std::vector<Keyed>& order_by_shard(size_t n, const DigestOf& digest_of);
  std::shared_ptr<Topic> topic(uint32_t topic_id) const;
  // insert()'s body: n keys, the i-th with digest_of(i) and entry_of(i) (a PackedEntry).
  template <typename DigestOf, typename EntryOf>
  void insert_n(uint32_t topic_id, size_t n, const DigestOf& digest_of, const EntryOf& entry_of);

  mutable std::mutex topics_mu_;  // guards topics_
  std::map<uint32_t, std::shared_ptr<Topic>> topics_;
};

}  // namespace causeway::core
