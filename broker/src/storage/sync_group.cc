// SyncGroup: one commit round for many partition logs. See sync_group.h.
#include "storage/sync_group.h"

#include <spdlog/spdlog.h>

#include "storage/sync_observer.h"

namespace causeway::storage {

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
  std::thread([segment = std::move(segment), done = std::move(done)] {
    SyncRound info;
    info.logs = 1;
    info.start = std::chrono::steady_clock::now();
    const Status s = segment->sync();
    info.end = std::chrono::steady_clock::now();
    done(s, info);
  }).detach();
}

bool SyncGroup::covers(const std::string& path) const { return fs_sync_ != nullptr && fs_sync_->covers(path); }

uint64_t SyncGroup::rounds() const {
  std::lock_guard lk(mu_);
  return rounds_;
}

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

    SyncRound info;
    info.logs = round.size();
    info.start = std::chrono::steady_clock::now();
    std::vector<Status> outcome(round.size());
    if (shared) {
      const Status s = fs_sync_->sync();
      for (Status& o : outcome) o = s;
    } else {
      for (size_t i = 0; i < round.size(); ++i) outcome[i] = round[i].segment->sync();
    }
    info.end = std::chrono::steady_clock::now();
    if (SyncObserver observe = sync_observer()) observe(info.end - info.start);

    lk.lock();
    ++rounds_;
    if (shared) {
      ++shared_rounds_;
      if (!outcome.front().ok() && share_) {
        share_ = false;
        spdlog::error("a sync shared by {} partition logs failed ({}); they refuse appends until reopened, and "
                      "every log syncs on its own from now on, so that each learns of its own lost writes",
                      round.size(), outcome.front().to_string());
      }
    }
    lk.unlock();
    if (round.size() == 1 || !completions_) {
      for (size_t i = 0; i < round.size(); ++i) round[i].done(outcome[i], info);
    } else {
      for (size_t i = 0; i < round.size(); ++i) {
        completions_([done = std::move(round[i].done), s = std::move(outcome[i]), info] { done(s, info); });
      }
    }
    round.clear();
    lk.lock();
  }
}

}  // namespace causeway::storage
