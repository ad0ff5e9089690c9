// Partition log: segments, appends with group commit, reads, retention, recovery.
// See partition_log.h for the threading contract and docs/log-format.md for the format.
#include "storage/partition_log.h"

#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <limits>

#include "causeway/common/blocking_result.h"
#include "storage/journal.h"
#include "storage/sync_group.h"
#include "storage/sync_observer.h"

namespace causeway::storage {

namespace {

std::atomic<SyncObserver> g_sync_observer{nullptr};
std::atomic<AppendObserver> g_append_observer{nullptr};

// now - first, saturated: the first time comes from the segment's bytes, which a crafted
// or damaged file may set anywhere in int64's range.
int64_t segment_age_ms(int64_t now_ms, int64_t first_time_ms) {
  int64_t age = 0;
  if (__builtin_sub_overflow(now_ms, first_time_ms, &age)) {
    return first_time_ms < 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return age;
}

}  // namespace

void set_sync_observer(SyncObserver observer) { g_sync_observer.store(observer, std::memory_order_relaxed); }
SyncObserver sync_observer() { return g_sync_observer.load(std::memory_order_relaxed); }
void set_append_observer(AppendObserver observer) { g_append_observer.store(observer, std::memory_order_relaxed); }

std::string_view durability_name(Durability d) noexcept {
  return d == Durability::kOs ? "os" : "fsync";
}

Result<Durability> parse_durability(std::string_view text) {
  if (text == "fsync") return Durability::kFsync;
  if (text == "os") return Durability::kOs;
  return invalid_argument("invalid durability \"" + std::string(text) + "\" (expected fsync or os)");
}

Status LogConfig::validate() const {
  if (segment_bytes < (64u << 10) || segment_bytes > (2ull << 30))
    return invalid_argument("segment_bytes " + std::to_string(segment_bytes) +
                            " out of range (64KiB to 2GiB)");
  if (segment_ms.count() <= 0) return invalid_argument("segment_ms must be positive");
  if (index_interval_bytes == 0) return invalid_argument("index_interval_bytes must be positive");
  if (retention_ms.count() < 0) return invalid_argument("retention_ms must not be negative");
  if (commit_delay.count() < 0 || commit_delay > std::chrono::milliseconds(100))
    return invalid_argument("commit_delay must be between 0 and 100ms");
  return Status();
}

PartitionLog::PartitionLog(FileSystem* fs, std::string dir, LogConfig config,
                           std::shared_ptr<FileCache> sealed_files)
    : fs_(fs), dir_(std::move(dir)), config_(config), sealed_files_(std::move(sealed_files)) {}

PartitionLog::~PartitionLog() {
  // Best effort: an orderly close makes `os`-mode appends durable. Errors have nowhere to
  // go from a destructor; callers who care call sync() first.
  if (!segments_.empty()) sync().ignore_error();
  // A leader task may still be finishing its round on the executor.
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [&] { return !leading_; });
  // The next open then finds the active segment ending at its last batch (a crash leaves
  // the zeros, which recovery recognises: docs/log-format.md, "Preallocation").
  if (!segments_.empty() && failed_.ok() && !rolling_) segments_.back()->trim_preallocated().ignore_error();
}

Result<std::unique_ptr<PartitionLog>> PartitionLog::open(FileSystem* fs, std::string dir, LogConfig config,
                                                         RecoveryReport* report,
                                                         std::shared_ptr<FileCache> sealed_files) {
  CAUSEWAY_RETURN_IF_ERROR(config.validate());
  std::unique_ptr<PartitionLog> log(new PartitionLog(fs, std::move(dir), config, std::move(sealed_files)));
  RecoveryReport local;
  CAUSEWAY_RETURN_IF_ERROR(log->recover(report ? *report : local));
  return log;
}

Status PartitionLog::recover(RecoveryReport& report) {
  CAUSEWAY_RETURN_IF_ERROR(fs_->create_dirs(dir_));
  // Tells this directory's sync journal records from those of an earlier partition at the
  // same path (storage/journal.h).
  CAUSEWAY_ASSIGN_OR_RETURN(incarnation_, partition_incarnation(fs_, dir_, /*create=*/true));
  CAUSEWAY_ASSIGN_OR_RETURN(auto names, fs_->list_dir(dir_));
  std::sort(names.begin(), names.end());
  std::vector<uint64_t> bases;
  for (const std::string& name : names) {
    const auto dot = name.find('.');
    const std::string_view stem = std::string_view(name).substr(0, dot);
    const std::string_view ext = dot == std::string::npos ? "" : std::string_view(name).substr(dot);
    if (ext == ".log") {
      auto base = parse_segment_stem(stem);
      if (!base)
        return invalid_argument("unexpected file " + dir_ + "/" + name +
                                " (segment files are named by a 20-digit base offset); move it away");
      bases.push_back(*base);
    }
  }
  // Leftovers of interrupted work: temp files of an atomic replace, and index files whose
  // segment retention already deleted.
  for (const std::string& name : names) {
    const auto dot = name.find('.');
    const std::string stem = name.substr(0, dot);
    const std::string ext = dot == std::string::npos ? "" : name.substr(dot);
    const bool tmp = ext.size() >= 4 && ext.compare(ext.size() - 4, 4, ".tmp") == 0;
    const bool orphan_index = (ext == ".index" || ext == ".timeindex" || ext == ".nokeys") && parse_segment_stem(stem) &&
                              !std::binary_search(bases.begin(), bases.end(), *parse_segment_stem(stem));
    if (tmp || orphan_index) {
      CAUSEWAY_RETURN_IF_ERROR(fs_->remove(dir_ + "/" + name));
      report.removed_files.push_back(name);
    }
  }
  if (!report.removed_files.empty()) CAUSEWAY_RETURN_IF_ERROR(fs_->sync_dir(dir_));

  if (bases.empty()) {
    CAUSEWAY_ASSIGN_OR_RETURN(auto seg,
                              Segment::create(fs_, dir_, 0, config_.index_interval_bytes, sealed_files_.get()));
    seg->set_zero_fill(config_.durability == Durability::kFsync);
    segments_.push_back(std::move(seg));
  }
  for (size_t i = 0; i < bases.size(); ++i) {
    const bool active = i + 1 == bases.size();
    std::unique_ptr<Segment> seg;
    if (active) {
      std::optional<ScanStop> stop;
      CAUSEWAY_ASSIGN_OR_RETURN(seg, Segment::recover(fs_, dir_, bases[i], config_.index_interval_bytes, &stop,
                                                      sealed_files_.get()));
      if (stop) {
        report.truncated_bytes = stop->file_size - stop->position;
        report.truncated = std::move(stop);
      }
      seg->set_zero_fill(config_.durability == Durability::kFsync);
    } else {
      bool rebuilt = false;
      CAUSEWAY_ASSIGN_OR_RETURN(seg, Segment::open_sealed(fs_, dir_, bases[i], config_.index_interval_bytes, &rebuilt,
                                                          sealed_files_.get()));
      if (rebuilt) report.rebuilt_indexes.push_back(seg->log_path());
    }
    if (!segments_.empty()) {
      const Segment& prev = *segments_.back();
      if (seg->base_offset() != prev.next_offset())
        return corruption("segment " + seg->log_path() + " starts at offset " + std::to_string(seg->base_offset()) +
                          " but the previous segment ends at " + std::to_string(prev.next_offset()) +
                          " (a segment is missing)");
      if (!seg->empty() && seg->first_lamport() <= prev.last_lamport())
        return corruption("segment " + seg->log_path() + " Lamport stamps do not continue the previous segment");
    }
    segments_.push_back(std::move(seg));
  }
  const Segment& active = *segments_.back();
  visible_next_offset_ = active.next_offset();
  visible_position_ = active.size_bytes();
  // Everything recovery saw was read back from the file; the active segment was synced if
  // it was cut, and sealed ones were synced before sealing. Bytes that were only in the page
  // cache survive a process crash; after an OS crash they are what the disk kept.
  durable_next_offset_ = active.next_offset();

  report.segments = segments_.size();
  report.log_start_offset = segments_.front()->base_offset();
  report.next_offset = active.next_offset();
  report.last_lamport = last_lamport_locked();
  report.size_bytes = 0;
  for (const auto& s : segments_) report.size_bytes += s->size_bytes();
  return Status();
}

Status PartitionLog::wait_for_roll_locked(std::unique_lock<std::mutex>& lk) {
  roll_cv_.wait(lk, [&] { return !rolling_; });
  return Status();
}

Status PartitionLog::roll_locked(std::unique_lock<std::mutex>& lk) {
  // Sealing syncs the whole segment, which in `os` mode can take a while: do it without the
  // mutex so readers carry on. Appenders wait on rolling_, so nothing is written meanwhile.
  rolling_ = true;
  std::shared_ptr<Segment> old = segments_.back();
  lk.unlock();
  Status sealed = old->seal();
  Result<std::unique_ptr<Segment>> next =
      sealed.ok() ? Segment::create(fs_, dir_, old->next_offset(), config_.index_interval_bytes,
                                    sealed_files_.get())
                  : Result<std::unique_ptr<Segment>>(sealed);
  if (next) (*next)->set_zero_fill(config_.durability == Durability::kFsync);
  lk.lock();
  rolling_ = false;
  roll_cv_.notify_all();
  if (!next) {
    failed_ = next.error();
    return next.error();
  }
  // Sealing synced everything below the new segment: it is durable and, in either mode,
  // visible.
  durable_next_offset_ = std::max(durable_next_offset_, old->next_offset());
  visible_next_offset_ = old->next_offset();
  segments_.push_back(std::move(*next));
  visible_position_ = 0;
  writeback_position_ = 0;
  return Status();
}

Result<AppendResult> PartitionLog::append(std::span<const batch::RecordInput> records, LamportClock& clock,
                                          uint64_t observed_lamport, int64_t now_ms) {
  // The blocking form: the same path as append_async, waiting for its completion. If no
  // sync is running, this thread leads one itself inside append_async.
  return wait_for_callback<Result<AppendResult>>(
      [&](auto done) { append_async(records, clock, observed_lamport, now_ms, std::move(done)); });
}

void PartitionLog::append_async(std::span<const batch::RecordInput> records, LamportClock& clock,
                                uint64_t observed_lamport, int64_t now_ms, AppendCallback done) {
  const auto began = std::chrono::steady_clock::now();
  // Encode outside the lock: the body does not depend on the offset, stamp or time the
  // batch will get, so only the 64-byte header is finished under the mutex.
  thread_local std::string batch;
  struct ShrinkOnExit {
    std::string& b;
    ~ShrinkOnExit() {
      if (b.capacity() > (4u << 20)) std::string().swap(b);  // don't pin a huge buffer per thread
    }
  } shrink{batch};
  if (Status s = batch::encode_batch_body(records, batch); !s.ok()) return done(std::move(s));
  if (batch.size() > config_.segment_bytes)
    return done(invalid_argument("batch of " + std::to_string(batch.size()) + " bytes exceeds segment_bytes " +
                                 std::to_string(config_.segment_bytes) +
                                 " (a segment holds whole batches: events this large need a topic with larger "
                                 "segments, --segment-bytes)"));

  std::unique_lock lk(mu_);
  Result<AppendResult> written = write_batch_locked(lk, batch, records, clock, observed_lamport, now_ms);
  const auto written_at = std::chrono::steady_clock::now();
  if (!written || config_.durability == Durability::kOs) {
    lk.unlock();
    if (written) {
      if (AppendObserver observe = g_append_observer.load(std::memory_order_relaxed))
        observe(AppendTiming{.write = written_at - began});
    }
    return done(std::move(written));
  }
  // `fsync`: the ack waits for a sync covering this batch. Queue it; if no one is leading
  // syncs for this log, lead them on this thread until the queue is empty.
  const AppendResult result = *written;
  sync_waiters_.push_back(SyncWaiter{result.last_offset + 1,
                                     [result, done = std::move(done)](const Status& s) {
                                       if (s.ok()) {
                                         done(result);
                                       } else {
                                         done(s);
                                       }
                                     },
                                     began, written_at});
  if (!leading_) start_leader_locked(lk);
}

Result<AppendResult> PartitionLog::write_batch_locked(std::unique_lock<std::mutex>& lk, std::string& batch,
                                                      std::span<const batch::RecordInput> records, LamportClock& clock,
                                                      uint64_t observed_lamport, int64_t now_ms) {
  CAUSEWAY_RETURN_IF_ERROR(wait_for_roll_locked(lk));
  if (!failed_.ok())
    return failed_precondition("log " + dir_ + " failed earlier and must be reopened: " + failed_.to_string());
  Segment* active = segments_.back().get();
  if (!active->empty() && (active->size_bytes() + batch.size() > config_.segment_bytes ||
                           segment_age_ms(now_ms, active->first_time_ms()) >= config_.segment_ms.count())) {
    CAUSEWAY_RETURN_IF_ERROR(roll_locked(lk));
    active = segments_.back().get();
  }
  const uint64_t base = active->next_offset();
  // Refused before anything is written: a batch whose Lamport range wrapped would be
  // stored, acked, and then called corrupt by every reader and cut by recovery.
  const std::optional<uint64_t> stamped = clock.tick_n(observed_lamport, records.size());
  if (!stamped) {
    return out_of_range("no room for " + std::to_string(records.size()) + " Lamport stamp(s) above " +
                        std::to_string(std::max(clock.now(), observed_lamport)) + " (the maximum stamp is " +
                        std::to_string(kMaxLamport) + ")");
  }
  const uint64_t first_lamport = *stamped;
  batch::finish_batch(batch, base, first_lamport, now_ms);
  batch::BatchHeader header;
  header.body_length = static_cast<uint32_t>(batch.size() - batch::kBatchHeaderSize);
  header.base_offset = base;
  header.record_count = static_cast<uint32_t>(records.size());
  header.first_lamport = first_lamport;
  header.last_lamport = first_lamport + records.size() - 1;
  header.first_time_ms = now_ms;
  header.last_time_ms = now_ms;
  if (std::any_of(records.begin(), records.end(), [](const batch::RecordInput& r) { return !r.dedup_key.empty(); }))
    active->note_dedup_keys();
  // Write-behind: while this log's rounds go to the sync journal, its bytes stay in memory
  // until the journal's checkpoint (or any sync of the file) writes them, one write per
  // log instead of one per append (docs/log-format.md, "Write-behind").
  const bool defer = config_.durability == Durability::kFsync && sync_group_ != nullptr && last_round_journaled_ &&
                     sync_group_->write_behind();
  CAUSEWAY_RETURN_IF_ERROR(active->append(header, batch, defer));
  if (defer && active->needs_tracking()) sync_group_->track(segments_.back());
  ++appends_since_sync_;
  if (gathering_) arrival_cv_.notify_one();  // the leader gathering a group commit wants to know

  AppendResult result{base, header.last_offset(), header.first_lamport, header.last_lamport, now_ms};
  if (config_.durability == Durability::kOs) {
    visible_next_offset_ = active->next_offset();
    visible_position_ = active->size_bytes();
    // Start writeback of every full MiB now (without waiting for it), so the background
    // sync and a roll's seal find little dirty data (RocksDB's bytes_per_sync). Rolls wait
    // for rolling_, and writeback of a sealed segment's range is harmless.
    // sync_file_range can block while the device queue is congested, so with a sync
    // executor it runs there, off the appending (network) thread.
    if (active->size_bytes() - writeback_position_ >= kWritebackBytes) {
      const uint64_t from = writeback_position_;
      const uint64_t to = active->size_bytes();
      writeback_position_ = to;
      std::shared_ptr<Segment> seg = segments_.back();
      if (sync_executor_) {
        sync_executor_([seg = std::move(seg), from, to] { seg->start_writeback(from, to - from); });
      } else {
        lk.unlock();
        seg->start_writeback(from, to - from);
        lk.lock();
      }
    }
  }
  return result;
}

void PartitionLog::start_leader_locked(std::unique_lock<std::mutex>& lk) {
  leading_ = true;
  if (sync_group_ != nullptr) return begin_group_round_locked(lk, /*may_block=*/false);
  if (sync_executor_) {
    // Sync rounds run on the executor, one round per task, so that a busy log does not
    // keep an executor thread from other logs' syncs.
    sync_executor_([this] {
      std::unique_lock l(mu_);
      if (!sync_round_locked(l)) {
        leading_ = false;
        idle_cv_.notify_all();
        return;
      }
      start_leader_locked(l);
    });
    return;
  }
  while (sync_round_locked(lk)) {
  }
  leading_ = false;
  idle_cv_.notify_all();
}

bool PartitionLog::sync_round_locked(std::unique_lock<std::mutex>& lk) {
  // One leader at a time per log (leveldb's writer queue, made asynchronous): it completes
  // every waiter whose batch is durable, then runs one fdatasync for everything written so
  // far with the mutex released, so that appends carry on and ride the next sync, then
  // completes again. Appenders never block here: their completions run on the leader's
  // thread. A failed sync fails every waiter and every later append.
  complete_ready_locked(lk);
  if (sync_waiters_.empty()) return false;

  const auto gather_start = std::chrono::steady_clock::now();
  gather_group_locked(lk);
  std::shared_ptr<Segment> seg = segments_.back();
  const uint64_t upto = seg->next_offset();
  const uint64_t position = seg->size_bytes();
  const uint64_t group = appends_since_sync_;
  appends_since_sync_ = 0;
  const auto sync_start = std::chrono::steady_clock::now();
  lk.unlock();
  Status s = seg->sync();
  const auto sync_end = std::chrono::steady_clock::now();
  if (SyncObserver observe = g_sync_observer.load(std::memory_order_relaxed)) observe(sync_end - sync_start, 1, SyncKind::kFile);
  lk.lock();
  apply_sync_locked(lk, s, seg, upto, position, group, gather_start, sync_start, sync_end);
  complete_ready_locked(lk);
  return !sync_waiters_.empty();
}

void PartitionLog::apply_sync_locked(std::unique_lock<std::mutex>& lk, const Status& s,
                                     const std::shared_ptr<Segment>& seg, uint64_t upto, uint64_t position,
                                     uint64_t group, std::chrono::steady_clock::time_point gather_start,
                                     std::chrono::steady_clock::time_point sync_start,
                                     std::chrono::steady_clock::time_point sync_end) {
  // A roll may be sealing this segment meanwhile: its fdatasync and ours share the file's
  // descriptor, which reports a writeback error to only one of them. Let the seal finish
  // first, so that if it got the error the log is failed before our OK counts for anything.
  roll_cv_.wait(lk, [&] { return !rolling_; });
  last_sync_duration_ = sync_end - sync_start;
  last_sync_start_ = sync_start;
  last_sync_end_ = sync_end;
  last_gather_ = sync_start - gather_start;
  last_group_size_ = group;
  arrived_during_sync_ = appends_since_sync_;
  if (!s.ok()) {
    if (failed_.ok()) failed_ = s;
  } else if (failed_.ok()) {
    durable_next_offset_ = std::max(durable_next_offset_, upto);
    if (config_.durability == Durability::kFsync && seg == segments_.back() && upto > visible_next_offset_) {
      visible_next_offset_ = upto;
      visible_position_ = position;
    }
  }
}

void PartitionLog::begin_group_round_locked(std::unique_lock<std::mutex>& lk, bool may_block) {
  complete_ready_locked(lk);
  if (sync_waiters_.empty()) {
    leading_ = false;
    idle_cv_.notify_all();
    return;
  }
  const auto gather_start = std::chrono::steady_clock::now();
  // A log alone in its rounds gathers its appends as it would syncing on its own: on the
  // thread that completed its last round (the group's, which has no other log to serve),
  // or, starting from an appender's thread, on the executor. When rounds are shared, the
  // logs that ask while one runs make up the next one anyway, and thousands of logs
  // gathering in turn would hold up each other.
  if (last_round_logs_ <= 1 && wants_gather_locked()) {
    if (may_block) {
      gather_group_locked(lk);
    } else if (sync_executor_) {
      sync_executor_([this, gather_start] {
        std::unique_lock l(mu_);
        gather_group_locked(l);
        submit_group_round_locked(l, gather_start);
      });
      return;
    }
  }
  submit_group_round_locked(lk, gather_start);
}

void PartitionLog::submit_group_round_locked(std::unique_lock<std::mutex>& lk,
                                             std::chrono::steady_clock::time_point gather_start) {
  std::shared_ptr<Segment> seg = segments_.back();
  const uint64_t upto = seg->next_offset();
  const uint64_t position = seg->size_bytes();
  const uint64_t group = appends_since_sync_;
  appends_since_sync_ = 0;
  const auto gathered = std::chrono::steady_clock::now() - gather_start;
  // What is new since this log's last round: the group may copy it to its journal
  // (storage/journal.h) instead of syncing the file. A segment no round covered yet (new,
  // or recovered with bytes a crashed run may never have synced) counts from its start.
  SyncRange range;
  range.from = seg == covered_segment_ ? covered_position_ : 0;
  range.to = position;
  range.journal = config_.durability == Durability::kFsync;
  range.incarnation = incarnation_;
  // leading_ stays set until a round finds no waiter, so the log (whose destructor waits
  // for that) outlives the callback.
  sync_group_->request(seg, std::move(range), [this, seg, upto, position, group, gathered](const Status& s, const SyncRound& round) {
    std::unique_lock l(mu_);
    // The group's round started when it did; this log's own gather is what it waited first.
    apply_sync_locked(l, s, seg, upto, position, group, round.start - gathered, round.start, round.end);
    if (s.ok()) {
      covered_segment_ = seg;
      covered_position_ = position;
    }
    last_round_logs_ = round.logs;
    last_round_journaled_ = round.journaled;
    begin_group_round_locked(l, /*may_block=*/true);
  });
  (void)lk;
}

void PartitionLog::complete_ready_locked(std::unique_lock<std::mutex>& lk) {
  std::vector<SyncWaiter> ready;
  for (;;) {
    while (!sync_waiters_.empty() && (!failed_.ok() || sync_waiters_.front().target <= durable_next_offset_)) {
      ready.push_back(std::move(sync_waiters_.front()));
      sync_waiters_.pop_front();
    }
    if (ready.empty()) return;
    // Waiters fail with the error that failed the log (the sync's EIO, say); appends that
    // arrive later are refused with kFailedPrecondition.
    const Status outcome = failed_;
    // Where each append's wait went (storage/sync_observer.h): the round that just made
    // it durable is the last one, since waiters complete as soon as a sync covers them.
    const auto sync_start = last_sync_start_;
    const auto sync_end = last_sync_end_;
    const auto gather = last_gather_;
    lk.unlock();
    // Observed after every completion has run, so that no ack waits for the metrics.
    const AppendObserver observe = outcome.ok() ? g_append_observer.load(std::memory_order_relaxed) : nullptr;
    std::vector<AppendTiming> timings;
    if (observe != nullptr) timings.reserve(ready.size());
    for (SyncWaiter& w : ready) {
      if (observe != nullptr && w.written.time_since_epoch().count() != 0) {
        if (w.written <= sync_start) {
          const auto zero = std::chrono::steady_clock::duration::zero();
          timings.push_back(AppendTiming{.write = w.written - w.began,
                                         .sync_wait = std::max(zero, sync_start - w.written - gather),
                                         .gather = std::min(gather, sync_start - w.written),
                                         .sync = sync_end - sync_start,
                                         .complete = std::chrono::steady_clock::now() - sync_end,
                                         .durable_wait = true});
        } else {
          // Made durable by a roll's seal, not by a sync round: its write only.
          timings.push_back(AppendTiming{.write = w.written - w.began});
        }
      }
      w.done(outcome);
    }
    for (const AppendTiming& t : timings) observe(t);
    ready.clear();
    lk.lock();
  }
}

void PartitionLog::set_sync_executor(SyncExecutor executor) {
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [&] { return !leading_; });
  sync_executor_ = std::move(executor);
}

