// Coordinator archive replays (docs/targets.md, "Archive replay"): a past range of a
// subscription's topic re-delivered to the subscription's rule target, next to (and
// without touching) the subscription's own delivery.
//
// A replay's range is fixed per partition when it starts: [offset of from_ms, offset of
// to_ms), cut at the Lamport bound when one is given. Its workers read the range in offset
// order, leave out what the subscription's pattern does not match, and hand each event to
// the target one after the other: a topic target gets the matching events of a chunk in
// one publish, an HTTP target one request per event. An event is retried in place (with the
// subscription's backoff, max attempts and max age) before the replay moves on, so each
// partition is replayed in order; what cannot be delivered goes to the dead-letter topic.
// Each partition belongs to one worker (HTTP targets: up to `concurrency` workers, 16 at
// most; topic targets: up to 4, whose publishes carry whole chunks).
//
// Durable: the record in the meta store holds each partition's cursor, written about once a
// second while events go out (and when the replay ends or stops), so a broker restart
// resumes a running replay where it was (an event sent after the last write is sent again: the same
// Idempotency-Key, or dedup key, tells the target). Copies and requests name the replay
// (`causeway-replay` / `Causeway-Replay`); their keys differ from the live ones, so an
// endpoint that drops repeats of the live event still takes the replayed one.
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "rules/input_transform.h"
#include "storage/log_manager.h"
#include "subscribe/coordinator_state.h"
#include "subscribe/http_post.h"
#include "subscribe/http_target.h"

namespace causeway::subscribe {
namespace {

constexpr size_t kMaxRunningReplays = 8;
constexpr uint32_t kMaxReplayWorkers = 16;
// A chunk: what a worker reads, filters and hands over before it writes its cursor.
constexpr size_t kChunkBytes = 4u << 20;
constexpr uint64_t kChunkEvents = 4000;
// Topic targets: workers publishing chunks at once (each partition still on one of them).
constexpr uint32_t kTopicReplayWorkers = 4;
constexpr auto kPersistInterval = std::chrono::seconds(1);
constexpr auto kDeadLetterMaxRetry = std::chrono::seconds(60);

bool refused_for_good(const Status& s) { return s.code() == Code::kInvalidArgument; }

}  // namespace

class Coordinator::ReplayRun : public std::enable_shared_from_this<Coordinator::ReplayRun> {
 public:
  ReplayRun(Coordinator& co, meta::ReplayRecord record)
      : co_(co),
        name_(record.name),
        subscription_(record.subscription),
        subscription_created_ms_(record.subscription_created_ms),
        topic_(record.topic),
        topic_id_(record.topic_id),
        to_lamport_(record.to_lamport),
        record_(std::move(record)) {}

  const std::string& name() const { return name_; }
  const std::string& subscription() const { return subscription_; }
  int64_t subscription_created_ms() const { return subscription_created_ms_; }

  meta::ReplayRecord snapshot() const {
    std::lock_guard lk(mu_);
    return record_;
  }

  // Loads what the replay delivers with (the subscription as it is now) and starts the
  // workers. An error (the subscription was deleted or re-created) fails the replay.
  Status start() {
    Status ready = prepare();
    if (!ready.ok()) {
      finish(meta::ReplayState::kFailed, std::string(ready.message()));
      return ready;
    }
    const meta::ReplayRecord r = snapshot();
    std::vector<size_t> open;  // partitions (indexes into record_.partitions) with work
    for (size_t i = 0; i < r.partitions.size(); ++i)
      if (r.partitions[i].next < r.partitions[i].end) open.push_back(i);
    if (open.empty()) {
      finish(meta::ReplayState::kCompleted, "");
      return Status();
    }
    const uint32_t most = endpoint_ ? std::min(config_.http.concurrency, kMaxReplayWorkers) : kTopicReplayWorkers;
    const uint32_t workers = std::min(most, static_cast<uint32_t>(open.size()));
    std::vector<std::vector<size_t>> share(workers);
    for (size_t i = 0; i < open.size(); ++i) share[i % workers].push_back(open[i]);
    {
      std::lock_guard lk(mu_);
      running_workers_ = workers;
      ended_ = false;
    }
    for (uint32_t w = 0; w < workers; ++w) {
      std::thread([self = shared_from_this(), mine = std::move(share[w])] { self->work(mine); }).detach();
    }
    spdlog::info("replay {}: started for subscription {} ({} events in range over {} partition(s), {} worker(s))", name_,
                 r.subscription, r.total() - r.scanned(), open.size(), workers);
    return Status();
  }

