// The child of the crash test: appends dedup-keyed batches to an fsync topic from several
// threads, forever, and after each acknowledged append writes one line per record to
// stdout: "<partition> <offset> <payload crc32c> <dedup key>\n". The parent kills it with
// SIGKILL at a random moment and checks that everything reported survived. Stdout carries
// those lines and nothing else: the store's own log (e.g. taking the dedup window from the
// shutdown snapshot the parent's check wrote) goes to stderr.
//
// usage: crash_appender DATA_DIR ROUND THREADS
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "causeway/common/crc32c.h"
#include "core/event_store.h"

using namespace causeway;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: crash_appender DATA_DIR ROUND THREADS\n");
    return 2;
  }
  const std::string data_dir = argv[1];
  const int round = std::atoi(argv[2]);
  const int threads = std::atoi(argv[3]);
  spdlog::set_default_logger(spdlog::stderr_color_mt("crash_appender"));
  core::EventStoreOptions options;
  options.data_dir = data_dir;
  options.logs.background = false;
  // Rounds of two logs or more go to the sync journal (storage/journal.h), so that kill -9
  // lands inside journal writes and checkpoints too, and the parent's open replays what
  // the kill left there (the broker's default needs 128 logs in a round before it
  // journals). kill -9 keeps the page cache: what the journal makes durable is shown by the
  // power-loss tests in tests/unit/storage/journal_test.cc.
  options.logs.journal_min_logs = 2;
  options.logs.journal_checkpoint_bytes = 256u << 10;
  auto store = core::EventStore::open(storage::FileSystem::posix(), options, nullptr);
  if (!store) {
    std::fprintf(stderr, "open: %s\n", store.error().to_string().c_str());
    return 1;
  }
  meta::TopicConfig cfg;
  cfg.name = "crash";
  cfg.partitions = 8;  // more partitions than threads: syncs are shared across logs (storage/sync_group.h)
  cfg.durability = storage::Durability::kFsync;
  cfg.segment_bytes = 256 << 10;  // small segments: rolls happen under the knife too
  cfg.dedup_window = std::chrono::hours(1);
  auto topic = (*store)->create_topic(cfg);
  if (!topic) {
    std::fprintf(stderr, "create topic: %s\n", topic.error().to_string().c_str());
    return 1;
  }
  std::mutex out_mu;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(round * 1000 + t));
      for (uint64_t seq = 0;; ++seq) {
        const size_t n = 1 + rng() % 8;
        std::vector<std::string> keys(n), payloads(n);
        std::vector<batch::RecordInput> records(n);
        for (size_t i = 0; i < n; ++i) {
          keys[i] = "r" + std::to_string(round) + "-t" + std::to_string(t) + "-" + std::to_string(seq) + "-" +
                    std::to_string(i);
          payloads[i] = std::string(16 + rng() % 2000, static_cast<char>('a' + rng() % 26)) + keys[i];
          records[i].dedup_key = keys[i];
          records[i].key = keys[i];
          records[i].payload = payloads[i];
          records[i].source = "crash-test";
        }
        const uint32_t partition = static_cast<uint32_t>(rng() % 8);
        auto r = (*store)->append(*topic, partition, records, 0, storage::now_ms());
        if (!r) {
          std::fprintf(stderr, "append: %s\n", r.error().to_string().c_str());
          std::_Exit(1);
        }
        std::string lines;
        for (size_t i = 0; i < n; ++i)
          lines += std::to_string(partition) + " " + std::to_string(r->base_offset + i) + " " +
                   std::to_string(crc32c::value(payloads[i])) + " " + keys[i] + "\n";
        std::lock_guard lk(out_mu);
        // One write per batch keeps a batch's lines together; a kill mid-write leaves at
        // most a partial last line, which the parent ignores.
        size_t done = 0;
        while (done < lines.size()) {
          const ssize_t w = ::write(1, lines.data() + done, lines.size() - done);
          if (w <= 0) std::_Exit(1);
          done += static_cast<size_t>(w);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}