void PartitionLog::set_sync_group(SyncGroup* group) {
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [&] { return !leading_; });
  sync_group_ = group;
}

bool PartitionLog::wants_gather_locked() const {
  return config_.commit_delay.count() > 0 && (last_group_size_ >= 2 || arrived_during_sync_ > 0);
}

void PartitionLog::gather_group_locked(std::unique_lock<std::mutex>& lk) {
  // Appenders that wait for their own ack (closed loop) fall into two cohorts: those the
  // last sync released write again a few microseconds after a new leader has already
  // started syncing without them, so each sync carries about half of them. When
  // concurrency is evident (the last group had several appends, or appends arrived while
  // the last sync ran), the leader waits while appends keep arriving, for at most a
  // fraction of a sync, so the released cohort joins this group (PostgreSQL's
  // commit_delay/commit_siblings, made adaptive). A lone appender never waits.
  if (!wants_gather_locked()) return;
  thread_local bool slack_set = false;
  if (!slack_set) {
    // Timed waits here are tens of microseconds; the default 50 us timer slack would
    // swamp them. Affects only this thread.
    ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    slack_set = true;
  }
  const auto cap = std::min<std::chrono::steady_clock::duration>(config_.commit_delay, last_sync_duration_ / 2);
  const auto deadline = std::chrono::steady_clock::now() + cap;
  gathering_ = true;
  for (;;) {
    const uint64_t before = appends_since_sync_;
    const auto quiet_until = std::min(deadline, std::chrono::steady_clock::now() + kCommitQuietGap);
    arrival_cv_.wait_until(lk, quiet_until, [&] { return appends_since_sync_ != before; });
    if (appends_since_sync_ == before || std::chrono::steady_clock::now() >= deadline) break;
  }
  gathering_ = false;
}

