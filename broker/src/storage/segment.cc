// Segment appends, sealing, index lookups and reads; the format is docs/log-format.md.
// Opening and recovery scans live in recovery.cc.
#include "storage/segment.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

#include "causeway/common/coding.h"

namespace causeway::storage {

std::string segment_file_stem(uint64_t base_offset) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020" PRIu64, base_offset);
  return buf;
}

std::optional<uint64_t> parse_segment_stem(std::string_view stem) {
  if (stem.size() != 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : stem) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

Segment::Segment(FileSystem* fs, std::string dir, uint64_t base_offset, uint32_t index_interval_bytes,
                 std::shared_ptr<File> file, FileCache* cache)
    : fs_(fs),
      dir_(std::move(dir)),
      log_path_(dir_ + "/" + segment_file_stem(base_offset) + ".log"),
      base_offset_(base_offset),
      index_interval_bytes_(index_interval_bytes),
      cache_(cache),
      file_(std::move(file)),
      next_offset_(base_offset),
      max_time_ms_(std::numeric_limits<int64_t>::min()),
      first_time_ms_(std::numeric_limits<int64_t>::min()) {}

Segment::~Segment() {
  // Best effort: whatever was deferred and acknowledged is in the sync journal as well,
  // which is kept unless a checkpoint flushed every segment holding such bytes.
  if (holds_unwritten()) {
    if (Status s = flush(); !s.ok())
      spdlog::error("could not write the last appends of {} ({}); the sync journal has them", log_path_, s.to_string());
  }
  if (cache_ && !holds_descriptor()) cache_->erase(cache_key_);
}

std::shared_ptr<File> Segment::own_file() const {
  std::lock_guard lk(file_mu_);
  return file_;
}

bool Segment::holds_descriptor() const { return own_file() != nullptr; }

Result<std::shared_ptr<File>> Segment::file_for_read() const {
  if (std::shared_ptr<File> f = own_file()) return f;
  const auto gone = [&] {
    return out_of_range("segment " + log_path_ + " was deleted while it was read (retention, or its topic)");
  };
  if (removed_.load()) return gone();
  Result<std::shared_ptr<File>> f = cache_->get(cache_key_, log_path_);
  // Checked again after the open: one that raced the deletion failed, or found a new file
  // at the same path (its topic created again).
  if (removed_.load()) {
    cache_->erase(cache_key_);
    return gone();
  }
  return f;
}

void Segment::hand_descriptor_to_cache() {
  if (!cache_) return;
  std::shared_ptr<File> f;
  {
    std::lock_guard lk(file_mu_);
    f = std::move(file_);
  }
  cache_->put(cache_key_, std::move(f));
}

Result<std::unique_ptr<Segment>> Segment::create(FileSystem* fs, const std::string& dir,
                                                 uint64_t base_offset, uint32_t index_interval_bytes,
                                                 FileCache* cache) {
  const std::string path = dir + "/" + segment_file_stem(base_offset) + ".log";
  CAUSEWAY_ASSIGN_OR_RETURN(auto file, fs->open(path, OpenMode::kCreateNew));
  CAUSEWAY_RETURN_IF_ERROR(fs->sync_dir(dir));
  std::unique_ptr<Segment> seg(new Segment(fs, dir, base_offset, index_interval_bytes, std::move(file), cache));
  seg->may_hold_dedup_keys_ = false;  // new and empty: its appends say otherwise
  return seg;
}

void Segment::track_batch(const batch::BatchHeader& h, uint64_t position) {
  if (offset_index_.empty() || position - last_indexed_position_ >= index_interval_bytes_) {
    const auto rel = static_cast<uint32_t>(h.base_offset - base_offset_);
    const auto pos = static_cast<uint32_t>(position);
    offset_index_.push_back({rel, pos});
    time_index_.push_back({max_time_ms_, h.first_lamport, rel, pos});
    last_indexed_position_ = position;
  }
  if (next_offset_ == base_offset_) {
    first_time_ms_ = h.first_time_ms;
    first_lamport_ = h.first_lamport;
  }
  max_time_ms_ = std::max({max_time_ms_, h.first_time_ms, h.last_time_ms});
  last_lamport_ = h.last_lamport;
  next_offset_ = h.next_offset();
  size_ = position + h.total_size();
}

Status Segment::append(const batch::BatchHeader& header, std::string_view batch_bytes, bool defer) {
  if (sealed_) return failed_precondition("append to sealed segment " + log_path_);
  if (broken_) return failed_precondition("segment " + log_path_ + " is unusable after a failed write; reopen the log");
  if (header.base_offset != next_offset_)
    return internal_error("batch base offset " + std::to_string(header.base_offset) +
                          " does not continue segment at " + std::to_string(next_offset_));
  if (size_ + batch_bytes.size() > std::numeric_limits<uint32_t>::max())
    return internal_error("segment " + log_path_ + " would exceed 4 GiB");
  const uint64_t position = size_;
  const uint64_t end = position + batch_bytes.size();
  if (preallocate_ && end > allocated_) {
    // Extend the file by a chunk ahead of the batches (docs/log-format.md,
    // "Preallocation"): one sync per chunk commits a size change instead of every sync.
    // The chunk grows with the segment (a quarter of it, 64 KiB to 1 MiB), so that many
    // quiet partitions reserve little. Best effort: a file system without fallocate, or a
    // full disk, just ends it here.
    constexpr uint64_t kMinPreallocateBytes = 64u << 10;
    const uint64_t chunk = std::clamp<uint64_t>(position / 4, kMinPreallocateBytes, kPreallocateBytes);
    const uint64_t from = std::max(allocated_, position);
    const uint64_t to = end + chunk;
    if (file_->allocate(from, to - from).ok()) {
      zero_fill_ahead(end, to);
      allocated_ = to;
    } else {
      preallocate_ = false;
    }
  }
  {
    std::lock_guard lk(buf_mu_);
    if (flush_failed_)
      return failed_precondition("segment " + log_path_ + " is unusable after a failed write; reopen the log");
    if (defer && unwritten_.size() + batch_bytes.size() <= kMaxUnwrittenBytes) {
      // Write-behind: the file gets these bytes at the next flush (a checkpoint, or any sync
      // of this file); the sync journal makes them durable meanwhile.
      if (unwritten_.empty()) unwritten_from_ = position;
      unwritten_.append(batch_bytes);
      track_batch(header, position);
      return Status();
    }
    // In order: what was deferred goes first.
    CAUSEWAY_RETURN_IF_ERROR(flush_locked());
  }
  Status s = file_->write_at(position, batch_bytes);
  if (!s.ok()) {
    // A prefix may have reached the file. Cut it off so the next append starts clean; if
    // that fails too, recovery will cut it on the next open, but we must not append here.
    // (That also drops any preallocated tail; the next append allocates again.)
    if (!file_->truncate(position).ok()) broken_ = true;
    allocated_ = position;
    return s;
  }
  track_batch(header, position);
  return Status();
}

void Segment::zero_fill_ahead(uint64_t from, uint64_t to) {
  // `fallocate` leaves the space "unwritten": the first write into each block must be
  // recorded as written, a journal commit that every fdatasync then carries while appends
  // keep reaching new blocks. Space already written with zeros is overwritten in place, and
  // an fdatasync of it flushes data alone (docs/log-format.md, "Preallocation"). The zeros
  // are written once more per byte, and reach the disk with the next sync (starting their
  // writeback here with sync_file_range measured no better), so this is only for a log
  // appending at a moderate rate: a fast one syncs many blocks at a time anyway, and a slow
  // one (say one of a thousand partitions sharing syncfs rounds) reaches a new block in few
  // of its syncs, while its zeros would weigh on every shared round.
  if (!zero_fill_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool known = allocated_at_ != std::chrono::steady_clock::time_point{};
  // Bytes appended since the previous allocation (not that chunk's size: a batch larger
  // than a chunk allocates at every append), over the time since.
  const double rate = known ? static_cast<double>(from - allocated_at_end_) /
                                  std::max(std::chrono::duration<double>(now - allocated_at_).count(), 1e-9)
                            : 0;
  allocated_at_ = now;
  allocated_at_end_ = from;
  if (!known || rate < static_cast<double>(kZeroFillFromBytesPerSecond) ||
      rate >= static_cast<double>(kZeroFillBelowBytesPerSecond))
    return;
  static const std::string zeros(kPreallocateBytes, '\0');
  for (uint64_t at = from; at < to;) {
    const auto n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), to - at));
    if (!file_->write_at(at, std::string_view(zeros.data(), n)).ok()) {
      zero_fill_ = false;  // best effort: the space stays allocated and reads as zeros
      return;
    }
    at += n;
  }
}

