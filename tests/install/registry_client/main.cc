// Consumer of causeway::registry_client from the installed package
// (tests/install/registry_client/CMakeLists.txt): RegistryClient links cpp-httplib
// privately, so the package must bring it along. Needs no registry: it asks a port where
// nothing listens and expects kUnavailable, also through the Publisher's SchemaIdSource.
#include <causeway/client/publisher.h>
#include <causeway/client/registry_client.h>

#include <iostream>
#include <memory>

int main() {
  causeway::client::RegistryClientOptions registry_options;
  registry_options.url = "http://127.0.0.1:1";
  auto registry = causeway::client::RegistryClient::create(registry_options);
  if (!registry.ok()) {
    std::cerr << "RegistryClient::create: " << registry.error().to_string() << "\n";
    return 1;
  }
  auto subjects = (*registry)->list_subjects();
  if (subjects.ok() || subjects.error().code() != causeway::Code::kUnavailable) {
    std::cerr << "unexpected: registry on port 1 answered or failed differently\n";
    return 1;
  }
  std::cout << "registry unreachable as expected: " << subjects.error().to_string() << "\n";

  // A RegistryClient is what PublisherOptions::registry takes.
  causeway::client::PublisherOptions publisher_options;
  publisher_options.schema_subject = "orders-value";
  publisher_options.registry = std::shared_ptr<causeway::client::RegistryClient>(std::move(*registry));
  causeway::client::ClientOptions options;
  options.broker = "127.0.0.1:1";
  auto publisher = causeway::client::Publisher::connect(options, publisher_options);
  if (publisher.ok() || publisher.error().code() != causeway::Code::kUnavailable) {
    std::cerr << "unexpected: " << (publisher.ok() ? std::string("connected") : publisher.error().to_string()) << "\n";
    return 1;
  }
  std::cout << "schema id lookup failed as expected: " << publisher.error().to_string() << "\n";
  return 0;
}
