// File: tests/fuzz/fuzz_broker.h
//
// An in-process broker for the server frame fuzz target and for making seed corpora: the
// real EventStore, PublishPipeline (with the embedded registry's schema checker),
// subscription Coordinator and request handlers, driven the way a broker Session drives
// them (server/handlers.h: check_frame_length, verify_request_frame, handle_hello, dispatch)
// but without a socket or threads: storage syncs run on the calling thread and the
// coordinator's delivery work is queued and run after each request.
//
// Every frame the broker sends back is checked as a client would read it (an oracle, not
// only "no crash"): the length prefix, FlatBuffers verification, the request's correlation
// id and the matching response type (or ErrorResponse with an error status), exactly one
// response per request, one ack per event in a successful PublishResponse, log batches of
// a successful FetchResponse that verify, and Delivery pushes with correlation id 0. A
// violation prints what and aborts.
//
// State between connections: a base of three topics, "orders" (3 partitions), "bound" (1
// partition, bound to registry subject "orders-value" with full payload validation; schema
// kOrderSchema, id 1) and "features" (the same with subject "features-value"; schema
// kFeaturesSchema, id 2: a union, a nested FlatBuffer, a FlexBuffer; the registry refuses
// vectors of unions). A connection that changed anything is followed by a reset to that
// base (all subscriptions and topics deleted, the three recreated), so each input starts
// from the same topics; only the Lamport clock and ids keep growing.
//
// The broker's log is off unless CAUSEWAY_FUZZ_LOG names a spdlog level. Data lives under
// /dev/shm when it exists (fdatasync costs nothing there). Not
// thread-safe: one instance per process (instance()).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace causeway::fuzz {

inline constexpr const char* kOrderSchema =
    "namespace shop;\n"
    "enum Channel : byte { Web, Store }\n"
    "struct Money { units:long; nanos:int; }\n"
    "table Item { sku:string; qty:uint = 1; }\n"
    "table Order { id:ulong; total:Money; items:[Item]; channel:Channel; note:string; ratio:double; }\n"
    "root_type Order;\n";
inline constexpr const char* kFeaturesSchema =
    "namespace fx;\n"
    "table A { x:int; }\n"
    "table B { s:string; }\n"
    "union U { A, B }\n"
    "table Inner { v:[long]; }\n"
    "table F { u:U; nested:[ubyte] (nested_flatbuffer: \"Inner\"); flex:[ubyte] (flexbuffer); }\n"
    "root_type F;\n";

class FuzzBroker {
 public:
  static constexpr uint32_t kMaxFrameBytes = 1u << 20;

  static FuzzBroker& instance();
  ~FuzzBroker();

  // Runs `stream` (frames as a client sends them: u32 LE length + Message each) as one
  // connection, until it ends or the broker would close the connection. Returns every frame
  // the broker sent, in order (length prefixes included).
  //
  // A request whose member_id starts with '$' (Heartbeat, LeaveGroup, Ack, Nack, Credit,
  // ExtendDeadline) is sent with the member id of a join made earlier on this connection
  // instead ("$" or "$0": the first, "$1" the second, ...), as a real client echoes the id
  // the broker gave it; the fuzzer cannot guess ids that hold a random instance prefix.
  std::string run_connection(std::string_view stream);

 private:
  FuzzBroker();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway::fuzz
