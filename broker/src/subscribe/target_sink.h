// File: subscribe/target_sink.h
//
// What the two kinds of rule target (targets.cc: TopicForwarder; http_forwarder.cc:
// HttpForwarder) share: an internal member's sink that knows its subscription, the
// subscription's input transformation, and when it was closed; and the outcome of a
// forward that both hand to Coordinator::forward_done. Private to the coordinator.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rules/input_transform.h"
#include "subscribe/coordinator.h"

namespace causeway::subscribe {

// What forwarding some events of one partition came to: the offsets delivered (stored in
// the target topic, or found there already; or answered 2xx) and the ones refused, with why.
struct Coordinator::ForwardOutcome {
  struct Refusal {
    uint64_t offset = 0;
    std::string reason;
    bool permanent = false;               // to the dead-letter topic at once
    std::chrono::milliseconds delay{0};   // the target's own wait (Retry-After); 0: backoff
  };
  std::string member_id;
  uint32_t partition = 0;
  std::vector<uint64_t> stored;
  std::vector<Refusal> refused;
};

class Coordinator::TargetSink : public DeliverySink {
 public:
  TargetSink(uint64_t connection_id, meta::SubscriptionConfig config,
             std::shared_ptr<const rules::InputTransform> transform)
      : connection_id_(connection_id), config_(std::move(config)), transform_(std::move(transform)) {}

  uint64_t connection_id() const override { return connection_id_; }
  bool is_closed() const override { return closed_.load(); }
  bool internal() const override { return true; }
  // Once the internal member has joined (not under the coordinator's mutex): starts
  // whatever the target runs on its own.
  virtual void start() {}
  // Stops taking batches; must not block (it runs under the coordinator's mutex).
  virtual void close() { closed_.store(true); }
  // "topic" or "http", and where to (for describe).
  virtual std::string kind() const = 0;
  virtual std::string destination() const = 0;
  // Credit the internal member asks for (0: the coordinator's default).
  virtual uint32_t credit_events() const { return 0; }
  const meta::SubscriptionConfig& config() const { return config_; }
  // Null without an input transformation.
  const rules::InputTransform* transform() const { return transform_.get(); }

 protected:
  std::atomic<bool> closed_{false};

 private:
  const uint64_t connection_id_;
  const meta::SubscriptionConfig config_;
  const std::shared_ptr<const rules::InputTransform> transform_;
};

}  // namespace causeway::subscribe