Status Segment::flush() {
  std::lock_guard lk(buf_mu_);
  return flush_locked();
}

Status Segment::flush_locked() {
  if (unwritten_.empty()) return Status();
  std::shared_ptr<File> f = own_file();
  if (!f) return internal_error("segment " + log_path_ + " holds unwritten bytes but no descriptor");
  if (Status s = f->write_at(unwritten_from_, unwritten_); !s.ok()) {
    // Never cut back: these bytes may have been acknowledged through the sync journal.
    flush_failed_ = true;
    return s.with_context("write-behind of " + std::to_string(unwritten_.size()) + " bytes at " +
                          std::to_string(unwritten_from_) + " of " + log_path_);
  }
  unwritten_from_ += unwritten_.size();
  if (unwritten_.capacity() > (64u << 10)) {
    std::string().swap(unwritten_);  // a thousand quiet partitions must not each keep a MiB
  } else {
    unwritten_.clear();
  }
  return Status();
}

bool Segment::holds_unwritten() const {
  std::lock_guard lk(buf_mu_);
  return !unwritten_.empty();
}

bool Segment::needs_tracking() {
  std::lock_guard lk(buf_mu_);
  if (unwritten_.empty() || tracked_) return false;
  tracked_ = true;
  return true;
}

bool Segment::release_if_clean() {
  std::lock_guard lk(buf_mu_);
  if (!unwritten_.empty()) return false;
  tracked_ = false;
  return true;
}

