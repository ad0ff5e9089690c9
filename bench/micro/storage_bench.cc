// File: bench/micro/storage_bench.cc
//
// Micro benchmarks of the partition log (storage/partition_log.h) and, in the same binary
// and on the same disk, the machine's ceiling for the same write pattern, so that results
// are read as ratios (bench/micro/README.md, STYLE.md section 8):
//
//   BM_PartitionLog_Append/bytes:B/batch:N/fsync:D   append N records of B payload bytes as
//       one batch; D=0 is durability=os, D=1 is durability=fsync. 1, 4 and 16 appenders
//       share one log (group commit in fsync mode).
//   BM_Ceiling_Write/bytes:B/batch:N                 pwrite() of B*N bytes per call,
//       appending to a file: the buffered-write ceiling for the os rows.
//   BM_Ceiling_WriteFdatasync/bytes:B/batch:N         the same plus fdatasync() per call:
//       the ceiling for one fsync appender.
//   BM_Ceiling_WriteFramed/bytes:B/batch:N            pwrite() of the log's encoded batch
//       size per call: what the os rows would reach if encoding cost nothing. (The kernel
//       copies 64 KiB-aligned appends much faster than unaligned ones, which the log's
//       framed batches are; see README.md.)
//   BM_BatchFormat_Encode/bytes:B/batch:N           the CPU part of an append (size, encode
//       with CRC, decode the header back), no I/O.
//   BM_Crc32c_Extend/bytes:65536                    CRC32C throughput.
//   BM_PartitionLog_SequentialRead/bytes:B/batch:N   read a 128 MiB, 4-segment log front to
//       back in 1 MiB read() calls (page cache hot).
//   BM_PartitionLog_OffsetLookup/bytes:B/batch:N     read(random offset, 1 byte): one batch.
//   BM_PartitionLog_TimeLookup/bytes:B/batch:N       offset_for_time(random time).
//
// Byte rates count record payload bytes only (what a producer sent); the counter
// wall_log_bytes_per_second counts encoded batch bytes (headers and record framing
// included). For appends, use the wall_* counters, not items/bytes_per_second: see the
// comment at the end of BM_PartitionLog_Append.
// Every append run creates its log, and every ceiling run its file, in a new directory;
// afterwards the files are truncated (dropping their page cache without write-back) and
// removed. Runs stay below one segment (1 GiB, the default) so that no roll happens inside
// the timed loop; the `segments` counter shows 1 when that held.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "causeway/common/crc32c.h"
#include "causeway/common/lamport_clock.h"
#include "causeway/common/status.h"
#include "causeway/common/batch_format.h"
#include "storage/file_system.h"
#include "storage/log_config.h"
#include "storage/partition_log.h"

