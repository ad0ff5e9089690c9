// Opening segments: the recovery scan of the active segment and the checks on sealed ones.
// The rules are docs/log-format.md, "Recovery"; the shape follows redpanda's
// storage/log_replayer.cc: each batch that checks out advances (next_offset, truncate
// position) and enters a fresh index; the first one that does not ends the scan.
#include <algorithm>
#include <limits>

#include "causeway/common/coding.h"
#include "storage/segment.h"

namespace causeway::storage {

Result<uint64_t> Segment::scan_from(uint64_t from, std::optional<ScanStop>& stop) {
  CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t file_size, file_->size());
  uint64_t pos = from;
  std::string buf;
  char header_buf[batch::kBatchHeaderSize];
  const auto stop_at = [&](std::string reason, bool torn) {
    stop = ScanStop{pos, file_size, std::move(reason), torn};
    return pos;
  };
  while (pos < file_size) {
    if (file_size - pos < batch::kBatchHeaderSize) return stop_at("short batch header", true);
    CAUSEWAY_ASSIGN_OR_RETURN(const size_t n, file_->read_at(pos, batch::kBatchHeaderSize, header_buf));
    if (n != batch::kBatchHeaderSize) return stop_at("short batch header", true);
    auto header = batch::decode_header(std::string_view(header_buf, batch::kBatchHeaderSize));
    if (!header) return stop_at(std::string(header.error().message()), false);
    if (header->total_size() > file_size - pos) return stop_at("short batch body", true);
    if (header->base_offset != next_offset_)
      return stop_at("batch base offset " + std::to_string(header->base_offset) + " where " +
                         std::to_string(next_offset_) + " was expected",
                     false);
    if (next_offset_ != base_offset_ && header->first_lamport <= last_lamport_)
      return stop_at("batch lamport " + std::to_string(header->first_lamport) +
                         " does not increase past " + std::to_string(last_lamport_),
                     false);
    if (pos + header->total_size() > std::numeric_limits<uint32_t>::max())
      return stop_at("batch beyond 4 GiB segment limit", false);
    buf.resize(header->total_size());
    CAUSEWAY_ASSIGN_OR_RETURN(const size_t got, file_->read_at(pos, buf.size(), buf.data()));
    if (got != buf.size()) return stop_at("short batch body", true);
    Status s = batch::verify_batch(*header, buf);
    if (!s.ok()) return stop_at(std::string(s.message()), false);
    track_batch(*header, pos);
    pos += header->total_size();
  }
  return pos;
}

Result<bool> Segment::zeros_from(uint64_t from, uint64_t to) const {
  std::string buf(std::min<uint64_t>(to - from, 64u << 10), '\0');
  for (uint64_t pos = from; pos < to;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), to - pos));
    CAUSEWAY_ASSIGN_OR_RETURN(const size_t got, file_->read_at(pos, want, buf.data()));
    if (got != want) return false;  // the file shrank under us: not ours to call zeros
    if (std::any_of(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(got), [](char c) { return c != 0; }))
      return false;
    pos += got;
  }
  return true;
}

Result<std::unique_ptr<Segment>> Segment::recover(FileSystem* fs, const std::string& dir,
                                                  uint64_t base_offset, uint32_t index_interval_bytes,
                                                  std::optional<ScanStop>* stop, FileCache* cache) {
  const std::string path = dir + "/" + segment_file_stem(base_offset) + ".log";
  CAUSEWAY_ASSIGN_OR_RETURN(auto file, fs->open(path, OpenMode::kReadWrite));
  std::unique_ptr<Segment> seg(new Segment(fs, dir, base_offset, index_interval_bytes, std::move(file), cache));
  std::optional<ScanStop> local_stop;
  CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t valid_end, seg->scan_from(0, local_stop));
  if (local_stop) {
    CAUSEWAY_ASSIGN_OR_RETURN(const bool zero_tail, seg->zeros_from(valid_end, local_stop->file_size));
    if (zero_tail) {
      // Preallocated space after the last batch (a crash before an orderly close trimmed
      // it): zeros were never a batch, so nothing is cut and nothing reported. The next
      // append writes at valid_end, into the same space.
      seg->allocated_ = local_stop->file_size;
      local_stop.reset();
    } else {
      CAUSEWAY_RETURN_IF_ERROR(seg->file_->truncate(valid_end));
      CAUSEWAY_RETURN_IF_ERROR(seg->file_->sync());
    }
  }
  seg->size_ = valid_end;
  if (stop) *stop = std::move(local_stop);
  return seg;
}

