// A FileSystem wrapper for fault tests, after RocksDB's FaultInjectionTestFS and leveldb's
// ErrorEnv: it can fail writes with ENOSPC once a byte budget is spent (writing the part
// that fits first, i.e. a torn write), fail fdatasync or fallocate, count syncs, and
// simulate a power loss: every file goes back to the size it had at its last sync, and
// what was written after that sync reads as zeros (as written data in preallocated space
// does when its blocks never reached the disk).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "storage/file_system.h"

namespace causeway::storage::testing {

class FaultInjectionFs final : public FileSystem {
 public:
  explicit FaultInjectionFs(FileSystem* base = FileSystem::posix()) : base_(base) {}

  // Writes beyond this many more bytes fail with ENOSPC after writing what fits.
  void set_write_budget(uint64_t bytes) { budget_.store(static_cast<int64_t>(bytes)); }
  void clear_write_budget() { budget_.store(-1); }
  void set_fail_sync(bool fail) { fail_sync_.store(fail); }
  // File::allocate fails with ENOSPC (as on a full disk).
  void set_fail_allocate(bool fail) { fail_allocate_.store(fail); }
  uint64_t allocate_count() const { return allocates_.load(); }
  // Bytes File::write_at wrote, over every file.
  uint64_t bytes_written() const { return bytes_written_.load(); }
  void set_sync_delay(std::chrono::microseconds d) { sync_delay_us_.store(d.count()); }
  uint64_t sync_count() const { return syncs_.load(); }
  // Whole-file-system syncs (open_file_system_sync): how many ran, and failing them (EIO).
  uint64_t fs_sync_count() const { return fs_syncs_.load(); }
  void set_fail_fs_sync(bool fail) { fail_fs_sync_.store(fail); }
  void set_fs_sync_supported(bool supported) { fs_sync_supported_.store(supported); }
  // Paths under this prefix are on "another file system": the whole-file-system sync does not
  // cover them (set before opening logs).
  void set_uncovered_prefix(std::string prefix) { uncovered_ = std::move(prefix); }
  // While held, every sync (file or whole file system) waits, after counting itself, until
  // release_syncs(): lets a test line up what queues behind a running sync.
  void hold_syncs() {
    std::lock_guard lk(gate_mu_);
    held_ = true;
  }
  void release_syncs() {
    {
      std::lock_guard lk(gate_mu_);
      held_ = false;
    }
    gate_cv_.notify_all();
  }
  // The same for whole-file-system syncs only (file syncs go on).
  void hold_fs_syncs() {
    std::lock_guard lk(gate_mu_);
    fs_held_ = true;
  }
  void release_fs_syncs() {
    {
      std::lock_guard lk(gate_mu_);
      fs_held_ = false;
    }
    gate_cv_.notify_all();
  }
  // Opens beyond this many more fail as the kernel's EMFILE would ("Too many open files").
  void set_open_budget(int64_t opens) { open_budget_.store(opens); }

  // Power loss: every file written through this FS loses what it gained since its last
  // sync: its size goes back to the synced one, and bytes written since read as zeros.
  Status drop_unsynced_data() {
    std::lock_guard lk(mu_);
    for (const auto& [path, synced] : synced_size_) {
      auto f = base_->open(path, OpenMode::kReadWrite);
      if (!f) continue;
      auto size = (*f)->size();
      if (!size) continue;
      if (*size > synced.size) CAUSEWAY_RETURN_IF_ERROR((*f)->truncate(synced.size));
      const uint64_t now = std::min(*size, synced.size);
      if (now > synced.data_end) {
        CAUSEWAY_RETURN_IF_ERROR((*f)->write_at(synced.data_end, std::string(now - synced.data_end, '\0')));
      }
      data_end_[path] = std::min(synced.data_end, now);
    }
    return Status();
  }

  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  // A removed file's sync state goes with it: a file created later at the same path (a
  // topic created again) starts with nothing durable but what it holds when first opened.
  Status remove(const std::string& path) override {
    std::lock_guard lk(mu_);  // so that no file created at the path meanwhile is forgotten
    CAUSEWAY_RETURN_IF_ERROR(base_->remove(path));
    forget_locked(path, false);
    return Status();
  }
  Status rename(const std::string& from, const std::string& to) override {
    std::lock_guard lk(mu_);
    auto it = synced_size_.find(from);
    if (it != synced_size_.end()) {
      synced_size_[to] = it->second;
      synced_size_.erase(it);
    }
    if (auto d = data_end_.find(from); d != data_end_.end()) {
      data_end_[to] = d->second;
      data_end_.erase(d);
    }
    return base_->rename(from, to);
  }
  Status create_dirs(const std::string& path) override { return base_->create_dirs(path); }
  Status remove_all(const std::string& path) override {
    std::lock_guard lk(mu_);
    CAUSEWAY_RETURN_IF_ERROR(base_->remove_all(path));
    forget_locked(path, true);
    return Status();
  }
  Status sync_dir(const std::string& path) override { return base_->sync_dir(path); }
  Result<std::vector<std::string>> list_dir(const std::string& path) override { return base_->list_dir(path); }
  bool exists(const std::string& path) override { return base_->exists(path); }
  Result<std::unique_ptr<FileSystemSync>> open_file_system_sync(const std::string& path) override;