  // Makes the workers stop (a request in progress ends now) and waits until they have.
  void stop() {
    stop_.store(true);
    {
      std::lock_guard lk(mu_);
      for (httplib::Client* c : clients_) c->stop();
    }
    cv_.notify_all();
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return ended_; });
  }

  // After stop(): writes where the replay got to, in `state` (kRunning: to resume at the
  // next start). A replay that ended meanwhile (completed or failed just before the stop)
  // keeps its end.
  void finish(meta::ReplayState state, std::string error) {
    {
      std::lock_guard lk(mu_);
      if (record_.state == meta::ReplayState::kRunning) {
        record_.state = state;
        if (!error.empty()) record_.error = std::move(error);
        if (state != meta::ReplayState::kRunning) record_.finished_ms = storage::now_ms();
      }
    }
    persist();
  }

 private:
  Status prepare() {
    const meta::ReplayRecord r = snapshot();
    auto sub = co_.store_.meta().get_subscription(r.subscription);
    if (!sub || sub->created_ms != r.subscription_created_ms) {
      return failed_precondition("subscription \"" + r.subscription + "\" was deleted (or re-created) since the replay started");
    }
    if (!sub->has_target()) return failed_precondition("subscription \"" + r.subscription + "\" has no rule target");
    config_ = std::move(*sub);
    if (!config_.pattern.empty()) {
      CAUSEWAY_ASSIGN_OR_RETURN(filter_, EventFilter::compile(config_.pattern));
    }
    if (config_.has_input_transform()) {
      CAUSEWAY_ASSIGN_OR_RETURN(
          transform_, rules::InputTransform::create(config_.input_path, config_.input_paths, config_.input_template));
    }
    if (!config_.http.url.empty()) {
      CAUSEWAY_ASSIGN_OR_RETURN(HttpEndpoint e, HttpEndpoint::parse(config_.http.url));
      endpoint_ = std::move(e);
      display_ = endpoint_->display();
      pacer_ = co_.http_pacer(config_);
    }
    return Status();
  }

  // One worker: its partitions, a chunk of each in turn, until all are done or it stops.
  void work(const std::vector<size_t>& mine) {
    std::optional<httplib::Client> client;
    if (endpoint_) {
      client.emplace(endpoint_->origin());
      configure_http_client(*client, config_.http.timeout);
      std::lock_guard lk(mu_);
      clients_.push_back(&*client);
    }
    bool more = true;
    while (more && !stop_.load()) {
      more = false;
      for (size_t index : mine) {
        if (stop_.load()) break;
        if (chunk(index, client ? &*client : nullptr)) more = true;
      }
    }
    persist();
    std::unique_lock lk(mu_);
    if (client) clients_.erase(std::find(clients_.begin(), clients_.end(), &*client));
    if (--running_workers_ > 0) return;
    // The last worker out ends the replay, unless it was stopped (by cancel or the broker
    // stopping: the caller writes the state then) or failed.
    const bool done = !stop_.load() && record_.state == meta::ReplayState::kRunning &&
                      std::all_of(record_.partitions.begin(), record_.partitions.end(),
                                  [](const meta::ReplayPartition& p) { return p.next >= p.end; });
    if (done) {
      record_.state = meta::ReplayState::kCompleted;
      record_.finished_ms = storage::now_ms();
    }
    const bool over = record_.state != meta::ReplayState::kRunning;
    const meta::ReplayRecord final_record = record_;
    lk.unlock();
    if (over && !stop_.load()) {
      persist();
      spdlog::info("replay {}: {} ({} delivered, {} dead-lettered, {} left out of {})", name_,
                   meta::replay_state_name(final_record.state), sum(final_record, &meta::ReplayPartition::delivered),
                   sum(final_record, &meta::ReplayPartition::dead_lettered),
                   sum(final_record, &meta::ReplayPartition::filtered), final_record.total());
      co_.replay_ended(name_);
    }
    lk.lock();
    ended_ = true;  // the last touch of the coordinator is behind: stop() may return now
    cv_.notify_all();
  }

  // One counter summed over the partitions, e.g. sum(r, &meta::ReplayPartition::delivered).
  static uint64_t sum(const meta::ReplayRecord& r, uint64_t meta::ReplayPartition::*counter) {
    uint64_t n = 0;
    for (const meta::ReplayPartition& p : r.partitions) n += p.*counter;
    return n;
  }

  // The events of one chunk, with whether each is for the target.
  struct Chunk {
    std::vector<OwnedRecord> records;
    std::vector<bool> selected;
    size_t passed = 0;  // records_[0, passed) are accounted for in the cursor
  };

  // Replays the next chunk of partition `index`; false once the partition is done (or the
  // replay stops or fails).
  bool chunk(size_t index, httplib::Client* client) {
    meta::ReplayPartition part;
    {
      std::lock_guard lk(mu_);
      if (record_.state != meta::ReplayState::kRunning) return false;
      part = record_.partitions[index];
    }
    if (part.next >= part.end) return false;
    auto sub = co_.store_.meta().get_subscription(config_.name);
    if (!sub || sub->created_ms != config_.created_ms) {
      fail("subscription \"" + config_.name + "\" was deleted (or re-created) while the replay ran");
      return false;
    }
    auto log = co_.store_.partition(record_topic(), part.partition);
    if (!log) {
      fail("partition " + std::to_string(part.partition) + " of topic \"" + record_topic() + "\" is gone (was the topic deleted?)");
      return false;
    }
    auto read = log->read(part.next, kChunkBytes, kChunkEvents);
    if (!read && read.status().code() == Code::kOutOfRange) {
      // Retention deleted the head of the range before the replay got there.
      const uint64_t resume = std::min(std::max(log->log_start_offset(), part.next), part.end);
      spdlog::warn("replay {}: partition {}: offsets {} to {} were deleted by retention before they were replayed", name_,
                   part.partition, part.next, resume);
      std::lock_guard lk(mu_);
      record_.partitions[index].next = resume;
      record_.error = "some events of the range were deleted by retention before they were replayed (see the broker log)";
      return resume < part.end;
    }
    if (!read) {
      fail("reading partition " + std::to_string(part.partition) + " failed: " + read.status().to_string());
      return false;
    }
    Chunk c;
    const Status walked = storage::for_each_record_from(*read, part.next, [&](const batch::RecordView& rec) {
      if (rec.offset >= part.end) return false;
      c.records.push_back(OwnedRecord::copy_of(rec));
      return c.records.size() < kChunkEvents;
    });
    if (!walked.ok()) {
      fail("reading partition " + std::to_string(part.partition) + " failed: " + walked.to_string());
      return false;
    }
    if (c.records.empty()) {
      // Nothing in [next, end) although the range was there when the replay started.
      std::lock_guard lk(mu_);
      record_.partitions[index].next = part.end;
      return false;
    }
    const std::string& topic = record_topic();
    for (const OwnedRecord& r : c.records) {
      const bool in_cut = to_lamport_ == 0 || r.view.lamport <= to_lamport_;
      c.selected.push_back(in_cut && (!filter_ || filter_->matches(topic, r.view, &co_.payload_schemas_)));
    }
    const bool finished = endpoint_ ? send_http(index, part.partition, c, *client) : send_topic(index, part.partition, c);
    if (!finished) return false;
    pass(index, c, c.records.size());
    persist_if_due();
    std::lock_guard lk(mu_);
    return record_.partitions[index].next < record_.partitions[index].end;
  }

  // Accounts records [c.passed, upto) of the chunk as done: the ones not selected count as
  // filtered (the selected ones were counted as they went out), and moves the cursor.
  void pass(size_t index, Chunk& c, size_t upto) {
    std::lock_guard lk(mu_);
    meta::ReplayPartition& p = record_.partitions[index];
    for (; c.passed < upto; ++c.passed) {
      if (!c.selected[c.passed]) ++p.filtered;
      p.next = std::max(p.next, c.records[c.passed].view.offset + 1);
    }
  }

  void count(size_t index, bool dead) {
    std::lock_guard lk(mu_);
    if (dead) {
      ++record_.partitions[index].dead_lettered;
    } else {
      ++record_.partitions[index].delivered;
    }
  }

  // The matching events of a chunk in one publish to the target topic. A refusal that a
  // retry can change stops the publish's walk there: the events from it on are sent again
  // after the backoff (those already stored are found by their dedup keys), so the copies
  // are stored in offset order.
  bool send_topic(size_t index, uint32_t partition, Chunk& c) {
    std::vector<size_t> picked;
    for (size_t i = 0; i < c.records.size(); ++i)
      if (c.selected[i]) picked.push_back(i);
    const std::string prefix = "replay/" + name_ + "/" + config_.name + "/" + std::to_string(topic_id_) + "/" +
                               std::to_string(partition) + "/";
    size_t at = 0;
    uint32_t attempts = 0;
    auto first_try = Clock::now();
    while (at < picked.size()) {
      if (stop_.load()) return false;
      std::vector<batch::RecordView> views;
      uint64_t lamport = 0;
      for (size_t k = at; k < picked.size(); ++k) {
        views.push_back(c.records[picked[k]].view);
        lamport = std::max(lamport, views.back().lamport);
      }
      std::deque<std::string> texts;
      std::vector<std::vector<batch::Header>> headers;
      std::vector<core::PublishEvent> events;
      co_.build_forward_copies(config_, transform_.get(), record_topic(), partition, prefix, name_, views, texts, headers,
                               events);
      const auto acks = co_.publish_.publish(config_.target_topic, events, lamport, 0);
      ++attempts;
      Status retry;
      for (size_t k = at; k < picked.size(); ++k) {
        const size_t i = k - at;
        const Status s = !acks ? acks.status() : i < acks->size() ? (*acks)[i].status : internal_error("no ack");
        const uint64_t offset = c.records[picked[k]].view.offset;
        if (s.ok()) {
          pass(index, c, picked[k]);
          count(index, false);
          pass(index, c, picked[k] + 1);
          at = k + 1;
          attempts = 0;
          first_try = Clock::now();
          continue;
        }
        const std::string reason = "forwarding to topic \"" + config_.target_topic + "\" failed: " + s.to_string();
        if (refused_for_good(s)) {
          pass(index, c, picked[k]);
          if (!dead_letter(partition, offset, 1, reason)) return false;
          count(index, true);
          pass(index, c, picked[k] + 1);
          at = k + 1;
          attempts = 0;
          first_try = Clock::now();
          continue;
        }
        retry = s;
        break;
      }
      if (at >= picked.size()) break;
      const uint64_t offset = c.records[picked[at]].view.offset;
      const std::string reason = "forwarding to topic \"" + config_.target_topic + "\" failed: " + retry.to_string();
      if (gave_up(attempts, first_try)) {
        pass(index, c, picked[at]);
        if (!dead_letter(partition, offset, attempts, reason)) return false;
        count(index, true);
        pass(index, c, picked[at] + 1);
        ++at;
        attempts = 0;
        first_try = Clock::now();
        continue;
      }
      if (!wait_for(retry_delay(config_.backoff, config_.max_backoff, attempts))) return false;
    }
    return true;
  }

  // Each matching event of the chunk in its own request, retried in place.
  bool send_http(size_t index, uint32_t partition, Chunk& c, httplib::Client& client) {
    const std::string key_prefix = config_.name + "/" + std::to_string(topic_id_) + "/" +
                                   std::to_string(partition) + "/";
    const std::string_view content_type = http_content_type(transform_.get());
    for (size_t i = 0; i < c.records.size(); ++i) {
      if (!c.selected[i]) continue;
      pass(index, c, i);
      const batch::RecordView& rec = c.records[i].view;
      const std::string body = co_.target_input(config_, transform_.get(), record_topic(), rec);
      const auto first_try = Clock::now();
      for (uint32_t attempt = 1;; ++attempt) {
        if (!pacer_->wait_turn(stop_)) return false;
        HttpEventPost post;
        post.topic = record_topic();
        post.partition = partition;
        post.offset = rec.offset;
        post.lamport = rec.lamport;
        post.attempt = attempt;
        post.trace = trace_headers(rec);
        post.idempotency_key = key_prefix + std::to_string(rec.offset) + "/replay/" + name_;
        post.replay = name_;
        post.body = body;
        const HttpVerdict verdict = post_event(client, *endpoint_, display_, config_, content_type, std::move(post));
        if (stop_.load()) return false;  // the answer may be the stop's doing: sent again on resume
        if (verdict.kind == HttpVerdict::Kind::kDelivered) {
          count(index, false);
          break;
        }
        if (verdict.kind == HttpVerdict::Kind::kDeadLetter || gave_up(attempt, first_try)) {
          if (!dead_letter(partition, rec.offset, attempt, verdict.reason)) return false;
          count(index, true);
          break;
        }
        const auto delay = verdict.retry_after ? Clock::duration(*verdict.retry_after)
                                               : retry_delay(config_.backoff, config_.max_backoff, attempt);
        if (!wait_for(delay)) return false;
      }
      pass(index, c, i + 1);
      persist_if_due();
    }
    return true;
  }

  bool gave_up(uint32_t attempts, Clock::time_point first_try) const {
    return attempts >= config_.max_attempts ||
           (config_.max_age.count() > 0 && Clock::now() - first_try >= config_.max_age);
  }

  // Publishes the event to the dead-letter topic, retrying a failed publish with a growing
  // delay; false when the replay stops first.
  bool dead_letter(uint32_t partition, uint64_t offset, uint32_t attempts, const std::string& reason) {
    for (uint32_t failures = 0;; ++failures) {
      const Status s = co_.publish_dead_letter(config_, record_topic(), partition, offset, attempts, reason, name_);
      if (s.ok()) return true;
      if (failures == 0 || failures % 10 == 0)
        spdlog::error("replay {}: dead-lettering {}/{} offset {} failed: {}; retrying", name_, record_topic(), partition,
                      offset, s.to_string());
      if (!wait_for(std::min<Clock::duration>(kDeadLetterMaxRetry, std::chrono::seconds(1) * (uint64_t{1} << std::min(failures, 6u)))))
        return false;
    }
  }

  // Sleeps `d` unless the replay stops first (then false).
  bool wait_for(Clock::duration d) {
    std::unique_lock lk(mu_);
    return !cv_.wait_for(lk, d, [&] { return stop_.load(); });
  }

  void fail(std::string why) {
    spdlog::error("replay {}: failed: {}", name_, why);
    std::lock_guard lk(mu_);
    if (record_.state != meta::ReplayState::kRunning) return;
    record_.state = meta::ReplayState::kFailed;
    record_.error = std::move(why);
    record_.finished_ms = storage::now_ms();
  }

  void persist_if_due() {
    {
      std::lock_guard lk(mu_);
      if (Clock::now() - persisted_at_ < kPersistInterval) return;
    }
    persist();
  }

  // Writes the record as it is now. One write at a time, each of a snapshot taken under
  // it, so that an older snapshot never overwrites a newer one.
  void persist() {
    std::lock_guard p(persist_mu_);
    meta::ReplayRecord r;
    {
      std::lock_guard lk(mu_);
      r = record_;
      persisted_at_ = Clock::now();
    }
    const Status s = co_.store_.meta().put_replay(r);
    if (!s.ok()) spdlog::warn("replay {}: writing its progress failed: {}", name_, s.to_string());
  }

  const std::string& record_topic() const { return topic_; }

  Coordinator& co_;
  // Copies of the record's, read without the lock.
  const std::string name_;
  const std::string subscription_;
  const int64_t subscription_created_ms_;
  const std::string topic_;
  const uint32_t topic_id_;
  const uint64_t to_lamport_;
  // Set by prepare() before the workers start, read-only after.
  meta::SubscriptionConfig config_;
  std::shared_ptr<const EventFilter> filter_;
  std::shared_ptr<const rules::InputTransform> transform_;
  std::optional<HttpEndpoint> endpoint_;
  std::string display_;
  std::shared_ptr<RequestPacer> pacer_;

  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;  // guards record_, clients_, running_workers_, persisted_at_
  std::condition_variable cv_;
  meta::ReplayRecord record_;
  std::vector<httplib::Client*> clients_;
  uint32_t running_workers_ = 0;
  bool ended_ = true;  // no worker touches the coordinator any more
  Clock::time_point persisted_at_{};
  std::mutex persist_mu_;
};