namespace causeway::bench {
namespace {

using storage::Durability;
using storage::FileSystem;
using storage::LogConfig;
using storage::PartitionLog;
using batch::RecordInput;

// The production default. A run writes well under it (see kOsMinTime), so no roll, with
// its fdatasync of the whole segment under the log's mutex, lands in a timed loop.
constexpr uint64_t kSegmentBytes = 1ull << 30;
// Appends and their ceilings in `os` mode run at page-cache speed (1-2 GB/s): a short
// minimum time bounds a run to a few hundred MB. fsync rows need longer for enough syncs.
constexpr double kOsMinTime = 0.1;
constexpr double kFsyncMinTime = 0.3;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// FileSystem wrapper that counts fdatasync calls and the time spent in them, so the append rows can report how many
// appends each sync covered (group commit at work). Everything else is forwarded.
class CountingFile final : public storage::File {
 public:
  CountingFile(std::unique_ptr<storage::File> base, std::atomic<uint64_t>* syncs, std::atomic<int64_t>* sync_ns)
      : base_(std::move(base)), syncs_(syncs), sync_ns_(sync_ns) {}
  Status write_at(uint64_t offset, std::string_view data) override { return base_->write_at(offset, data); }
  Result<size_t> read_at(uint64_t offset, size_t n, char* dst) const override { return base_->read_at(offset, n, dst); }
  Status sync() override {
    const int64_t t0 = steady_ns();
    Status s = base_->sync();
    sync_ns_->fetch_add(steady_ns() - t0, std::memory_order_relaxed);
    syncs_->fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  Status truncate(uint64_t size) override { return base_->truncate(size); }
  Result<uint64_t> size() const override { return base_->size(); }
  const std::string& path() const override { return base_->path(); }

 private:
  std::unique_ptr<storage::File> base_;
  std::atomic<uint64_t>* syncs_;
  std::atomic<int64_t>* sync_ns_;
};

class CountingFileSystem final : public FileSystem {
 public:
  explicit CountingFileSystem(FileSystem* base) : base_(base) {}
  Result<std::unique_ptr<storage::File>> open(const std::string& path, storage::OpenMode mode) override {
    auto f = base_->open(path, mode);
    if (!f) return f.error();
    return std::unique_ptr<storage::File>(new CountingFile(std::move(*f), &file_syncs, &file_sync_ns));
  }
  Status remove(const std::string& path) override { return base_->remove(path); }
  Status rename(const std::string& from, const std::string& to) override { return base_->rename(from, to); }
  Status create_dirs(const std::string& path) override { return base_->create_dirs(path); }
  Status remove_all(const std::string& path) override { return base_->remove_all(path); }
  Status sync_dir(const std::string& path) override { return base_->sync_dir(path); }
  Result<std::vector<std::string>> list_dir(const std::string& path) override { return base_->list_dir(path); }
  bool exists(const std::string& path) override { return base_->exists(path); }

  std::atomic<uint64_t> file_syncs{0};
  std::atomic<int64_t> file_sync_ns{0};

