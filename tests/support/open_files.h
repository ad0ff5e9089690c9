// The files a process holds open, from /proc/PID/fd: what the descriptor tests count.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace causeway::testing {

// Targets of process `pid`'s descriptors that lie under directory `dir` (a deleted file's
// target ends in " (deleted)").
inline std::vector<std::string> open_files_under(pid_t pid, const std::string& dir) {
  const std::string prefix = std::filesystem::canonical(dir).string() + "/";
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::end(it); it.increment(ec)) {
    std::error_code link_ec;
    std::string target = std::filesystem::read_symlink(it->path(), link_ec).string();
    if (!link_ec && target.rfind(prefix, 0) == 0) out.push_back(std::move(target));
  }
  return out;
}

}  // namespace causeway::testing
