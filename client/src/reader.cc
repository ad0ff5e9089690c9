// Reader: a causal snapshot of topics, merged by Lamport stamp. See reader.h.
#include "causeway/client/reader.h"

#include <algorithm>
#include <charconv>
#include <deque>
#include <tuple>

#include "causeway/client/admin.h"

namespace causeway::client {
namespace {

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string ReaderPosition::to_string() const {
  std::string out = std::to_string(cut) + ":";
  bool first = true;
  for (const auto& [where, offset] : next_offset) {
    out += (first ? "" : ",") + where.first + "/" + std::to_string(where.second) + ":" + std::to_string(offset);
    first = false;
  }
  return out;
}

Result<ReaderPosition> ReaderPosition::parse(const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return invalid_argument("reader position \"" + text + "\" is not valid: " + why +
                            " (expected CUT:TOPIC/PARTITION:OFFSET,..., as printed by a Reader)");
  };
  ReaderPosition p;
  const size_t colon = text.find(':');
  if (colon == std::string::npos || !parse_u64(std::string_view(text).substr(0, colon), p.cut))
    return bad("it does not start with the cut");
  std::string_view rest = std::string_view(text).substr(colon + 1);
  while (!rest.empty()) {
    const size_t comma = std::min(rest.find(','), rest.size());
    const std::string_view item = rest.substr(0, comma);
    rest = comma < rest.size() ? rest.substr(comma + 1) : std::string_view();
    const size_t slash = item.rfind('/');
    const size_t at = item.rfind(':');
    uint64_t partition = 0;
    uint64_t offset = 0;
    if (slash == std::string_view::npos || at == std::string_view::npos || at < slash || slash == 0 ||
        !parse_u64(item.substr(slash + 1, at - slash - 1), partition) || partition > UINT32_MAX ||
        !parse_u64(item.substr(at + 1), offset)) {
      std::string why(1, '"');
      why.append(item);
      why += "\" is not TOPIC/PARTITION:OFFSET";
      return bad(why);
    }
    p.next_offset[{std::string(item.substr(0, slash)), static_cast<uint32_t>(partition)}] = offset;
  }
  return p;
}

class Reader::Impl {
 public:
  struct Part {
    std::string topic;
    uint32_t partition = 0;
    uint64_t next = 0;             // the next offset to fetch
    std::deque<FetchedEvent> buffer;  // fetched, not returned, all <= cut
    bool done = false;             // nothing more to fetch
  };

  // Fills an empty buffer unless the partition is done: events above the cut end it, and
  // so does reaching its end (anything appended later was stamped after the Reader opened,
  // or is concurrent with every event of the snapshot).
  Status refill(Part& p) {
    while (p.buffer.empty() && !p.done) {
      CAUSEWAY_ASSIGN_OR_RETURN(FetchResult r, admin->fetch(p.topic, p.partition, p.next, fetch_events));
      if (r.events.empty()) {
        p.done = true;
        break;
      }
      for (FetchedEvent& e : r.events) {
        // Lamport stamps increase with offset in a partition: the first above the cut ends it.
        if (e.lamport > cut) {
          p.done = true;
          break;
        }
        p.buffer.push_back(std::move(e));
      }
      p.next = r.next_offset;
    }
    return Status();
  }

  std::unique_ptr<Admin> admin;
  uint32_t fetch_events = 1000;
  uint64_t cut = 0;
  std::vector<Part> parts;
};

Reader::Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reader::~Reader() = default;

Result<std::unique_ptr<Reader>> Reader::open(ClientOptions client, Options options) {
  if (options.topics.empty()) return invalid_argument("a Reader needs at least one topic");
  if (options.until_lamport && options.until_time_ms)
    return invalid_argument("give a Lamport cut or a time cut, not both");
  if (options.fetch_events == 0) return invalid_argument("fetch_events must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->fetch_events = options.fetch_events;
  // A fresh connection: its Hello carries the broker's clock now.
  CAUSEWAY_ASSIGN_OR_RETURN(impl->admin, Admin::connect(std::move(client)));
  const uint64_t clock = impl->admin->lamport();
  std::vector<std::string> topics = options.topics;
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  for (const std::string& topic : topics) {
    CAUSEWAY_ASSIGN_OR_RETURN(const TopicInfo info, impl->admin->describe_topic(topic));
    for (const PartitionInfo& p : info.partitions) {
      Impl::Part part;
      part.topic = topic;
      part.partition = p.partition;
      part.next = p.log_start_offset;
      impl->parts.push_back(std::move(part));
    }
  }
  if (options.from) {
    for (const auto& [where, offset] : options.from->next_offset) {
      auto it = std::find_if(impl->parts.begin(), impl->parts.end(), [&, &w = where](const Impl::Part& p) {
        return p.topic == w.first && p.partition == w.second;
      });
      if (it == impl->parts.end()) {
        return invalid_argument("reader position names " + where.first + "/" + std::to_string(where.second) +
                                ", which is not a partition of the topics read");
      }
      it->next = offset;
    }
    impl->cut = options.from->cut;
  } else if (options.until_time_ms) {
    // The largest stamp appended at or before the time. Broker time does not go back
    // within a partition, so each partition's scan ends at its first later event.
    uint64_t cut = 0;
    for (const Impl::Part& p : impl->parts) {
      uint64_t offset = p.next;
      bool later = false;
      while (!later) {
        CAUSEWAY_ASSIGN_OR_RETURN(FetchResult r, impl->admin->fetch(p.topic, p.partition, offset, options.fetch_events));
        if (r.events.empty()) break;
        for (const FetchedEvent& e : r.events) {
          if (e.time_ms > *options.until_time_ms) {
            later = true;
            break;
          }
          cut = std::max(cut, e.lamport);
        }
        offset = r.next_offset;
      }
    }
    impl->cut = std::min(cut, clock);
  } else {
    impl->cut = std::min(options.until_lamport.value_or(clock), clock);
  }
  return std::unique_ptr<Reader>(new Reader(std::move(impl)));
}

Result<std::optional<FetchedEvent>> Reader::next() {
  Impl::Part* best = nullptr;
  for (Impl::Part& p : impl_->parts) {
    CAUSEWAY_RETURN_IF_ERROR(impl_->refill(p));
    if (p.buffer.empty()) continue;
    const FetchedEvent& e = p.buffer.front();
    if (best == nullptr) {
      best = &p;
      continue;
    }
    const FetchedEvent& b = best->buffer.front();
    if (std::tie(e.lamport, p.topic, p.partition, e.offset) < std::tie(b.lamport, best->topic, best->partition, b.offset))
      best = &p;
  }
  if (best == nullptr) return std::optional<FetchedEvent>();
  FetchedEvent out = std::move(best->buffer.front());
  best->buffer.pop_front();
  return std::optional<FetchedEvent>(std::move(out));
}

uint64_t Reader::cut() const { return impl_->cut; }

ReaderPosition Reader::position() const {
  ReaderPosition p;
  p.cut = impl_->cut;
  for (const Impl::Part& part : impl_->parts) {
    p.next_offset[{part.topic, part.partition}] = part.buffer.empty() ? part.next : part.buffer.front().offset;
  }
  return p;
}

}  // namespace causeway::client
