// A plain main() that feeds every file named on the command line (or every file in the
// directories named) to LLVMFuzzerTestOneInput, so a fuzz corpus replays without libFuzzer
// (FlatBuffers' tests/fuzzer does the same). Exit status 0 unless an input crashes.
//
// `--mutate N` also runs the target's own mutator (LLVMFuzzerCustomMutator and
// LLVMFuzzerCustomCrossOver when the target defines them, else the plain byte mutator of
// byte_mutator.cc) N times per input and feeds each result to the target too, so that
// ctest exercises the custom mutators under GCC's sanitizers. `--seed S` seeds it (default
// 1); the seed is printed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/byte_mutator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" __attribute__((weak)) size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                                               unsigned int seed);
extern "C" __attribute__((weak)) size_t LLVMFuzzerCustomCrossOver(const uint8_t* data1, size_t size1,
                                                                 const uint8_t* data2, size_t size2, uint8_t* out,
                                                                 size_t max_out_size, unsigned int seed);

namespace {

constexpr size_t kMaxMutatedBytes = 64u << 10;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void run(const std::string& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::filesystem::path> inputs;
  unsigned long mutations = 0;
  unsigned long long seed = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mutate") == 0 && i + 1 < argc) {
      mutations = std::strtoul(argv[++i], nullptr, 10);
      continue;
    }
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
      continue;
    }
    const std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) inputs.push_back(e.path());
    } else {
      inputs.push_back(p);
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "usage: %s [--mutate N [--seed S]] CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  std::vector<std::string> corpus;
  for (const auto& p : inputs) {
    corpus.push_back(read_file(p));
    run(corpus.back());
  }
  std::printf("replayed %zu input(s)\n", inputs.size());
  if (mutations == 0) return 0;

  std::printf("mutating: %lu per input, seed %llu\n", mutations, seed);
  causeway::fuzz::seed_byte_mutator(seed);
  unsigned int mutation_seed = static_cast<unsigned int>(seed);
  std::vector<uint8_t> buf(kMaxMutatedBytes);
  for (size_t i = 0; i < corpus.size(); ++i) {
    const std::string& original = corpus[i];
    size_t size = std::min(original.size(), buf.size());
    std::memcpy(buf.data(), original.data(), size);
    for (unsigned long m = 0; m < mutations; ++m) {
      ++mutation_seed;
      if (LLVMFuzzerCustomCrossOver && m % 8 == 7 && corpus.size() > 1) {
        const std::string& other = corpus[(i + 1 + m) % corpus.size()];
        std::vector<uint8_t> out(buf.size());
        size = LLVMFuzzerCustomCrossOver(buf.data(), size, reinterpret_cast<const uint8_t*>(other.data()),
                                         other.size(), out.data(), out.size(), mutation_seed);
        std::memcpy(buf.data(), out.data(), size);
      } else if (LLVMFuzzerCustomMutator) {
        size = LLVMFuzzerCustomMutator(buf.data(), size, buf.size(), mutation_seed);
      } else {
        size = LLVMFuzzerMutate(buf.data(), size, buf.size());
      }
      LLVMFuzzerTestOneInput(buf.data(), size);
      if (m % 16 == 15) {  // start over from the seed now and then, as a fuzzer's corpus would
        size = std::min(original.size(), buf.size());
        std::memcpy(buf.data(), original.data(), size);
      }
    }
  }
  std::printf("ran %zu mutated input(s)\n", corpus.size() * mutations);
  return 0;
}