// ---------------------------------------------------------------- coordinator side

Result<meta::ReplayRecord> Coordinator::start_replay(ReplayRequest request) {
  const int64_t now = storage::now_ms();
  if (request.to_ms == 0 || request.to_ms > now) request.to_ms = now;
  if (request.from_ms < 0) return invalid_argument("replay start time is before 1970");
  if (request.from_ms >= request.to_ms) {
    return invalid_argument("replay range is empty: --from (" + std::to_string(request.from_ms) +
                            " ms) must be before --to (" + std::to_string(request.to_ms) + " ms, or now)");
  }
  CAUSEWAY_ASSIGN_OR_RETURN(const meta::SubscriptionConfig sub, store_.meta().get_subscription(request.subscription));
  if (!sub.has_target()) {
    return invalid_argument("subscription \"" + sub.name +
                            "\" is consumed by a group of subscribers: a replay re-delivers to a rule target (--target "
                            "topic:T or http:URL); to read a past range yourself, use causeway fetch " + sub.topic +
                            " --all-partitions, or a new subscription with --from time:...");
  }
  CAUSEWAY_ASSIGN_OR_RETURN(const meta::TopicConfig topic, store_.get_topic(sub.topic));
  meta::ReplayRecord record;
  record.name = request.name;
  record.subscription = sub.name;
  record.subscription_created_ms = sub.created_ms;
  record.topic = topic.name;
  record.topic_id = topic.topic_id;
  record.from_ms = request.from_ms;
  record.to_ms = request.to_ms;
  record.to_lamport = request.to_lamport;
  for (uint32_t p = 0; p < topic.partitions; ++p) {
    auto log = store_.partition(topic.name, p);
    if (!log) return unavailable("topic \"" + topic.name + "\" is not open yet; retry");
    CAUSEWAY_ASSIGN_OR_RETURN(uint64_t start, log->offset_for_time(request.from_ms));
    CAUSEWAY_ASSIGN_OR_RETURN(uint64_t end, log->offset_for_time(request.to_ms));
    if (request.to_lamport > 0 && request.to_lamport < UINT64_MAX) {
      // Stamps grow with offsets within a partition: the cut is an offset too.
      CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t cut, log->offset_for_lamport(request.to_lamport + 1));
      end = std::min(end, cut);
    }
    end = std::min(end, log->high_watermark());
    start = std::min(std::max(start, log->log_start_offset()), end);
    record.partitions.push_back({p, start, end, start, 0, 0, 0});
  }
  CAUSEWAY_RETURN_IF_ERROR(record.validate());
  std::lock_guard lk(replay_mu_);
  if (replays_stopped_) return unavailable("the broker is stopping");
  if (replays_.size() >= kMaxRunningReplays) {
    return resource_exhausted(std::to_string(replays_.size()) + " replays are running, the most at a time (" +
                              std::to_string(kMaxRunningReplays) + "); wait for one to finish or cancel one (causeway replay cancel NAME)");
  }
  CAUSEWAY_ASSIGN_OR_RETURN(meta::ReplayRecord created, store_.meta().create_replay(std::move(record)));
  const Status launched = launch_replay_locked(created);
  if (!launched.ok()) return launched;
  auto it = replays_.find(created.name);
  return it != replays_.end() ? it->second->snapshot() : store_.meta().get_replay(created.name);
}

