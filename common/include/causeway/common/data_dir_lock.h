// File: causeway/common/data_dir_lock.h
//
// DataDirLock: holds `<dir>/LOCK` with flock(2) for as long as the object lives, so that a
// second daemon on the same data directory refuses to start instead of corrupting it. The
// holder's pid is written into the file, for the refusal message.
//
// Thread-safety: a value type; not shared.
#pragma once

#include <string>
#include <string_view>

#include "causeway/common/status.h"

namespace causeway {

class DataDirLock {
 public:
  // `daemon` names the program in the message when the directory is taken, e.g.
  // "data directory /d is in use by another causeway-broker (pid 42); stop it or pass a
  // different --data-dir" (kFailedPrecondition). kIOError when LOCK cannot be opened.
  static Result<DataDirLock> acquire(const std::string& dir, std::string_view daemon);

  DataDirLock(DataDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DataDirLock& operator=(DataDirLock&&) = delete;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace causeway
