// Journal: the sync journal of shared sync rounds. See journal.h; format in
// docs/log-format.md, "Sync journal".
#include "storage/journal.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <random>

#include "causeway/common/coding.h"
#include "causeway/common/crc32c.h"
#include "storage/segment.h"

namespace causeway::storage {

namespace {

// Every journal file starts with this, so that a file the crash left empty or cut inside
// its header reads as empty, and a stray file as not ours.
constexpr std::string_view kFileMagic = "CWJRNL2\n";
static_assert(kFileMagic.size() == Journal::kEmptyFileBytes);
constexpr std::string_view kFileSuffix = ".journal";
// Record: masked crc32c (4) of everything after it, length (4) of everything after it,
// incarnation (8), position (8), path length (2), path (relative to the topics directory),
// bytes.
constexpr size_t kFixedAfterLength = 8 + 8 + 2;
constexpr std::string_view kIncarnationFile = "incarnation";
constexpr size_t kMaxPath = 4096;
// Segments are at most 4 GiB (Segment::append).
constexpr uint64_t kMaxSegmentBytes = uint64_t{1} << 32;

std::optional<uint64_t> parse_journal_name(std::string_view name) {
  if (name.size() != 20 + kFileSuffix.size() || name.substr(20) != kFileSuffix) return std::nullopt;
  return parse_segment_stem(name.substr(0, 20));
}

// `rel` is "<topic>/<partition>/<20 digits>.log": nothing else is ever written, so anything
// else is damage and must not become a path to write to.
bool valid_segment_path(std::string_view rel) {
  const size_t a = rel.find('/');
  if (a == std::string_view::npos || a == 0) return false;
  const size_t b = rel.find('/', a + 1);
  if (b == std::string_view::npos || b == a + 1 || rel.find('/', b + 1) != std::string_view::npos) return false;
  const std::string_view topic = rel.substr(0, a);
  const std::string_view partition = rel.substr(a + 1, b - a - 1);
  const std::string_view file = rel.substr(b + 1);
  if (topic == "." || topic == ".." || topic.find('\0') != std::string_view::npos) return false;
  if (partition.size() > 10 || !std::all_of(partition.begin(), partition.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  return file.size() == 24 && file.substr(20) == ".log" && parse_segment_stem(file.substr(0, 20)).has_value();
}

void encode_record(std::string& out, std::string_view rel_path, uint64_t incarnation, uint64_t position,
                   std::string_view bytes) {
  const size_t start = out.size();
  const uint32_t length = static_cast<uint32_t>(kFixedAfterLength + rel_path.size() + bytes.size());
  out.resize(start + 8);  // crc and length, filled below
  coding::put_fixed64(out, incarnation);
  coding::put_fixed64(out, position);
  coding::put_fixed16(out, static_cast<uint16_t>(rel_path.size()));
  out.append(rel_path);
  out.append(bytes);
  coding::encode_fixed32(out.data() + start + 4, length);
  const uint32_t crc = crc32c::value(out.data() + start + 4, out.size() - start - 4);
  coding::encode_fixed32(out.data() + start, crc32c::mask(crc));
}

struct JournalFile {
  uint64_t number;
  std::string path;
};

Result<std::vector<JournalFile>> list_journal_files(FileSystem* fs, const std::string& dir) {
  std::vector<JournalFile> files;
  if (!fs->exists(dir)) return files;
  CAUSEWAY_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->list_dir(dir));
  for (const std::string& name : names) {
    if (std::optional<uint64_t> n = parse_journal_name(name)) {
      files.push_back(JournalFile{*n, dir + "/" + name});
    } else if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      // A journal file being started (before its header was synced and it got its name):
      // it holds no record.
      CAUSEWAY_RETURN_IF_ERROR(fs->remove(dir + "/" + name));
    } else {
      spdlog::warn("ignoring {}/{}: not a journal file", dir, name);
    }
  }
  std::sort(files.begin(), files.end(), [](const JournalFile& a, const JournalFile& b) { return a.number < b.number; });
  return files;
}

}  // namespace

std::string journal_file_name(uint64_t number) { return segment_file_stem(number) + std::string(kFileSuffix); }

Result<uint64_t> partition_incarnation(FileSystem* fs, const std::string& dir, bool create) {
  const std::string path = dir + "/" + std::string(kIncarnationFile);
  if (fs->exists(path)) {
    Result<std::string> bytes = read_file(fs, path, 64);
    if (bytes && bytes->size() == 12 &&
        crc32c::unmask(coding::decode_fixed32(bytes->data() + 8)) == crc32c::value(bytes->data(), 8)) {
      return coding::decode_fixed64(bytes->data());
    }
    if (!create) {
      if (!bytes) return bytes.error();
      return corruption(path + " is damaged, so the sync journal's records for " + dir +
                        " cannot be checked against it");
    }
    spdlog::warn("{} is damaged; the partition gets a new incarnation", path);
  } else if (!create) {
    return not_found(path + " does not exist");
  }
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  std::string out;
  coding::put_fixed64(out, id);
  coding::put_fixed32(out, crc32c::mask(crc32c::value(out.data(), 8)));
  CAUSEWAY_RETURN_IF_ERROR(write_file_atomically(fs, dir, std::string(kIncarnationFile), out));
  return id;
}

Journal::Journal(FileSystem* fs, std::string dir, std::string topics_dir)
    : fs_(fs), dir_(std::move(dir)), topics_dir_(std::move(topics_dir)) {}

Status Journal::replay(FileSystem* fs, const std::string& dir, const std::string& topics_dir,
                       JournalReplayReport* report, FileSystemSync* fs_sync) {
  JournalReplayReport local;
  JournalReplayReport& rep = report != nullptr ? *report : local;
  CAUSEWAY_ASSIGN_OR_RETURN(std::vector<JournalFile> files, list_journal_files(fs, dir));
  if (files.empty()) return Status();
  // Segment files written back; at most kMaxOpen open at a time, so that replay needs no
  // more descriptors than a few partitions do. With a sync of the file system holding
  // them (the caller's, opened before the first write, so that it reports any writeback
  // error since), a file is closed unsynced and the one syncfs at the end covers them all:
  // records of 1,000 partitions interleave, and syncing each file as it left the open set
  // made a replay of 135,000 records (44 MB) take 17 s, one fdatasync per record or so.
  // (Not opened here: opening one runs a syncfs that consumes any writeback error from
  // before this start, which the broker's own opening must see.)
  constexpr size_t kMaxOpen = 64;
  bool wrote_any = false;
  std::map<std::string, std::unique_ptr<File>> written;
  const auto sync_written = [&]() -> Status {
    for (auto& [path, file] : written)
      if (!fs_sync || !fs_sync->covers(path)) CAUSEWAY_RETURN_IF_ERROR(file->sync());
    written.clear();
    return Status();
  };
  // The newest file with more than its header: a cut record is a crash's only there. A
  // newer file holding just its header (a rotation that failed after naming it, so that
  // commits went on in the older one) proves that no commit followed.
  size_t newest_with_records = 0;
  for (size_t fi = 0; fi < files.size(); ++fi) {
    CAUSEWAY_ASSIGN_OR_RETURN(std::unique_ptr<File> f, fs->open(files[fi].path, OpenMode::kReadOnly));
    CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t size, f->size());
    if (size > kFileMagic.size()) newest_with_records = fi;
  }
  // Incarnation of each partition directory met, read once (nullopt: it has none).
  std::map<std::string, std::optional<uint64_t>> incarnations;
  for (size_t fi = 0; fi < files.size(); ++fi) {
    const JournalFile& jf = files[fi];
    // Every commit is synced before the next one, and a new file is started only after the
    // last commit of the old one succeeded: only the newest file can end in a record a
    // crash cut. Anywhere else, a bad record is damage, and the acknowledged records after
    // it would be lost without a word.
    const bool last = fi >= newest_with_records;
    ++rep.files;
    CAUSEWAY_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->open(jf.path, OpenMode::kReadOnly));
    CAUSEWAY_ASSIGN_OR_RETURN(const uint64_t size, file->size());
    std::string magic(kFileMagic.size(), '\0');
    CAUSEWAY_ASSIGN_OR_RETURN(size_t got, file->read_at(0, magic.size(), magic.data()));
    // A file gets its name only after its header is synced (Journal::start_file).
    if (got < magic.size() || magic != kFileMagic)
      return corruption("journal file " + jf.path + " does not start with the journal's header (damage); move it away "
                        "to start without its records");
    uint64_t pos = kFileMagic.size();
    std::string record;
    while (pos < size) {
      const auto torn = [&](const std::string& why) -> Status {
        const std::string where = jf.path + " at byte " + std::to_string(pos) + " of " + std::to_string(size);
        if (!last)
          return corruption("journal file " + where + ": " + why + ", but a newer journal file follows, so this is "
                            "damage and not a write a crash cut short; the records after it are lost. Move the file "
                            "away to start without them");
        rep.torn.push_back(where + " (" + why + ")");
        return Status();
      };
      char header[8];
      CAUSEWAY_ASSIGN_OR_RETURN(got, file->read_at(pos, sizeof(header), header));
      if (got < sizeof(header)) {
        CAUSEWAY_RETURN_IF_ERROR(torn("record header cut short"));
        break;
      }
      const uint32_t stored_crc = coding::decode_fixed32(header);
      const uint32_t length = coding::decode_fixed32(header + 4);
      if (length < kFixedAfterLength || length > kFixedAfterLength + kMaxPath + kMaxRecordBytes) {
        CAUSEWAY_RETURN_IF_ERROR(torn("record length " + std::to_string(length) + " out of range"));
        break;
      }
      if (pos + 8 + length > size) {
        CAUSEWAY_RETURN_IF_ERROR(torn("record cut short"));
        break;
      }
      record.resize(4 + length);
      std::copy(header + 4, header + 8, record.data());
      CAUSEWAY_ASSIGN_OR_RETURN(got, file->read_at(pos + 8, length, record.data() + 4));
      if (got < length) {
        CAUSEWAY_RETURN_IF_ERROR(torn("record cut short"));
        break;
      }
      if (crc32c::unmask(stored_crc) != crc32c::value(record)) {
        CAUSEWAY_RETURN_IF_ERROR(torn("checksum mismatch"));
        break;
      }
      const uint64_t incarnation = coding::decode_fixed64(record.data() + 4);
      const uint64_t position = coding::decode_fixed64(record.data() + 12);
      const uint16_t path_len = coding::decode_fixed16(record.data() + 20);
      if (path_len > kMaxPath || kFixedAfterLength + path_len > length)
        return corruption("journal file " + jf.path + " has a record whose checksum holds but whose path length " +
                          std::to_string(path_len) + " is out of range");
      const std::string_view rel(record.data() + 22, path_len);
      const std::string_view bytes(record.data() + 22 + path_len, length - kFixedAfterLength - path_len);
      if (!valid_segment_path(rel))
        return corruption("journal file " + jf.path + " names \"" + std::string(rel) +
                          "\", which is not a segment file, in a record whose checksum holds");
      if (position > kMaxSegmentBytes || bytes.size() > kMaxSegmentBytes - position)
        return corruption("journal file " + jf.path + " has a record for bytes " + std::to_string(position) + " to " +
                          std::to_string(position + bytes.size()) + " of " + std::string(rel) +
                          ", past the largest segment, in a record whose checksum holds");
      ++rep.records;
      pos += 8 + length;
      const std::string path = topics_dir + "/" + std::string(rel);
      // Only into the partition directory the record was written for: a topic deleted and
      // created again under its name has the same paths and another incarnation.
      const std::string partition_dir = path.substr(0, path.rfind('/'));
      auto inc = incarnations.find(partition_dir);
      if (inc == incarnations.end()) {
        // A directory without one was created after the record's (its topic deleted and
        // created again, the crash before its incarnation was written): not the record's.
        // One that cannot be read is refused: skipping would drop acknowledged records.
        std::optional<uint64_t> id;
        Result<uint64_t> found = partition_incarnation(fs, partition_dir, false);
        if (found) {
          id = *found;
        } else if (found.error().code() != Code::kNotFound) {
          return found.error().with_context("replaying the sync journal " + jf.path);
        }
        inc = incarnations.emplace(partition_dir, id).first;
      }
      if (!inc->second || *inc->second != incarnation) {
        if (inc->second || fs->exists(partition_dir)) {
          ++rep.skipped_other;
        } else {
          ++rep.skipped_missing;
        }
        continue;
      }
      auto it = written.find(path);
      if (it == written.end()) {
        // Gone with its topic, or a sealed segment retention deleted (its seal synced it):
        // nothing to restore. Never created here: a segment's creation is durable before
        // anything is appended to it.
        if (!fs->exists(path)) {
          ++rep.skipped_missing;
          continue;
        }
        if (written.size() >= kMaxOpen) CAUSEWAY_RETURN_IF_ERROR(sync_written());
        CAUSEWAY_ASSIGN_OR_RETURN(std::unique_ptr<File> seg, fs->open(path, OpenMode::kReadWrite));
        it = written.emplace(path, std::move(seg)).first;
      }
      CAUSEWAY_RETURN_IF_ERROR(it->second->write_at(position, bytes));
      wrote_any = true;
      ++rep.replayed;
      rep.bytes += bytes.size();
    }
  }
  CAUSEWAY_RETURN_IF_ERROR(sync_written());
  if (fs_sync && wrote_any) CAUSEWAY_RETURN_IF_ERROR(fs_sync->sync().with_context("replaying the sync journal " + dir));
  // Only now, with every record's bytes on disk in their segments, may the journal go.
  for (const JournalFile& jf : files) CAUSEWAY_RETURN_IF_ERROR(fs->remove(jf.path));
  return fs->sync_dir(dir);
}

