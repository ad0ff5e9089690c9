// `causeway top`; see client/cli/top_command.h.
#include "client/cli/top_command.h"

#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "causeway/client/admin.h"
#include "causeway/common/units.h"
#include "client/cli/cli_args.h"
#include "client/cli/cli_errors.h"
#include "client/cli/event_json.h"

namespace causeway::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted.store(true); }

// What one look at the broker found.
struct Sample {
  Clock::time_point at;
  struct Topic {
    uint32_t partitions = 0;
    uint64_t end = 0;  // sum of the partitions' high watermarks
    uint64_t bytes = 0;
  };
  struct Group {
    std::string topic;
    size_t members = 0;
    uint64_t committed = 0;  // sum over partitions
    uint64_t lag = 0;
    uint64_t in_flight = 0;
    std::string target;  // "group", "topic:T" or "http:..."
  };
  std::map<std::string, Topic> topics;
  std::map<std::string, Group> groups;
};

Result<Sample> take_sample(client::Admin& admin) {
  Sample s;
  s.at = Clock::now();
  CAUSEWAY_ASSIGN_OR_RETURN(const auto topics, admin.list_topics());
  for (const client::TopicInfo& t : topics) {
    auto d = admin.describe_topic(t.spec.name);
    if (!d) continue;  // deleted meanwhile
    Sample::Topic& row = s.topics[t.spec.name];
    row.partitions = static_cast<uint32_t>(d->partitions.size());
    for (const auto& p : d->partitions) {
      row.end += p.high_watermark;
      row.bytes += p.size_bytes;
    }
  }
  CAUSEWAY_ASSIGN_OR_RETURN(const auto subs, admin.list_subscriptions());
  for (const client::SubscriptionInfo& sub : subs) {
    auto g = admin.describe_group(sub.spec.name);
    if (!g) continue;
    Sample::Group& row = s.groups[sub.spec.name];
    row.topic = sub.spec.topic;
    row.members = g->members.size();
    for (const auto& p : g->partitions) {
      row.committed += p.committed_offset;
      row.lag += p.lag;
      row.in_flight += p.in_flight;
    }
    row.target = !sub.spec.target_topic.empty()   ? "topic:" + sub.spec.target_topic
                 : !sub.spec.target_http.url.empty() ? "http"
                                                     : "group";
  }
  return s;
}

std::string rate(uint64_t now, uint64_t before, double seconds) {
  if (seconds <= 0 || now < before) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(0) << static_cast<double>(now - before) / seconds;
  return out.str();
}

std::string bytes_text(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  std::ostringstream out;
  out << std::fixed << std::setprecision(u == 0 ? 0 : 1) << v << " " << units[u];
  return out.str();
}

// One view: the topics and groups of `now`, with rates against `before` (if any).
std::string render(const std::string& broker, const Sample& now, const Sample* before) {
  const double seconds = before ? std::chrono::duration<double>(now.at - before->at).count() : 0;
  std::ostringstream out;
  const int64_t wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  out << "causeway top  broker " << broker << "  " << format_time_ms(wall) << "  " << now.topics.size()
      << " topic(s), " << now.groups.size() << " group(s)\n\n";
  out << std::left << std::setw(28) << "TOPIC" << std::right << std::setw(6) << "PARTS" << std::setw(14) << "END OFFSET"
      << std::setw(12) << "EVENTS/S" << std::setw(12) << "SIZE" << "\n";
  for (const auto& [name, t] : now.topics) {
    const Sample::Topic* was = nullptr;
    if (before) {
      auto it = before->topics.find(name);
      if (it != before->topics.end()) was = &it->second;
    }
    out << std::left << std::setw(28) << name << std::right << std::setw(6) << t.partitions << std::setw(14) << t.end
        << std::setw(12) << (was ? rate(t.end, was->end, seconds) : "-") << std::setw(12) << bytes_text(t.bytes) << "\n";
  }
  out << "\n"
      << std::left << std::setw(28) << "GROUP" << std::setw(20) << "TOPIC" << std::right << std::setw(8) << "MEMBERS"
      << std::setw(12) << "LAG" << std::setw(10) << "IN FLIGHT" << std::setw(12) << "ACKED/S" << "  " << std::left
      << "TARGET" << "\n";
  for (const auto& [name, g] : now.groups) {
    const Sample::Group* was = nullptr;
    if (before) {
      auto it = before->groups.find(name);
      if (it != before->groups.end()) was = &it->second;
    }
    out << std::left << std::setw(28) << name << std::setw(20) << g.topic << std::right << std::setw(8) << g.members
        << std::setw(12) << g.lag << std::setw(10) << g.in_flight << std::setw(12)
        << (was ? rate(g.committed, was->committed, seconds) : "-") << "  " << std::left << g.target << "\n";
  }
  return out.str();
}

