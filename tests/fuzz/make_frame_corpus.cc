// Writes the seed corpora of the frame fuzz targets from real traffic:
//   corpus/server_frame/seed_<name>: what the client library writes on a connection, built
//     with its own request encoders (client/src/protocol_codec.h), a Hello first;
//   corpus/client_frame/seed_<name>: what the broker's real handlers answered to it,
//     responses and Delivery pushes, through the in-process broker (fuzz_broker.h).
// Run from the build tree: tests/fuzz/make_frame_corpus <source>/tests/fuzz/corpus
// (the seeds are committed; libFuzzer's minimised corpora sit beside them).
// `make_frame_corpus --dump FILE...` prints each frame of each file as JSON (FlatBuffers'
// text format), to read a corpus entry or a crashing input.
#include <flatbuffers/idl.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "causeway/common/coding.h"
#include "client/src/protocol_codec.h"
#include "tests/fuzz/frame_mutator.h"
#include "tests/fuzz/fuzz_broker.h"

namespace {

namespace ci = causeway::client::internal;
namespace cl = causeway::client;
namespace pr = causeway::protocol;
using Bytes = std::vector<uint8_t>;

// A connection's bytes; correlation ids count up from 1 as the client's do.
class Stream {
 public:
  Stream& add(const std::function<Bytes(uint64_t)>& encode) {
    const Bytes frame = encode(next_++);
    bytes_.append(frame.begin(), frame.end());
    return *this;
  }
  Stream& hello() {
    return add([](uint64_t id) { return ci::encode_hello(id, "seed-client/1.0 causeway-cpp/0.1"); });
  }
  Stream& raw(const std::string& bytes) {
    bytes_ += bytes;
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
  uint64_t next_ = 1;
};

// A frame built with the generated code, for requests the client library has no encoder for.
template <typename Build>
Bytes message(uint64_t id, pr::Body type, Build build) {
  flatbuffers::FlatBufferBuilder b(256);
  const flatbuffers::Offset<void> body = build(b);
  return ci::finish_frame(b, pr::CreateMessage(b, id, type, body));
}

cl::Event event(std::string key, std::string dedup, std::string payload, int32_t partition = -1) {
  cl::Event e;
  e.key = std::move(key);
  e.dedup_key = std::move(dedup);
  e.source = "orders-service";
  e.type = "order.created";
  e.headers.push_back({"trace", "t-1"});
  e.payload = std::move(payload);
  e.partition = partition;
  return e;
}

Bytes publish(uint64_t id, const std::string& topic, uint64_t lamport, const std::vector<cl::Event>& events) {
  std::vector<const cl::Event*> ptrs;
  for (const cl::Event& e : events) ptrs.push_back(&e);
  return ci::encode_publish(id, topic, lamport, ptrs);
}

// A payload of a base topic's schema (fuzz_broker.h), built by FlatBuffers' own parser.
std::string payload(const char* schema, const std::string& json) {
  flatbuffers::Parser parser;
  if (!parser.Parse(schema) || !parser.Parse(json.c_str())) {
    std::fprintf(stderr, "payload: %s\n", parser.error_.c_str());
    std::exit(1);
  }
  return std::string(reinterpret_cast<const char*>(parser.builder_.GetBufferPointer()), parser.builder_.GetSize());
}

cl::SubscriptionSpec subscription(std::string name, std::string topic) {
  cl::SubscriptionSpec s;
  s.name = std::move(name);
  s.topic = std::move(topic);
  s.start = cl::StartPosition::earliest();
  s.ack_deadline = std::chrono::milliseconds(5000);
  s.max_attempts = 3;
  return s;
}

std::vector<std::pair<std::string, std::string>> server_seeds() {
  std::vector<std::pair<std::string, std::string>> seeds;
  const auto put = [&seeds](const std::string& name, const Stream& s) { seeds.emplace_back(name, s.bytes()); };

  put("hello", Stream().hello());
  {
    cl::TopicSpec t;
    t.name = "t1";
    t.partitions = 2;
    t.durability = cl::Durability::kOs;
    t.dedup_window = std::chrono::milliseconds(1000);
    put("topics", Stream()
                      .hello()
                      .add([&](uint64_t id) { return ci::encode_create_topic(id, t); })
                      .add([](uint64_t id) { return ci::encode_list_topics(id); })
                      .add([](uint64_t id) { return ci::encode_describe_topic(id, "t1"); })
                      .add([](uint64_t id) { return ci::encode_describe_topic(id, "orders"); })
                      .add([](uint64_t id) { return ci::encode_delete_topic(id, "t1"); })
                      .add([](uint64_t id) { return ci::encode_describe_topic(id, "t1"); }));
    cl::TopicSpec b;
    b.name = "b1";
    b.schema_subject = "orders-value";
    b.validate_payloads = true;
    put("topic_bound", Stream().hello().add([&](uint64_t id) { return ci::encode_create_topic(id, b); }));
  }
  {
    const std::vector<cl::Event> three = {event("k1", "d1", "first"), event("k2", "d2", "second"),
                                          event("", "", "keyless", 2)};
    put("publish_fetch", Stream()
                             .hello()
                             .add([&](uint64_t id) { return publish(id, "orders", 5, three); })
                             .add([&](uint64_t id) { return publish(id, "orders", 0, {event("k1", "d1", "again")}); })
                             .add([](uint64_t id) { return ci::encode_fetch(id, "orders", 0, 0, 100, 1 << 20); })
                             .add([](uint64_t id) { return ci::encode_fetch(id, "orders", 1, 0, 1, 64); })
                             .add([](uint64_t id) { return ci::encode_fetch(id, "orders", 2, 1, 10, 1 << 20); })
                             .add([](uint64_t id) { return ci::encode_fetch(id, "orders", 9, 0, 10, 1 << 20); }));
    std::vector<cl::Event> many;
    for (int i = 0; i < 12; ++i) many.push_back(event("key" + std::to_string(i % 4), "", std::string(i * 5, 'x'), 0));
    put("publish_many", Stream()
                            .hello()
                            .add([&](uint64_t id) { return publish(id, "orders", 1000, many); })
                            .add([&](uint64_t id) { return publish(id, "orders", 1, many); })
                            .add([](uint64_t id) { return ci::encode_fetch(id, "orders", 0, 5, 4, 1 << 20); }));
    put("publish_unknown_topic",
        Stream().hello().add([&](uint64_t id) { return publish(id, "nope", 0, three); }));
  }
  {
    cl::Event good = event("c1", "o-1", payload(causeway::fuzz::kOrderSchema, R"({"id": 7, "total": {"units": 12, "nanos": 5},
        "items": [{"sku": "a-1", "qty": 2}], "channel": "Store", "note": "n", "ratio": 0.5})"));
    good.schema_id = 1;
    cl::Event bad_payload = event("c2", "", "not a flatbuffer");
    bad_payload.schema_id = 1;
    cl::Event wrong_id = good;
    wrong_id.dedup_key.clear();
    wrong_id.schema_id = 99;
    cl::Event no_id = event("c3", "", "x");
    put("publish_bound", Stream()
                             .hello()
                             .add([&](uint64_t id) { return publish(id, "bound", 0, {good, bad_payload, wrong_id, no_id}); })
                             .add([](uint64_t id) { return ci::encode_fetch(id, "bound", 0, 0, 100, 1 << 20); }));
  }
  {
    cl::Event f = event("f1", "", payload(causeway::fuzz::kFeaturesSchema, R"({"u_type": "B", "u": {"s": "one"},
        "nested": {"v": [1, -2]}, "flex": {"k": [1, 2.5, "s", true]}})"));
    f.schema_id = 2;
    cl::Event empty = event("f2", "", payload(causeway::fuzz::kFeaturesSchema, "{}"));
    empty.schema_id = 2;
    put("publish_features", Stream()
                                .hello()
                                .add([&](uint64_t id) { return publish(id, "features", 0, {f, empty}); })
                                .add([](uint64_t id) { return ci::encode_fetch(id, "features", 0, 0, 10, 1 << 20); }));
  }
  {
    const std::vector<cl::Event> on_p0 = {event("a", "", "e0", 0), event("b", "", "e1", 0), event("c", "", "e2", 0)};
    const std::vector<uint64_t> first_two = {0, 1};
    const std::vector<uint64_t> third = {2};
    put("subscribe_ack",
        Stream()
            .hello()
            .add([&](uint64_t id) { return publish(id, "orders", 0, on_p0); })
            .add([](uint64_t id) {
              return ci::encode_subscribe(id, subscription("sub", "orders"), 100, 1 << 20, true, "seed-member");
            })
            .add([&](uint64_t id) { return ci::encode_ack(id, "sub", "$0", 0, first_two); })
            .add([&](uint64_t id) { return ci::encode_extend_deadline(id, "sub", "$0", 0, third, 1000); })
            .add([&](uint64_t id) { return ci::encode_nack(id, "sub", "$0", 0, third, 0, "retry me"); })
            .add([](uint64_t id) { return ci::encode_heartbeat(id, "sub", "$0"); })
            .add([](uint64_t id) {
              return message(id, pr::Body::CreditRequest, [](flatbuffers::FlatBufferBuilder& b) {
                return pr::CreateCreditRequestDirect(b, "sub", "$0", 10, 4096).Union();
              });
            })
            .add([](uint64_t id) { return ci::encode_describe_group(id, "sub"); })
            .add([&](uint64_t id) { return publish(id, "orders", 0, {event("d", "", "e3", 0)}); })
            .add([&](uint64_t id) { return ci::encode_ack(id, "sub", "$0", 0, std::vector<uint64_t>{2, 3, 99}); })
            .add([](uint64_t id) { return ci::encode_leave(id, "sub", "$0"); })
            .add([](uint64_t id) { return ci::encode_heartbeat(id, "sub", "unknown-member"); }));
    put("subscription_admin", Stream()
                                  .hello()
                                  .add([](uint64_t id) { return ci::encode_create_subscription(id, subscription("s2", "orders")); })
                                  .add([](uint64_t id) { return ci::encode_list_subscriptions(id, ""); })
                                  .add([](uint64_t id) { return ci::encode_list_subscriptions(id, "orders"); })
                                  .add([](uint64_t id) { return ci::encode_describe_subscription(id, "s2"); })
                                  .add([](uint64_t id) { return ci::encode_create_subscription(id, subscription("s2", "orders")); })
                                  .add([](uint64_t id) { return ci::encode_delete_subscription(id, "s2"); })
                                  .add([](uint64_t id) { return ci::encode_describe_group(id, "s2"); }));
    put("two_members", Stream()
                           .hello()
                           .add([&](uint64_t id) { return publish(id, "orders", 0, on_p0); })
                           .add([](uint64_t id) {
                             return ci::encode_subscribe(id, subscription("g", "orders"), 1, 0, true, "m1");
                           })
                           .add([](uint64_t id) {
                             return ci::encode_subscribe(id, subscription("g", "orders"), 2, 0, true, "m2");
                           })
                           .add([&](uint64_t id) { return ci::encode_ack(id, "g", "$1", 1, first_two); })
                           .add([](uint64_t id) { return ci::encode_describe_group(id, "g"); }));
  }
  put("bad_version", Stream().add([](uint64_t id) {
    return message(id, pr::Body::Hello, [](flatbuffers::FlatBufferBuilder& b) {
      return pr::CreateHelloDirect(b, 2, "old-client").Union();
    });
  }));
  put("bad_credentials", Stream().add([](uint64_t id) {
    return message(id, pr::Body::Hello, [](flatbuffers::FlatBufferBuilder& b) {
      return pr::CreateHelloDirect(b, 1, "c", pr::CreateCredentialsDirect(b, "token")).Union();
    });
  }));
  put("no_hello", Stream().add([](uint64_t id) { return ci::encode_list_topics(id); }));
  put("response_as_request", Stream().hello().add([](uint64_t id) {
    return message(id, pr::Body::PublishResponse, [](flatbuffers::FlatBufferBuilder& b) {
      return pr::CreatePublishResponse(b).Union();
    });
  }).add([](uint64_t id) { return ci::encode_hello(id, "twice"); }));
  put("torn_frame", Stream().hello().raw(std::string("\x40\x00\x00\x00\x10\x00", 6)));
  put("oversized_length", Stream().hello().raw(std::string("\xff\xff\xff\x7f", 4)));
  return seeds;
}

void write(const std::filesystem::path& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

}  // namespace

int dump(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const causeway::fuzz::FrameStream s = causeway::fuzz::split_frames(bytes);
    std::printf("%s: %zu frame(s), %zu trailing byte(s)\n", argv[i], s.frames.size(), s.tail.size());
    for (const std::string& f : s.frames) {
      const auto json = causeway::fuzz::FrameMutator::instance().to_json(f);
      std::printf("  [%zu bytes] %s\n", f.size(), json ? json->c_str() : "(does not verify, or a string is not UTF-8)");
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "--dump") return dump(argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <source>/tests/fuzz/corpus\n", argv[0]);
    return 2;
  }
  const std::filesystem::path corpus = argv[1];
  auto& broker = causeway::fuzz::FuzzBroker::instance();
  for (const auto& [name, request] : server_seeds()) {
    write(corpus / "server_frame", "seed_" + name, request);
    const std::string answered = broker.run_connection(request);
    if (!answered.empty()) write(corpus / "client_frame", "seed_" + name, answered);
    std::printf("%-24s %6zu bytes sent, %6zu answered\n", name.c_str(), request.size(), answered.size());
  }
  return 0;
}
