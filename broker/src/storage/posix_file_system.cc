// POSIX implementation of storage/file_system.h.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "storage/file_system.h"

namespace causeway::storage {
namespace {

Status errno_status(std::string_view call, const std::string& path, int err) {
  std::string ctx(call);
  ctx += " ";
  ctx += path;
  return io_error_errno(ctx, err);
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  Status write_at(uint64_t offset, std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status("write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    return Status();
  }

  Result<size_t> read_at(uint64_t offset, size_t n, char* dst) const override {
    size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno_status("read", path_, errno);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }

  Status sync() override {
    if (::fdatasync(fd_) != 0) return errno_status("fdatasync", path_, errno);
    return Status();
  }

  void start_writeback(uint64_t offset, uint64_t length) override {
    // Best effort: on file systems without it this fails harmlessly.
    (void)::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(length), SYNC_FILE_RANGE_WRITE);
  }

  Status allocate(uint64_t offset, uint64_t length) override {
    for (;;) {
      if (::fallocate(fd_, 0, static_cast<off_t>(offset), static_cast<off_t>(length)) == 0) return Status();
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EOPNOTSUPP || err == ENOSYS)
        return failed_precondition("fallocate " + path_ + ": not supported by this file system");
      return errno_status("fallocate", path_, err);
    }
  }

  Status truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return errno_status("ftruncate", path_, errno);
    return Status();
  }

  Result<uint64_t> size() const override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return errno_status("fstat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  const std::string& path() const override { return path_; }

 private:
  int fd_;
  std::string path_;
};

class PosixFileSystemSync final : public FileSystemSync {
 public:
  PosixFileSystemSync(int fd, dev_t dev, std::string path) : fd_(fd), dev_(dev), path_(std::move(path)) {}
  ~PosixFileSystemSync() override { ::close(fd_); }
  PosixFileSystemSync(const PosixFileSystemSync&) = delete;
  PosixFileSystemSync& operator=(const PosixFileSystemSync&) = delete;

  Status sync() override {
    if (::syncfs(fd_) != 0) return errno_status("syncfs of the file system holding", path_, errno);
    return Status();
  }

  bool covers(const std::string& path) const override {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && st.st_dev == dev_;
  }

 private:
  const int fd_;
  const dev_t dev_;
  const std::string path_;
};

// syncfs(2) reports writeback errors (the file system's errseq) only since Linux 5.8, and
// the file system's own sync step (ext4's journal commit and cache flush, XFS's log force)
// only since 5.17 ("vfs: make sync_filesystem return errors from ->sync_fs"); before, it
// could return 0 with data not on disk.
bool syncfs_reports_errors() {
  struct utsname u {};
  if (::uname(&u) != 0) return false;
  unsigned major = 0;
  unsigned minor = 0;
  if (std::sscanf(u.release, "%u.%u", &major, &minor) != 2) return false;
  return major > 5 || (major == 5 && minor >= 17);
}

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kReadOnly: flags |= O_RDONLY; break;
      case OpenMode::kReadWrite: flags |= O_RDWR; break;
      case OpenMode::kCreateNew: flags |= O_RDWR | O_CREAT | O_EXCL; break;
      case OpenMode::kCreateOrOpen: flags |= O_RDWR | O_CREAT; break;
    }
    int fd;
    do {
      fd = ::open(path.c_str(), flags, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      const int err = errno;
      if (err == ENOENT) return not_found("open " + path + ": no such file or directory");
      if (err == EEXIST) return already_exists("open " + path + ": file exists");
      return errno_status("open", path, err);
    }
    return std::unique_ptr<File>(new PosixFile(fd, path));
  }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return not_found("unlink " + path + ": no such file");
      return errno_status("unlink", path, errno);
    }
    return Status();
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return errno_status("rename " + from + " to", to, errno);
    return Status();
  }

  Status create_dirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return io_error("mkdir " + path + ": " + ec.message());
    return Status();
  }

  Status remove_all(const std::string& path) override {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) return io_error("remove " + path + ": " + ec.message());
    return Status();
  }

  Status sync_dir(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_status("open directory", path, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return errno_status("fsync directory", path, err);
    return Status();
  }

  Result<std::vector<std::string>> list_dir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) return not_found("list " + path + ": no such directory");
      return errno_status("opendir", path, errno);
    }
    std::vector<std::string> out;
    while (dirent* e = ::readdir(d)) {
      const std::string_view name(e->d_name);
      if (name != "." && name != "..") out.emplace_back(name);
    }
    ::closedir(d);
    return out;
  }

  bool exists(const std::string& path) override {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
  }

  Result<std::unique_ptr<FileSystemSync>> open_file_system_sync(const std::string& path) override {
    if (!syncfs_reports_errors()) {
      return failed_precondition("this kernel's syncfs does not report every failure (Linux 5.17 or later "
                                 "does); syncing the files under " + path + " one by one");
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_status("open directory", path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return errno_status("stat directory", path, err);
    }
    auto handle = std::make_unique<PosixFileSystemSync>(fd, st.st_dev, path);
    // Errors from before this handle (the errseq an fd starts from counts unreported ones)
    // come out here, not in the first shared round.
    CAUSEWAY_RETURN_IF_ERROR(handle->sync());
    return std::unique_ptr<FileSystemSync>(std::move(handle));
  }
};

}  // namespace

FileSystem* FileSystem::posix() {
  static PosixFileSystem fs;
  return &fs;
}

Status write_file_atomically(FileSystem* fs, const std::string& dir, const std::string& name,
                             std::string_view contents) {
  const std::string tmp = dir + "/" + name + ".tmp";
  const std::string dst = dir + "/" + name;
  {
    CAUSEWAY_ASSIGN_OR_RETURN(auto f, fs->open(tmp, OpenMode::kCreateOrOpen));
    CAUSEWAY_RETURN_IF_ERROR(f->truncate(0));
    CAUSEWAY_RETURN_IF_ERROR(f->write_at(0, contents));
    CAUSEWAY_RETURN_IF_ERROR(f->sync());
  }
  CAUSEWAY_RETURN_IF_ERROR(fs->rename(tmp, dst));
  return fs->sync_dir(dir);
}

Result<std::string> read_file(FileSystem* fs, const std::string& path, size_t max_bytes) {
  CAUSEWAY_ASSIGN_OR_RETURN(auto f, fs->open(path, OpenMode::kReadOnly));
  CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t size, f->size());
  if (size > max_bytes)
    return resource_exhausted(path + " is " + std::to_string(size) + " bytes; the limit is " +
                              std::to_string(max_bytes));
  std::string out(size, '\0');
  CAUSEWAY_ASSIGN_OR_RETURN(const size_t n, f->read_at(0, size, out.data()));
  out.resize(n);
  return out;
}

}  // namespace causeway::storage
