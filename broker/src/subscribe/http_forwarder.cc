// Coordinator rule targets, HTTP (docs/targets.md, "HTTP targets"): the internal member of
// a subscription with an `http:` target. Its sink turns each pushed event into a request
// body (the event as patterns see it, or its input transformation) and queues it; a pool
// of `concurrency` workers of its own POSTs the requests, paced to the target's rate, and
// reports each answer back through the forward gate: 2xx acks the event, a retryable
// failure nacks it (waiting Retry-After when the endpoint gave one), any other answer
// sends it to the dead-letter topic at once.
//
// Memory and blocking are bounded by the member's credit: the coordinator pushes at most
// credit_events() unacked events, so the queue never holds more, and a slow or dead
// endpoint holds only this target's workers. Each event's Idempotency-Key names the
// subscription, the source topic's id, partition and offset: the same on every retry and
// after a broker restart, so an endpoint can drop repeats of at-least-once delivery.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <thread>

#include "subscribe/coordinator_state.h"
#include "subscribe/http_post.h"
#include "subscribe/http_target.h"
#include "subscribe/target_sink.h"

namespace causeway::subscribe {
namespace {

// An answer's body is read up to this; the rest of a longer one is not read (the
// connection is dropped) and the answer is judged by its status: an endpoint's answer is
// for status, not data.
constexpr size_t kMaxAnswerBytes = 1 << 20;

// What went wrong when there was no answer, for the dead letter's reason and describe:
// cpp-httplib's own names ("Read", "SSLConnection") say little to an operator.
std::string transport_failure(httplib::Error e, std::chrono::milliseconds timeout) {
  const std::string within = " within the request timeout (" + std::to_string(timeout.count()) + " ms)";
  switch (e) {
    case httplib::Error::Connection: return "cannot connect (refused, unreachable or no such host)";
    case httplib::Error::ConnectionTimeout: return "cannot connect" + within;
    case httplib::Error::Read: return "no answer" + within + ", or the connection was reset";
    case httplib::Error::Write: return "sending the request failed (connection reset or timed out)";
    case httplib::Error::SSLConnection: return "TLS handshake failed (is the endpoint https?)";
    case httplib::Error::SSLLoadingCerts: return "cannot load the system's CA certificates (ca-certificates)";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate failed verification (unknown CA, expired, or another host name)";
    default: return httplib::to_string(e);
  }
}

bool printable_ascii(std::string_view v) {
  return v.size() <= 512 && std::all_of(v.begin(), v.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace

void configure_http_client(httplib::Client& client, std::chrono::milliseconds timeout) {
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  client.set_keep_alive(true);
  // Headers and body go out in two writes: with Nagle on, the body waits for the
  // server's delayed ACK of the headers (40 ms a request on Linux).
  client.set_tcp_nodelay(true);
  client.set_follow_location(false);
  client.enable_server_certificate_verification(true);
}

std::vector<std::pair<std::string, std::string>> trace_headers(const batch::RecordView& record) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const batch::Header& h : record.headers) {
    // Event bytes are untrusted: a value that could break the request's header block
    // (a line break, any control byte) is not passed on.
    if ((h.name == "traceparent" || h.name == "tracestate") && printable_ascii(h.value))
      out.emplace_back(std::string(h.name), std::string(h.value));
  }
  return out;
}

std::string_view http_content_type(const rules::InputTransform* transform) {
  return transform == nullptr || transform->produces_json() ? "application/json" : "text/plain; charset=utf-8";
}

HttpVerdict post_event(httplib::Client& client, const HttpEndpoint& endpoint, std::string_view display,
                       const meta::SubscriptionConfig& config, std::string_view content_type, HttpEventPost post) {
  httplib::Request req;
  req.method = "POST";
  req.path = endpoint.target;
  for (const auto& [name, value] : config.http.headers) req.headers.emplace(name, value);
  for (const auto& [name, value] : post.trace) req.headers.emplace(name, value);
  const std::string partition = std::to_string(post.partition);
  const std::string offset = std::to_string(post.offset);
  req.headers.emplace("Content-Type", std::string(content_type));
  req.headers.emplace("Idempotency-Key", post.idempotency_key);
  req.headers.emplace("Causeway-Subscription", config.name);
  req.headers.emplace("Causeway-Topic", post.topic);
  req.headers.emplace("Causeway-Partition", partition);
  req.headers.emplace("Causeway-Offset", offset);
  req.headers.emplace("Causeway-Lamport", std::to_string(post.lamport));
  req.headers.emplace("Causeway-Attempt", std::to_string(post.attempt));
  if (!post.replay.empty()) req.headers.emplace("Causeway-Replay", post.replay);
  req.headers.emplace("User-Agent", "causeway-broker");
  req.body = std::move(post.body);
  // The status and Retry-After are kept as soon as the answer's head arrives: an answer
  // whose body runs past kMaxAnswerBytes is cut off, and judged by its status.
  int status = 0;
  std::string retry_after;
  req.response_handler = [&](const httplib::Response& head) {
    status = head.status;
    retry_after = head.get_header_value("Retry-After");
    return true;
  };
  std::string answer;
  size_t answer_bytes = 0;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    answer_bytes += n;
    if (answer.size() < kHttpReasonBodyBytes + 1) answer.append(data, std::min(n, kHttpReasonBodyBytes + 1 - answer.size()));
    return answer_bytes <= kMaxAnswerBytes;
  };
  const httplib::Result res = client.send(req);
  const bool cut_off = !res && res.error() == httplib::Error::Canceled && answer_bytes > kMaxAnswerBytes && status != 0;
  std::string transport_error;
  if (res) {
    status = res->status;
  } else if (!cut_off) {
    status = 0;
    transport_error = transport_failure(res.error(), config.http.timeout);
  }
  HttpVerdict verdict = judge_http_answer(status, transport_error, answer, retry_after, display, std::chrono::system_clock::now());
  if (verdict.retry_after)
    verdict.retry_after = std::min(*verdict.retry_after, std::chrono::duration_cast<std::chrono::milliseconds>(config.max_backoff));
  return verdict;
}

class Coordinator::HttpForwarder final : public TargetSink,
                                         public std::enable_shared_from_this<Coordinator::HttpForwarder> {
 public:
  HttpForwarder(Coordinator& co, uint64_t connection_id, meta::SubscriptionConfig config,
                std::shared_ptr<const rules::InputTransform> transform, HttpEndpoint endpoint,
                uint32_t source_topic_id, std::shared_ptr<RequestPacer> pacer)
      : TargetSink(connection_id, std::move(config), std::move(transform)),
        co_(co),
        gate_(co.forward_gate_),
        endpoint_(std::move(endpoint)),
        display_(endpoint_.display()),
        key_prefix_(this->config().name + "/" + std::to_string(source_topic_id) + "/"),
        content_type_(http_content_type(this->transform())),
        pacer_(std::move(pacer)) {}

  std::string kind() const override { return "http"; }
  std::string destination() const override { return display_; }
  // The queue parks the pump at `concurrency` waiting events and wakes it (sink_drained)
  // at half that, so that each delivery round brings several events: a round reads and
  // verifies a whole log batch, too much to do for every single ack.
  // Once closed, room again: the pump's next push then answers kClosed and the member
  // leaves (a closed forwarder's workers are gone, so a full queue would never drain).
  bool has_room() override {
    if (closed_.load()) return true;
    std::lock_guard lk(mu_);
    return queue_.size() < high_water();
  }

  // A few events queued per worker: as many as can wait behind requests that all time out
  // within half an ack deadline (1 to 8; 3 with the defaults), and no more than half an
  // ack deadline's worth at the target's rate. A queued event must not outlive its
  // deadline (it would be sent twice).
  uint32_t credit_events() const override {
    const meta::HttpTargetConfig& http = config().http;
    const auto per_worker = std::clamp<int64_t>(config().ack_deadline.count() / (2 * std::max<int64_t>(1, http.timeout.count())), 1, 8);
    uint64_t credit = uint64_t{http.concurrency} * static_cast<uint64_t>(per_worker);
    if (http.rate_per_second > 0) {
      const uint64_t half_deadline = uint64_t{http.rate_per_second} * static_cast<uint64_t>(config().ack_deadline.count()) / 2000;
      credit = std::min(credit, std::max<uint64_t>(1, half_deadline));
    }
    return static_cast<uint32_t>(credit);
  }

  PushResult push(const DeliveryBatch& batch) override {
    if (closed_.load()) return PushResult::kClosed;
    std::vector<Request> requests;
    requests.reserve(batch.events.size());
    for (const DeliveredRecord& e : batch.events) {
      const batch::RecordView& rec = e.record;
      Request& r = requests.emplace_back();
      r.member_id = std::string(batch.member_id);
      HttpEventPost& p = r.post;
      p.partition = batch.partition;
      p.offset = rec.offset;
      p.attempt = e.attempt;
      p.lamport = rec.lamport;
      p.topic = std::string(batch.topic);
      p.trace = trace_headers(rec);
      p.idempotency_key = key_prefix_ + std::to_string(batch.partition) + "/" + std::to_string(rec.offset);
      p.body = co_.target_input(config(), transform(), batch.topic, rec);
    }
    bool full = false;
    {
      std::lock_guard lk(mu_);
      if (closed_.load()) return PushResult::kClosed;
      for (Request& r : requests) queue_.push_back(std::move(r));
      full = queue_.size() >= high_water();
      if (full) drain_owed_ = true;
    }
    cv_.notify_all();
    return full ? PushResult::kFull : PushResult::kQueued;
  }

  void close() override {
    closed_.store(true);  // wakes a worker waiting for its turn (the pacer is shared)
    {
      std::lock_guard lk(mu_);
      for (httplib::Client* c : clients_) c->stop();  // a request in progress ends now
    }
    cv_.notify_all();
  }

  // One worker: its own keep-alive connection, one request at a time.
  void work() {
    httplib::Client client(endpoint_.origin());
    configure_http_client(client, config().http.timeout);
    {
      std::lock_guard lk(mu_);
      clients_.push_back(&client);
    }
    for (;;) {
      Request r;
      bool drained = false;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return closed_.load() || !queue_.empty(); });
        if (closed_.load()) break;
        r = std::move(queue_.front());
        queue_.pop_front();
        if (drain_owed_ && queue_.size() <= high_water() / 2) {
          drain_owed_ = false;
          drained = true;
        }
      }
      if (drained) through_gate(gate_, [&](Coordinator& co) { co.sink_drained(connection_id(), config().name); });
      if (!pacer_->wait_turn(closed_)) break;
      ForwardOutcome outcome = send(client, std::move(r));
      report(std::move(outcome));
    }
    std::lock_guard lk(mu_);
    clients_.erase(std::find(clients_.begin(), clients_.end(), &client));
  }

  // Each worker counts as outstanding in the forward gate until it ends, so that stop()
  // (close_http_targets, then close_forward_gate) waits for the workers.
  void start() override {
    const std::shared_ptr<ForwardGate> gate = gate_;
    for (uint32_t i = 0; i < config().http.concurrency; ++i) {
      {
        std::lock_guard lk(gate->mu);
        if (gate->co == nullptr) return;
        ++gate->outstanding;
      }
      std::thread([self = shared_from_this(), gate] {
        self->work();
        std::lock_guard lk(gate->mu);
        --gate->outstanding;
        gate->idle.notify_all();
      }).detach();
    }
  }

 private:
  struct Request {
    std::string member_id;  // the internal member the event was delivered to
    HttpEventPost post;
  };

  // Outcomes go to the coordinator in rounds: while one worker reports, the others add
  // theirs and go back to sending, so that under load one forward_done (one ack call per
  // partition, one pass under the coordinator's lock) covers several events.
  void report(ForwardOutcome outcome) {
    {
      std::lock_guard lk(report_mu_);
      pending_.push_back(std::move(outcome));
      if (reporting_) return;
      reporting_ = true;
    }
    for (;;) {
      std::vector<ForwardOutcome> round;
      {
        std::lock_guard lk(report_mu_);
        if (pending_.empty()) {
          reporting_ = false;
          return;
        }
        round.swap(pending_);
      }
      std::map<std::pair<std::string, uint32_t>, ForwardOutcome> merged;
      for (ForwardOutcome& o : round) {
        ForwardOutcome& m = merged[{o.member_id, o.partition}];
        m.member_id = std::move(o.member_id);
        m.partition = o.partition;
        m.stored.insert(m.stored.end(), o.stored.begin(), o.stored.end());
        for (ForwardOutcome::Refusal& r : o.refused) m.refused.push_back(std::move(r));
      }
      for (auto& [where, m] : merged) {
        through_gate(gate_, [&, &out = m](Coordinator& co) { co.forward_done(shared_from_this(), std::move(out)); });
      }
    }
  }

  ForwardOutcome send(httplib::Client& client, Request r) {
    ForwardOutcome outcome;
    outcome.member_id = std::move(r.member_id);
    outcome.partition = r.post.partition;
    const uint64_t offset = r.post.offset;
    const HttpVerdict verdict = post_event(client, endpoint_, display_, config(), content_type_, std::move(r.post));
    switch (verdict.kind) {
      case HttpVerdict::Kind::kDelivered:
        outcome.stored.push_back(offset);
        break;
      case HttpVerdict::Kind::kRetry:
        outcome.refused.push_back({offset, verdict.reason, false, verdict.retry_after.value_or(std::chrono::milliseconds(0))});
        break;
      case HttpVerdict::Kind::kDeadLetter:
        outcome.refused.push_back({offset, verdict.reason, true});
        break;
    }
    return outcome;
  }

  size_t high_water() const { return config().http.concurrency; }

  Coordinator& co_;
  const std::shared_ptr<ForwardGate> gate_;
  const HttpEndpoint endpoint_;
  const std::string display_;
  const std::string key_prefix_;
  const std::string_view content_type_;
  const std::shared_ptr<RequestPacer> pacer_;
  std::mutex mu_;  // guards queue_ and clients_
  std::condition_variable cv_;
  std::deque<Request> queue_;
  bool drain_owed_ = false;  // push reported full; sink_drained is due at the low-water mark
  std::vector<httplib::Client*> clients_;
  std::mutex report_mu_;  // guards pending_ and reporting_
  std::vector<ForwardOutcome> pending_;
  bool reporting_ = false;  // a worker is handing pending_ to the coordinator
};

std::shared_ptr<Coordinator::TargetSink> Coordinator::make_http_forwarder(
    uint64_t connection_id, const meta::SubscriptionConfig& config, std::shared_ptr<const rules::InputTransform> transform,
    HttpEndpoint endpoint, uint32_t source_topic_id) {
  return std::make_shared<HttpForwarder>(*this, connection_id, config, std::move(transform), std::move(endpoint),
                                         source_topic_id, http_pacer(config));
}

std::shared_ptr<RequestPacer> Coordinator::http_pacer(const meta::SubscriptionConfig& config) {
  std::lock_guard lk(pacers_mu_);
  // Entries of deleted subscriptions are dropped as pacers are asked for (few: one per
  // HTTP target and re-creation).
  std::erase_if(pacers_, [](const auto& e) { return e.second.use_count() == 1; });
  std::shared_ptr<RequestPacer>& p = pacers_[config.name];
  if (!p || p->per_second() != config.http.rate_per_second) p = std::make_shared<RequestPacer>(config.http.rate_per_second);
  return p;
}

void Coordinator::close_http_targets() {
  std::lock_guard lk(mu_);
  for (auto& [name, target] : targets_)
    if (target) target->close();
}

}  // namespace causeway::subscribe
