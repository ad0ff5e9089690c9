// DataDirLock: flock on <dir>/LOCK. See data_dir_lock.h.
#include "causeway/common/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

namespace causeway {

Result<DataDirLock> DataDirLock::acquire(const std::string& dir, std::string_view daemon) {
  const std::string path = dir + "/LOCK";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return io_error_errno("open " + path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      std::string message = "data directory " + dir + " is in use by another " + std::string(daemon);
      if (n > 0) message += " (pid " + std::string(buf, static_cast<size_t>(n)) + ")";
      message += "; stop it or pass a different --data-dir";
      return failed_precondition(std::move(message));
    }
    return io_error_errno("flock " + path, err);
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The pid is only a hint for the message above; the lock is what matters.
  }
  return DataDirLock(fd);
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace causeway
