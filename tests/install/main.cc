// Consumer of the installed package (tests/install/CMakeLists.txt): compiles against the
// public headers and links causeway::client without Asio or FlatBuffers. Running it needs no
// broker or registry: it connects to ports where nothing listens and expects kUnavailable.
#include <causeway/client/admin.h>
#include <causeway/client/publisher.h>
#include <causeway/client/registry_client.h>

#include <iostream>

int main() {
  causeway::client::ClientOptions options;
  options.broker = "127.0.0.1:1";  // nothing listens on port 1
  options.client_name = "install-consumer";
  options.connect_timeout = std::chrono::milliseconds(2000);
  causeway::client::PublisherOptions publisher_options;
  publisher_options.auto_dedup_keys = true;
  auto publisher = causeway::client::Publisher::connect(options, publisher_options);
  if (publisher.ok()) {
    std::cerr << "unexpected: connected to port 1\n";
    return 1;
  }
  std::cout << "connect failed as expected: " << publisher.error().to_string() << "\n";

  // RegistryClient links cpp-httplib privately; the package must bring it along.
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
  return publisher.error().code() == causeway::Code::kUnavailable ||
                 publisher.error().code() == causeway::Code::kDeadlineExceeded
             ? 0
             : 1;
}
