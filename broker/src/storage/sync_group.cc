// SyncGroup: one commit round for many partition logs. See sync_group.h.
#include "storage/sync_group.h"

#include <spdlog/spdlog.h>

#include "storage/journal.h"
#include "storage/sync_observer.h"

namespace causeway::storage {

namespace {

// One log's own fdatasync, then its completion.
void sync_alone(std::shared_ptr<Segment>& segment, SyncGroup::Done& done) {
  SyncRound info;
  info.logs = 1;
  info.start = std::chrono::steady_clock::now();
  const Status s = segment->sync();
  info.end = std::chrono::steady_clock::now();
  if (SyncObserver observe = sync_observer()) observe(info.end - info.start, 1, SyncKind::kFile);
  done(s, info);
}

}  // namespace

SyncGroup::SyncGroup(std::unique_ptr<FileSystemSync> fs_sync, Executor completions, SyncGroupOptions options)
    : fs_sync_(std::move(fs_sync)),
      completions_(std::move(completions)),
      options_(std::move(options)),
      journal_limit_(options_.journal != nullptr && fs_sync_ != nullptr ? options_.journal_range_limit : 0) {
  // A journal is emptied only by a checkpoint, which needs the file system's sync.
  journal_ok_ = options_.journal != nullptr && fs_sync_ != nullptr;
  last_checkpoint_ = std::chrono::steady_clock::now();
  if (journal_ok_ && options_.checkpoint_sync != nullptr) checkpointer_ = std::thread([this] { run_checkpoints(); });
  thread_ = std::thread([this] { run(); });
}

SyncGroup::~SyncGroup() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();  // after the checkpoint it may have started on the checkpoint thread
  if (checkpointer_.joinable()) {
    {
      std::lock_guard lk(mu_);
      checkpointer_stopping_ = true;
    }
    checkpointer_cv_.notify_all();
    checkpointer_.join();
  }
  if (journal_ok_ && !keep_journal_) {
    if (Status s = checkpoint_now(); !s.ok())
      spdlog::error("the last checkpoint of the sync journal failed ({}); the next start replays it", s.to_string());
  }
}

Status SyncGroup::checkpoint() {
  std::unique_lock lk(mu_);
  if (options_.journal == nullptr || fs_sync_ == nullptr) return Status();
  if (keep_journal_) return kept_journal_error();
  if (stopped_) return failed_precondition("the sync group has stopped");
  const uint64_t ticket = ++checkpoint_requests_;
  cv_.notify_one();
  checkpoint_cv_.wait(lk, [&] { return checkpoints_done_ >= ticket || stopped_; });
  if (checkpoints_done_ < ticket) return failed_precondition("the sync group stopped before the checkpoint");
  return checkpoint_status_;
}

Status SyncGroup::kept_journal_error() const {
  return failed_precondition("a sync of the data directory's file system failed earlier (" + fs_failure_.to_string() +
                             "), so the sync journal in " + options_.journal->dir() +
                             " keeps its files until the broker restarts and replays them");
}

void SyncGroup::file_system_sync_failed_locked(const Status& s) {
  // syncfs reports a writeback error once per descriptor: a later syncfs that returns 0
  // says nothing about the pages that failed, so no later checkpoint can prove that the
  // journal's records are in their segments. The journal stops and keeps every file.
  // Nor can a shared round's syncfs any more (a checkpoint's failure may have taken the
  // error a round's logs needed): every log syncs its own file from now on, as after a
  // failed round.
  if (share_) {
    share_ = false;
    spdlog::error("a sync of the data directory's file system failed ({}); every partition log syncs on its own from "
                  "now on, so that each learns of its own lost writes",
                  s.to_string());
  }
  stop_journal_locked(s);
}

void SyncGroup::stop_journal_locked(const Status& s) {
  if (keep_journal_) return;
  keep_journal_ = true;
  fs_failure_ = s;
  if (journal_ok_) {
    journal_ok_ = false;
    spdlog::error("a sync failed ({}); the sync journal in {} keeps its files for the next start to replay, and shared "
                  "syncs no longer use it",
                  s.to_string(), options_.journal->dir());
  }
}

void SyncGroup::track(std::shared_ptr<Segment> segment) {
  std::lock_guard lk(mu_);
  tracked_.push_back(std::move(segment));
}

void SyncGroup::retrack(std::vector<std::shared_ptr<Segment>>& segments, Retrack which) {
  std::vector<std::shared_ptr<Segment>> keep;
  for (auto& seg : segments)
    if (which == Retrack::kAll || (which == Retrack::kUnflushed && !seg->release_if_clean()))
      keep.push_back(std::move(seg));
  segments.clear();  // the others are released here, not under mu_
  std::lock_guard lk(mu_);
  tracked_.insert(tracked_.end(), std::make_move_iterator(keep.begin()), std::make_move_iterator(keep.end()));
}

