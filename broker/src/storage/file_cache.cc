// FileCache: a bounded LRU of sealed segments' descriptors. See file_cache.h.
#include "storage/file_cache.h"

#include <errno.h>

#include <algorithm>
#include <cstring>

namespace causeway::storage {

FileCache::FileCache(FileSystem* fs, size_t capacity) : fs_(fs), capacity_(std::max<size_t>(capacity, 1)) {}

uint64_t FileCache::new_key() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::list<FileCache::Entry> FileCache::evict_locked(size_t keep) {
  std::list<Entry> evicted;
  while (lru_.size() > keep) {
    index_.erase(lru_.back().key);
    evicted.splice(evicted.end(), lru_, std::prev(lru_.end()));
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  return evicted;
}

std::list<FileCache::Entry> FileCache::insert_locked(uint64_t key, std::shared_ptr<File> file) {
  std::list<Entry> evicted;
  if (auto it = index_.find(key); it != index_.end()) {
    evicted.splice(evicted.end(), lru_, it->second);
    index_.erase(it);
  }
  lru_.push_front(Entry{key, std::move(file)});
  index_.emplace(key, lru_.begin());
  evicted.splice(evicted.end(), evict_locked(capacity_));
  return evicted;
}

Result<std::shared_ptr<File>> FileCache::get(uint64_t key, const std::string& path) {
  {
    std::lock_guard lk(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->file;
    }
  }
  // Open outside the lock: a slow open must not hold up reads of other segments. Two
  // readers missing at once both open; the second insert replaces the first.
  Result<std::unique_ptr<File>> opened = fs_->open(path, OpenMode::kReadOnly);
  if (!opened && opened.error().message().find(std::strerror(EMFILE)) != std::string_view::npos) {
    // Out of descriptors: give back the colder half of ours (those no read holds close
    // now) and try once more, rather than fail a read that could succeed.
    std::list<Entry> closed;
    {
      std::lock_guard lk(mu_);
      closed = evict_locked(lru_.size() / 2);
    }
    closed.clear();
    opened = fs_->open(path, OpenMode::kReadOnly);
  }
  if (!opened) return opened.error();
  opens_.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<File> file = std::move(*opened);
  std::list<Entry> evicted;
  {
    std::lock_guard lk(mu_);
    evicted = insert_locked(key, file);
  }
  return file;  // `evicted` closes here, outside the lock, unless a read holds a handle
}

void FileCache::put(uint64_t key, std::shared_ptr<File> file) {
  std::list<Entry> evicted;
  std::lock_guard lk(mu_);
  evicted = insert_locked(key, std::move(file));
}

void FileCache::erase(uint64_t key) {
  std::list<Entry> gone;
  {
    std::lock_guard lk(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return;
    gone.splice(gone.end(), lru_, it->second);
    index_.erase(it);
  }
}

size_t FileCache::size() const {
  std::lock_guard lk(mu_);
  return lru_.size();
}

}  // namespace causeway::storage