 private:
  FileSystem* base_;
};

std::vector<RecordInput> make_records(const std::string& payload, size_t count) {
  std::vector<RecordInput> records(count);
  for (RecordInput& r : records) r.payload = payload;
  return records;
}

// Encoded size of one batch of `records` (header and record framing included).
uint64_t encoded_batch_bytes(const std::vector<RecordInput>& records) {
  uint64_t total = batch::kBatchHeaderSize;
  for (const RecordInput& r : records) total += batch::encoded_record_size(r).value_or(0);
  return total;
}

// ---------------------------------------------------------------------------------------
// Appends.

// The log the threads of one run share. Thread 0 creates it before the loop's start
// barrier and destroys it after the finish barrier (Google Benchmark runs every thread's
// code outside the loop concurrently, but the loop is entered and left by all threads
// together), so the other threads only ever see it between the two barriers.
struct SharedAppendLog {
  std::string dir;
  std::unique_ptr<CountingFileSystem> fs;
  std::unique_ptr<PartitionLog> log;
  LamportClock clock;
  // Steady-clock time of the first iteration of any thread (0 until then).
  std::atomic<int64_t> start_ns{0};
};
SharedAppendLog g_append;

void BM_PartitionLog_Append(benchmark::State& state) {
  const auto record_bytes = static_cast<size_t>(state.range(0));
  const auto batch = static_cast<size_t>(state.range(1));
  const bool fsync = state.range(2) != 0;
  // BM_PartitionLog_AppendCommitDelay passes LogConfig::commit_delay in microseconds.
  const std::optional<int64_t> commit_delay_us =
      state.range(3) >= 0 ? std::optional<int64_t>(state.range(3)) : std::nullopt;

  if (state.thread_index() == 0) {
    g_append.dir = fresh_dir("append");
    g_append.fs = std::make_unique<CountingFileSystem>(FileSystem::posix());
    LogConfig config;
    config.durability = fsync ? Durability::kFsync : Durability::kOs;
    config.segment_bytes = kSegmentBytes;
    if (commit_delay_us) config.commit_delay = std::chrono::microseconds(*commit_delay_us);
    auto log = PartitionLog::open(g_append.fs.get(), g_append.dir, config, nullptr);
    if (log) {
      g_append.log = std::move(*log);
      g_append.fs->file_syncs.store(0);
      g_append.fs->file_sync_ns.store(0);
    } else {
      state.SkipWithError(log.error().to_string().c_str());
    }
    state.SetLabel(fsync ? "fsync" : "os");
    g_append.start_ns.store(0);
  }
  const std::string payload = make_payload(record_bytes, static_cast<uint64_t>(state.thread_index()) + 1);
  const std::vector<RecordInput> records = make_records(payload, batch);

  bool failed = false;
  bool started = false;
  for (auto _ : state) {
    if (!started) {
      started = true;
      int64_t unset = 0;
      g_append.start_ns.compare_exchange_strong(unset, steady_ns());
    }
    // On an error keep spinning through the remaining iterations instead of `break`ing,
    // so that this thread still reaches the finish barrier the others wait at.
    if (failed) continue;
    PartitionLog* log = g_append.log.get();
    if (log == nullptr) {
      state.SkipWithError("log was not opened");
      failed = true;
      continue;
    }
    auto r = log->append(records, g_append.clock, 0, wall_ms());
    if (!r) {
      state.SkipWithError(r.error().to_string().c_str());
      failed = true;
      continue;
    }
    benchmark::DoNotOptimize(r->last_offset);
  }

  // Google Benchmark divides by the threads' average loop time. Every thread runs the same
  // number of iterations but the log's mutex is not fair, so threads finish at different
  // times and that average is below the run's wall time, inflating items_per_second for
  // more than one thread. The wall_* counters (set by thread 0, which leaves the loop only
  // after every thread finished, at the finish barrier) divide by the wall time from the
  // first iteration of any thread to the end, and are what run_storage_bench.sh reports.
  const int64_t end_ns = steady_ns();
  const auto n = static_cast<int64_t>(state.iterations());
  state.SetItemsProcessed(n * static_cast<int64_t>(batch));
  state.SetBytesProcessed(n * static_cast<int64_t>(batch * record_bytes));
  state.counters["appends"] = benchmark::Counter(static_cast<double>(n));
  if (state.thread_index() == 0) {
    const double wall_s = static_cast<double>(end_ns - g_append.start_ns.load()) / 1e9;
    const double appends = static_cast<double>(n) * state.threads();
    if (wall_s > 0) {
      state.counters["wall_records_per_second"] = appends * static_cast<double>(batch) / wall_s;
      state.counters["wall_bytes_per_second"] = appends * static_cast<double>(batch * record_bytes) / wall_s;
      state.counters["wall_log_bytes_per_second"] =
          appends * static_cast<double>(encoded_batch_bytes(records)) / wall_s;
    }
    if (g_append.log) {
      const uint64_t syncs = g_append.fs->file_syncs.load();
      state.counters["segments"] = benchmark::Counter(static_cast<double>(g_append.log->segment_count()));
      state.counters["fdatasyncs"] = benchmark::Counter(static_cast<double>(syncs));
      if (syncs > 0) {
        const double sync_s = static_cast<double>(g_append.fs->file_sync_ns.load()) / 1e9;
        // Mean fdatasync time, and the share of the run's wall time a sync was running:
        // below 1 means the disk sat idle between group commits.
        state.counters["sync_us"] = sync_s * 1e6 / static_cast<double>(syncs);
        if (wall_s > 0) state.counters["sync_busy"] = sync_s / wall_s;
      }
    }
    drop_dir(g_append.dir);  // truncate first: the destructor's sync then has nothing to write
    g_append.log.reset();
    g_append.fs.reset();
  }
}

void AppendArgs(benchmark::internal::Benchmark* b, int fsync) {
  b->ArgNames({"bytes", "batch", "fsync", "delay_us"});
  for (int64_t bytes : {100, 1024})
    for (int64_t batch : {1, 64}) b->Args({bytes, batch, fsync, -1});  // -1: the default delay
  b->Threads(1)->Threads(4)->Threads(16)->UseRealTime();
}
// Group commit with the leader's gathering off (0) and at two settings, in the same run.
void AppendCommitDelayArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bytes", "batch", "fsync", "delay_us"});
  for (int64_t delay : {0, 50, 200}) b->Args({1024, 1, 1, delay});
  b->Threads(4)->Threads(16)->UseRealTime();
}
void AppendOsArgs(benchmark::internal::Benchmark* b) { AppendArgs(b, 0); }
void AppendFsyncArgs(benchmark::internal::Benchmark* b) { AppendArgs(b, 1); }
BENCHMARK(BM_PartitionLog_Append)->Apply(AppendOsArgs)->MinTime(kOsMinTime);
BENCHMARK(BM_PartitionLog_Append)->Apply(AppendFsyncArgs)->MinTime(kFsyncMinTime);
BENCHMARK(BM_PartitionLog_Append)->Name("BM_PartitionLog_AppendCommitDelay")->Apply(AppendCommitDelayArgs)->MinTime(kFsyncMinTime);

// ---------------------------------------------------------------------------------------
// The machine's ceiling: the same bytes per call as one log batch's payload, appended
// with pwrite() to a fresh file in the same scratch directory, with no framing, locking or
// bookkeeping. Files roll at the segment size like the log's (without a sync).

// `framed`: write the log's encoded batch size per call (header and record framing
// included) instead of the payload bytes, to tell the format's extra bytes apart from the
// implementation's extra work. Byte rates still count payload bytes.
void ceiling(benchmark::State& state, bool sync, bool framed) {
  const auto record_bytes = static_cast<size_t>(state.range(0));
  const auto batch = static_cast<size_t>(state.range(1));
  const std::string record_payload(record_bytes, 'x');
  const size_t call_bytes =
      framed ? static_cast<size_t>(encoded_batch_bytes(make_records(record_payload, batch))) : record_bytes * batch;
  const std::string dir = fresh_dir(sync ? "ceiling-sync" : "ceiling");
  const std::string buf = make_payload(call_bytes, 7);
  std::vector<int> fds;
  const auto open_next = [&] {
    const std::string path = dir + "/" + std::to_string(fds.size()) + ".dat";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) die_errno("open", path);
    fds.push_back(fd);
  };
  open_next();
  uint64_t pos = 0;
  bool failed = false;
  for (auto _ : state) {
    if (failed) continue;
    if (pos + call_bytes > kSegmentBytes) {
      open_next();
      pos = 0;
    }
    size_t done = 0;
    while (done < call_bytes) {
      const ssize_t w = ::pwrite(fds.back(), buf.data() + done, call_bytes - done, static_cast<off_t>(pos + done));
      if (w < 0) {
        if (errno == EINTR) continue;
        state.SkipWithError("pwrite failed");
        failed = true;
        break;
      }
      done += static_cast<size_t>(w);
    }
    pos += call_bytes;
    if (sync && !failed && ::fdatasync(fds.back()) != 0) {
      state.SkipWithError("fdatasync failed");
      failed = true;
    }
    benchmark::DoNotOptimize(pos);
  }
  const auto n = static_cast<int64_t>(state.iterations());
  state.SetItemsProcessed(n * static_cast<int64_t>(batch));
  state.SetBytesProcessed(n * static_cast<int64_t>(record_bytes * batch));
  state.counters["write_bytes_per_second"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(call_bytes), benchmark::Counter::kIsRate);
  state.counters["files"] = benchmark::Counter(static_cast<double>(fds.size()));
  for (int fd : fds) ::close(fd);
  drop_dir(dir);
}

void BM_Ceiling_Write(benchmark::State& state) { ceiling(state, false, false); }
void BM_Ceiling_WriteFdatasync(benchmark::State& state) { ceiling(state, true, false); }
void BM_Ceiling_WriteFramed(benchmark::State& state) { ceiling(state, false, true); }

void CeilingArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bytes", "batch"});
  for (int64_t bytes : {100, 1024})
    for (int64_t batch : {1, 64}) b->Args({bytes, batch});
  b->UseRealTime();
}
BENCHMARK(BM_Ceiling_Write)->Apply(CeilingArgs)->MinTime(kOsMinTime);
BENCHMARK(BM_Ceiling_WriteFdatasync)->Apply(CeilingArgs)->MinTime(kFsyncMinTime);
BENCHMARK(BM_Ceiling_WriteFramed)->Apply(CeilingArgs)->MinTime(kOsMinTime);

