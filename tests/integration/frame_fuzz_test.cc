// Black-box frame fuzzer against the real causeway-broker (issue 11, "Fuzzing that runs";
// tests/fuzz/README.md): hostile connections send mutated frames while a well-behaved client
// (the real Publisher and Admin) keeps publishing and fetching, and no acknowledged event may
// be lost: every acked (partition, offset) is fetched back with its payload while the
// hostile traffic runs, at the end, and again after kill -9 and a restart, with Lamport
// stamps that increase with offset. The broker must stay alive and keep answering
// throughout.
//
// The hostile frames are real traffic: the committed seeds and corpus of the server frame
// fuzz target (tests/fuzz/corpus/server_frame, written from the client library's encoders),
// mutated by the same structure-aware mutator (tests/fuzz/frame_mutator.h), all of it
// generated up front from one seed, then sent on several connections at a bounded rate.
//
// Settings (environment):
//   CAUSEWAY_FRAME_FUZZ_SECONDS  how long the hostile traffic runs (default 12)
//   CAUSEWAY_FRAME_FUZZ_SEED     the seed (default: random); printed, and in every failure
//   CAUSEWAY_FRAME_FUZZ_RATE     hostile sends per second over all connections (default 200)
// Loopback only; the broker is ended by its PID.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/registry_client.h"
#include "tests/fuzz/byte_mutator.h"
#include "tests/fuzz/frame_mutator.h"
#include "tests/fuzz/fuzz_broker.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace causeway {
namespace {

using namespace std::chrono_literals;
using client::Admin;
using client::ClientOptions;
using client::Publisher;

constexpr int kHostileConnections = 4;
constexpr uint32_t kGoodPartitions = 3;

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// The text after `marker` on its line in the broker's output ("" when absent).
std::string logged_after(const std::string& output, const std::string& marker) {
  const auto at = output.find(marker);
  if (at == std::string::npos) return "";
  const auto begin = at + marker.size();
  return output.substr(begin, output.find_first_of(" \n", begin) - begin);
}

// A hostile connection: sends whatever it is given, reads and drops whatever the broker
// writes (so the broker never stops reading it for want of a reader), every wait bounded.
class HostileConnection {
 public:
  explicit HostileConnection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int r = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    open_ = r == 0 || errno == EINPROGRESS;
  }
  ~HostileConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  HostileConnection(const HostileConnection&) = delete;
  HostileConnection& operator=(const HostileConnection&) = delete;

  bool open() const { return open_; }

  // False once the broker closed the connection or the send did not finish in time.
  bool send(const std::string& bytes, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t done = 0;
    while (open_ && done < bytes.size()) {
      pollfd p{fd_, POLLIN | POLLOUT, 0};
      if (::poll(&p, 1, 20) < 0) return open_ = false;
      if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) drain();
      if ((p.revents & POLLOUT) != 0) {
        const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return open_ = false;
        if (n > 0) done += static_cast<size_t>(n);
      }
      if (std::chrono::steady_clock::now() > deadline) return open_ = false;
    }
    return open_;
  }

  void drain() {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) open_ = false;
      return;
    }
  }

 private:
  int fd_ = -1;
  bool open_ = false;
};

struct Acked {
  std::string payload;
  std::string dedup_key;
};

class FrameFuzzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = env_or("CAUSEWAY_FRAME_FUZZ_SEED", std::random_device{}());
    seconds_ = env_or("CAUSEWAY_FRAME_FUZZ_SECONDS", 12);
    rate_ = std::max<uint64_t>(1, env_or("CAUSEWAY_FRAME_FUZZ_RATE", 200));
    std::printf("frame fuzz: seed %llu (CAUSEWAY_FRAME_FUZZ_SEED=%llu replays it), %llu s, %llu sends/s\n",
                static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(seed_),
                static_cast<unsigned long long>(seconds_), static_cast<unsigned long long>(rate_));
    good_topic_ = "good-" + std::to_string(seed_);
    start_broker();
  }
  void TearDown() override { broker_.reset(); }

  // The seed and the end of the broker's output, for failure messages.
  std::string where() const {
    const std::string& out = broker_->output();
    return "seed " + std::to_string(seed_) + "; broker output (last 4000 bytes):\n" +
           out.substr(out.size() > 4000 ? out.size() - 4000 : 0);
  }

  void start_broker() {
    broker_ = std::make_unique<testing::DaemonProcess>(
        CAUSEWAY_BROKER_BINARY, std::vector<std::string>{"--listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0",
                                                         "--data-dir", dir_.path()});
    ASSERT_TRUE(broker_->wait_for_output("ready", 30s)) << broker_->output();
    // The wire address is logged first, then the registry's.
    const std::string out = broker_->output();
    const std::string address = logged_after(out, "listening on ");
    ASSERT_NE(address.find(':'), std::string::npos) << out;
    port_ = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
    options_.broker = "127.0.0.1:" + std::to_string(port_);
    options_.client_name = "frame_fuzz_test";
    options_.request_timeout = 20s;
    registry_url_ = logged_after(out, "registry listening on ");
  }

  // Reads what the broker logged so far (every bad frame logs a line): a full pipe would
  // block it.
  void read_broker_output() { (void)broker_->wait_for_output("\x01", 50ms); }

  // The topics the hostile traffic names (the server_frame seeds' "orders", "bound" and
  // "features"), with their schemas (fuzz_broker.h), and the good client's own topic.
  void create_topics() {
    auto admin = Admin::connect(options_);
    ASSERT_TRUE(admin.ok()) << admin.error().to_string();
    client::RegistryClientOptions ro;
    ro.url = registry_url_;
    auto registry = client::RegistryClient::create(ro);
    ASSERT_TRUE(registry.ok()) << registry.error().to_string();
    auto order = (*registry)->register_schema("orders-value", fuzz::kOrderSchema, "shop.Order");
    ASSERT_TRUE(order.ok()) << order.error().to_string();
    client::TopicSpec orders;
    orders.name = "orders";
    orders.partitions = 3;
    client::TopicSpec bound;
    bound.name = "bound";
    bound.schema_subject = "orders-value";
    bound.validate_payloads = true;
    auto features = (*registry)->register_schema("features-value", fuzz::kFeaturesSchema, "fx.F");
    ASSERT_TRUE(features.ok()) << features.error().to_string();
    client::TopicSpec f = bound;
    f.name = "features";
    f.schema_subject = "features-value";
    std::vector<client::TopicSpec> specs = {orders, bound, f};
    client::TopicSpec good;
    good.name = good_topic_;
    good.partitions = kGoodPartitions;
    specs.push_back(good);
    for (const auto& spec : specs) {
      auto created = (*admin)->create_topic(spec);
      ASSERT_TRUE(created.ok()) << spec.name << ": " << created.error().to_string();
    }
  }

  static std::filesystem::path corpus_dir() {
    return std::filesystem::path(CAUSEWAY_SOURCE_DIR) / "tests/fuzz/corpus/server_frame";
  }
  static std::string read_seed(const std::filesystem::path& name) {
    std::ifstream in(corpus_dir() / name, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  // Every hostile send, made up front from the seed: one to four frames of the committed
  // server_frame corpus (now and then a Hello in front), mutated 1 to 4 times. A connection
  // opens with a clean Hello (hello_) so that most sends reach the request handlers.
  std::vector<std::string> hostile_sends(size_t count) {
    std::vector<std::string> hellos;
    std::vector<std::string> frames;
    for (const auto& e : std::filesystem::directory_iterator(corpus_dir())) {
      const fuzz::FrameStream s = fuzz::split_frames(read_seed(e.path().filename()));
      for (size_t i = 0; i < s.frames.size(); ++i) (i == 0 ? hellos : frames).push_back(s.frames[i]);
    }
    EXPECT_FALSE(hellos.empty());
    EXPECT_FALSE(frames.empty());
    hello_ = fuzz::frame_of(fuzz::split_frames(read_seed("seed_hello")).frames.at(0));
    std::mt19937_64 rng(seed_);
    fuzz::seed_byte_mutator(seed_);
    auto& mutator = fuzz::FrameMutator::instance();
    std::vector<std::string> sends;
    std::vector<uint8_t> buf(256u << 10);
    while (sends.size() < count) {
      fuzz::FrameStream s;
      if (rng() % 10 == 0) s.frames.push_back(hellos[rng() % hellos.size()]);
      for (size_t n = 1 + rng() % 4; n > 0; --n) s.frames.push_back(frames[rng() % frames.size()]);
      std::string bytes = fuzz::join_frames(s);
      if (bytes.size() > buf.size()) continue;
      std::memcpy(buf.data(), bytes.data(), bytes.size());
      size_t size = bytes.size();
      for (size_t m = 1 + rng() % 4; m > 0; --m) {
        size = mutator.mutate(buf.data(), size, buf.size(), static_cast<unsigned>(rng()));
      }
      bytes.assign(reinterpret_cast<const char*>(buf.data()), size);
      // The good client's topic is off limits: deleting or filling it would be a hostile
      // client's right, not a broker fault.
      if (bytes.find("good-") != std::string::npos) continue;
      sends.push_back(std::move(bytes));
    }
    return sends;
  }

  // Fetches each partition of the good topic from the lowest offset in `acked` and checks
  // that every event of `acked` is there with its payload and dedup key.
  void expect_acked_events(Admin& admin, const std::map<std::pair<uint32_t, uint64_t>, Acked>& acked,
                           const std::string& when) {
    std::map<uint32_t, uint64_t> from;
    for (const auto& [at, event] : acked) {
      if (!from.contains(at.first)) from[at.first] = at.second;  // the map is ordered by offset
    }
    std::map<std::pair<uint32_t, uint64_t>, Acked> stored;
    std::map<std::pair<uint32_t, uint64_t>, uint64_t> stored_lamport;
    for (const auto& [p, first] : from) {
      uint64_t offset = first;
      for (;;) {
        auto r = admin.fetch(good_topic_, p, offset, 1000, 1u << 20);
        ASSERT_TRUE(r.ok()) << when << ": fetch " << good_topic_ << "/" << p << " from " << offset << ": "
                            << r.error().to_string() << "\n" << where();
        for (const auto& e : r->events) {
          // DESIGN.md, guarantee 4: Lamport stamps strictly increase with offset.
          if (auto before = stored_lamport.find({p, e.offset - 1}); e.offset > 0 && before != stored_lamport.end()) {
            ASSERT_LT(before->second, e.lamport) << when << ": " << good_topic_ << "/" << p << " offset " << e.offset
                                                 << " has Lamport " << e.lamport << ", offset " << e.offset - 1
                                                 << " had " << before->second << "; " << where();
          }
          stored[{p, e.offset}] = Acked{e.payload, e.dedup_key};
          stored_lamport[{p, e.offset}] = e.lamport;
        }
        if (r->events.empty() || r->next_offset >= r->high_watermark) break;
        offset = r->next_offset;
      }
    }
    size_t missing = 0;
    for (const auto& [at, event] : acked) {
      auto it = stored.find(at);
      if (it == stored.end() || it->second.payload != event.payload || it->second.dedup_key != event.dedup_key) {
        if (++missing <= 5) {
          ADD_FAILURE() << when << ": acked event \"" << event.payload << "\" at " << at.first << "/" << at.second
                        << (it == stored.end() ? " is missing" : " holds \"" + it->second.payload + "\"")
                        << "; seed " << seed_;
        }
      }
    }
    EXPECT_EQ(missing, 0u) << when << ": " << missing << " of " << acked.size() << " acked events lost; "
                           << where();
  }

  void expect_broker_alive(const std::string& when) {
    int status = 0;
    ASSERT_EQ(::waitpid(broker_->pid(), &status, WNOHANG), 0)
        << when << ": the broker exited (" << (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                                                   : "status " + std::to_string(WEXITSTATUS(status)))
        << "); " << where();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::DaemonProcess> broker_;
  ClientOptions options_;
  std::string registry_url_;
  uint16_t port_ = 0;
  uint64_t seed_ = 0;
  uint64_t seconds_ = 0;
  uint64_t rate_ = 0;
  std::string good_topic_;
  std::string hello_;  // a clean Hello frame, sent first on every hostile connection
};

TEST_F(FrameFuzzTest, HostileFramesNeverLoseAnAckedEventNorStopTheBroker) {
  SCOPED_TRACE("CAUSEWAY_FRAME_FUZZ_SEED=" + std::to_string(seed_));
  ASSERT_NO_FATAL_FAILURE(create_topics());
  const std::vector<std::string> sends = hostile_sends(static_cast<size_t>(seconds_ * rate_));

  // The well-behaved client.
  client::PublisherOptions po;
  po.linger = 2ms;
  auto publisher = Publisher::connect(options_, po);
  ASSERT_TRUE(publisher.ok()) << publisher.error().to_string();
  auto admin = Admin::connect(options_);
  ASSERT_TRUE(admin.ok()) << admin.error().to_string();
  std::mutex mu;  // guards acked and failed
  std::map<std::pair<uint32_t, uint64_t>, Acked> acked;
  std::vector<std::string> failed;

  // The hostile connections: connection i sends sends[i], sends[i + K], ... at rate/K per
  // second, reconnecting whenever the broker closes it.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> connections{0};
  std::vector<std::thread> hostile;
  for (int c = 0; c < kHostileConnections; ++c) {
    hostile.emplace_back([&, c] {
      const auto interval = std::chrono::microseconds(1000000 * kHostileConnections / rate_);
      auto next = std::chrono::steady_clock::now();
      std::unique_ptr<HostileConnection> conn;
      for (size_t i = static_cast<size_t>(c); i < sends.size() && !stop; i += kHostileConnections) {
        if (!conn || !conn->open()) {
          conn = std::make_unique<HostileConnection>(port_);
          connections.fetch_add(1);
          conn->send(hello_, 2s);
        }
        conn->send(sends[i], 2s);
        sent.fetch_add(1);
        next += interval;
        std::this_thread::sleep_until(next);  // pacing, not waiting for anything
        conn->drain();
      }
    });
  }

  // Meanwhile: publish, and every second check what was acked so far.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds_);
  uint64_t seq = 0;
  std::set<std::pair<uint32_t, uint64_t>> checked;
  auto next_check = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 20; ++i, ++seq) {
      client::Event e;
      e.key = "k" + std::to_string(seq % 7);
      e.dedup_key = "good-" + std::to_string(seed_) + "-" + std::to_string(seq);
      e.payload = "event " + std::to_string(seq) + " of seed " + std::to_string(seed_);
      (*publisher)->publish(good_topic_, e, [&mu, &acked, &failed, e](const Result<client::PublishAck>& r) {
        std::lock_guard lk(mu);
        if (r) {
          acked[{r->partition, r->offset}] = Acked{e.payload, e.dedup_key};
        } else {
          failed.push_back(e.payload + ": " + r.error().to_string());
        }
      });
    }
    read_broker_output();
    if (std::chrono::steady_clock::now() >= next_check) {
      next_check += 1s;
      ASSERT_NO_FATAL_FAILURE(expect_broker_alive("while fuzzing"));
      std::map<std::pair<uint32_t, uint64_t>, Acked> fresh;  // acked since the last check
      {
        std::lock_guard lk(mu);
        for (auto& [at, event] : acked) {
          if (checked.insert(at).second) fresh.emplace(at, event);
        }
      }
      ASSERT_NO_FATAL_FAILURE(expect_acked_events(**admin, fresh, "while fuzzing"));
    }
  }
  stop = true;
  for (auto& t : hostile) t.join();
  ASSERT_TRUE((*publisher)->flush(30s).ok()) << where();
  read_broker_output();
  ASSERT_NO_FATAL_FAILURE(expect_broker_alive("after fuzzing"));
  std::map<std::pair<uint32_t, uint64_t>, Acked> all;
  {
    std::lock_guard lk(mu);
    all = acked;
    // A well-behaved client's publish may fail only for a reason that is not the broker's
    // fault (none here): every failure is reported.
    EXPECT_TRUE(failed.empty()) << failed.size() << " good publishes failed, first: " << failed.front() << "; "
                                << where();
  }
  std::printf("frame fuzz: %llu hostile sends on %llu connections, %zu good events acked\n",
              static_cast<unsigned long long>(sent.load()), static_cast<unsigned long long>(connections.load()),
              all.size());
  EXPECT_GE(all.size(), seconds_ * 20) << "the good client got too few acks: " << where();
  ASSERT_NO_FATAL_FAILURE(expect_acked_events(**admin, all, "after fuzzing"));
  (*publisher)->close().ignore_error();
  publisher->reset();
  admin->reset();

  // kill -9 and restart on the same data: every acked event is still there.
  broker_->signal(SIGKILL);
  ASSERT_TRUE(broker_->wait_exit(30s));
  ASSERT_NO_FATAL_FAILURE(start_broker());
  auto after = Admin::connect(options_);
  ASSERT_TRUE(after.ok()) << after.error().to_string() << "; " << where();
  ASSERT_NO_FATAL_FAILURE(expect_acked_events(**after, all, "after kill -9 and restart"));
}

}  // namespace
}  // namespace causeway
