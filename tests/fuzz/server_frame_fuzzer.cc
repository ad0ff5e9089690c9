// Fuzz target for wire frames as the broker decodes and answers them (docs/wire-protocol.md):
// the frame length bound, FlatBuffers verification, the Hello exchange and every request
// handler (topics, publish with the embedded registry's schema checks, fetch, the subscribe
// family with deliveries), through tests/fuzz/fuzz_broker.h, which also checks every frame
// the broker sends back as a client would read it.
//
// Input: what a client writes on one connection, frames back to back (u32 LE length +
// Message); the first must be a Hello, as on a real connection. The custom mutator is
// structure-aware (tests/fuzz/frame_mutator.h): it mutates Messages field by field through
// the protocol schema, not only bytes.
//
// Built as a libFuzzer target with Clang (-DCAUSEWAY_BUILD_FUZZERS=ON) and, always, linked
// with corpus_driver.cc so that ctest replays corpus/server_frame (fuzz_corpus.server_frame)
// and runs the mutator (fuzz_mutate.server_frame).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/frame_mutator.h"
#include "tests/fuzz/fuzz_broker.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  causeway::fuzz::FuzzBroker::instance().run_connection(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return causeway::fuzz::FrameMutator::instance().mutate(data, size, max_size, seed);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* data1, size_t size1, const uint8_t* data2, size_t size2,
                                            uint8_t* out, size_t max_out_size, unsigned int seed) {
  return causeway::fuzz::FrameMutator::instance().cross_over(data1, size1, data2, size2, out, max_out_size, seed);
}