Status Segment::load_indexes() {
  const std::string stem = dir_ + "/" + segment_file_stem(base_offset_);
  // An index larger than this cannot describe a 4 GiB segment with a sane interval.
  constexpr size_t kMaxIndexBytes = 512u << 20;
  CAUSEWAY_ASSIGN_OR_RETURN(const std::string idx, read_file(fs_, stem + ".index", kMaxIndexBytes));
  CAUSEWAY_ASSIGN_OR_RETURN(const std::string tidx, read_file(fs_, stem + ".timeindex", kMaxIndexBytes));
  if (idx.empty() || idx.size() % kOffsetIndexEntrySize != 0 || tidx.size() % kTimeIndexEntrySize != 0 ||
      idx.size() / kOffsetIndexEntrySize != tidx.size() / kTimeIndexEntrySize)
    return corruption("index sizes do not match their entry sizes");
  std::vector<OffsetIndexEntry> offsets;
  std::vector<TimeIndexEntry> times;
  const size_t count = idx.size() / kOffsetIndexEntrySize;
  for (size_t i = 0; i < count; ++i) {
    const char* p = idx.data() + i * kOffsetIndexEntrySize;
    const char* t = tidx.data() + i * kTimeIndexEntrySize;
    OffsetIndexEntry o{coding::decode_fixed32(p), coding::decode_fixed32(p + 4)};
    TimeIndexEntry te{static_cast<int64_t>(coding::decode_fixed64(t)), coding::decode_fixed64(t + 8),
                      coding::decode_fixed32(t + 16), coding::decode_fixed32(t + 20)};
    if (te.relative_offset != o.relative_offset || te.position != o.position)
      return corruption("offset and time index disagree at entry " + std::to_string(i));
    if (i == 0 ? (o.position != 0 || o.relative_offset != 0)
               : (o.position <= offsets.back().position || o.relative_offset <= offsets.back().relative_offset ||
                  te.first_lamport <= times.back().first_lamport ||
                  te.max_time_before_ms < times.back().max_time_before_ms))
      return corruption("index entries out of order at entry " + std::to_string(i));
    offsets.push_back(o);
    times.push_back(te);
  }
  CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t file_size, file_->size());
  if (offsets.back().position >= file_size) return corruption("index points past the end of the log");

  // The first batch gives the segment's first time and Lamport stamp.
  char header_buf[batch::kBatchHeaderSize];
  CAUSEWAY_ASSIGN_OR_RETURN(const size_t n, file_->read_at(0, batch::kBatchHeaderSize, header_buf));
  if (n != batch::kBatchHeaderSize) return corruption("short first batch");
  CAUSEWAY_ASSIGN_OR_RETURN(const batch::BatchHeader first, batch::decode_header(std::string_view(header_buf, n)));
  if (first.base_offset != base_offset_) return corruption("first batch does not start at the base offset");

  offset_index_ = std::move(offsets);
  time_index_ = std::move(times);
  first_time_ms_ = first.first_time_ms;
  first_lamport_ = first.first_lamport;
  // State as it was just before the last indexed batch; the tail scan re-reads from there.
  next_offset_ = base_offset_ + offset_index_.back().relative_offset;
  size_ = offset_index_.back().position;
  last_indexed_position_ = offset_index_.back().position;
  max_time_ms_ = time_index_.back().max_time_before_ms;
  last_lamport_ = time_index_.back().first_lamport - 1;
  return Status();
}

Result<std::unique_ptr<Segment>> Segment::open_sealed(FileSystem* fs, const std::string& dir,
                                                      uint64_t base_offset, uint32_t index_interval_bytes,
                                                      bool* rebuilt_index, FileCache* cache) {
  const std::string path = dir + "/" + segment_file_stem(base_offset) + ".log";
  // Read-only: a sealed segment is never written again (the cache keeps this handle).
  CAUSEWAY_ASSIGN_OR_RETURN(auto file, fs->open(path, OpenMode::kReadOnly));
  std::unique_ptr<Segment> seg(new Segment(fs, dir, base_offset, index_interval_bytes, std::move(file), cache));
  uint64_t scan_start = 0;
  Status loaded = seg->load_indexes();
  if (loaded.ok()) {
    scan_start = seg->size_;
  } else {
    // Hints only: start over and rebuild from the log itself.
    std::shared_ptr<File> f = std::move(seg->file_);
    seg.reset(new Segment(fs, dir, base_offset, index_interval_bytes, std::move(f), cache));
  }
  if (rebuilt_index) *rebuilt_index = !loaded.ok();
  std::optional<ScanStop> stop;
  CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t end, seg->scan_from(scan_start, stop));
  if (stop)
    return corruption("sealed segment " + path + " is damaged at byte " + std::to_string(stop->position) +
                      ": " + stop->reason + " (sealed segments are synced before sealing, so this is "
                      "not a torn write; restore the file or move it aside to accept the loss)");
  if (seg->empty()) return corruption("sealed segment " + path + " holds no batches");
  seg->size_ = end;
  seg->sealed_ = true;
  seg->may_hold_dedup_keys_ = !fs->exists(dir + "/" + segment_file_stem(base_offset) + ".nokeys");
  if (!loaded.ok()) CAUSEWAY_RETURN_IF_ERROR(seg->write_index_files());
  seg->hand_descriptor_to_cache();
  return seg;
}

}  // namespace causeway::storage