void SyncGroup::rotation_failed_locked(const Status& s) {
  last_checkpoint_ = std::chrono::steady_clock::now();
  if (keep_journal_) return;
  retry_checkpoint_at_ = last_checkpoint_ + std::chrono::seconds(1);
  // Nothing is lost: the journal goes on in its current file, and the next checkpoint
  // tries again.
  spdlog::warn("a checkpoint of the sync journal {} could not start a new file ({}); the next one tries again",
               options_.journal->dir(), s.to_string());
}

Status SyncGroup::flush_and_sync(FileSystemSync& sync, const std::vector<std::shared_ptr<Segment>>& segments) {
  const auto start = std::chrono::steady_clock::now();
  // Write-behind: every record of the older files describes bytes appended before the
  // rotation, and a segment that deferred any of them is tracked; written now, they
  // reach the disk with the syncfs below.
  Status s;
  for (const auto& seg : segments) {
    Status f = seg->flush();
    if (!f.ok() && s.ok()) s = f;
  }
  if (s.ok()) s = sync.sync();
  if (SyncObserver observe = sync_observer()) observe(std::chrono::steady_clock::now() - start, 0, SyncKind::kCheckpoint);
  spdlog::debug("sync journal checkpoint: {} segment(s) written and a syncfs in {} us ({})", segments.size(),
                std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count(),
                s.ok() ? "ok" : s.to_string());
  return s;
}

Status SyncGroup::finish_checkpoint(Status s, const std::vector<std::string>& older,
                                    std::vector<std::shared_ptr<Segment>>& segments) {
  if (!s.ok()) {
    std::lock_guard lk(mu_);
    file_system_sync_failed_locked(s);
  }
  // Those found flushed are forgotten (one that defers again registers again); the
  // others, and all of them after a failure, stay.
  retrack(segments, s.ok() ? Retrack::kUnflushed : Retrack::kAll);
  if (s.ok()) s = options_.journal->remove(older);
  std::lock_guard lk(mu_);
  last_checkpoint_ = std::chrono::steady_clock::now();
  if (s.ok()) {
    ++checkpoints_;
  } else if (!keep_journal_) {
    retry_checkpoint_at_ = last_checkpoint_ + std::chrono::seconds(1);
    // An older file not removed: nothing is lost, the journal goes on, and the next
    // checkpoint tries again (a failed flush or syncfs stopped the journal above instead).
    spdlog::warn("a checkpoint of the sync journal {} did not complete ({}); the next one tries again",
                 options_.journal->dir(), s.to_string());
  }
  return s;
}

Status SyncGroup::checkpoint_now() {
  Journal& journal = *options_.journal;
  if (!journal.holds_records()) {  // nothing a replay would read
    std::lock_guard lk(mu_);
    last_checkpoint_ = std::chrono::steady_clock::now();
    return Status();
  }
  Result<std::vector<std::string>> older = journal.rotate();
  if (!older) {
    std::lock_guard lk(mu_);
    rotation_failed_locked(older.error());
    return older.error();
  }
  std::vector<std::shared_ptr<Segment>> segments;
  {
    std::lock_guard lk(mu_);
    segments.swap(tracked_);
  }
  const Status s = flush_and_sync(*fs_sync_, segments);
  return finish_checkpoint(s, *older, segments);
}

void SyncGroup::run_checkpoints() {
  std::unique_lock lk(mu_);
  for (;;) {
    checkpointer_cv_.wait(lk, [&] { return checkpointer_stopping_ || (job_ && !job_done_); });
    if (!job_ || job_done_) return;  // stopping, nothing to run
    std::vector<std::shared_ptr<Segment>> segments = job_->segments;
    lk.unlock();
    const Status s = flush_and_sync(*options_.checkpoint_sync, segments);
    lk.lock();
    job_->status = s;
    job_done_ = true;
    cv_.notify_all();  // the group's thread finishes it
  }
}

