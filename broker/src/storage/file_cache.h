// File: storage/file_cache.h
//
// The open descriptors of sealed segments, bounded: a least-recently-used cache of read-only
// File handles, shared by every partition log of a LogManager (leveldb's
// TableCache and RocksDB's max_open_files, for the same reason). A sealed segment does not
// hold its descriptor; a read asks the cache, which opens the file on a miss and closes the
// least recently used one beyond its capacity. Active segments keep their own descriptor
// (they take appends and syncs), so the broker holds at most one descriptor per partition
// plus the cache's capacity (docs/broker.md, "File descriptors").
//
// A handle given out stays open while the caller holds it, even if evicted meanwhile, so a
// read never sees its descriptor closed under it; the cache may then briefly hold more than
// its capacity by the reads in flight. Entries are keyed by a number unique to each Segment
// object (new_key), not by path: two objects for one path (a topic deleted and created
// again while a reader holds the old log) never share or erase each other's descriptor.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "causeway/common/status.h"
#include "storage/file_system.h"

namespace causeway::storage {

class FileCache {
 public:
  // `capacity` >= 1: descriptors kept open beyond the ones in use.
  FileCache(FileSystem* fs, size_t capacity);
  FileCache(const FileCache&) = delete;
  FileCache& operator=(const FileCache&) = delete;

  // A key no other caller of this process gets.
  static uint64_t new_key();
  // An open handle for `key`: the cached one, or `path` opened read-only (then cached as the
  // most recently used, evicting beyond capacity). When the open fails with the process out
  // of descriptors, the least recently used half of the cache is closed and the open tried
  // once more. The open's error on failure.
  Result<std::shared_ptr<File>> get(uint64_t key, const std::string& path);
  // Caches a handle already open (a segment just sealed hands over its descriptor), as the
  // most recently used. Replaces an entry with the same key.
  void put(uint64_t key, std::shared_ptr<File> file);
  // Forgets `key`'s entry, closing its descriptor unless a read holds it. Call before the
  // file is deleted, or its space stays in use until the entry is evicted.
  void erase(uint64_t key);

  size_t capacity() const noexcept { return capacity_; }
  // Descriptors the cache holds now (at most capacity()).
  size_t size() const;
  // Opens on a miss, and descriptors closed to stay within capacity, since construction.
  uint64_t opens() const noexcept { return opens_.load(std::memory_order_relaxed); }
  uint64_t evictions() const noexcept { return evictions_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    uint64_t key;
    std::shared_ptr<File> file;
  };
  // Inserts as most recently used and evicts beyond capacity (down to `keep` entries);
  // needs mu_. Returns the handles evicted, for the caller to close after unlocking.
  std::list<Entry> insert_locked(uint64_t key, std::shared_ptr<File> file);
  std::list<Entry> evict_locked(size_t keep);

  FileSystem* const fs_;
  const size_t capacity_;
  mutable std::mutex mu_;            // guards lru_ and index_
  std::list<Entry> lru_;             // front: most recently used
  std::unordered_map<uint64_t, std::list<Entry>::iterator> index_;
  std::atomic<uint64_t> opens_{0};
  std::atomic<uint64_t> evictions_{0};
};

}  // namespace causeway::storage
