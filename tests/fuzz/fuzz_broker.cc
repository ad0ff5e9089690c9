// File: tests/fuzz/fuzz_broker.cc
//
// See fuzz_broker.h. What a Session does with received bytes (broker/src/server/server.cc,
// read_loop and handle) is repeated here step by step through the same functions; only the
// socket, the alignment copy (every frame is copied into its own buffer here) and the
// thread hand-offs are left out.
#include "tests/fuzz/fuzz_broker.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include "causeway/common/batch_format.h"
#include "causeway/common/coding.h"
#include "causeway/registry/store.h"
#include "causeway/wire/frame.h"
#include "core/event_store.h"
#include "core/publish_pipeline.h"
#include "core/registry_schema_checker.h"
#include "server/handlers.h"
#include "storage/file_system.h"
#include "subscribe/coordinator.h"

namespace causeway::fuzz {
namespace {

namespace pr = causeway::protocol;
using Bytes = std::vector<uint8_t>;

constexpr size_t kMaxTasksPerStep = 100000;

[[noreturn]] void violation(const std::string& what) {
  std::fprintf(stderr, "fuzz_broker: %s\n", what.c_str());
  std::abort();
}

std::string name_of(pr::Body b) { return pr::EnumNameBody(b); }

// The body a request is answered with besides ErrorResponse; NONE for what is not a request.
pr::Body response_type(pr::Body request) {
  switch (request) {
    case pr::Body::CreateTopicRequest: return pr::Body::CreateTopicResponse;
    case pr::Body::DeleteTopicRequest: return pr::Body::DeleteTopicResponse;
    case pr::Body::ListTopicsRequest: return pr::Body::ListTopicsResponse;
    case pr::Body::DescribeTopicRequest: return pr::Body::DescribeTopicResponse;
    case pr::Body::PublishRequest: return pr::Body::PublishResponse;
    case pr::Body::FetchRequest: return pr::Body::FetchResponse;
    case pr::Body::SubscribeRequest: return pr::Body::SubscribeResponse;
    case pr::Body::AckRequest: return pr::Body::AckResponse;
    case pr::Body::NackRequest: return pr::Body::NackResponse;
    case pr::Body::CreditRequest: return pr::Body::CreditResponse;
    case pr::Body::HeartbeatRequest: return pr::Body::HeartbeatResponse;
    case pr::Body::LeaveGroupRequest: return pr::Body::LeaveGroupResponse;
    case pr::Body::CreateSubscriptionRequest: return pr::Body::CreateSubscriptionResponse;
    case pr::Body::DeleteSubscriptionRequest: return pr::Body::DeleteSubscriptionResponse;
    case pr::Body::ListSubscriptionsRequest: return pr::Body::ListSubscriptionsResponse;
    case pr::Body::DescribeSubscriptionRequest: return pr::Body::DescribeSubscriptionResponse;
    case pr::Body::DescribeGroupRequest: return pr::Body::DescribeGroupResponse;
    case pr::Body::ExtendDeadlineRequest: return pr::Body::ExtendDeadlineResponse;
    case pr::Body::UpdateSubscriptionRequest: return pr::Body::UpdateSubscriptionResponse;
    case pr::Body::StartReplayRequest: return pr::Body::StartReplayResponse;
    case pr::Body::ListReplaysRequest: return pr::Body::ListReplaysResponse;
    case pr::Body::DescribeReplayRequest: return pr::Body::DescribeReplayResponse;
    case pr::Body::CancelReplayRequest: return pr::Body::CancelReplayResponse;
    case pr::Body::CreateTokenRequest: return pr::Body::CreateTokenResponse;
    case pr::Body::ListTokensRequest: return pr::Body::ListTokensResponse;
    case pr::Body::RevokeTokenRequest: return pr::Body::RevokeTokenResponse;
    case pr::Body::AddAclRequest: return pr::Body::AddAclResponse;
    case pr::Body::RemoveAclRequest: return pr::Body::RemoveAclResponse;
    case pr::Body::ListAclsRequest: return pr::Body::ListAclsResponse;
    case pr::Body::WhoAmIRequest: return pr::Body::WhoAmIResponse;
    default: return pr::Body::NONE;
  }
}

bool is_read_only(pr::Body request) {
  switch (request) {
    case pr::Body::ListTopicsRequest:
    case pr::Body::DescribeTopicRequest:
    case pr::Body::FetchRequest:
    case pr::Body::ListSubscriptionsRequest:
    case pr::Body::DescribeSubscriptionRequest:
    case pr::Body::DescribeGroupRequest:
    case pr::Body::ListReplaysRequest:
    case pr::Body::DescribeReplayRequest:
    // This broker has no authorizer: token and ACL requests are answered Unavailable.
    case pr::Body::CreateTokenRequest:
    case pr::Body::ListTokensRequest:
    case pr::Body::RevokeTokenRequest:
    case pr::Body::AddAclRequest:
    case pr::Body::RemoveAclRequest:
    case pr::Body::ListAclsRequest:
    case pr::Body::WhoAmIRequest: return true;
    default: return response_type(request) == pr::Body::NONE;  // refused, changes nothing
  }
}

// A frame the broker sent, checked as a client reads it: prefix, bound, verification.
struct Received {
  Bytes bytes;  // the Message, own (aligned) buffer
  const pr::Message* message = nullptr;
};

Received check_sent(const Bytes& frame, const std::string& what) {
  if (frame.size() < 4) violation(what + ": a frame of " + std::to_string(frame.size()) + " bytes has no length prefix");
  const uint32_t len = coding::decode_fixed32(reinterpret_cast<const char*>(frame.data()));
  if (len != frame.size() - 4)
    violation(what + ": length prefix " + std::to_string(len) + " for " + std::to_string(frame.size() - 4) + " bytes");
  Received r;
  r.bytes.assign(frame.begin() + 4, frame.end());
  if (Status s = wire::verify_message(r.bytes.data(), r.bytes.size(), FuzzBroker::kMaxFrameBytes); !s.ok())
    violation(what + ": " + s.to_string());
  r.message = pr::GetMessage(r.bytes.data());
  return r;
}

const pr::Status* status_of(const pr::Message& m) {
  switch (m.body_type()) {
#define CAUSEWAY_STATUS_OF(T) \
  case pr::Body::T: return m.body_as_##T()->status();
    CAUSEWAY_STATUS_OF(HelloResponse)
    CAUSEWAY_STATUS_OF(CreateTopicResponse)
    CAUSEWAY_STATUS_OF(DeleteTopicResponse)
    CAUSEWAY_STATUS_OF(ListTopicsResponse)
    CAUSEWAY_STATUS_OF(DescribeTopicResponse)
    CAUSEWAY_STATUS_OF(PublishResponse)
    CAUSEWAY_STATUS_OF(FetchResponse)
    CAUSEWAY_STATUS_OF(SubscribeResponse)
    CAUSEWAY_STATUS_OF(AckResponse)
    CAUSEWAY_STATUS_OF(NackResponse)
    CAUSEWAY_STATUS_OF(CreditResponse)
    CAUSEWAY_STATUS_OF(HeartbeatResponse)
    CAUSEWAY_STATUS_OF(LeaveGroupResponse)
    CAUSEWAY_STATUS_OF(CreateSubscriptionResponse)
    CAUSEWAY_STATUS_OF(DeleteSubscriptionResponse)
    CAUSEWAY_STATUS_OF(ListSubscriptionsResponse)
    CAUSEWAY_STATUS_OF(DescribeSubscriptionResponse)
    CAUSEWAY_STATUS_OF(DescribeGroupResponse)
    CAUSEWAY_STATUS_OF(ExtendDeadlineResponse)
    CAUSEWAY_STATUS_OF(UpdateSubscriptionResponse)
    CAUSEWAY_STATUS_OF(StartReplayResponse)
    CAUSEWAY_STATUS_OF(ListReplaysResponse)
    CAUSEWAY_STATUS_OF(DescribeReplayResponse)
    CAUSEWAY_STATUS_OF(CancelReplayResponse)
    CAUSEWAY_STATUS_OF(CreateTokenResponse)
    CAUSEWAY_STATUS_OF(ListTokensResponse)
    CAUSEWAY_STATUS_OF(RevokeTokenResponse)
    CAUSEWAY_STATUS_OF(AddAclResponse)
    CAUSEWAY_STATUS_OF(RemoveAclResponse)
    CAUSEWAY_STATUS_OF(ListAclsResponse)
    CAUSEWAY_STATUS_OF(WhoAmIResponse)
    CAUSEWAY_STATUS_OF(ErrorResponse)
#undef CAUSEWAY_STATUS_OF
    default: return nullptr;
  }
}

bool is_ok(const pr::Status* s) { return s == nullptr || s->code() == pr::ErrorCode::Ok; }

// Every batch of a FetchResponse must be one the broker's own log would accept.
void check_fetched_batches(const flatbuffers::Vector<uint8_t>* batches) {
  if (batches == nullptr) return;
  std::string_view rest(reinterpret_cast<const char*>(batches->data()), batches->size());
  while (!rest.empty()) {
    auto header = batch::decode_header(rest);
    if (!header) violation("FetchResponse holds a batch that does not decode: " + header.error().to_string());
    if (header->total_size() > rest.size()) violation("FetchResponse holds a batch cut short");
    const Status verified = batch::verify_batch(*header, rest.substr(0, header->total_size()));
    if (!verified.ok()) violation("FetchResponse holds a batch that does not verify: " + verified.to_string());
    rest.remove_prefix(header->total_size());
  }
}

void check_response(const pr::Message& request, const Bytes& frame, std::vector<std::string>& members) {
  const std::string what = "response to " + name_of(request.body_type());
  const Received r = check_sent(frame, what);
  const pr::Message& m = *r.message;
  if (m.correlation_id() != request.correlation_id()) {
    violation(what + ": correlation id " + std::to_string(m.correlation_id()) + ", the request's was " +
              std::to_string(request.correlation_id()));
  }
  const pr::Status* status = status_of(m);
  // The broker never damages what it stored itself: no input may make it report corruption.
  if (status != nullptr && status->code() == pr::ErrorCode::Corruption) {
    violation(what + ": Corruption: " + (status->message() ? status->message()->str() : std::string()));
  }
  if (m.body_type() == pr::Body::ErrorResponse) {
    if (is_ok(status)) violation(what + ": ErrorResponse without an error status");
    return;
  }
  const pr::Body expected = response_type(request.body_type());
  if (m.body_type() != expected || m.body() == nullptr) {
    violation(what + ": answered with " + name_of(m.body_type()) + ", expected " + name_of(expected));
  }
  if (!is_ok(status)) return;
  switch (m.body_type()) {
    case pr::Body::PublishResponse: {
      const auto* events = request.body_as_PublishRequest()->events();
      const auto* acks = m.body_as_PublishResponse()->acks();
      const size_t want = events ? events->size() : 0;
      const size_t got = acks ? acks->size() : 0;
      if (want != got) violation(what + ": " + std::to_string(got) + " acks for " + std::to_string(want) + " events");
      break;
    }
    case pr::Body::FetchResponse: check_fetched_batches(m.body_as_FetchResponse()->batches()); break;
    case pr::Body::SubscribeResponse: {
      const auto* id = m.body_as_SubscribeResponse()->member_id();
      if (id == nullptr || id->size() == 0) violation(what + ": a successful join without a member id");
      members.push_back(id->str());
      break;
    }
    default: break;
  }
}

void check_push(const Bytes& frame) {
  const Received r = check_sent(frame, "pushed frame");
  if (r.message->correlation_id() != 0 || r.message->body_type() != pr::Body::Delivery) {
    violation("pushed frame: " + name_of(r.message->body_type()) + " with correlation id " +
              std::to_string(r.message->correlation_id()) + ", expected a Delivery with 0");
  }
}

flatbuffers::Offset<flatbuffers::String> copy(flatbuffers::FlatBufferBuilder& b, const flatbuffers::String* s) {
  return s ? b.CreateString(s->string_view()) : flatbuffers::Offset<flatbuffers::String>();
}
flatbuffers::Offset<flatbuffers::Vector<uint64_t>> copy(flatbuffers::FlatBufferBuilder& b,
                                                        const flatbuffers::Vector<uint64_t>* v) {
  return v ? b.CreateVector(v->data(), v->size()) : flatbuffers::Offset<flatbuffers::Vector<uint64_t>>();
}

// The request rebuilt with a member id of this connection when its member_id is "$..."
// (see fuzz_broker.h), else nullopt.
std::optional<Bytes> with_member(const pr::Message& m, const std::vector<std::string>& members) {
  if (m.body() == nullptr || members.empty()) return std::nullopt;  // a union type without its table verifies
  const flatbuffers::String* id = nullptr;
  switch (m.body_type()) {
    case pr::Body::HeartbeatRequest: id = m.body_as_HeartbeatRequest()->member_id(); break;
    case pr::Body::LeaveGroupRequest: id = m.body_as_LeaveGroupRequest()->member_id(); break;
    case pr::Body::AckRequest: id = m.body_as_AckRequest()->member_id(); break;
    case pr::Body::NackRequest: id = m.body_as_NackRequest()->member_id(); break;
    case pr::Body::CreditRequest: id = m.body_as_CreditRequest()->member_id(); break;
    case pr::Body::ExtendDeadlineRequest: id = m.body_as_ExtendDeadlineRequest()->member_id(); break;
    default: return std::nullopt;
  }
  if (id == nullptr || id->size() == 0 || id->Get(0) != '$') return std::nullopt;
  size_t index = 0;
  for (size_t i = 1; i < id->size() && i < 4; ++i) {
    const char c = static_cast<char>(id->Get(static_cast<flatbuffers::uoffset_t>(i)));
    if (c < '0' || c > '9') break;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  flatbuffers::FlatBufferBuilder b(256);
  const auto member = b.CreateString(members[index % members.size()]);
  flatbuffers::Offset<void> body;
  switch (m.body_type()) {
    case pr::Body::HeartbeatRequest: {
      const auto* r = m.body_as_HeartbeatRequest();
      body = pr::CreateHeartbeatRequest(b, copy(b, r->subscription()), member).Union();
      break;
    }
    case pr::Body::LeaveGroupRequest: {
      const auto* r = m.body_as_LeaveGroupRequest();
      body = pr::CreateLeaveGroupRequest(b, copy(b, r->subscription()), member).Union();
      break;
    }
    case pr::Body::AckRequest: {
      const auto* r = m.body_as_AckRequest();
      body = pr::CreateAckRequest(b, copy(b, r->subscription()), member, r->partition(), copy(b, r->offsets())).Union();
      break;
    }
    case pr::Body::NackRequest: {
      const auto* r = m.body_as_NackRequest();
      body = pr::CreateNackRequest(b, copy(b, r->subscription()), member, r->partition(), copy(b, r->offsets()),
                                   r->delay_ms(), copy(b, r->reason()))
                 .Union();
      break;
    }
    case pr::Body::CreditRequest: {
      const auto* r = m.body_as_CreditRequest();
      body = pr::CreateCreditRequest(b, copy(b, r->subscription()), member, r->credit_events(), r->credit_bytes())
                 .Union();
      break;
    }
    default: {
      const auto* r = m.body_as_ExtendDeadlineRequest();
      body = pr::CreateExtendDeadlineRequest(b, copy(b, r->subscription()), member, r->partition(),
                                             copy(b, r->offsets()), r->extend_ms())
                 .Union();
      break;
    }
  }
  pr::FinishMessageBuffer(b, pr::CreateMessage(b, m.correlation_id(), m.body_type(), body));
  return Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

// Stands for a connection's writer: keeps what the coordinator pushes, bounded like the
// broker's SessionSink (kFull at the cap, a sink_drained owed once it is written).
class RecordingSink final : public subscribe::DeliverySink {
 public:
  static constexpr size_t kCapBytes = 256u << 10;
  explicit RecordingSink(uint64_t id) : id_(id) {}
  uint64_t connection_id() const override { return id_; }
  subscribe::PushResult push(const subscribe::DeliveryBatch& batch) override {
    std::vector<uint8_t> frame = server::encode_delivery(batch);  // as the broker's connection does
    std::lock_guard lk(mu_);
    if (closed_) return subscribe::PushResult::kClosed;
    queued_ += frame.size();
    frames_.push_back(std::move(frame));
    if (queued_ < kCapBytes) return subscribe::PushResult::kQueued;
    owes_drained_ = true;
    return subscribe::PushResult::kFull;
  }
  bool has_room() override {
    std::lock_guard lk(mu_);
    if (queued_ < kCapBytes) return true;
    owes_drained_ = true;
    return false;
  }
  bool is_closed() const override { return closed_.load(); }

  // Writes everything queued (into `out`); true if the coordinator is owed sink_drained.
  bool write(std::vector<Bytes>& out) {
    std::lock_guard lk(mu_);
    for (Bytes& f : frames_) out.push_back(std::move(f));
    frames_.clear();
    queued_ = 0;
    return std::exchange(owes_drained_, false);
  }
  void close() { closed_.store(true); }

 private:
  const uint64_t id_;
  std::atomic<bool> closed_{false};
  std::mutex mu_;  // guards the three below
  std::vector<Bytes> frames_;
  size_t queued_ = 0;
  bool owes_drained_ = false;
};

// One request's responses (the Responder may outlive the request's step).
struct Answer {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Bytes> frames;
};

}  // namespace

struct FuzzBroker::Impl {
  std::string dir;
  std::unique_ptr<registry::SchemaStore> registry;
  std::unique_ptr<core::RegistrySchemaChecker> checker;
  std::unique_ptr<core::EventStore> store;
  std::unique_ptr<core::PublishPipeline> publish;
  std::mutex tasks_mu;  // guards tasks
  std::deque<std::function<void()>> tasks;
  std::unique_ptr<subscribe::Coordinator> coordinator;
  std::unique_ptr<server::HandlerContext> ctx;
  uint64_t next_connection = 1;
  bool dirty = true;

  ~Impl() {
    if (store) store->append_notifier().set(nullptr);
    ctx.reset();
    coordinator.reset();
    drain();
    publish.reset();
    store.reset();
    checker.reset();
    registry.reset();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }

  // Runs the coordinator's queued work (and what it queues) on this thread.
  void drain() {
    for (size_t i = 0; i < kMaxTasksPerStep; ++i) {
      std::function<void()> task;
      {
        std::lock_guard lk(tasks_mu);
        if (tasks.empty()) return;
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      task();
    }
    violation("the coordinator keeps scheduling work: " + std::to_string(kMaxTasksPerStep) + " tasks in one step");
  }

  void create_base_topics() {
    meta::TopicConfig orders;
    orders.name = "orders";
    orders.partitions = 3;
    orders.durability = storage::Durability::kOs;
    meta::TopicConfig bound;
    bound.name = "bound";
    bound.schema_subject = "orders-value";
    bound.validate_payloads = true;
    meta::TopicConfig features = bound;
    features.name = "features";
    features.schema_subject = "features-value";
    for (const meta::TopicConfig* t : {&orders, &bound, &features}) {
      auto created = store->create_topic(*t);
      if (!created) violation("cannot create base topic " + t->name + ": " + created.error().to_string());
    }
  }

  // Back to the base state: no subscriptions, the two base topics with empty logs.
  void reset() {
    if (auto subs = coordinator->list_subscriptions(""); subs) {
      for (const auto& s : *subs) coordinator->delete_subscription(s.name).ignore_error();
    }
    drain();
    auto topics = store->list_topics();
    if (!topics) violation("cannot list topics: " + topics.error().to_string());
    for (const auto& t : *topics) {
      const Status deleted = store->delete_topic(t.name);
      if (!deleted.ok()) violation("cannot delete topic " + t.name + ": " + deleted.to_string());
    }
    drain();
    create_base_topics();
    dirty = false;
  }

  // Hands pushed frames to the connection's "writer" until the coordinator has nothing owed.
  void write_pushes(RecordingSink& sink, uint64_t connection, std::string& sent) {
    for (int round = 0; round < 1000; ++round) {
      std::vector<Bytes> pushed;
      const bool owed = sink.write(pushed);
      for (const Bytes& f : pushed) {
        check_push(f);
        sent.append(f.begin(), f.end());
      }
      if (!owed) return;
      coordinator->sink_drained(connection);
      drain();
    }
  }
};

FuzzBroker& FuzzBroker::instance() {
  static FuzzBroker broker;
  return broker;
}

FuzzBroker::FuzzBroker() : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  // The broker logs every topic change and join; millions of inputs make that noise. Set
  // CAUSEWAY_FUZZ_LOG=info (any spdlog level) to see it.
  const char* level = std::getenv("CAUSEWAY_FUZZ_LOG");
  spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::off);
  std::string tmpl = std::string(std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp") +
                     "/causeway-fuzz-broker-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) violation("mkdtemp " + tmpl);
  s.dir = tmpl;

  registry::StoreOptions ro;
  ro.dir = s.dir + "/registry";
  ro.initial_map_bytes = 64ull << 20;
  auto reg = registry::SchemaStore::open(ro);
  if (!reg) violation("cannot open the registry store: " + reg.error().to_string());
  s.registry = std::move(*reg);
  for (const auto& [subject, schema, root] : {std::tuple{"orders-value", kOrderSchema, "shop.Order"},
                                              std::tuple{"features-value", kFeaturesSchema, "fx.F"}}) {
    auto registered = s.registry->register_schema(subject, registry::SchemaInput{schema, root, {}});
    if (!registered) violation(std::string("cannot register ") + root + ": " + registered.error().to_string());
  }
  s.checker = std::make_unique<core::RegistrySchemaChecker>(*s.registry);

  core::EventStoreOptions eo;
  eo.data_dir = s.dir + "/broker";
  eo.logs.background = false;
  eo.logs.sync_threads = 0;  // syncs run on the appending thread: no thread hand-offs
  auto store = core::EventStore::open(storage::FileSystem::posix(), eo, nullptr);
  if (!store) violation("cannot open the event store: " + store.error().to_string());
  s.store = std::move(*store);
  s.publish = std::make_unique<core::PublishPipeline>(*s.store, s.checker.get());

  subscribe::CoordinatorOptions co;
  co.max_frame_bytes = kMaxFrameBytes;
  co.max_delivery_bytes = kMaxFrameBytes / 4;  // as server::fit_to_frames sets it
  s.coordinator = std::make_unique<subscribe::Coordinator>(
      *s.store, *s.publish,
      [&s](std::function<void()> fn) {
        std::lock_guard lk(s.tasks_mu);
        s.tasks.push_back(std::move(fn));
      },
      co);
  s.store->append_notifier().set([c = s.coordinator.get()](std::string_view topic, uint32_t partition,
                                                           uint64_t end) { c->on_append(topic, partition, end); });
  s.ctx = std::make_unique<server::HandlerContext>(server::HandlerContext{*s.store, *s.publish, kMaxFrameBytes});
  s.ctx->coordinator = s.coordinator.get();
  s.reset();
}

FuzzBroker::~FuzzBroker() = default;

std::string FuzzBroker::run_connection(std::string_view stream) {
  Impl& s = *impl_;
  const uint64_t connection = s.next_connection++;
  auto sink = std::make_shared<RecordingSink>(connection);
  const server::RequestOrigin origin{connection, sink};
  std::string sent;
  std::vector<std::string> members;
  bool hello_done = false;
  uint32_t round_robin = 0;
  while (stream.size() >= 4) {
    const uint32_t len = coding::decode_fixed32(stream.data());
    if (!server::check_frame_length(len, kMaxFrameBytes).ok()) break;  // the broker closes the connection
    if (stream.size() - 4 < len) break;                                 // the client went away mid-frame
    Bytes frame(stream.begin() + 4, stream.begin() + 4 + len);
    stream.remove_prefix(4 + size_t{len});
    if (!server::verify_request_frame(frame.data(), len, kMaxFrameBytes).ok()) break;
    const pr::Message* msg = pr::GetMessage(frame.data());
    if (!hello_done) {
      server::HelloOutcome hello = server::handle_hello(*msg, "fuzz", kMaxFrameBytes, s.store->clock().now());
      const Received r = check_sent(hello.response, "response to the first message");
      if (r.message->correlation_id() != msg->correlation_id()) violation("Hello answered with another correlation id");
      sent.append(hello.response.begin(), hello.response.end());
      if (!hello.accepted) break;
      hello_done = true;
      continue;
    }
    if (auto rebuilt = with_member(*msg, members)) {
      frame = std::move(*rebuilt);
      msg = pr::GetMessage(frame.data());
    }
    if (!is_read_only(msg->body_type())) s.dirty = true;

    auto answer = std::make_shared<Answer>();
    const server::Responder respond = [answer](server::Frame f) {
      std::lock_guard lk(answer->mu);
      answer->frames.push_back(std::move(f));
      answer->cv.notify_all();
    };
    try {
      server::dispatch(*s.ctx, *msg, round_robin++, respond, origin);
    } catch (const std::exception& e) {
      violation(name_of(msg->body_type()) + ": a handler threw: " + e.what());
    }
    s.drain();
    Bytes response;
    {
      std::unique_lock lk(answer->mu);
      if (!answer->cv.wait_for(lk, std::chrono::seconds(10), [&] { return !answer->frames.empty(); }))
        violation(name_of(msg->body_type()) + ": no response within 10 s");
      if (answer->frames.size() != 1)
        violation(name_of(msg->body_type()) + ": " + std::to_string(answer->frames.size()) + " responses");
      response = answer->frames.front();
    }
    check_response(*msg, response, members);
    sent.append(response.begin(), response.end());
    s.write_pushes(*sink, connection, sent);
  }
  sink->close();
  s.coordinator->connection_closed(connection);
  s.drain();
  std::string dropped;  // pushed before the close was seen; never written, still checked
  s.write_pushes(*sink, connection, dropped);
  if (s.dirty) s.reset();
  return sent;
}

}  // namespace causeway::fuzz