Status PartitionLog::sync() {
  return wait_for_callback<Status>([&](auto done) { sync_async(std::move(done)); });
}

void PartitionLog::sync_async(std::function<void(const Status&)> done) {
  std::unique_lock lk(mu_);
  if (!failed_.ok()) {
    lk.unlock();
    return done(failed_precondition("log " + dir_ + " failed: " + failed_.to_string()));
  }
  const uint64_t target = segments_.back()->next_offset();
  if (durable_next_offset_ >= target) {
    // Durable, perhaps through the sync journal alone: what the segment deferred is written
    // to its file now (a close, the broker's stop), so the file holds every batch.
    Status flushed = segments_.back()->flush();
    lk.unlock();
    return done(flushed);
  }
  sync_waiters_.push_back(SyncWaiter{target, std::move(done)});
  if (!leading_) start_leader_locked(lk);
}

Result<ReadResult> PartitionLog::read(uint64_t offset, size_t max_bytes, uint64_t max_records) const {
  ReadResult result;
  std::shared_ptr<Segment> seg;
  uint64_t start = 0;
  uint64_t end = 0;
  for (;;) {
    {
      std::lock_guard lk(mu_);
      result.log_start_offset = segments_.front()->base_offset();
      result.high_watermark = visible_next_offset_;
      if (offset < result.log_start_offset)
        return out_of_range("offset " + std::to_string(offset) + " is below the log start offset " +
                            std::to_string(result.log_start_offset));
      if (offset >= visible_next_offset_) return result;
      auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                                 [](uint64_t o, const std::shared_ptr<Segment>& s) { return o < s->base_offset(); });
      seg = *std::prev(it);
      start = seg->position_for_offset(offset);
      end = seg == segments_.back() ? visible_position_ : seg->size_bytes();
    }
    CAUSEWAY_RETURN_IF_ERROR(seg->read_batches(offset, start, end, max_bytes, result.batches, max_records));
    if (!result.batches.empty()) return result;
    // `offset` was at the end of a segment that has since been sealed; go on to the next.
    if (seg->next_offset() <= offset) {
      std::lock_guard lk(mu_);
      if (seg == segments_.back()) return result;
    } else {
      return result;
    }
  }
}

