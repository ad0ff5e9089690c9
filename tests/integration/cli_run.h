// Runs the real `causeway` CLI binary (CAUSEWAY_CLI_BINARY, defined by the test target) as a
// child process and collects its exit code and output, for the CLI integration tests.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/daemon_process.h"

#ifndef CAUSEWAY_CLI_BINARY
#error "CAUSEWAY_CLI_BINARY must name the causeway CLI binary (see tests/integration/CMakeLists.txt)"
#endif

namespace causeway::testing {

struct CliRun {
  int exit_code = -1;  // -1: did not exit normally within the deadline
  std::string output;  // stdout and stderr together
  // The lines of output that are JSON objects (events, acks, descriptions), in order.
  std::vector<nlohmann::json> objects() const {
    std::vector<nlohmann::json> out;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line.front() != '{') continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
  }
};

inline CliRun run_cli(const std::vector<std::string>& args) {
  DaemonProcess p(CAUSEWAY_CLI_BINARY, args);
  auto status = p.wait_exit(std::chrono::seconds(60));
  CliRun r;
  r.output = p.output();
  if (status && WIFEXITED(*status)) r.exit_code = WEXITSTATUS(*status);
  return r;
}

}  // namespace causeway::testing
