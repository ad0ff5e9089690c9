// SyncGroup: one commit round for many partition logs. See sync_group.h.
#include "storage/sync_group.h"

#include <spdlog/spdlog.h>

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
  if (SyncObserver observe = sync_observer()) observe(info.end - info.start, 1);
  done(s, info);
}

}  // namespace

SyncGroup::SyncGroup(std::unique_ptr<FileSystemSync> fs_sync, Executor completions)
    : fs_sync_(std::move(fs_sync)), completions_(std::move(completions)) {
  thread_ = std::thread([this] { run(); });
}

SyncGroup::~SyncGroup() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SyncGroup::request(std::shared_ptr<Segment> segment, Done done) {
  {
    std::lock_guard lk(mu_);
    if (!stopped_) {
      pending_.push_back(Request{std::move(segment), std::move(done)});
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

void SyncGroup::run() {
  std::vector<Request> round;
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) {  // stopping, nothing left
      stopped_ = true;
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
      SyncRound info;
      info.logs = round.size();
      info.start = std::chrono::steady_clock::now();
      const Status s = fs_sync_->sync();
      info.end = std::chrono::steady_clock::now();
      if (SyncObserver observe = sync_observer()) observe(info.end - info.start, info.logs);
      lk.lock();
      ++shared_rounds_;
      if (!s.ok() && share_) {
        share_ = false;
        spdlog::error("a sync shared by {} partition logs failed ({}); they refuse appends until reopened, and "
                      "every log syncs on its own from now on, so that each learns of its own lost writes",
                      round.size(), s.to_string());
      }
      lk.unlock();
      for (Request& r : round) {
        if (completions_) {
          completions_([done = std::move(r.done), s, info] { done(s, info); });
        } else {
          r.done(s, info);
        }
      }
    }
    round.clear();
    lk.lock();
  }
}

}  // namespace causeway::storage
