// File: client/cli/replay_commands.h
//
// `causeway replay start|list|describe|cancel` (docs/targets.md, "Archive replay"): re-deliver a
// past range of a subscription's topic to its rule target, and follow it with a progress bar.
// Kept out of main.cc, which registers them with two lines.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "causeway/client/options.h"
#include "causeway/client/types.h"
#include "causeway/common/status.h"

namespace causeway::cli {

// Adds the subcommands to `app`. After parsing, the returned function runs the one that
// was chosen and returns its exit code, or nullopt when none of them was. `options` is
// read when the command runs, so it must outlive it.
std::function<std::optional<int>()> add_replay_commands(CLI::App& app, const client::ClientOptions& options);

// A replay's time bound: ISO 8601 ("2026-12-05T10:00:00Z", with optional .mmm), ms since
// the epoch, "now", or "-DURATION" (that long before `now_ms`, e.g. -1h30m). In ms since the
// epoch; kInvalidArgument naming the accepted forms.
Result<int64_t> parse_replay_time(const std::string& text, int64_t now_ms);

// "[#########...........]  45%  4500/10000 events  4000 delivered  0 dead-lettered  500 left out  running",
// `width` characters of bar.
std::string progress_line(const client::ReplayInfo& replay, int width = 30);

}  // namespace causeway::cli
