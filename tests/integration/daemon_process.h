// Runs a real daemon binary as a child process with its stdout and stderr captured, for
// integration tests. A reader thread drains the output as it comes, so that a daemon that
// logs a lot never blocks on a full pipe (it may hold a lock while it logs); tests wait
// for lines with a deadline. The child is ended by its own PID.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace causeway::testing {

class DaemonProcess {
 public:
  // `env` entries ("NAME=value") are set in the child only, over what it inherits.
  DaemonProcess(const std::string& binary, const std::vector<std::string>& args,
                const std::vector<std::string>& env = {}) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      for (const auto& e : env) {
        const auto eq = e.find('=');
        if (eq != std::string::npos) ::setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
      }
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(binary.c_str()));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      std::_Exit(127);
    }
    ::close(fds[1]);
    out_fd_ = fds[0];
    reader_ = std::thread([this] { drain(); });
  }
  ~DaemonProcess() {
    if (pid_ > 0 && !exit_status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    stop_ = true;
    if (reader_.joinable()) reader_.join();
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  // What the child wrote so far.
  std::string output() const {
    std::lock_guard lk(mu_);
    return output_;
  }

  // Waits until the output contains `needle` or the deadline passes.
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return grew_.wait_for(lk, timeout, [&] { return output_.find(needle) != std::string::npos; });
  }

  void signal(int sig) { ::kill(pid_, sig); }

  // Waits for exit (reading output meanwhile); returns the wait status, or nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exit_status_) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_status_ = status;
        // Everything it wrote before it exited: the reader sees the pipe's end.
        std::unique_lock lk(mu_);
        grew_.wait_for(lk, std::chrono::seconds(5), [&] { return eof_; });
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_status_;
  }

 private:
  void drain() {
    char buf[4096];
    while (!stop_) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::read(out_fd_, buf, sizeof(buf));
      std::lock_guard lk(mu_);
      if (n <= 0) {
        eof_ = true;
        grew_.notify_all();
        return;
      }
      output_.append(buf, static_cast<size_t>(n));
      grew_.notify_all();
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::optional<int> exit_status_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;  // guards output_ and eof_
  std::condition_variable grew_;
  std::string output_;
  bool eof_ = false;
  std::thread reader_;  // last: started once the members above exist
};

// How every test that started a daemon ends it: SIGTERM, then an exit with status 0 within
// `timeout`, and no sanitizer report anywhere in its output.
inline ::testing::AssertionResult stops_cleanly(DaemonProcess& daemon,
                                                std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  daemon.signal(SIGTERM);
  const auto status = daemon.wait_exit(timeout);
  if (!status) {
    return ::testing::AssertionFailure() << "no exit within " << timeout.count() << " ms of SIGTERM\n"
                                         << daemon.output();
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return ::testing::AssertionFailure() << "stopped with wait status " << *status << " (not exit 0)\n"
                                         << daemon.output();
  }
  if (daemon.output().find("Sanitizer") != std::string::npos)
    return ::testing::AssertionFailure() << "a sanitizer reported\n" << daemon.output();
  return ::testing::AssertionSuccess();
}

}  // namespace causeway::testing
