// File: storage/file_system.h
//
// The file-system interface under storage. Production uses posix(); tests wrap it to
// inject faults (tests/unit/storage/fault_injection_fs.h): torn writes, full disks, failed
// syncs, and dropping data written since the last sync, as leveldb's Env and RocksDB's
// FaultInjectionTestFS do. Every error names the path and the failing call.
//
// Thread-safety: a FileSystem is safe to use from many threads. A File is safe for
// concurrent read_at calls; writes, truncate and sync need external serialisation with
// each other (the partition log's mutex provides it), but may run concurrently with reads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/common/status.h"

namespace causeway::storage {

class File {
 public:
  virtual ~File() = default;
  // Writes all of `data` at `offset`, or fails (a failure may leave a prefix written).
  virtual Status write_at(uint64_t offset, std::string_view data) = 0;
  // Reads up to n bytes at offset into dst; returns the count, short only at end of file.
  virtual Result<size_t> read_at(uint64_t offset, size_t n, char* dst) const = 0;
  // fdatasync: the data and the size needed to read it back are durable on return.
  virtual Status sync() = 0;
  // Starts writeback of a range without waiting for it (sync_file_range WRITE): a hint
  // that keeps later syncs short. Durability still needs sync().
  virtual void start_writeback(uint64_t offset, uint64_t length) {
    (void)offset;
    (void)length;
  }
  // Reserves blocks for [offset, offset + length) and extends the file's size over them
  // (fallocate without KEEP_SIZE); they read as zeros until written. Later writes there
  // change no file size, so a sync of them has no size change to commit (docs/log-format.md,
  // "Preallocation"). kFailedPrecondition where the file system cannot (the caller then appends
  // as usual); kResourceExhausted when the disk is full.
  virtual Status allocate(uint64_t offset, uint64_t length) {
    (void)offset;
    (void)length;
    return failed_precondition("preallocation is not supported for " + path());
  }
  virtual Status truncate(uint64_t size) = 0;
  virtual Result<uint64_t> size() const = 0;
  virtual const std::string& path() const = 0;
};

// A handle on a whole file system whose sync() is syncfs(2): every file of that file system
// written so far becomes durable (data, sizes, metadata) in one journal commit and one device
// flush, however many files were written. What PartitionLogs share when many of them need a
// sync at once (storage/sync_group.h). Safe to call from one thread at a time.
class FileSystemSync {
 public:
  virtual ~FileSystemSync() = default;
  // Fails (kIOError) when writeback of any file of the file system failed since the last
  // sync() (the first one: since the handle was opened), or its journal commit or cache
  // flush failed: the caller cannot tell which file lost data.
  virtual Status sync() = 0;
  // Whether `path` lies on the file system this handle syncs (not behind a mount point or
  // a symlink to another one).
  virtual bool covers(const std::string& path) const = 0;
};

enum class OpenMode {
  kReadOnly,       // must exist
  kReadWrite,      // must exist
  kCreateNew,      // must not exist (O_EXCL)
  kCreateOrOpen,   // either
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) = 0;
  virtual Status remove(const std::string& path) = 0;
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // mkdir -p; OK if it exists.
  virtual Status create_dirs(const std::string& path) = 0;
  // Removes a directory and everything in it.
  virtual Status remove_all(const std::string& path) = 0;
  // fsync of a directory, making creations, renames and deletions in it durable.
  virtual Status sync_dir(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, unsorted.
  virtual Result<std::vector<std::string>> list_dir(const std::string& path) = 0;
  virtual bool exists(const std::string& path) = 0;
  // A FileSystemSync for the file system holding the directory `path`, after one sync of it
  // (so that writeback errors from before, which nobody reported, fail here and not a later
  // round). kFailedPrecondition where it cannot be trusted: posix() refuses on Linux before
  // 5.17, whose syncfs hides writeback errors (before 5.8) or a failed journal commit or
  // cache flush (before 5.17). Callers then sync file by file.
  virtual Result<std::unique_ptr<FileSystemSync>> open_file_system_sync(const std::string& path) {
    return failed_precondition("syncing the whole file system of " + path + " is not supported");
  }

  // The process-wide POSIX file system.
  static FileSystem* posix();
};

// Replaces a small file atomically: write `path.tmp`, sync, rename over `path`, sync the
// directory (leveldb's SetCurrentFile).
Status write_file_atomically(FileSystem* fs, const std::string& dir, const std::string& name,
                             std::string_view contents);
// Reads a whole file, refusing files larger than max_bytes.
Result<std::string> read_file(FileSystem* fs, const std::string& path, size_t max_bytes);

}  // namespace causeway::storage
