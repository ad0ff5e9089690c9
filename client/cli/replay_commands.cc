// `causeway replay ...`; see client/cli/replay_commands.h and docs/targets.md.
#include "client/cli/replay_commands.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "causeway/client/admin.h"
#include "causeway/common/units.h"
#include "client/cli/cli_args.h"
#include "client/cli/cli_errors.h"
#include "client/cli/event_json.h"
#include "client/cli/subscribe_commands.h"

namespace causeway::cli {
namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

nlohmann::json replay_to_json(const client::ReplayInfo& r) {
  nlohmann::json parts = nlohmann::json::array();
  for (const auto& p : r.partitions) {
    parts.push_back({{"partition", p.partition},
                     {"start_offset", p.start_offset},
                     {"end_offset", p.end_offset},
                     {"next_offset", p.next_offset},
                     {"delivered", p.delivered},
                     {"dead_lettered", p.dead_lettered},
                     {"filtered", p.filtered}});
  }
  return nlohmann::json{{"name", r.name},
                        {"subscription", r.subscription},
                        {"topic", r.topic},
                        {"from", format_time_ms(r.from_ms)},
                        {"to", format_time_ms(r.to_ms)},
                        {"to_lamport", r.to_lamport == 0 ? nlohmann::json(nullptr) : nlohmann::json(r.to_lamport)},
                        {"state", r.state},
                        {"error", r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error)},
                        {"created", format_time_ms(r.created_ms)},
                        {"finished", r.finished_ms == 0 ? nlohmann::json(nullptr) : nlohmann::json(format_time_ms(r.finished_ms))},
                        {"events_in_range", r.total()},
                        {"events_done", r.done()},
                        {"delivered", r.delivered()},
                        {"dead_lettered", r.dead_lettered()},
                        {"filtered", r.filtered()},
                        {"partitions", parts}};
}

void print_replay(const client::ReplayInfo& r) {
  std::cout << "replay " << r.name << "  subscription " << r.subscription << "  topic " << r.topic << "\n"
            << "  range " << format_time_ms(r.from_ms) << " to " << format_time_ms(r.to_ms);
  if (r.to_lamport != 0) std::cout << ", lamport <= " << r.to_lamport;
  std::cout << "\n  " << progress_line(r) << "\n";
  if (!r.error.empty()) std::cout << "  " << (r.state == "failed" ? "error: " : "note: ") << r.error << "\n";
}

bool over(const client::ReplayInfo& r) { return r.state != "running"; }

// Redraws the bar until the replay is over (once a second); 0 when it completed.
int follow(client::Admin& admin, client::ReplayInfo r) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  auto last_line = std::chrono::steady_clock::now();
  for (;;) {
    if (tty) {
      std::cout << "\r" << progress_line(r) << "\x1b[K" << std::flush;
    } else if (over(r) || std::chrono::steady_clock::now() - last_line >= std::chrono::seconds(5)) {
      std::cout << progress_line(r) << "\n" << std::flush;  // a log, not a redrawn line
      last_line = std::chrono::steady_clock::now();
    }
    if (over(r)) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto next = admin.describe_replay(r.name);
    if (!next) {
      if (tty) std::cout << "\n";
      return fail("replay " + r.name, next.status());
    }
    r = std::move(*next);
  }
  if (tty) std::cout << "\n";
  if (!r.error.empty()) std::cerr << "causeway: replay " << r.name << ": " << r.error << "\n";
  return r.state == "completed" ? 0 : 1;
}

struct State {
  std::string name;
  std::string subscription;
  std::string from;
  std::string to;
  uint64_t to_lamport = 0;
  bool wait = false;
  bool watch = false;
  std::string output = "table";
};

}  // namespace

Result<int64_t> parse_replay_time(const std::string& text, int64_t now_ms) {
  if (text == "now") return now_ms;
  if (!text.empty() && text[0] == '-') {
    auto d = units::parse_duration(std::string_view(text).substr(1));
    if (!d) {
      return invalid_argument("\"" + text + "\" is not a time: after '-' comes a duration (e.g. -1h30m: 90 minutes ago): " +
                              std::string(d.error().message()));
    }
    return now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(*d).count();
  }
  auto t = parse_start_position("time:" + text);
  if (!t) {
    return invalid_argument("\"" + text +
                            "\" is not a time: give ISO 8601 UTC (2026-12-05T10:00:00Z), ms since the epoch, now, or "
                            "-DURATION (e.g. -2h: two hours ago)");
  }
  return static_cast<int64_t>(t->value);
}

std::string progress_line(const client::ReplayInfo& r, int width) {
  const uint64_t total = r.total();
  const uint64_t done = r.done();
  const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  const int filled = static_cast<int>(fraction * width);
  std::string line = "[" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.') + "] ";
  const int percent = static_cast<int>(fraction * 100);
  line += (percent < 10 ? "  " : percent < 100 ? " " : "") + std::to_string(percent) + "%  ";
  line += std::to_string(done) + "/" + std::to_string(total) + " events  " + std::to_string(r.delivered()) +
          " delivered  " + std::to_string(r.dead_lettered()) + " dead-lettered  " + std::to_string(r.filtered()) +
          " left out  " + r.state;
  return line;
}