Result<size_t> Segment::read_span(const File& file, uint64_t pos, size_t n, char* dst) const {
  std::unique_lock lk(buf_mu_);
  if (unwritten_.empty() || pos + n <= unwritten_from_) {
    // All of it is in the file, and stays there (a flush only adds to the file).
    lk.unlock();
    return file.read_at(pos, n, dst);
  }
  size_t got = 0;
  if (pos < unwritten_from_) {
    const auto head = static_cast<size_t>(unwritten_from_ - pos);
    CAUSEWAY_ASSIGN_OR_RETURN(got, file.read_at(pos, head, dst));
    if (got < head) return got;
  }
  const uint64_t at = pos + got;  // >= unwritten_from_
  const uint64_t in_buffer = at - unwritten_from_;
  if (in_buffer >= unwritten_.size()) return got;
  const auto take = static_cast<size_t>(std::min<uint64_t>(n - got, unwritten_.size() - in_buffer));
  std::memcpy(dst + got, unwritten_.data() + in_buffer, take);
  return got + take;
}

Status Segment::sync() {
  std::shared_ptr<File> f = own_file();
  if (!f) return Status();  // handed to the cache once sealed, and sealing synced it
  CAUSEWAY_RETURN_IF_ERROR(flush());
  return f->sync();
}

Result<bool> Segment::read_unsealed(uint64_t position, size_t n, std::string& out) const {
  // Without a descriptor of its own it was sealed (and synced). With one it may be sealed
  // too (no cache): the bytes are read anyway, a record the journal did not need.
  std::shared_ptr<File> f = own_file();
  if (!f) return false;
  out.resize(n);
  CAUSEWAY_ASSIGN_OR_RETURN(const size_t got, read_span(*f, position, n, out.data()));
  if (got < n)
    return io_error("read of " + std::to_string(n) + " bytes at " + std::to_string(position) + " of " + log_path_ +
                    " came back short (" + std::to_string(got) + ")");
  return true;
}

void Segment::start_writeback(uint64_t offset, uint64_t length) {
  if (std::shared_ptr<File> f = own_file()) f->start_writeback(offset, length);
}

Status Segment::write_index_files() {
  std::string idx;
  idx.reserve(offset_index_.size() * kOffsetIndexEntrySize);
  for (const auto& e : offset_index_) {
    coding::put_fixed32(idx, e.relative_offset);
    coding::put_fixed32(idx, e.position);
  }
  std::string tidx;
  tidx.reserve(time_index_.size() * kTimeIndexEntrySize);
  for (const auto& e : time_index_) {
    coding::put_fixed64(tidx, static_cast<uint64_t>(e.max_time_before_ms));
    coding::put_fixed64(tidx, e.first_lamport);
    coding::put_fixed32(tidx, e.relative_offset);
    coding::put_fixed32(tidx, e.position);
  }
  const std::string stem = segment_file_stem(base_offset_);
  CAUSEWAY_RETURN_IF_ERROR(write_file_atomically(fs_, dir_, stem + ".index", idx));
  return write_file_atomically(fs_, dir_, stem + ".timeindex", tidx);
}

Status Segment::trim_preallocated() {
  if (sealed_) return Status();
  CAUSEWAY_RETURN_IF_ERROR(flush());
  if (allocated_ <= size_) return Status();
  CAUSEWAY_RETURN_IF_ERROR(file_->truncate(size_));
  allocated_ = size_;
  return file_->sync();
}

