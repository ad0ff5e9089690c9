// A group member in a process of its own, for subscribe_test: joins SUBSCRIPTION on TOPIC
// and prints "joined MEMBER_ID" and then "event PARTITION OFFSET ATTEMPT" for every event it
// receives, never acking, until it is killed (the test kills it by its PID).
#include <cstdio>
#include <string>

#include "causeway/client/subscriber.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: subscribe_member BROKER SUBSCRIPTION TOPIC\n");
    return 2;
  }
  causeway::client::ClientOptions client;
  client.broker = argv[1];
  client.client_name = "subscribe_member";
  causeway::client::SubscriberOptions options;
  options.subscription = argv[2];
  options.topic = argv[3];
  options.max_unacked_events = 100;
  auto sub = causeway::client::Subscriber::connect(client, options);
  if (!sub) {
    std::fprintf(stderr, "subscribe failed: %s\n", sub.status().to_string().c_str());
    return 1;
  }
  std::printf("joined %s\n", (*sub)->member_id().c_str());
  std::fflush(stdout);
  for (;;) {
    auto events = (*sub)->receive(100, std::chrono::milliseconds(200));
    if (!events) return 1;
    for (const auto& e : *events) std::printf("event %u %llu %u\n", e.partition, static_cast<unsigned long long>(e.offset), e.attempt);
    std::fflush(stdout);
  }
}