Status Coordinator::launch_replay_locked(const meta::ReplayRecord& record) {
  auto run = std::make_shared<ReplayRun>(*this, record);
  replays_[record.name] = run;
  const Status started = run->start();
  // A replay with nothing to do (or that failed to start) is over at once.
  if (!started.ok() || run->snapshot().state != meta::ReplayState::kRunning) replays_.erase(record.name);
  return started;
}

void Coordinator::replay_ended(const std::string& name) {
  std::lock_guard lk(replay_mu_);
  replays_.erase(name);
}

Result<std::vector<meta::ReplayRecord>> Coordinator::list_replays(std::string_view subscription) {
  CAUSEWAY_ASSIGN_OR_RETURN(std::vector<meta::ReplayRecord> all, store_.meta().list_replays(subscription));
  std::lock_guard lk(replay_mu_);
  for (meta::ReplayRecord& r : all) {
    auto it = replays_.find(r.name);
    if (it != replays_.end()) r = it->second->snapshot();
  }
  return all;
}

Result<meta::ReplayRecord> Coordinator::describe_replay(std::string_view name) {
  {
    std::lock_guard lk(replay_mu_);
    auto it = replays_.find(name);
    if (it != replays_.end()) return it->second->snapshot();
  }
  return store_.meta().get_replay(name);
}