Result<std::unique_ptr<Journal>> Journal::open(FileSystem* fs, std::string dir, std::string topics_dir,
                                               JournalReplayReport* report) {
  CAUSEWAY_RETURN_IF_ERROR(fs->create_dirs(dir));
  CAUSEWAY_ASSIGN_OR_RETURN(std::vector<JournalFile> before, list_journal_files(fs, dir));
  CAUSEWAY_RETURN_IF_ERROR(replay(fs, dir, topics_dir, report));
  std::unique_ptr<Journal> j(new Journal(fs, std::move(dir), std::move(topics_dir)));
  CAUSEWAY_RETURN_IF_ERROR(j->start_file(before.empty() ? 0 : before.back().number + 1));
  return j;
}

Status Journal::start_file(uint64_t number) {
  const std::string path = dir_ + "/" + journal_file_name(number);
  const std::string tmp = path + ".tmp";
  next_number_ = number + 1;  // a failed attempt's number is not reused
  if (fs_->exists(tmp)) CAUSEWAY_RETURN_IF_ERROR(fs_->remove(tmp));
  CAUSEWAY_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs_->open(tmp, OpenMode::kCreateNew));
  // The file gets its name only with its header on disk, so that replay can tell a crash's
  // cut (only ever at the end of the newest file) from damage anywhere else.
  Status s = file->write_at(0, kFileMagic);
  if (s.ok()) s = file->sync();
  bool named = false;
  if (s.ok()) {
    s = fs_->rename(tmp, path);
    named = s.ok();
  }
  if (s.ok()) s = fs_->sync_dir(dir_);
  if (!s.ok()) {
    // It holds no record; replay also accepts a header-only file newer than the one that
    // stays current, should this removal not happen either.
    if (fs_->remove(named ? path : tmp).ok()) (void)fs_->sync_dir(dir_);
    return s;
  }
  // Written from now on under its name (so that errors name it).
  Result<std::unique_ptr<File>> reopened = fs_->open(path, OpenMode::kReadWrite);
  if (!reopened) {
    // The current file stays current; this one holds no record.
    if (fs_->remove(path).ok()) (void)fs_->sync_dir(dir_);
    return reopened.error();
  }
  file_ = std::move(*reopened);
  file_path_ = path;
  number_ = number;
  size_ = kFileMagic.size();
  return Status();
}

