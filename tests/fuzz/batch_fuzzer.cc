// Fuzz target for the batch decoder (docs/log-format.md): any bytes must decode to a
// verified batch or to a kCorruption status, never a crash, hang or out-of-bounds read.
// Built as a libFuzzer target with Clang (-DCAUSEWAY_BUILD_FUZZERS=ON) and, always, linked
// with tests/fuzz/corpus_driver.cc so that scripts/test replays the committed corpus under
// ASan+UBSan.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "causeway/common/batch_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace causeway::storage;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto header = decode_header(bytes);
  if (!header.ok()) return 0;
  if (header->total_size() > bytes.size()) return 0;
  if (!verify_batch(*header, bytes).ok()) return 0;
  uint64_t count = 0;
  (void)for_each_record(*header, bytes, [&](const RecordView& r) {
    count += r.payload.size() + r.headers.size();
    return true;
  });
  return 0;
}