Result<meta::ReplayRecord> Coordinator::cancel_replay(std::string_view name) {
  std::shared_ptr<ReplayRun> run;
  {
    std::lock_guard lk(replay_mu_);
    auto it = replays_.find(name);
    if (it != replays_.end()) {
      run = it->second;
      replays_.erase(it);
    }
  }
  if (!run) {
    CAUSEWAY_ASSIGN_OR_RETURN(const meta::ReplayRecord r, store_.meta().get_replay(name));
    return failed_precondition("replay \"" + r.name + "\" is " + std::string(meta::replay_state_name(r.state)) +
                               " already: only a running replay can be cancelled");
  }
  run->stop();
  run->finish(meta::ReplayState::kCancelled, "");
  spdlog::info("replay {}: cancelled", run->name());
  return run->snapshot();
}

void Coordinator::fail_replays_of(std::string_view subscription, int64_t created_ms, const std::string& why) {
  std::vector<std::shared_ptr<ReplayRun>> runs;
  {
    std::lock_guard lk(replay_mu_);
    for (auto it = replays_.begin(); it != replays_.end();) {
      if (it->second->subscription() == subscription && it->second->subscription_created_ms() == created_ms) {
        runs.push_back(it->second);
        it = replays_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& run : runs) {
    run->stop();
    run->finish(meta::ReplayState::kFailed, why);
    spdlog::info("replay {}: failed: {}", run->name(), why);
  }
}

void Coordinator::resume_replays() {
  auto all = store_.meta().list_replays("");
  if (!all) {
    spdlog::error("replays cannot resume: listing them failed: {}", all.status().to_string());
    return;
  }
  std::lock_guard lk(replay_mu_);
  for (const meta::ReplayRecord& r : *all) {
    if (r.state != meta::ReplayState::kRunning || replays_stopped_) continue;
    // Started since the broker came up (a request served before this resume): it runs
    // already, and a second run would deliver its range twice and never be cancelled.
    if (replays_.count(r.name) > 0) continue;
    spdlog::info("replay {}: resuming ({} of {} events done)", r.name, r.scanned(), r.total());
    const Status s = launch_replay_locked(r);
    if (!s.ok()) spdlog::error("replay {}: cannot resume: {}", r.name, s.to_string());
  }
}

void Coordinator::stop_replays() {
  std::map<std::string, std::shared_ptr<ReplayRun>, std::less<>> running;
  {
    std::lock_guard lk(replay_mu_);
    replays_stopped_ = true;
    running.swap(replays_);
  }
  for (auto& [name, run] : running) {
    run->stop();
    run->finish(meta::ReplayState::kRunning, "");  // resumes at the next start
  }
}

}  // namespace causeway::subscribe
