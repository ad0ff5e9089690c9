// File: client/cli/cli_args.cc
//
// See cli_args.h.
#include "client/cli/cli_args.h"

#include <charconv>
#include <iostream>
#include <optional>
#include <vector>

#include "causeway/common/units.h"

namespace causeway::cli {

CLI::Validator number_in_range(uint64_t min, uint64_t max) {
  const std::string range = max == UINT64_MAX ? "at least " + std::to_string(min)
                                              : std::to_string(min) + " to " + std::to_string(max);
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        uint64_t value = 0;
        const char* end = text.data() + text.size();
        // from_chars takes no sign or space; a leading '-' would otherwise read as "not a number".
        const bool digits = !text.empty() && text.front() >= '0' && text.front() <= '9';
        const auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (!digits || ec == std::errc::invalid_argument || ptr != end) {
          return "\"" + text + "\" is not a number (" + range + ")";
        }
        if (ec == std::errc::result_out_of_range || value < min || value > max) {
          return text + " is out of range (" + range + ")";
        }
        return std::string();
      },
      "NUMBER " + range);
}

CLI::Validator duration_value(std::vector<std::string> zero_words) {
  return CLI::Validator(
      [zero_words](std::string& text) -> std::string {
        for (const std::string& w : zero_words)
          if (text == w) return std::string();
        auto d = units::parse_duration(text);
        return d ? std::string() : std::string(d.error().message());
      },
      "DURATION");
}

CLI::Validator size_value() {
  return accepted_by([](const std::string& text) { return units::parse_size(text); }, "SIZE");
}

namespace {

// The deepest subcommand the parse reached (the app itself when none).
const CLI::App* deepest_parsed(const CLI::App& app) {
  const CLI::App* at = &app;
  for (;;) {
    const auto subs = at->get_subcommands();
    if (subs.empty()) return at;
    at = subs.back();
  }
}

// "causeway topic create": the root is named for the program, not for argv[0]'s path.
std::string command_path(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::App* a = app; a != nullptr && a->get_parent() != nullptr; a = a->get_parent()) {
    names.push_back(a->get_name());
  }
  std::string out = "causeway";
  for (auto it = names.rbegin(); it != names.rend(); ++it) out += " " + *it;
  return out;
}

}  // namespace

std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help: prints the help, exit 0
  } catch (const CLI::ParseError& e) {
    const CLI::App* at = deepest_parsed(app);
    std::string message = e.what();
    // "A subcommand is required" or "not expected: topc" where a command was due: name the
    // token and the commands that exist.
    if (at->get_require_subcommand_min() > 0 && at->get_subcommands().empty()) {
      std::string token;
      for (const std::string& r : app.remaining(true)) {
        if (!r.empty() && r.front() != '-') {
          token = r;
          break;
        }
      }
      std::string known;
      for (const CLI::App* sub : at->get_subcommands([](const CLI::App*) { return true; })) {
        known += (known.empty() ? "" : ", ") + sub->get_name();
      }
      message = token.empty() ? command_path(at) + " needs a command: " + known
                              : "unknown command \"" + token + "\" for " + command_path(at) + "; the commands are " +
                                    known;
    }
    std::cerr << "causeway: " << message << "\n"
              << "Run `" << command_path(at) << " --help` for usage.\n";
    return kUsageExitCode;
  }
}

namespace {
const client::TlsOptions* g_tls = nullptr;  // set once by add_tls_flags, before commands run
const std::string* g_token = nullptr;        // set once by add_token_flag, before commands run
}  // namespace

void add_tls_flags(CLI::App& app, client::TlsOptions& tls) {
  g_tls = &tls;
  app.add_flag("--tls", tls.enabled,
               "Connect to the broker with TLS, checking its certificate against the system's CAs (implied by "
               "--tls-ca, --tls-cert, --tls-key)")
      ->envname("CAUSEWAY_TLS");
  app.add_option("--tls-ca", tls.ca_file, "PEM CA certificates the broker's (and an https registry's) certificate "
                                          "must chain to; implies --tls")
      ->envname("CAUSEWAY_TLS_CA")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", tls.cert_file, "PEM client certificate, for a broker that asks for one (mTLS); with --tls-key")
      ->envname("CAUSEWAY_TLS_CERT")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", tls.key_file, "PEM private key of --tls-cert (unencrypted)")
      ->envname("CAUSEWAY_TLS_KEY")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-server-name", tls.server_name,
                 "Name the broker's certificate must carry (default: the host of --broker)")
      ->envname("CAUSEWAY_TLS_SERVER_NAME");
}


void add_token_flag(CLI::App& app, std::string& token) {
  g_token = &token;
  app.add_option("--token", token,
                 "Bearer token to authenticate with, to the broker and its registry (from `causeway auth token "
                 "create`; docs/security.md)")
      ->envname("CAUSEWAY_TOKEN");
}

client::RegistryClientOptions registry_client_options(const std::string& url) {
  client::RegistryClientOptions options;
  options.url = url;
  if (g_token != nullptr) options.token = *g_token;
  if (g_tls != nullptr) {
    options.ca_file = g_tls->ca_file;
    options.cert_file = g_tls->cert_file;
    options.key_file = g_tls->key_file;
  }
  return options;
}

}  // namespace causeway::cli
