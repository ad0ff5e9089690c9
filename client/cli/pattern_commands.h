// File: client/cli/pattern_commands.h
//
// `causeway pattern test --pattern JSON --event JSON`: EventBridge's TestEventPattern, with
// the broker's own engine (causeway::rules; docs/patterns.md). The event is given in the
// view patterns see (topic, source, type, key, headers, time, and the payload under
// "data" as a JSON object). Prints {"match":true} or {"match":false}; exits 0 on a match,
// 1 on none, 2 on an invalid pattern or event, with a message naming the bad part.
// Either value may be `@FILE` to read it from a file (`@-` reads stdin).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "causeway/common/status.h"

namespace causeway::cli {

// Adds `pattern` and its subcommands to `app`. The returned function runs the parsed
// subcommand and returns its exit code, or nullopt when none of them was given.
std::function<std::optional<int>()> add_pattern_commands(CLI::App& app);

// The text of a flag that takes JSON (--pattern, --event): the value itself, or for
// `@FILE` the file's contents (`@-`: stdin), at most 4 MiB. kInvalidArgument naming the
// flag and the file when it cannot be read or is larger.
Result<std::string> read_flag_value(const std::string& flag, const std::string& value);

}  // namespace causeway::cli
