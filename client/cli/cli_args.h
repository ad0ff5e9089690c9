// File: client/cli/cli_args.h
//
// Command-line parsing shared by the `causeway` commands: a number validator whose message
// says what is wrong with the value, and the handling of parse errors, which exit with
// status 2 (as the daemons do and the README promises) instead of CLI11's own codes
// (105, 106, 109, ...), naming the token that was not understood.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace causeway::cli {

// The process exit code for bad usage.
constexpr int kUsageExitCode = 2;

// Accepts a whole decimal number in [min, max]; otherwise the message says `"abc" is not a
// number` or `5000 is out of range (1 to 1000)`. CLI11 runs validators on the text before
// converting it, so this message replaces its "Could not convert".
CLI::Validator number_in_range(uint64_t min, uint64_t max);

// Parses argv into `app`. Returns nullopt when the command should run; otherwise the exit
// code: 0 after --help, kUsageExitCode after a parse error, with a message on stderr that
// names the token (an unknown command lists the known ones) and where --help is.
std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv);

}  // namespace causeway::cli
