// File: client/cli/subscribe_commands.h
//
// The subscription commands of the `causeway` CLI (docs/subscriptions.md, "CLI"):
// `subscribe`, `group describe` and `subscription create|list|describe|delete`. Kept out of
// main.cc, which registers them with two lines.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "causeway/client/options.h"
#include "causeway/client/types.h"
#include "causeway/common/status.h"

namespace causeway::cli {

// Adds the subcommands to `app`. After parsing, the returned function runs the one that
// was chosen and returns its exit code, or nullopt when none of them was. `options` and
// `registry_url` (the registry that decodes payloads with a schema id) are read when the
// command runs (after --broker and --registry were parsed), so they must outlive it.
std::function<std::optional<int>()> add_subscribe_commands(CLI::App& app, const client::ClientOptions& options,
                                                           const std::string& registry_url);

// "earliest", "latest", "offset:N", "time:2024-05-01T12:00:00Z" (or with .mmm, or a
// time in ms since the epoch), "lamport:N". kInvalidArgument naming the accepted forms.
Result<client::StartPosition> parse_start_position(const std::string& text);

}  // namespace causeway::cli
