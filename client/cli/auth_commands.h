// File: client/cli/auth_commands.h
//
// `causeway auth token create|list|revoke`, `causeway auth whoami` and `causeway acl
// add|remove|list` (docs/security.md, "Tokens and ACLs"). Kept out of main.cc, which
// registers them with two lines.
#pragma once

#include <functional>
#include <optional>

#include <CLI/CLI.hpp>

#include "causeway/client/options.h"

namespace causeway::cli {

// Adds the subcommands to `app`. After parsing, the returned function runs the one that was
// chosen and returns its exit code, or nullopt when none of them was. `options` is read when
// the command runs, so it must outlive it.
std::function<std::optional<int>()> add_auth_commands(CLI::App& app, const client::ClientOptions& options);

}  // namespace causeway::cli
