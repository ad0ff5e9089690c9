// File: tests/fuzz/byte_mutator.h
//
// A plain byte mutator with libFuzzer's LLVMFuzzerMutate signature, for the programs that
// run our custom mutators without libFuzzer: the corpus driver's --mutate mode (ctest runs
// each target's mutator under GCC's ASan+UBSan) and the black-box frame fuzzer against the
// real daemon (tests/integration/frame_fuzz_test.cc). Inside a libFuzzer binary the real
// LLVMFuzzerMutate is used instead; byte_mutator.cc is not linked there.
//
// Deterministic for a given seed (seed_byte_mutator), so a failure replays. Not
// thread-safe: one mutating thread per process.
#pragma once

#include <cstddef>
#include <cstdint>

namespace causeway::fuzz {

void seed_byte_mutator(uint64_t seed);

}  // namespace causeway::fuzz

// libFuzzer's contract: mutates data[0, size) in place into at most max_size bytes and
// returns the new size (never 0 when max_size > 0).
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);
