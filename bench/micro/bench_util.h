// File: bench/micro/bench_util.h
//
// What the micro benchmarks share: one scratch directory per process, under
// $CAUSEWAY_BENCH_DIR or /tmp, that main() removes after the run (so it must be on the
// disk you mean to measure); cleanup hooks for fixtures that outlive one benchmark; and a
// main() that wires both around Google Benchmark.
//
// Thread-safety: bench_root() and fresh_dir() may be called from benchmark threads;
// at_exit_cleanup() and run_main() belong to the main thread.
#pragma once

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace causeway::bench {

// Prints `what` and errno's text and exits: the scratch directory could not be set up, so
// no benchmark can run.
[[noreturn]] inline void die_errno(std::string_view what, const std::string& path) {
  std::fprintf(stderr, "causeway bench: %.*s %s: %s\n", static_cast<int>(what.size()), what.data(),
               path.c_str(), std::strerror(errno));
  std::exit(2);
}

// The per-process scratch directory, created on first use: <base>/causeway-bench-XXXXXX.
inline const std::string& bench_root() {
  static const std::string root = [] {
    const char* env = std::getenv("CAUSEWAY_BENCH_DIR");
    const std::string base = env != nullptr && *env != '\0' ? env : "/tmp";
    std::error_code ec;
    std::filesystem::create_directories(base, ec);
    std::string templ = base + "/causeway-bench-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) die_errno("mkdtemp", templ);
    return std::string(buf.data());
  }();
  return root;
}

// A new, empty directory under the root: <root>/<name>-<n>.
inline std::string fresh_dir(std::string_view name) {
  static std::atomic<uint64_t> counter{0};
  std::string dir = bench_root() + "/" + std::string(name) + "-" + std::to_string(counter.fetch_add(1));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    errno = ec.value();
    die_errno("mkdir", dir);
  }
  return dir;
}

// Frees the page cache behind every regular file under `dir` without writing it back (by
// truncating to zero), then removes `dir`. Benchmarks call this after their timed loop so
// that dirty data of one run is never written back during the next one.
inline void drop_dir(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    const int fd = ::open(entry.path().c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (::ftruncate(fd, 0) != 0) std::perror("causeway bench: ftruncate");
      ::close(fd);
    }
  }
  std::filesystem::remove_all(dir, ec);
}

inline std::vector<std::function<void()>>& cleanup_hooks() {
  static std::vector<std::function<void()>> hooks;
  return hooks;
}

// Runs `fn` after all benchmarks, before the root is removed (latest registered first).
// Guarded by a mutex: fixtures may be built from a benchmark thread.
inline void at_exit_cleanup(std::function<void()> fn) {
  static std::mutex mu;
  std::lock_guard lk(mu);
  cleanup_hooks().push_back(std::move(fn));
}

// Deterministic incompressible-looking bytes (compression plays no part in the log, but
// zero pages could in the file system).
inline std::string make_payload(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// main(): Initialize, run, then cleanup hooks and the root directory.
inline int run_main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::fprintf(stderr, "causeway bench: scratch directory %s\n", bench_root().c_str());
  benchmark::RunSpecifiedBenchmarks();
  auto& hooks = cleanup_hooks();
  for (auto it = hooks.rbegin(); it != hooks.rend(); ++it) (*it)();
  hooks.clear();
  drop_dir(bench_root());
  benchmark::Shutdown();
  return 0;
}

}  // namespace causeway::bench