// ---------------------------------------------------------------------------------------
// The CPU work of an append, without I/O: where the gap to the ceiling comes from.

void BM_BatchFormat_Encode(benchmark::State& state) {
  const auto record_bytes = static_cast<size_t>(state.range(0));
  const auto batch = static_cast<size_t>(state.range(1));
  const std::string payload = make_payload(record_bytes, 3);
  const std::vector<RecordInput> records = make_records(payload, batch);
  std::string out;
  uint64_t base = 0;
  for (auto _ : state) {
    // What PartitionLog::append does under its mutex before the write: size the records,
    // encode (with the batch CRC), decode the header back.
    size_t body = 0;
    for (const RecordInput& r : records) body += batch::encoded_record_size(r).value_or(0);
    Status s = batch::encode_batch(records, base, base + 1, 1, out);
    auto header = batch::decode_header(out);
    if (!s.ok() || !header || header->body_length != body) {
      state.SkipWithError("encode failed");
      break;
    }
    base += batch;
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  const auto n = static_cast<int64_t>(state.iterations());
  state.SetItemsProcessed(n * static_cast<int64_t>(batch));
  state.SetBytesProcessed(n * static_cast<int64_t>(batch * record_bytes));
}
BENCHMARK(BM_BatchFormat_Encode)->ArgNames({"bytes", "batch"})->Args({100, 1})->Args({100, 64})->Args({1024, 1})->Args({1024, 64});

void BM_Crc32c_Extend(benchmark::State& state) {
  const std::string data = make_payload(static_cast<size_t>(state.range(0)), 5);
  for (auto _ : state) benchmark::DoNotOptimize(crc32c::value(data));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
  state.SetLabel(crc32c::is_hardware_accelerated() ? "sse4.2" : "portable");
}
BENCHMARK(BM_Crc32c_Extend)->ArgName("bytes")->Arg(64 << 10);

// ---------------------------------------------------------------------------------------
// Reads. One log per shape (payload bytes, records per batch), built on first use and kept
// until the process ends: 128 MiB of encoded batches in 32 MiB segments (4 sealed ones),
// synced, so reads are served from a clean, hot page cache. Batch i has time t0 + i ms.

constexpr uint64_t kReadLogBytes = 128ull << 20;
constexpr uint64_t kReadSegmentBytes = 32ull << 20;
constexpr size_t kReadChunk = 1u << 20;

struct ReadLog {
  std::string dir;
  std::unique_ptr<PartitionLog> log;
  uint64_t start = 0;
  uint64_t end = 0;  // high watermark
  int64_t first_time_ms = 0;
  int64_t last_time_ms = 0;
};

std::map<std::pair<size_t, size_t>, std::unique_ptr<ReadLog>> g_read_logs;

// Null (and the error in `error`) if the log could not be built.
ReadLog* read_log(size_t record_bytes, size_t batch, std::string& error) {
  auto& slot = g_read_logs[{record_bytes, batch}];
  if (slot) return slot.get();
  static bool cleanup_registered = false;
  if (!cleanup_registered) {
    cleanup_registered = true;
    at_exit_cleanup([] {
      for (auto& [shape, rl] : g_read_logs) {
        if (!rl) continue;
        drop_dir(rl->dir);
        rl->log.reset();
      }
      g_read_logs.clear();
    });
  }
  auto rl = std::make_unique<ReadLog>();
  rl->dir = fresh_dir("read");
  LogConfig config;
  config.durability = Durability::kOs;
  config.segment_bytes = kReadSegmentBytes;
  auto log = PartitionLog::open(FileSystem::posix(), rl->dir, config, nullptr);
  if (!log) {
    error = log.error().to_string();
    return nullptr;
  }
  rl->log = std::move(*log);
  const std::string payload = make_payload(record_bytes, 42);
  const std::vector<RecordInput> records = make_records(payload, batch);
  const uint64_t batches = kReadLogBytes / encoded_batch_bytes(records);
  LamportClock clock;
  rl->first_time_ms = wall_ms() - static_cast<int64_t>(batches);
  for (uint64_t i = 0; i < batches; ++i) {
    auto r = rl->log->append(records, clock, 0, rl->first_time_ms + static_cast<int64_t>(i));
    if (!r) {
      error = r.error().to_string();
      return nullptr;
    }
  }
  if (Status s = rl->log->sync(); !s.ok()) {
    error = s.to_string();
    return nullptr;
  }
  rl->last_time_ms = rl->first_time_ms + static_cast<int64_t>(batches) - 1;
  rl->start = rl->log->log_start_offset();
  rl->end = rl->log->high_watermark();
  slot = std::move(rl);
  return slot.get();
}

void BM_PartitionLog_SequentialRead(benchmark::State& state) {
  std::string error;
  ReadLog* rl = read_log(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)), error);
  if (rl == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  uint64_t offset = rl->start;
  int64_t bytes = 0;
  int64_t records = 0;
  for (auto _ : state) {
    auto r = rl->log->read(offset, kReadChunk);
    if (!r) {
      state.SkipWithError(r.error().to_string().c_str());
      break;
    }
    for (const storage::StoredBatch& b : r->batches) {
      bytes += static_cast<int64_t>(b.bytes.size());
      records += b.header.record_count;
    }
    offset = r->batches.empty() ? rl->end : r->batches.back().header.next_offset();
    if (offset >= rl->end) offset = rl->start;  // wrap around: read the log again
    benchmark::DoNotOptimize(r->batches.data());
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(records);
  state.counters["segments"] = benchmark::Counter(static_cast<double>(rl->log->segment_count()));
}

// Random draws, fixed per process, cycled through by the lookup loops.
template <typename T>
std::vector<T> uniform_draws(T lo, T hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<T> dist(lo, hi);
  std::vector<T> v(1u << 14);
  for (T& x : v) x = dist(rng);
  return v;
}

void BM_PartitionLog_OffsetLookup(benchmark::State& state) {
  std::string error;
  ReadLog* rl = read_log(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)), error);
  if (rl == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::vector<uint64_t> offsets = uniform_draws<uint64_t>(rl->start, rl->end - 1, 1);
  size_t i = 0;
  for (auto _ : state) {
    auto r = rl->log->read(offsets[i++ & (offsets.size() - 1)], 1);
    if (!r || r->batches.size() != 1) {
      state.SkipWithError(r ? "read did not return exactly one batch" : r.error().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(r->batches.front().header.base_offset);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_PartitionLog_TimeLookup(benchmark::State& state) {
  std::string error;
  ReadLog* rl = read_log(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)), error);
  if (rl == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::vector<int64_t> times = uniform_draws<int64_t>(rl->first_time_ms, rl->last_time_ms, 2);
  size_t i = 0;
  for (auto _ : state) {
    auto r = rl->log->offset_for_time(times[i++ & (times.size() - 1)]);
    if (!r) {
      state.SkipWithError(r.error().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(*r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void ReadArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bytes", "batch"});
  b->Args({1024, 64})->Args({100, 64})->Args({100, 1});
  b->UseRealTime();
}
BENCHMARK(BM_PartitionLog_SequentialRead)->Apply(ReadArgs);
BENCHMARK(BM_PartitionLog_OffsetLookup)->Apply(ReadArgs);
BENCHMARK(BM_PartitionLog_TimeLookup)->Apply(ReadArgs);

}  // namespace
}  // namespace causeway::bench

int main(int argc, char** argv) { return causeway::bench::run_main(argc, argv); }
