// Archive replays against the real causeway-broker with the real client and CLI
// (docs/targets.md, "Archive replay"): a replay re-delivers exactly the matching events of
// its range to the subscription's target, in offset order per partition, marked with its
// name and without moving the subscription's position; it survives a kill -9 of the broker
// (resuming where it was, every event of the range delivered); cancel stops it; careless
// input is refused naming the problem.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "tests/integration/cli_run.h"
#include "tests/integration/http_endpoint.h"
#include "tests/integration/target_fixture.h"
#include "tests/support/waiting.h"

namespace causeway::client {
namespace {

using namespace std::chrono_literals;
using causeway::testing::eventually;
using testing_targets::Answer;
using testing_targets::Endpoint;
using testing_targets::header;
using testing_targets::Received;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class ReplayTest : public testing_targets::TargetBrokerTest {
 protected:
  ReplayTest() : TargetBrokerTest("replay_test") {}

  // Events first..first+n-1 with payload "e<i>", type "a" for even i and "b" for odd,
  // spread over the topic's partitions by key.
  void publish(const std::string& topic, int first, int n) {
    auto p = Publisher::connect(options_);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    std::vector<std::future<Result<PublishAck>>> acks;
    for (int i = first; i < first + n; ++i) {
      Event e;
      e.key = "k" + std::to_string(i);
      e.type = i % 2 == 0 ? "a" : "b";
      e.payload = "e" + std::to_string(i);
      acks.push_back((*p)->publish(topic, e));
    }
    for (auto& f : acks) ASSERT_TRUE(f.get().ok());
  }

  // The replay once it is over (or its last description after `timeout`).
  ReplayInfo wait_over(const std::string& name, std::chrono::milliseconds timeout = 30s) {
    ReplayInfo last;
    (void)eventually(
        [&] {
          auto r = admin()->describe_replay(name);
          if (!r.ok()) return false;
          last = *r;
          return last.state != "running";
        },
        timeout);
    return last;
  }

  SubscriptionSpec forward(const std::string& name, const std::string& topic, const std::string& target) {
    SubscriptionSpec s;
    s.name = name;
    s.topic = topic;
    s.start = StartPosition::earliest();
    s.pattern = R"({"type":["a"]})";
    s.target_topic = target;
    return s;
  }

  SubscriptionSpec hook(const std::string& name, const std::string& topic, const std::string& url, uint32_t rate) {
    SubscriptionSpec s;
    s.name = name;
    s.topic = topic;
    s.start = StartPosition::earliest();
    s.target_http.url = url;
    s.target_http.rate_per_second = rate;
    s.target_http.concurrency = 4;
    s.backoff = 10ms;
    s.max_backoff = 50ms;
    return s;
  }
};

TEST_F(ReplayTest, ReplaysExactlyTheMatchingEventsOfTheRangeInOrderWithoutMovingTheSubscription) {
  create_topic("src", 3);
  create_topic("dst", 1);
  ASSERT_TRUE(admin()->create_subscription(forward("fwd", "src", "dst")).ok());
  publish("src", 0, 30);  // before the range
  std::this_thread::sleep_for(50ms);
  const int64_t from = wall_ms();
  std::this_thread::sleep_for(20ms);
  publish("src", 30, 60);  // the range
  std::this_thread::sleep_for(20ms);
  const int64_t to = wall_ms();
  std::this_thread::sleep_for(50ms);
  publish("src", 90, 30);  // after it
  // The live forward first: every "a" event once.
  ASSERT_TRUE(eventually([&] { return read_all("dst").size() == 60; }, 20s));
  // ... and its acks committed, so that the group's position stays put from here on.
  Result<GroupInfo> group_before = internal_error("not described");
  ASSERT_TRUE(eventually(
      [&] {
        group_before = admin()->describe_group("fwd");
        if (!group_before.ok()) return false;
        for (const auto& p : group_before->partitions)
          if (p.lag != 0) return false;
        return true;
      },
      10s));

  ReplaySpec spec{"r1", "fwd", from, to, 0};
  auto started = admin()->start_replay(spec);
  ASSERT_TRUE(started.ok()) << started.status().to_string();
  EXPECT_EQ(started->total(), 60u);
  const ReplayInfo done = wait_over("r1");
  ASSERT_EQ(done.state, "completed") << done.error;
  EXPECT_EQ(done.delivered(), 30u);
  EXPECT_EQ(done.filtered(), 30u);
  EXPECT_EQ(done.dead_lettered(), 0u);
  EXPECT_EQ(done.done(), done.total());

  std::vector<FetchedEvent> replayed;
  for (auto& e : read_all("dst"))
    if (header(e, "causeway-replay") == "r1") replayed.push_back(std::move(e));
  ASSERT_EQ(replayed.size(), 30u);
  std::set<std::string> payloads;
  std::map<std::string, uint64_t> last_offset;  // per source partition: in offset order
  for (const FetchedEvent& e : replayed) {
    EXPECT_EQ(e.type, "a");
    const int i = std::stoi(e.payload.substr(1));
    EXPECT_GE(i, 30);
    EXPECT_LT(i, 90);
    EXPECT_TRUE(payloads.insert(e.payload).second) << "twice: " << e.payload;
    const std::string part = header(e, "causeway-source-partition");
    const uint64_t offset = std::stoull(header(e, "causeway-source-offset"));
    if (last_offset.count(part) != 0) {
      EXPECT_GT(offset, last_offset[part]) << "partition " << part;
    }
    last_offset[part] = offset;
  }
  // The live forward is untouched: nothing new from it, and the group where it was.
  size_t live = 0;
  for (const auto& e : read_all("dst")) live += header(e, "causeway-replay").empty() ? 1 : 0;
  EXPECT_EQ(live, 60u);
  auto group_after = admin()->describe_group("fwd");
  ASSERT_TRUE(group_after.ok());
  for (size_t p = 0; p < group_after->partitions.size(); ++p)
    EXPECT_EQ(group_after->partitions[p].committed_offset, group_before->partitions[p].committed_offset);
  auto listed = admin()->list_replays("fwd");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state, "completed");
}

TEST_F(ReplayTest, TheLamportBoundCutsTheRange) {
  create_topic("src", 2);
  create_topic("dst", 1);
  ASSERT_TRUE(admin()->create_subscription(forward("fwd", "src", "dst")).ok());
  publish("src", 0, 20);
  const uint64_t cut = admin()->lamport();  // every stamp so far is at or below
  publish("src", 20, 20);
  ASSERT_TRUE(eventually([&] { return read_all("dst").size() == 20; }, 20s));
  auto started = admin()->start_replay({"cut", "fwd", 0, 0, cut});
  ASSERT_TRUE(started.ok()) << started.status().to_string();
  ASSERT_EQ(wait_over("cut").state, "completed");
  std::set<int> got;
  for (const auto& e : read_all("dst"))
    if (header(e, "causeway-replay") == "cut") got.insert(std::stoi(e.payload.substr(1)));
  std::set<int> want;
  for (int i = 0; i < 20; i += 2) want.insert(i);
  EXPECT_EQ(got, want);
}

TEST_F(ReplayTest, AReplayResumesAfterAKill9AndDeliversEveryEventOfItsRange) {
  std::atomic<int> requests{0};
  Endpoint ep([&](const Received& r, int) {
    if (r.headers.count("Causeway-Replay") != 0) ++requests;
    return Answer{};
  });
  create_topic("src", 2);
  ASSERT_TRUE(admin()->create_subscription(hook("paced-hook", "src", ep.url(), 100)).ok());
  publish("src", 0, 300);  // 3 s of requests at 100/s, live and replayed alike
  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 300; }, 30s));

  ASSERT_TRUE(admin()->start_replay({"again", "paced-hook", wall_ms() - 60'000, 0, 0}).ok());
  ASSERT_TRUE(eventually([&] { return requests.load() >= 200; }, 20s));
  broker_->signal(SIGKILL);  // two thirds in
  ASSERT_TRUE(broker_->wait_exit(10s).has_value());
  broker_.reset();
  const int before_restart = requests.load();
  ASSERT_LT(before_restart, 300) << "the replay finished before the kill";
  start_broker();
  const ReplayInfo done = wait_over("again", 30s);
  ASSERT_EQ(done.state, "completed") << broker_->output();
  EXPECT_EQ(done.done(), 300u);

  std::map<std::string, int> replay_keys;  // Idempotency-Key -> times sent
  for (const Received& r : ep.received()) {
    if (r.headers.count("Causeway-Replay") == 0) continue;
    EXPECT_EQ(r.headers.at("Causeway-Replay"), "again");
    EXPECT_NE(r.key.find("/replay/again"), std::string::npos) << r.key;
    ++replay_keys[r.key];
  }
  EXPECT_EQ(replay_keys.size(), 300u);  // every event of the range
  int repeats = 0;
  for (const auto& [key, n] : replay_keys) repeats += n - 1;
  // At least once: what went out after the last cursor write (the cursor is written at
  // least every second: about 100 requests here) is sent again after the restart; a replay
  // that started over would repeat all of the 200 or more sent before the kill.
  EXPECT_LE(repeats, 130) << "resumed from far behind where it was";
}

TEST_F(ReplayTest, CancelStopsAReplayAndItStaysCancelled) {
  Endpoint ep([](const Received&, int) { return Answer{}; });
  create_topic("src", 1);
  ASSERT_TRUE(admin()->create_subscription(hook("hook", "src", ep.url(), 20)).ok());
  publish("src", 0, 40);
  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 40; }, 30s));
  ASSERT_TRUE(admin()->start_replay({"slow", "hook", 0, 0, 0}).ok());
  const auto replayed = [&] {
    size_t n = 0;
    for (const Received& r : ep.received()) n += r.headers.count("Causeway-Replay");
    return n;
  };
  ASSERT_TRUE(eventually([&] { return replayed() >= 5; }, 10s));
  auto cancelled = admin()->cancel_replay("slow");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().to_string();
  EXPECT_EQ(cancelled->state, "cancelled");
  EXPECT_LT(cancelled->done(), 40u);
  const size_t at_cancel = replayed();
  std::this_thread::sleep_for(500ms);  // 10 more requests at 20/s, were it still going
  EXPECT_LE(replayed(), at_cancel);
  EXPECT_EQ(admin()->cancel_replay("slow").status().code(), Code::kFailedPrecondition);
  // Still cancelled after a restart: it does not resume.
  EXPECT_TRUE(causeway::testing::stops_cleanly(*broker_));
  start_broker();
  std::this_thread::sleep_for(300ms);
  EXPECT_LE(replayed(), at_cancel);
  auto after = admin()->describe_replay("slow");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, "cancelled");
}