std::function<std::optional<int>()> add_replay_commands(CLI::App& app, const client::ClientOptions& options) {
  auto st = std::make_shared<State>();
  auto* replay = app.add_subcommand(
      "replay",
      "Re-deliver a past range of a subscription's topic to its rule target (docs/targets.md, \"Archive replay\")");
  replay->require_subcommand(1);
  auto* start = replay->add_subcommand(
      "start",
      "Start a replay: the events of the subscription's topic stored from --from up to (not including) --to that its "
      "pattern matches, re-delivered to its target in order per partition, marked with a causeway-replay: NAME "
      "header (Causeway-Replay for HTTP), without moving the subscription's own position. It runs in the broker and "
      "resumes after a restart; events the target refuses go to the dead-letter topic as for the subscription");
  start->add_option("name", st->name, "Replay name: 1-249 chars of [A-Za-z0-9._-], never reused")->required();
  start->add_option("--subscription,-s", st->subscription, "A subscription with a target (topic: or http:)")->required();
  start->add_option("--from", st->from,
                    "Start of the range: ISO 8601 UTC (2026-12-05T10:00:00Z), ms since the epoch, or -DURATION "
                    "(e.g. -2h: two hours ago)")
      ->required();
  start->add_option("--to", st->to, "End of the range (not included), in the same forms or now; default now");
  start->add_option("--to-lamport", st->to_lamport, "Only events with a Lamport stamp <= L")
      ->check(number_in_range(1, UINT64_MAX));
  start->add_flag("--wait", st->wait, "Show a progress bar until the replay ends; exit 0 if it completed, 1 if not");

  auto* list = replay->add_subcommand("list", "List replays, running and finished");
  list->add_option("--subscription,-s", st->subscription, "Only those of this subscription");
  list->add_option("--output", st->output, "table or json")->capture_default_str()->check(CLI::IsMember({"table", "json"}));

  auto* describe = replay->add_subcommand("describe", "Show a replay's range, state and progress per partition");
  describe->add_option("name", st->name, "Replay name")->required();
  describe->add_option("--output", st->output, "table or json")->capture_default_str()->check(CLI::IsMember({"table", "json"}));
  describe->add_flag("--watch", st->watch, "Redraw the progress bar each second until the replay ends");

  auto* cancel = replay->add_subcommand(
      "cancel", "Stop a running replay (what it delivered stays delivered; a cancelled replay cannot be resumed)");
  cancel->add_option("name", st->name, "Replay name")->required();

  return [=, &options]() -> std::optional<int> {
    if (!replay->parsed()) return std::nullopt;
    if (start->parsed()) {
      const int64_t now = wall_ms();
      auto from = parse_replay_time(st->from, now);
      if (!from) {
        std::cerr << "causeway: replay start: --from " << from.error().message() << "\nRun `causeway replay start --help` for usage.\n";
        return kUsageExitCode;
      }
      Result<int64_t> to = st->to.empty() ? Result<int64_t>(int64_t{0}) : parse_replay_time(st->to, now);
      if (!to) {
        std::cerr << "causeway: replay start: --to " << to.error().message() << "\nRun `causeway replay start --help` for usage.\n";
        return kUsageExitCode;
      }
      if (*to != 0 && *to <= *from) {
        std::cerr << "causeway: replay start: --to (" << format_time_ms(*to) << ") must be after --from ("
                  << format_time_ms(*from) << ")\n";
        return kUsageExitCode;
      }
      auto admin = client::Admin::connect(options);
      if (!admin) return fail("replay start " + st->name, admin.status());
      client::ReplaySpec spec{st->name, st->subscription, *from, *to, st->to_lamport};
      auto r = (*admin)->start_replay(spec);
      if (!r) return fail("replay start " + st->name, r.status());
      if (st->wait) return follow(**admin, std::move(*r));
      print_replay(*r);
      std::cout << "  follow it with: causeway replay describe " << r->name << " --watch\n";
      return 0;
    }
    auto admin = client::Admin::connect(options);
    if (!admin) return fail("replay", admin.status());
    if (list->parsed()) {
      auto all = (*admin)->list_replays(st->subscription);
      if (!all) return fail("replay list", all.status());
      if (st->output == "json") {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : *all) out.push_back(replay_to_json(r));
        std::cout << to_line(out) << "\n";
        return 0;
      }
      if (all->empty()) std::cout << "no replays\n";
      for (const auto& r : *all) std::cout << r.name << "  " << r.subscription << "  " << progress_line(r, 20) << "\n";
      return 0;
    }
    if (describe->parsed()) {
      auto r = (*admin)->describe_replay(st->name);
      if (!r) return fail("replay describe " + st->name, r.status());
      if (st->watch) return follow(**admin, std::move(*r));
      if (st->output == "json") {
        std::cout << to_line(replay_to_json(*r)) << "\n";
        return 0;
      }
      print_replay(*r);
      for (const auto& p : r->partitions) {
        std::cout << "  partition " << p.partition << "  offsets " << p.start_offset << " to " << p.end_offset
                  << "  next " << p.next_offset << "  delivered " << p.delivered << "  dead-lettered " << p.dead_lettered
                  << "  left out " << p.filtered << "\n";
      }
      return 0;
    }
    if (cancel->parsed()) {
      auto r = (*admin)->cancel_replay(st->name);
      if (!r) return fail("replay cancel " + st->name, r.status());
      print_replay(*r);
      return 0;
    }
    return std::nullopt;
  };
}

}  // namespace causeway::cli