Status Segment::seal() {
  if (sealed_) return Status();
  CAUSEWAY_RETURN_IF_ERROR(flush());
  if (allocated_ > size_) {
    CAUSEWAY_RETURN_IF_ERROR(file_->truncate(size_));
    allocated_ = size_;
  }
  preallocate_ = false;
  CAUSEWAY_RETURN_IF_ERROR(file_->sync());
  CAUSEWAY_RETURN_IF_ERROR(write_index_files());
  // After the segment's own sync: the marker may only speak for records on disk.
  if (!may_hold_dedup_keys_) {
    CAUSEWAY_RETURN_IF_ERROR(write_file_atomically(fs_, dir_, segment_file_stem(base_offset_) + ".nokeys", ""));
  }
  sealed_ = true;
  hand_descriptor_to_cache();
  return Status();
}

Status Segment::remove_files() {
  const std::string stem = dir_ + "/" + segment_file_stem(base_offset_);
  mark_removed();
  if (cache_) cache_->erase(cache_key_);  // else its descriptor would keep the space in use
  CAUSEWAY_RETURN_IF_ERROR(fs_->remove(stem + ".log"));
  for (const char* ext : {".index", ".timeindex", ".nokeys"}) {
    Status s = fs_->remove(stem + ext);
    if (!s.ok() && s.code() != Code::kNotFound) return s;
  }
  return Status();
}

uint64_t Segment::position_for_offset(uint64_t offset) const {
  if (offset <= base_offset_ || offset_index_.empty()) return 0;
  const uint64_t rel = offset - base_offset_;
  auto it = std::upper_bound(offset_index_.begin(), offset_index_.end(), rel,
                             [](uint64_t r, const OffsetIndexEntry& e) { return r < e.relative_offset; });
  return it == offset_index_.begin() ? 0 : std::prev(it)->position;
}

uint64_t Segment::position_for_time(int64_t time_ms) const {
  // Last entry whose preceding records are all older than time_ms.
  auto it = std::partition_point(time_index_.begin(), time_index_.end(),
                                 [&](const TimeIndexEntry& e) { return e.max_time_before_ms < time_ms; });
  return it == time_index_.begin() ? 0 : std::prev(it)->position;
}

uint64_t Segment::position_for_lamport(uint64_t lamport) const {
  auto it = std::partition_point(time_index_.begin(), time_index_.end(),
                                 [&](const TimeIndexEntry& e) { return e.first_lamport <= lamport; });
  return it == time_index_.begin() ? 0 : std::prev(it)->position;
}

Status Segment::read_batches(uint64_t offset, uint64_t start_position, uint64_t end_position,
                             size_t max_bytes, std::vector<StoredBatch>& out, uint64_t max_records) const {
  if (start_position >= end_position) return Status();
  CAUSEWAY_ASSIGN_OR_RETURN(const std::shared_ptr<File> file, file_for_read());
  uint64_t pos = start_position;
  size_t taken = 0;
  uint64_t records = 0;
  char header_buf[batch::kBatchHeaderSize];
  while (pos < end_position) {
    const auto where = [&] { return log_path_ + " at byte " + std::to_string(pos); };
    if (end_position - pos < batch::kBatchHeaderSize) return corruption("short batch header in " + where());
    CAUSEWAY_ASSIGN_OR_RETURN(const size_t n, read_span(*file, pos, batch::kBatchHeaderSize, header_buf));
    if (n != batch::kBatchHeaderSize) return corruption("short batch header in " + where());
    auto header = batch::decode_header(std::string_view(header_buf, batch::kBatchHeaderSize));
    if (!header) return header.error().with_context(where());
    if (header->total_size() > end_position - pos) return corruption("short batch body in " + where());
    if (header->next_offset() <= offset) {  // before the requested offset: skip unread
      pos += header->total_size();
      continue;
    }
    if (!out.empty() && taken + header->total_size() > max_bytes) break;
    StoredBatch batch;
    batch.header = *header;
    batch.bytes.resize(header->total_size());
    CAUSEWAY_ASSIGN_OR_RETURN(const size_t got, read_span(*file, pos, batch.bytes.size(), batch.bytes.data()));
    if (got != batch.bytes.size()) return corruption("short batch body in " + where());
    CAUSEWAY_RETURN_IF_ERROR(batch::verify_batch(*header, batch.bytes).with_context(where()));
    taken += batch.bytes.size();
    pos += batch.bytes.size();
    records += header->next_offset() - std::max(offset, header->base_offset);
    out.push_back(std::move(batch));
    if (taken >= max_bytes || records >= max_records) break;
  }
  return Status();
}

}  // namespace causeway::storage