Result<uint64_t> PartitionLog::find_offset(bool by_time, int64_t time_ms, uint64_t lamport) const {
  std::shared_ptr<Segment> seg;
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t hw = 0;
  {
    std::lock_guard lk(mu_);
    hw = visible_next_offset_;
    for (const auto& s : segments_) {
      if (s->empty()) continue;
      if (by_time ? s->max_time_ms() >= time_ms : s->last_lamport() >= lamport) {
        seg = s;
        break;
      }
    }
    if (!seg) return hw;
    start = by_time ? seg->position_for_time(time_ms) : seg->position_for_lamport(lamport);
    end = seg == segments_.back() ? visible_position_ : seg->size_bytes();
  }
  constexpr size_t kChunk = 1u << 20;
  while (start < end) {
    std::vector<StoredBatch> batches;
    CAUSEWAY_RETURN_IF_ERROR(seg->read_batches(0, start, end, kChunk, batches));
    if (batches.empty()) break;
    for (const StoredBatch& b : batches) {
      if (b.header.base_offset >= hw) return hw;
      // Whole batches can be skipped by their header fields.
      if (!by_time && b.header.last_lamport < lamport) {
        start += b.bytes.size();
        continue;
      }
      if (by_time && std::max(b.header.first_time_ms, b.header.last_time_ms) < time_ms) {
        start += b.bytes.size();
        continue;
      }
      std::optional<uint64_t> found;
      CAUSEWAY_RETURN_IF_ERROR(batch::for_each_record(b.header, b.bytes, [&](const batch::RecordView& r) {
        if (by_time ? r.time_ms >= time_ms : r.lamport >= lamport) {
          found = r.offset;
          return false;
        }
        return true;
      }));
      if (found) return std::min(*found, hw);
      start += b.bytes.size();
    }
  }
  return hw;
}