TEST_F(ReplayTest, DeletingTheSubscriptionStopsItsReplayAsFailed) {
  Endpoint ep([](const Received&, int) { return Answer{}; });
  create_topic("src", 1);
  ASSERT_TRUE(admin()->create_subscription(hook("hook", "src", ep.url(), 20)).ok());
  publish("src", 0, 40);
  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 40; }, 30s));
  ASSERT_TRUE(admin()->start_replay({"orphan", "hook", 0, 0, 0}).ok());
  ASSERT_TRUE(eventually([&] { return ep.received().size() >= 42; }, 10s));
  ASSERT_TRUE(admin()->delete_subscription("hook").ok());
  const size_t at_delete = ep.received().size();
  auto r = admin()->describe_replay("orphan");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, "failed");
  EXPECT_NE(r->error.find("was deleted"), std::string::npos) << r->error;
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(ep.received().size(), at_delete);
}

TEST_F(ReplayTest, RefusedTargetEventsAreDeadLetteredNamingTheReplay) {
  Endpoint ep([](const Received& r, int) {
    return r.headers.count("Causeway-Replay") ? Answer{422, "no replays here", {}} : Answer{};
  });
  create_topic("src", 1);
  ASSERT_TRUE(admin()->create_subscription(hook("hook", "src", ep.url(), 0)).ok());
  publish("src", 0, 4);
  ASSERT_TRUE(eventually([&] { return ep.acked().size() == 4; }, 20s));
  ASSERT_TRUE(admin()->start_replay({"refused", "hook", 0, 0, 0}).ok());
  const ReplayInfo done = wait_over("refused");
  ASSERT_EQ(done.state, "completed");
  EXPECT_EQ(done.dead_lettered(), 4u);
  std::vector<FetchedEvent> dlq;
  ASSERT_TRUE(eventually([&] { return (dlq = read_all_once_created("src.dlq")).size() == 4; }, 10s));
  for (const auto& e : dlq) {
    EXPECT_EQ(header(e, "causeway-replay"), "refused");
    EXPECT_NE(header(e, "causeway-dlq-reason").find("422"), std::string::npos) << header(e, "causeway-dlq-reason");
  }
}

