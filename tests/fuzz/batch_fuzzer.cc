// Fuzz target for the batch decoder (docs/log-format.md): any bytes must decode to verified
// batches or to a kCorruption status, never a crash, hang or out-of-bounds read.
//
// Input: log batches back to back, as a segment holds them and a FetchResponse carries
// them; each is decoded, verified and walked the way the segment reader and the client do.
// A batch that verifies must also walk to exactly record_count records at consecutive
// offsets, and one in the canonical form encode_batch writes (consecutive stamps, one time)
// must re-encode to the same bytes.
//
// The custom mutator fixes both CRC32Cs after mutating (7 times in 8), so that mutants
// reach the header and record checks behind them; without it almost every mutant stops at
// "batch header crc mismatch". One mutation in four sets a header field or record delta to
// an edge value of its type instead of mutating bytes.
//
// Built as a libFuzzer target with Clang (-DCAUSEWAY_BUILD_FUZZERS=ON) and, always, linked
// with tests/fuzz/corpus_driver.cc so that scripts/test replays the committed corpus under
// ASan+UBSan (and runs the mutator: fuzz_mutate.batch).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "causeway/common/batch_format.h"
#include "tests/fuzz/batch_crc.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using namespace causeway::batch;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "batch_fuzzer: %s\n", what);
  std::abort();
}

struct OwnedRecord {
  std::string key, dedup_key, source, type, payload;
  std::vector<std::pair<std::string, std::string>> headers;
  uint32_t schema_id = 0;
  uint64_t lamport = 0;
  int64_t time_ms = 0;
};

// Re-encodes a verified batch in the canonical form and compares the bytes.
void check_canonical_round_trip(const BatchHeader& header, std::string_view batch,
                                const std::vector<OwnedRecord>& records) {
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].lamport != header.first_lamport + i || records[i].time_ms != header.first_time_ms) return;
  }
  std::vector<std::vector<Header>> headers(records.size());
  std::vector<RecordInput> inputs(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    for (const auto& [name, value] : records[i].headers) headers[i].push_back(Header{name, value});
    inputs[i] = RecordInput{records[i].key,     records[i].dedup_key, records[i].source, records[i].type,
                            headers[i],         records[i].schema_id, records[i].payload};
  }
  std::string again;
  if (!encode_batch(inputs, header.base_offset, header.first_lamport, header.first_time_ms, again).ok())
    fail("a verified canonical batch does not re-encode");
  if (again != batch) fail("a verified canonical batch re-encodes to different bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (rest.size() >= kBatchHeaderSize) {
    auto header = decode_header(rest);
    if (!header.ok()) return 0;
    if (header->total_size() > rest.size()) return 0;
    const std::string_view batch = rest.substr(0, header->total_size());
    if (!verify_batch(*header, batch).ok()) return 0;
    std::vector<OwnedRecord> records;
    const causeway::Status walked = for_each_record(*header, batch, [&](const RecordView& r) {
      if (r.offset != header->base_offset + records.size()) fail("verified batch walks to a wrong offset");
      OwnedRecord o{std::string(r.key), std::string(r.dedup_key), std::string(r.source), std::string(r.type),
                    std::string(r.payload), {}, r.schema_id, r.lamport, r.time_ms};
      for (const Header& h : r.headers) o.headers.emplace_back(std::string(h.name), std::string(h.value));
      records.push_back(std::move(o));
      return true;
    });
    if (!walked.ok()) fail("a verified batch fails for_each_record");
    if (records.size() != header->record_count) fail("a verified batch walks to a different record count");
    check_canonical_round_trip(*header, batch, records);
    rest.remove_prefix(batch.size());
  }
  return 0;
}

namespace {

// Sets one field of the first batch's header, or one delta of its first record, to a value
// at the edge of its type: where arithmetic on decoded fields overflows (offsets + deltas,
// Lamport ranges, times + time deltas). Byte mutation alone rarely writes a whole field.
void set_edge_value(uint8_t* data, size_t size, std::minstd_rand& rng) {
  namespace hp = header_pos;
  struct Field {
    size_t at;
    size_t width;
  };
  static constexpr Field kFields[] = {
      {hp::kBodyLength, 4},   {hp::kBaseOffset, 8},  {hp::kRecordCount, 4}, {hp::kFirstLamport, 8},
      {hp::kLastLamport, 8},  {hp::kFirstTime, 8},   {hp::kLastTime, 8},
      {kBatchHeaderSize + 4, 4},  // offset_delta of the first record
      {kBatchHeaderSize + 8, 4},  // lamport_delta
      {kBatchHeaderSize + 12, 4},  // time_delta_ms
  };
  static constexpr uint64_t kEdges[] = {0,
                                        1,
                                        0x7fffffff,
                                        0x80000000,
                                        0xffffffff,
                                        uint64_t{1} << 62,
                                        (uint64_t{1} << 63) - 0x80000000,
                                        (uint64_t{1} << 63) - 1,
                                        uint64_t{1} << 63,
                                        ~uint64_t{0} - 1,
                                        ~uint64_t{0}};
  const Field f = kFields[rng() % std::size(kFields)];
  if (f.at + f.width > size) return;
  const uint64_t v = kEdges[rng() % std::size(kEdges)];
  for (size_t i = 0; i < f.width; ++i) data[f.at + i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::minstd_rand rng(seed);
  if (rng() % 4 == 0) {
    set_edge_value(data, size, rng);
  } else {
    size = LLVMFuzzerMutate(data, size, max_size);
  }
  if (rng() % 8 == 0) return size;  // now and then a bad CRC, so those paths stay covered
  if (rng() % 4 == 0) causeway::fuzz::fit_single_batch_length(data, size);
  causeway::fuzz::fix_batch_crcs(data, size);
  return size;
}