void SyncGroup::request(std::shared_ptr<Segment> segment, SyncRange range, Done done) {
  {
    std::lock_guard lk(mu_);
    if (!stopped_) {
      pending_.push_back(Request{std::move(segment), std::move(range), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  // Never inside request() (the caller may hold a lock `done` takes).
  std::thread([segment = std::move(segment), done = std::move(done)]() mutable { sync_alone(segment, done); }).detach();
}

bool SyncGroup::covers(const std::string& path) const { return fs_sync_ != nullptr && fs_sync_->covers(path); }

uint64_t SyncGroup::shared_rounds() const {
  std::lock_guard lk(mu_);
  return shared_rounds_;
}

bool SyncGroup::shares() const {
  std::lock_guard lk(mu_);
  return share_;
}

uint64_t SyncGroup::journaled_rounds() const {
  std::lock_guard lk(mu_);
  return journaled_rounds_;
}

uint64_t SyncGroup::checkpoints() const {
  std::lock_guard lk(mu_);
  return checkpoints_;
}

bool SyncGroup::journals() const {
  std::lock_guard lk(mu_);
  return journal_ok_;
}

void SyncGroup::complete(std::vector<Request*>& requests, const Status& s, SyncRound info) {
  for (Request* r : requests) {
    if (completions_) {
      completions_([done = std::move(r->done), s, info] { done(s, info); });
    } else {
      r->done(s, info);
    }
  }
}

void SyncGroup::run_shared(std::vector<Request>& round, std::unique_lock<std::mutex>& lk) {
  // Called with lk unlocked. Which logs can go to the journal: those with a few new bytes.
  std::vector<Request*> journaled;
  std::vector<Request*> in_place;
  lk.lock();
  // Few logs are cheaper to syncfs than to write twice, unless the journal holds records:
  // then their segments' pages are dirty too, and a syncfs would write them all back (a
  // checkpoint's cost) for a round of a few logs.
  const bool journal =
      journal_ok_ && (round.size() >= options_.journal_min_logs || options_.journal->holds_records());
  lk.unlock();
  for (Request& r : round) {
    const bool small = r.range.journal && r.range.to >= r.range.from &&
                       r.range.to - r.range.from <= options_.journal_range_limit;
    (journal && small ? journaled : in_place).push_back(&r);
  }
  SyncRound info;
  info.logs = round.size();
  if (in_place.size() >= 2 || journaled.empty()) {
    // A syncfs covers them all (the journal would add a write and a flush to it), once
    // what they deferred is in their files (write-behind).
    info.start = std::chrono::steady_clock::now();
    Status s;
    for (Request& r : round) {
      Status f = r.segment->flush();
      if (!f.ok() && s.ok()) s = f;
    }
    if (s.ok()) s = fs_sync_->sync();
    info.end = std::chrono::steady_clock::now();
    if (SyncObserver observe = sync_observer()) observe(info.end - info.start, info.logs, SyncKind::kFileSystem);
    lk.lock();
    ++shared_rounds_;
    if (!s.ok() && share_) {
      share_ = false;
      spdlog::error("a sync shared by {} partition logs failed ({}); they refuse appends until reopened, and "
                    "every log syncs on its own from now on, so that each learns of its own lost writes",
                    round.size(), s.to_string());
    }
    if (!s.ok() && options_.journal != nullptr) file_system_sync_failed_locked(s);
    lk.unlock();
    std::vector<Request*> all;
    for (Request& r : round) all.push_back(&r);
    complete(all, s, info);
    return;
  }

  // The journal: each log's new bytes, from its segment (its write-behind memory, else the
  // page cache), in one write and one fdatasync of the journal file. At most one log syncs its own file.
  info.start = std::chrono::steady_clock::now();
  std::vector<JournalEntry> entries;
  entries.reserve(journaled.size());
  std::vector<Request*> readable;  // of `journaled`: completed with the journal's outcome
  std::vector<Request*> unreadable;
  Status unreadable_status;
  for (Request* r : journaled) {
    JournalEntry e;
    e.segment_path = r->segment->log_path();
    e.incarnation = r->range.incarnation;
    e.position = r->range.from;
    // From the segment's memory (write-behind), or read back from its file.
    Result<bool> read = r->segment->read_unsealed(r->range.from, r->range.to - r->range.from, e.bytes);
    if (!read) {
      unreadable.push_back(r);
      unreadable_status = read.error();
      continue;
    }
    if (*read && !e.bytes.empty()) entries.push_back(std::move(e));
    readable.push_back(r);
  }
  const Status sj = options_.journal->commit(entries);
  const Status sf = in_place.empty() ? Status() : in_place.front()->segment->sync();
  info.end = std::chrono::steady_clock::now();
  if (SyncObserver observe = sync_observer()) observe(info.end - info.start, info.logs, SyncKind::kJournal);
  lk.lock();
  ++shared_rounds_;
  ++journaled_rounds_;
  if (!sj.ok()) {
    // Its logs refuse appends until reopened (they failed), as after a failed fdatasync.
    stop_journal_locked(sj);
  }
  lk.unlock();
  complete(unreadable, unreadable_status, info);
  complete(in_place, sf, info);
  info.journaled = true;
  complete(readable, sj, info);
}

void SyncGroup::prune_tracked_locked(std::unique_lock<std::mutex>& lk) {
  if (tracked_.empty() || job_) return;
  const bool stopped = !journal_ok_;
  if (!stopped && options_.journal->holds_records()) return;  // its checkpoint releases them
  const auto now = std::chrono::steady_clock::now();
  if (now - pruned_at_ < options_.checkpoint_interval) return;
  pruned_at_ = now;
  std::vector<std::shared_ptr<Segment>> segments;
  segments.swap(tracked_);
  lk.unlock();
  retrack(segments, stopped ? Retrack::kNone : Retrack::kUnflushed);
  lk.lock();
}

void SyncGroup::checkpoint_due_locked(std::unique_lock<std::mutex>& lk) {
  if (job_ && job_done_) {
    // The checkpoint thread's part is done: the rest is this thread's (the journal is).
    CheckpointJob job = std::move(*job_);
    job_.reset();
    job_done_ = false;
    lk.unlock();
    const Status s = finish_checkpoint(job.status, job.older, job.segments);
    lk.lock();
    if (job.requested > checkpoints_done_) {
      checkpoint_status_ = s;
      checkpoints_done_ = job.requested;
      checkpoint_cv_.notify_all();
    }
  }
  if (job_) return;  // one at a time
  prune_tracked_locked(lk);
  const uint64_t requested = checkpoint_requests_;
  const bool asked = requested > checkpoints_done_;
  bool due = false;
  if (journal_ok_ && !asked) {
    const auto now = std::chrono::steady_clock::now();
    const uint64_t bytes = options_.journal->current_bytes();
    const bool records = options_.journal->holds_records();
    due = now >= retry_checkpoint_at_ &&
          (bytes >= options_.checkpoint_bytes || (records && now - last_checkpoint_ >= options_.checkpoint_interval));
  }
  if (!asked && !due) return;
  Status s;
  if (keep_journal_) {
    s = kept_journal_error();
  } else if (options_.journal != nullptr && fs_sync_ != nullptr) {
    if (checkpointer_.joinable() && options_.journal->holds_records()) {
      // Its first half here (later commits go to a new file), the writes and the syncfs on
      // the checkpoint thread while rounds go on, its end here when that is done.
      lk.unlock();
      Result<std::vector<std::string>> older = options_.journal->rotate();
      lk.lock();
      if (older) {
        job_ = CheckpointJob{std::move(*older), {}, requested, Status()};
        job_->segments.swap(tracked_);
        job_done_ = false;
        checkpointer_cv_.notify_all();
        return;  // answers `asked` when it is done
      }
      rotation_failed_locked(older.error());
      s = older.error();
    } else {
      lk.unlock();
      s = checkpoint_now();
      lk.lock();
    }
  }
  if (asked) {
    checkpoint_status_ = s;
    checkpoints_done_ = requested;
    checkpoint_cv_.notify_all();
  }
}

void SyncGroup::run() {
  std::vector<Request> round;
  std::unique_lock lk(mu_);
  for (;;) {
    // While the checkpoint thread runs a checkpoint, only rounds and its end matter (a
    // stop or a checkpoint() request waits for it).
    const auto woken = [&] {
      if (!pending_.empty() || (job_ && job_done_)) return true;
      return !job_ && (stopping_ || checkpoint_requests_ > checkpoints_done_);
    };
    if (journal_ok_ && !job_ && options_.journal->holds_records()) {
      // Records wait in the journal: checkpoint when they are due, even if no log asks.
      cv_.wait_until(lk, last_checkpoint_ + options_.checkpoint_interval, woken);
    } else {
      cv_.wait(lk, woken);
    }
    checkpoint_due_locked(lk);
    if (pending_.empty()) {
      if (!stopping_ || job_) continue;  // a checkpoint the checkpoint thread runs ends here
      stopped_ = true;  // stopping, nothing left
      checkpoint_cv_.notify_all();
      return;
    }
    // Everything that arrived while the last round ran goes into this one (group commit
    // across logs, as each log's own rounds group its appends).
    round.swap(pending_);
    const bool shared = round.size() > 1 && share_ && fs_sync_ != nullptr;
    lk.unlock();

    if (round.size() == 1) {
      sync_alone(round.front().segment, round.front().done);
    } else if (!shared) {
      // Not sharing any more (a shared round failed): each log's own fdatasync, in parallel
      // on the completion executor as without a group.
      for (Request& r : round) {
        if (completions_) {
          completions_([r = std::move(r)]() mutable { sync_alone(r.segment, r.done); });
        } else {
          sync_alone(r.segment, r.done);
        }
      }
    } else {
      run_shared(round, lk);
    }
    round.clear();
    lk.lock();
    checkpoint_due_locked(lk);
  }
}

}  // namespace causeway::storage
