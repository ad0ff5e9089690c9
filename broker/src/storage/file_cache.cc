// FileCache: a bounded LRU of sealed segments' descriptors. See file_cache.h.
#include "storage/file_cache.h"

#include <algorithm>

namespace causeway::storage {

FileCache::FileCache(FileSystem* fs, size_t capacity) : fs_(fs), capacity_(std::max<size_t>(capacity, 1)) {}

std::list<FileCache::Entry> FileCache::insert_locked(const std::string& path, std::shared_ptr<File> file) {
  std::list<Entry> evicted;
  if (auto it = index_.find(path); it != index_.end()) {
    evicted.splice(evicted.end(), lru_, it->second);
    index_.erase(it);
  }
  lru_.push_front(Entry{path, std::move(file)});
  index_.emplace(path, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().path);
    evicted.splice(evicted.end(), lru_, std::prev(lru_.end()));
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  return evicted;
}

Result<std::shared_ptr<File>> FileCache::get(const std::string& path) {
  {
    std::lock_guard lk(mu_);
    if (auto it = index_.find(path); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->file;
    }
  }
  // Open outside the lock: a slow open must not hold up reads of other segments. Two
  // readers missing at once both open; the second insert replaces the first.
  CAUSEWAY_ASSIGN_OR_RETURN(std::unique_ptr<File> opened, fs_->open(path, OpenMode::kReadOnly));
  opens_.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<File> file = std::move(opened);
  std::list<Entry> evicted;
  {
    std::lock_guard lk(mu_);
    evicted = insert_locked(path, file);
  }
  return file;  // `evicted` closes here, outside the lock, unless a read holds a handle
}

void FileCache::put(const std::string& path, std::shared_ptr<File> file) {
  std::list<Entry> evicted;
  std::lock_guard lk(mu_);
  evicted = insert_locked(path, std::move(file));
}

void FileCache::erase(const std::string& path) {
  std::list<Entry> gone;
  {
    std::lock_guard lk(mu_);
    auto it = index_.find(path);
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
