// File: causeway/client/reader.h
//
// Reader: a causal snapshot of one or more topics, for event sourcing (docs/client.md,
// "Causal snapshots"). It reads every partition of the topics and returns their events
// merged by Lamport stamp (ties by topic, partition, offset: DESIGN.md guarantee 4's total
// order), up to a cut:
//  - the cut is a Lamport stamp L: the events with lamport <= L;
//  - L is at most the broker's clock when the Reader opens, so every event the cut can
//    hold was stamped before the reads began;
//  - an --until time picks the largest stamp of any of the topics' events appended at or
//    before it.
// The set is causally closed: if b is in it and a happened before b (b was published
// after a was acked to, or delivered to, its publisher), a is in it too, across
// partitions and topics. An event stamped at or below L can still be on its way to disk
// when the Reader reads its partition; it is then not in this snapshot, but nothing that
// happened after it is either.
//
// position() is where the Reader is; open a Reader with it (Options::from) to continue
// after the last event returned, with the same cut.
//
// Threads: a Reader is used by one thread at a time. It reads through its own Admin
// connection; errors are those of Admin::connect and Admin::fetch.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "causeway/client/options.h"
#include "causeway/client/types.h"
#include "causeway/common/status.h"

namespace causeway::client {

// Where a Reader is: its cut, and per (topic, partition) the next offset to read.
struct ReaderPosition {
  uint64_t cut = 0;
  std::map<std::pair<std::string, uint32_t>, uint64_t> next_offset;
  friend bool operator==(const ReaderPosition&, const ReaderPosition&) = default;

  // "cut:topic/partition:offset,...": printable, and parsed back by parse().
  std::string to_string() const;
  // kInvalidArgument naming the problem.
  static Result<ReaderPosition> parse(const std::string& text);
};

class Reader {
 public:
  struct Options {
    std::vector<std::string> topics;          // one or more
    std::optional<uint64_t> until_lamport;    // the cut; lowered to the broker's clock
    std::optional<int64_t> until_time_ms;     // or: the last stamp appended by this time
    std::optional<ReaderPosition> from;       // continue here (its cut wins)
    uint32_t fetch_events = 1000;             // events per fetch and partition
  };

  // Connects, fixes the cut, and finds every partition's start. kNotFound for an unknown
  // topic; kInvalidArgument for no topics, both until_lamport and until_time_ms, or a
  // `from` naming partitions the topics do not have.
  static Result<std::unique_ptr<Reader>> open(ClientOptions client, Options options);

  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // The next event in (lamport, topic, partition, offset) order; nullopt once every event
  // of the cut was returned. kOutOfRange when retention removed events the Reader still
  // had to read (the snapshot cannot be complete).
  Result<std::optional<FetchedEvent>> next();

  uint64_t cut() const;
  ReaderPosition position() const;

 private:
  class Impl;
  explicit Reader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway::client
