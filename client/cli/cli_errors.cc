// File: client/cli/cli_errors.cc
//
// See cli_errors.h.
#include "client/cli/cli_errors.h"

#include <iostream>

#include "causeway/client/registry_client.h"

namespace causeway::cli {

std::string broker_hint(const Status& status) {
  if (status.reason() == Reason::kBrokerUnreachable) {
    if (status.code() == Code::kDeadlineExceeded) {
      return " — is the broker address right and reachable? (--broker HOST:PORT)";
    }
    return " — is causeway-broker running? (scripts/run starts it; --broker HOST:PORT picks another)";
  }
  if (status.reason() == Reason::kTopicNotFound) {
    return " — `causeway topic list` shows the topics; `causeway topic create NAME` makes one";
  }
  return "";
}

std::string registry_hint(const Status& status, const std::string& registry_url) {
  if (status.code() == Code::kUnavailable) {
    return " — is the registry running at " + registry_url +
           "? (causeway-broker embeds one on 127.0.0.1:8081; --registry URL picks another)";
  }
  if (status.reason() == Reason::kSubjectNotFound) {
    return " — register a schema under it with `causeway schema register SUBJECT --file F.fbs`";
  }
  if (status.reason() == Reason::kVersionNotFound) return " — `causeway schema versions SUBJECT` lists the versions";
  return "";
}

bool is_registry_failure(const Status& status) {
  return client::registry_error_code(status) != 0 || status.reason() == Reason::kRegistryUnreachable;
}

int fail(const std::string& what, const Status& status) {
  std::cerr << "causeway: " << what << ": " << status.message() << broker_hint(status) << "\n";
  return 1;
}

int fail_registry(const std::string& what, const Status& status, const std::string& registry_url) {
  std::cerr << "causeway: " << what << ": " << status.message() << registry_hint(status, registry_url) << "\n";
  return 1;
}

}  // namespace causeway::cli
