// Helpers shared by the storage tests: temp dirs, byte surgery on files, sample records.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "causeway/common/batch_format.h"
#include "tests/support/temp_dir.h"

namespace causeway::storage::testing {

using causeway::testing::TempDir;

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
inline void shrink_file(const std::string& path, uint64_t size) { std::filesystem::resize_file(path, size); }
inline void increment_byte(const std::string& path, uint64_t pos) {
  std::string b = read_all(path);
  b[pos] = static_cast<char>(b[pos] + 1);
  write_all(path, b);
}

// Owns the strings a batch::RecordInput points into.
struct SampleRecord {
  std::string key, dedup_key, source, type, payload;
  std::vector<std::string> header_names, header_values;
  std::vector<batch::Header> headers;
  uint32_t schema_id = 0;

  batch::RecordInput input() {
    headers.clear();
    for (size_t i = 0; i < header_names.size(); ++i) headers.push_back({header_names[i], header_values[i]});
    return batch::RecordInput{key, dedup_key, source, type, headers, schema_id, payload};
  }
};

inline SampleRecord sample_record(uint64_t i, size_t payload_bytes = 16) {
  SampleRecord r;
  r.key = "key-" + std::to_string(i % 7);
  r.dedup_key = "dedup-" + std::to_string(i);
  r.source = "orders";
  r.type = "OrderPlaced";
  r.header_names = {"trace"};
  r.header_values = {"t-" + std::to_string(i)};
  r.schema_id = static_cast<uint32_t>(i % 3);
  r.payload = std::string(payload_bytes, static_cast<char>('a' + i % 26));
  r.payload.replace(0, std::min(payload_bytes, std::to_string(i).size()), std::to_string(i).substr(0, payload_bytes));
  return r;
}

}  // namespace causeway::storage::testing