 private:
  friend class FaultFile;
  friend class FaultFileSystemSync;
  // A whole-file-system sync: every file written through this FS is synced as it is now.
  void wait_at_gate() {
    std::unique_lock lk(gate_mu_);
    gate_cv_.wait(lk, [&] { return !held_; });
  }
  Status sync_everything() {
    fs_syncs_.fetch_add(1);
    wait_at_gate();
    {
      std::unique_lock lk(gate_mu_);
      gate_cv_.wait(lk, [&] { return !fs_held_; });
    }
    if (const int64_t d = sync_delay_us_.load(); d > 0) std::this_thread::sleep_for(std::chrono::microseconds(d));
    if (fail_fs_sync_.load()) return io_error_errno("syncfs of the file system holding the data", EIO);
    std::lock_guard lk(mu_);
    for (auto& [path, synced] : synced_size_) {
      if (!uncovered_.empty() && path.rfind(uncovered_, 0) == 0) continue;  // another file system
      auto f = base_->open(path, OpenMode::kReadOnly);
      if (!f) continue;  // removed since
      CAUSEWAY_RETURN_IF_ERROR((*f)->sync());
      CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t size, (*f)->size());
      synced = {size, std::min(size, data_end_[path])};
    }
    return Status();
  }
  FileSystem* base_;
  std::atomic<int64_t> budget_{-1};
  std::atomic<int64_t> open_budget_{-1};  // -1: unlimited
  std::atomic<bool> fail_sync_{false};
  std::atomic<bool> fail_allocate_{false};
  std::atomic<uint64_t> allocates_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<int64_t> sync_delay_us_{0};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> fs_syncs_{0};
  std::atomic<bool> fail_fs_sync_{false};
  std::atomic<bool> fs_sync_supported_{true};
  std::string uncovered_;
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool held_ = false;     // guarded by gate_mu_
  bool fs_held_ = false;  // guarded by gate_mu_
  std::mutex mu_;
  // Guarded by mu_: at each file's last sync, its size and the end of the bytes written
  // to it (below the size when the rest is preallocated); and that end now.
  struct Synced {
    uint64_t size = 0;
    uint64_t data_end = 0;
  };
  std::map<std::string, Synced> synced_size_;
  std::map<std::string, uint64_t> data_end_;
  void forget_locked(const std::string& path, bool tree) {
    const std::string prefix = path + "/";
    const auto gone = [&](const std::string& p) { return p == path || (tree && p.rfind(prefix, 0) == 0); };
    std::erase_if(synced_size_, [&](const auto& e) { return gone(e.first); });
    std::erase_if(data_end_, [&](const auto& e) { return gone(e.first); });
  }
  void wrote(const std::string& path, uint64_t end) {
    std::lock_guard lk(mu_);
    uint64_t& e = data_end_[path];
    e = std::max(e, end);
  }
};

class FaultFile final : public File {
 public:
  FaultFile(FaultInjectionFs* fs, std::unique_ptr<File> base) : fs_(fs), base_(std::move(base)) {}