TEST_F(ReplayTest, CarelessRequestsAreRefusedNamingTheProblem) {
  create_topic("src", 1);
  create_topic("dst", 1);
  ASSERT_TRUE(admin()->create_subscription(forward("fwd", "src", "dst")).ok());
  SubscriptionSpec group;
  group.name = "readers";
  group.topic = "src";
  ASSERT_TRUE(admin()->create_subscription(group).ok());
  const auto refused = [&](ReplaySpec spec, Code code, const std::string& words) {
    auto r = admin()->start_replay(spec);
    EXPECT_EQ(r.status().code(), code) << spec.name << ": " << r.status().to_string();
    EXPECT_NE(r.status().message().find(words), std::string_view::npos) << r.status().to_string();
  };
  refused({"g", "readers", 0, 0, 0}, Code::kInvalidArgument, "rule target");
  refused({"u", "nope", 0, 0, 0}, Code::kNotFound, "nope");
  refused({"bad/name", "fwd", 0, 0, 0}, Code::kInvalidArgument, "replay name");
  refused({"", "fwd", 0, 0, 0}, Code::kInvalidArgument, "replay name");
  refused({"empty", "fwd", 2000, 1000, 0}, Code::kInvalidArgument, "range is empty");
  refused({"neg", "fwd", -5, 0, 0}, Code::kInvalidArgument, "before 1970");
  ASSERT_TRUE(admin()->start_replay({"once", "fwd", 0, 0, 0}).ok());
  refused({"once", "fwd", 0, 0, 0}, Code::kAlreadyExists, "never reused");
  EXPECT_EQ(admin()->describe_replay("nope").status().code(), Code::kNotFound);
  EXPECT_EQ(admin()->cancel_replay("nope").status().code(), Code::kNotFound);
  auto all = admin()->list_replays();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);  // nothing refused was kept
}

