// Record reads the delivery pump and the dead-letter path share; see coordinator_state.h.
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

#include "subscribe/coordinator_state.h"

namespace causeway::subscribe {

uint64_t record_bytes(const batch::RecordView& r) {
  uint64_t n = r.key.size() + r.dedup_key.size() + r.source.size() + r.type.size() + r.payload.size() + 48;
  for (const auto& h : r.headers) n += h.name.size() + h.value.size() + 8;
  return n;
}

OwnedRecord OwnedRecord::copy_of(const batch::RecordView& r) {
  size_t n = r.key.size() + r.dedup_key.size() + r.source.size() + r.type.size() + r.payload.size();
  for (const auto& h : r.headers) n += h.name.size() + h.value.size();
  OwnedRecord o;
  o.bytes = std::make_unique_for_overwrite<char[]>(std::max<size_t>(n, 1));
  char* p = o.bytes.get();
  const auto put = [&p](std::string_view s) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    const std::string_view kept(p, s.size());
    p += s.size();
    return kept;
  };
  o.view.offset = r.offset;
  o.view.lamport = r.lamport;
  o.view.time_ms = r.time_ms;
  o.view.schema_id = r.schema_id;
  o.view.key = put(r.key);
  o.view.dedup_key = put(r.dedup_key);
  o.view.source = put(r.source);
  o.view.type = put(r.type);
  o.view.headers.reserve(r.headers.size());
  for (const auto& h : r.headers) o.view.headers.push_back(batch::Header{put(h.name), put(h.value)});
  o.view.payload = put(r.payload);
  return o;
}

Result<OwnedRecord> read_record(const storage::PartitionLog& log, uint64_t offset) {
  CAUSEWAY_ASSIGN_OR_RETURN(const storage::ReadResult read, log.read(offset, 1, 1));  // the batch holding it
  std::optional<OwnedRecord> found;
  CAUSEWAY_RETURN_IF_ERROR(storage::for_each_record_from(read, offset, [&](const batch::RecordView& rec) {
    if (rec.offset == offset) found = OwnedRecord::copy_of(rec);
    return false;  // the first record at or above `offset` decides
  }));
  if (!found) return not_found("offset " + std::to_string(offset) + " is not in the log (a gap, or past its end)");
  return std::move(*found);
}

Status read_retries(const storage::PartitionLog& log, const std::vector<uint64_t>& offsets, uint64_t max_bytes,
                    std::vector<OwnedRecord>& out) {
  uint64_t copied = 0;
  size_t next = 0;
  while (next < offsets.size() && (out.empty() || copied < max_bytes)) {
    auto read = log.read(offsets[next], 1, 1);  // the batch holding offsets[next]
    if (!read) return read.error();
    if (read->batches.empty()) return Status();  // at or past the end: nothing to redeliver
    const uint64_t batch_end = read->batches.back().header.next_offset();
    CAUSEWAY_RETURN_IF_ERROR(
        storage::for_each_record_from(*read, offsets[next], [&](const batch::RecordView& rec) {
          while (next < offsets.size() && offsets[next] < rec.offset) ++next;  // not in the log
          if (next == offsets.size()) return false;
          if (rec.offset != offsets[next]) return true;
          out.push_back(OwnedRecord::copy_of(rec));
          copied += record_bytes(rec);
          ++next;
          return copied < max_bytes;
        }));
    // Whatever this batch did not hold (or the byte bound left) is not read again now.
    if (copied >= max_bytes) break;
    while (next < offsets.size() && offsets[next] < batch_end) ++next;
  }
  return Status();
}

}  // namespace causeway::subscribe
