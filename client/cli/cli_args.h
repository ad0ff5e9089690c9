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
#include <vector>

#include <CLI/CLI.hpp>

#include "causeway/client/options.h"
#include "causeway/client/registry_client.h"

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
// Accepts what causeway::units::parse_duration does (250ms, 30s, 1h30m, 7d), and with
// `zero_words` also "0" and those words (e.g. "forever", "none"); otherwise its message,
// e.g. `invalid duration "5": missing unit`. So a bad duration is bad usage (exit 2).
CLI::Validator duration_value(std::vector<std::string> zero_words = {});
// Accepts what causeway::units::parse_size does (64KiB, 10GB, 4096).
CLI::Validator size_value();
// Accepts what `parse` accepts (a function from the text to a Result); otherwise its
// error's message. `name` is the value's placeholder in --help (e.g. "POSITION").
template <typename Parse>
CLI::Validator accepted_by(Parse parse, std::string name) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        auto r = parse(text);
        return r ? std::string() : std::string(r.error().message());
      },
      std::move(name));
}

std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv);

// The global TLS flags --tls, --tls-ca, --tls-cert, --tls-key, --tls-server-name (and their
// CAUSEWAY_TLS_* environment variables) into `tls`, which must outlive the command. They
// apply to the broker connection and to an https:// registry (registry_client_options).
void add_tls_flags(CLI::App& app, client::TlsOptions& tls);
// The global --token (CAUSEWAY_TOKEN) into `token`, which must outlive the command. It
// authenticates to the broker and, as `Authorization: Bearer`, to its registry.
void add_token_flag(CLI::App& app, std::string& token);
// Options for a RegistryClient of `url`, with the CA and client certificate of the TLS
// flags when add_tls_flags was called, and the token of add_token_flag.
client::RegistryClientOptions registry_client_options(const std::string& url);

}  // namespace causeway::cli
