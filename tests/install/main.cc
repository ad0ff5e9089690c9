// Consumer of the installed package (tests/install/CMakeLists.txt): compiles against the
// public headers and links causeway::client alone, without Asio, FlatBuffers or
// cpp-httplib. Running it needs no broker: it connects to a port where nothing listens and
// expects kUnavailable.
#include <causeway/client/admin.h>
#include <causeway/client/publisher.h>
#include <causeway/client/subscriber.h>

#include <iostream>

int main() {
  causeway::client::ClientOptions options;
  options.broker = "127.0.0.1:1";  // nothing listens on port 1
  options.client_name = "install-consumer";
  options.connect_timeout = std::chrono::milliseconds(2000);
  causeway::client::PublisherOptions publisher_options;
  publisher_options.auto_dedup_keys = true;
  publisher_options.when_full = causeway::client::WhenFull::kFail;
  publisher_options.on_connection_state = [](causeway::client::ConnectionState state) {
    std::cout << "state: " << causeway::client::connection_state_name(state) << "\n";
  };
  auto publisher = causeway::client::Publisher::connect(options, publisher_options);
  if (publisher.ok()) {
    std::cerr << "unexpected: connected to port 1\n";
    return 1;
  }
  std::cout << "connect failed as expected: " << publisher.error().to_string() << "\n";
  return publisher.error().code() == causeway::Code::kUnavailable ||
                 publisher.error().code() == causeway::Code::kDeadlineExceeded
             ? 0
             : 1;
}