TEST_F(ReplayTest, TheCliStartsAReplayWithAProgressBarAndRefusesCarelessInput) {
  create_topic("src", 2);
  create_topic("dst", 1);
  ASSERT_TRUE(admin()->create_subscription(forward("fwd", "src", "dst")).ok());
  publish("src", 0, 10);
  ASSERT_TRUE(eventually([&] { return read_all("dst").size() == 5; }, 20s));
  const auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--broker", options_.broker});
    return testing::run_cli(args);
  };
  auto started = cli({"replay", "start", "r1", "--subscription", "fwd", "--from", "-1h", "--wait"});
  ASSERT_EQ(started.exit_code, 0) << started.output;
  EXPECT_NE(started.output.find("] 100%  10/10 events  5 delivered  0 dead-lettered  5 left out  completed"),
            std::string::npos)
      << started.output;
  auto described = cli({"replay", "describe", "r1", "--output", "json"});
  ASSERT_EQ(described.exit_code, 0) << described.output;
  ASSERT_EQ(described.objects().size(), 1u) << described.output;
  EXPECT_EQ(described.objects()[0]["state"], "completed");
  EXPECT_EQ(described.objects()[0]["delivered"], 5);
  auto listed = cli({"replay", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("r1  fwd  ["), std::string::npos) << listed.output;

  // Careless input: bad usage exits 2 naming what is wrong; refusals exit 1.
  auto bad_time = cli({"replay", "start", "r2", "--subscription", "fwd", "--from", "yesterday"});
  EXPECT_EQ(bad_time.exit_code, 2);
  EXPECT_NE(bad_time.output.find("ISO 8601"), std::string::npos) << bad_time.output;
  auto backwards = cli({"replay", "start", "r2", "--subscription", "fwd", "--from", "-1h", "--to", "-2h"});
  EXPECT_EQ(backwards.exit_code, 2);
  EXPECT_NE(backwards.output.find("must be after --from"), std::string::npos) << backwards.output;
  auto missing = cli({"replay", "start", "r2", "--from", "-1h"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("--subscription"), std::string::npos) << missing.output;
  auto again = cli({"replay", "start", "r1", "--subscription", "fwd", "--from", "-1h"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("never reused"), std::string::npos) << again.output;
  auto over = cli({"replay", "cancel", "r1"});
  EXPECT_EQ(over.exit_code, 1);
  EXPECT_NE(over.output.find("completed already"), std::string::npos) << over.output;
  auto help = cli({"replay", "start", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--to-lamport"), std::string::npos) << help.output;
}

}  // namespace
}  // namespace causeway::client
