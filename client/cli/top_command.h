// File: client/cli/top_command.h
//
// `causeway top` (docs/client.md, "causeway top"): a live view of the broker's topics (end
// offsets, append rates, bytes) and subscription groups (members, lag, in flight, ack
// rates), redrawn every --interval until `q` or Ctrl-C; `--once` prints one view for
// scripts. Built on the Admin API, so it needs only the wire port.
#pragma once

#include <functional>
#include <optional>

#include <CLI/CLI.hpp>

#include "causeway/client/options.h"

namespace causeway::cli {

// Adds `top` to `app`; the returned function runs it when it was chosen (nullopt
// otherwise). `options` is read when it runs, so it must outlive it.
std::function<std::optional<int>()> add_top_command(CLI::App& app, const client::ClientOptions& options);

}  // namespace causeway::cli