Status Journal::commit(std::span<const JournalEntry> entries) {
  if (!failed_.ok()) return failed_precondition("the sync journal failed earlier: " + failed_.to_string());
  buffer_.clear();
  for (const JournalEntry& e : entries) {
    if (e.segment_path.size() <= topics_dir_.size() + 1 || e.segment_path.compare(0, topics_dir_.size(), topics_dir_) != 0 ||
        e.segment_path[topics_dir_.size()] != '/')
      return invalid_argument("segment " + e.segment_path + " is not under " + topics_dir_);
    const std::string_view rel = std::string_view(e.segment_path).substr(topics_dir_.size() + 1);
    if (!valid_segment_path(rel) || rel.size() > kMaxPath || e.bytes.size() > kMaxRecordBytes)
      return invalid_argument("cannot journal " + std::to_string(e.bytes.size()) + " bytes of " + e.segment_path);
    encode_record(buffer_, rel, e.incarnation, e.position, e.bytes);
  }
  if (buffer_.empty()) return Status();
  Status s = file_->write_at(size_, buffer_);
  if (s.ok()) s = file_->sync();
  if (!s.ok()) {
    failed_ = s;
    return s;
  }
  size_ += buffer_.size();
  if (buffer_.capacity() > (8u << 20)) std::string().swap(buffer_);
  return Status();
}

Result<std::vector<std::string>> Journal::rotate() {
  if (!failed_.ok()) return failed_precondition("the sync journal failed earlier: " + failed_.to_string());
  const std::string old = file_path_;
  // On failure (no descriptor left, say) the current file stays current: nothing is lost.
  CAUSEWAY_RETURN_IF_ERROR(start_file(next_number_));
  older_.push_back(old);
  return older_;
}

Status Journal::remove(const std::vector<std::string>& paths) {
  Status s;
  std::vector<std::string> removed;
  for (const std::string& p : paths) {
    s = fs_->remove(p);
    if (s.code() == Code::kNotFound) s = Status();  // removed by an attempt whose directory sync failed
    if (!s.ok()) break;
    removed.push_back(p);
  }
  // Gone only once the directory says so on disk.
  if (Status synced = fs_->sync_dir(dir_); !synced.ok()) return synced;
  for (const std::string& p : removed) older_.erase(std::remove(older_.begin(), older_.end(), p), older_.end());
  return s;
}

}  // namespace causeway::storage