  Status write_at(uint64_t offset, std::string_view data) override {
    int64_t budget = fs_->budget_.load();
    if (budget >= 0) {
      if (static_cast<uint64_t>(budget) < data.size()) {
        fs_->budget_.store(0);
        CAUSEWAY_RETURN_IF_ERROR(base_->write_at(offset, data.substr(0, static_cast<size_t>(budget))));
        fs_->wrote(base_->path(), offset + static_cast<uint64_t>(budget));
        return io_error_errno("write " + base_->path(), ENOSPC);
      }
      fs_->budget_.fetch_sub(static_cast<int64_t>(data.size()));
    }
    CAUSEWAY_RETURN_IF_ERROR(base_->write_at(offset, data));
    fs_->bytes_written_.fetch_add(data.size());
    // Zeros (a log filling its preallocated space) read the same after a power loss as
    // before it, so they do not move the data end: batches written over them after the
    // next sync are still lost by drop_unsynced_data.
    if (data.find_first_not_of('\0') != std::string_view::npos) fs_->wrote(base_->path(), offset + data.size());
    return Status();
  }
  Status allocate(uint64_t offset, uint64_t length) override {
    fs_->allocates_.fetch_add(1);
    if (fs_->fail_allocate_.load()) return io_error_errno("fallocate " + base_->path(), ENOSPC);
    return base_->allocate(offset, length);
  }
  Result<size_t> read_at(uint64_t offset, size_t n, char* dst) const override {
    return base_->read_at(offset, n, dst);
  }
  Status sync() override {
    fs_->syncs_.fetch_add(1);
    fs_->wait_at_gate();
    if (const int64_t d = fs_->sync_delay_us_.load(); d > 0)
      std::this_thread::sleep_for(std::chrono::microseconds(d));
    if (fs_->fail_sync_.load()) return io_error_errno("fdatasync " + base_->path(), EIO);
    CAUSEWAY_RETURN_IF_ERROR(base_->sync());
    CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t size, base_->size());
    std::lock_guard lk(fs_->mu_);
    fs_->synced_size_[base_->path()] = {size, std::min(size, fs_->data_end_[base_->path()])};
    return Status();
  }
  void start_writeback(uint64_t offset, uint64_t length) override { base_->start_writeback(offset, length); }
  Status truncate(uint64_t size) override {
    CAUSEWAY_RETURN_IF_ERROR(base_->truncate(size));
    std::lock_guard lk(fs_->mu_);
    uint64_t& e = fs_->data_end_[base_->path()];
    e = std::min(e, size);
    return Status();
  }
  Result<uint64_t> size() const override { return base_->size(); }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectionFs* fs_;
  std::unique_ptr<File> base_;
};

class FaultFileSystemSync final : public FileSystemSync {
 public:
  explicit FaultFileSystemSync(FaultInjectionFs* fs) : fs_(fs) {}
  Status sync() override { return fs_->sync_everything(); }
  bool covers(const std::string& path) const override { return fs_->uncovered_.empty() || path.rfind(fs_->uncovered_, 0) != 0; }

 private:
  FaultInjectionFs* fs_;
};

inline Result<std::unique_ptr<FileSystemSync>> FaultInjectionFs::open_file_system_sync(const std::string& path) {
  if (!fs_sync_supported_.load()) return failed_precondition("no whole-file-system sync for " + path + " (test)");
  return std::unique_ptr<FileSystemSync>(new FaultFileSystemSync(this));
}

inline Result<std::unique_ptr<File>> FaultInjectionFs::open(const std::string& path, OpenMode mode) {
  if (open_budget_.load() >= 0 && open_budget_.fetch_sub(1) <= 0) {
    open_budget_.store(0);
    return io_error("cannot open " + path + ": Too many open files");
  }
  CAUSEWAY_ASSIGN_OR_RETURN(auto f, base_->open(path, mode));
  {
    std::lock_guard lk(mu_);
    if (!synced_size_.count(path)) {
      // A file we have not seen synced: what exists now counts as durable.
      auto size = f->size();
      synced_size_[path] = {size ? *size : 0, size ? *size : 0};
      data_end_[path] = size ? *size : 0;
    }
  }
  return std::unique_ptr<File>(new FaultFile(this, std::move(f)));
}

}  // namespace causeway::storage::testing
