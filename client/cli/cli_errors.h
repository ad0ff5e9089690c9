// File: client/cli/cli_errors.h
//
// How the `causeway` commands report a failed operation: "causeway: WHAT: MESSAGE — HINT"
// on stderr, where the hint says what to do next for the common cases (broker not
// running, unknown topic, registry unreachable, unknown subject), and exit status 1.
#pragma once

#include <string>

#include "causeway/common/status.h"

namespace causeway::cli {

// What to do next about a broker-side failure ("" when there is nothing useful to add),
// starting with " — ".
std::string broker_hint(const Status& status);
// The same for a failure that came from the schema registry at `registry_url`.
std::string registry_hint(const Status& status, const std::string& registry_url);
// True if `status` came from the schema registry (a registry error code, or the registry
// could not be reached).
bool is_registry_failure(const Status& status);

// Print "causeway: WHAT: MESSAGE<hint>" and return 1.
int fail(const std::string& what, const Status& status);
int fail_registry(const std::string& what, const Status& status, const std::string& registry_url);

}  // namespace causeway::cli