Result<uint64_t> PartitionLog::offset_for_time(int64_t time_ms) const { return find_offset(true, time_ms, 0); }
Result<uint64_t> PartitionLog::offset_for_lamport(uint64_t lamport) const { return find_offset(false, 0, lamport); }

void PartitionLog::mark_files_deleted() {
  std::lock_guard lk(mu_);
  for (const auto& seg : segments_) seg->mark_removed();
}

Result<size_t> PartitionLog::enforce_retention(int64_t now_ms) {
  std::vector<std::shared_ptr<Segment>> doomed;
  {
    std::lock_guard lk(mu_);
    uint64_t total = 0;
    for (const auto& s : segments_) total += s->size_bytes();
    while (segments_.size() > 1) {
      const Segment& oldest = *segments_.front();
      const bool too_old = config_.retention_ms.count() > 0 &&
                           oldest.max_time_ms() < now_ms - config_.retention_ms.count();
      const bool too_big = config_.retention_bytes > 0 && total - oldest.size_bytes() >= config_.retention_bytes &&
                           total > config_.retention_bytes;
      if (!too_old && !too_big) break;
      total -= oldest.size_bytes();
      doomed.push_back(segments_.front());
      segments_.erase(segments_.begin());
    }
  }
  // File deletion outside the mutex. A reader holding a doomed segment keeps a descriptor
  // it already has; one that must open the file again gets kOutOfRange, as a read below
  // the new log start does (Segment::mark_removed).
  for (const auto& s : doomed) CAUSEWAY_RETURN_IF_ERROR(s->remove_files());
  if (!doomed.empty()) CAUSEWAY_RETURN_IF_ERROR(fs_->sync_dir(dir_));
  return doomed.size();
}