// The terminal in a mode where single keys arrive at once and are not echoed, restored on
// every way out (return, Ctrl-C).
class RawTerminal {
 public:
  RawTerminal() {
    if (::isatty(STDIN_FILENO) != 1 || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));  // ISIG kept: Ctrl-C is SIGINT
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

// Waits up to `d` for a key; true when it was q or Q.
bool quit_key_within(std::chrono::milliseconds d) {
  const auto until = Clock::now() + d;
  while (!g_interrupted.load()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (n > 0 && (p.revents & POLLIN) != 0) {
      char c = 0;
      const ssize_t got = ::read(STDIN_FILENO, &c, 1);
      if (got == 1 && (c == 'q' || c == 'Q')) return true;
      if (got == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // stdin closed: keys never come
    }
  }
  return false;
}

int run_top(const client::ClientOptions& options, bool once, const std::string& interval_text) {
  const auto parsed = units::parse_duration(interval_text);
  const auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);  // checked by the flag
  auto admin = client::Admin::connect(options);
  if (!admin) return fail("top", admin.status());
  auto first = take_sample(**admin);
  if (!first) return fail("top", first.status());
  if (once) {
    // Rates need two looks: one interval apart.
    std::this_thread::sleep_for(interval);
    auto second = take_sample(**admin);
    if (!second) return fail("top", second.status());
    std::cout << render(options.broker, *second, &*first) << std::flush;
    return 0;
  }
  struct sigaction sa{};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  RawTerminal raw;
  std::cout << "\x1b[?25l";  // hide the cursor while redrawing
  Sample before = std::move(*first);
  std::string frame = render(options.broker, before, nullptr);
  for (;;) {
    std::cout << "\x1b[H\x1b[2J" << frame << "\n(q or Ctrl-C to quit; every " << interval_text << ")" << std::flush;
    if (quit_key_within(interval) || g_interrupted.load()) break;
    auto now = take_sample(**admin);
    if (!now) {
      std::cout << "\x1b[?25h\n" << std::flush;
      return fail("top", now.status());
    }
    frame = render(options.broker, *now, &before);
    before = std::move(*now);
  }
  std::cout << "\x1b[?25h\n" << std::flush;  // the cursor back, the shell's prompt on a new line
  return 0;
}

}  // namespace

std::function<std::optional<int>()> add_top_command(CLI::App& app, const client::ClientOptions& options) {
  auto once = std::make_shared<bool>(false);
  auto interval = std::make_shared<std::string>("1s");
  auto* top = app.add_subcommand(
      "top",
      "A live view of topics (end offsets, events/s, size) and subscription groups (members, lag, in flight, "
      "acked/s), redrawn each --interval; q or Ctrl-C quits");
  top->add_flag("--once", *once, "Print one view (rates over one --interval) and exit: for scripts");
  top->add_option("--interval", *interval, "Time between views (e.g. 500ms, 2s)")
      ->capture_default_str()
      ->check(duration_value());
  return [=, &options]() -> std::optional<int> {
    if (!top->parsed()) return std::nullopt;
    return run_top(options, *once, *interval);
  };
}

}  // namespace causeway::cli
