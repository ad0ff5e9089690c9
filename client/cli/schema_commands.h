// File: client/cli/schema_commands.h
//
// `causeway schema ...`: register and check (with `--reference NAME=SUBJECT:VERSION` for
// each file the schema includes), get, list, versions, referencedby, config and delete against
// the schema registry's REST API (docs/registry.md), through causeway::client::RegistryClient.
// main.cc adds them with add_schema_commands() before parsing and runs them after. Exit
// codes: 0 success (check: compatible), 1 failure (check: incompatible, with every
// violation printed), 2 bad usage.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "causeway/client/options.h"

namespace causeway::cli {

class SchemaCommands {
 public:
  virtual ~SchemaCommands() = default;
  // True if a `schema` subcommand was given on the command line (after parsing).
  virtual bool parsed() const = 0;
  // Runs the parsed subcommand; returns the process exit code. `broker` is where `schema
  // delete` looks for topics bound to the subject.
  virtual int run(const client::ClientOptions& broker) = 0;
  // The global --registry URL (after parsing; publish, fetch and subscribe use it too).
  virtual const std::string& registry_url() const = 0;
};

// Adds `schema` and its subcommands, and the global `--registry URL` option, to `app`.
std::unique_ptr<SchemaCommands> add_schema_commands(CLI::App& app);

}  // namespace causeway::cli
