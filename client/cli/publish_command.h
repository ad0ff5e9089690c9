// File: client/cli/publish_command.h
//
// `causeway publish TOPIC`: JSON lines in, one JSON outcome line per event out, in input
// order (docs/client.md, "CLI", "Publish contract"). Every line is attempted: a line that
// fails (bad JSON, a field the broker would refuse, an unknown partition, a "data" object
// that does not match the schema, or a refusal by the broker) gets an error line naming
// its input line number, the other lines are still published, and the run ends with a
// summary and exit status 1. Lines are validated before anything is sent, so a bad line
// never reaches the broker.
#pragma once

#include <string>

#include "causeway/client/options.h"

namespace causeway::cli {

struct PublishArgs {
  std::string topic;
  std::string file;        // "" or "-": stdin
  int schema_version = 0;  // 0: the subject's latest
};

// Returns the exit code: 0 when every line was stored (or was a duplicate), 1 otherwise.
int run_publish(const client::ClientOptions& options, const std::string& registry_url, const PublishArgs& args);

}  // namespace causeway::cli