uint64_t PartitionLog::log_start_offset() const {
  std::lock_guard lk(mu_);
  return segments_.front()->base_offset();
}
uint64_t PartitionLog::skip_segments_without_dedup_keys(uint64_t from) const {
  std::lock_guard lk(mu_);
  for (const auto& seg : segments_) {
    if (seg->next_offset() <= from) continue;  // entirely below
    if (!seg->sealed() || seg->may_hold_dedup_keys()) break;
    from = std::max(from, seg->next_offset());
  }
  return from;
}

uint64_t PartitionLog::next_offset() const {
  std::lock_guard lk(mu_);
  return segments_.back()->next_offset();
}
uint64_t PartitionLog::high_watermark() const {
  std::lock_guard lk(mu_);
  return visible_next_offset_;
}
uint64_t PartitionLog::durable_offset() const {
  std::lock_guard lk(mu_);
  return durable_next_offset_;
}
uint64_t PartitionLog::last_lamport() const {
  std::lock_guard lk(mu_);
  return last_lamport_locked();
}
uint64_t PartitionLog::last_lamport_locked() const {
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it)
    if (!(*it)->empty()) return (*it)->last_lamport();
  return 0;
}
uint64_t PartitionLog::size_bytes() const {
  std::lock_guard lk(mu_);
  uint64_t total = 0;
  for (const auto& s : segments_) total += s->size_bytes();
  return total;
}
size_t PartitionLog::segment_count() const {
  std::lock_guard lk(mu_);
  return segments_.size();
}

Status for_each_record_from(const ReadResult& result, uint64_t from_offset,
                            const std::function<bool(const batch::RecordView&)>& fn) {
  bool stop = false;
  for (const StoredBatch& b : result.batches) {
    if (b.header.next_offset() <= from_offset) continue;
    CAUSEWAY_RETURN_IF_ERROR(batch::for_each_record(b.header, b.bytes, [&](const batch::RecordView& r) {
      if (r.offset < from_offset) return true;
      if (!fn(r)) {
        stop = true;
        return false;
      }
      return true;
    }));
    if (stop) break;
  }
  return Status();
}

}  // namespace causeway::storage
