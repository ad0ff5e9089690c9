// File: storage/sync_observer.h
//
// Process-wide observers of partition logs' appends and data syncs, for the broker's
// metrics (admin/metrics.h). Set them once before logs open; they run on the appending or
// syncing thread and must be cheap.
#pragma once

#include <chrono>
#include <cstddef>

namespace causeway::storage {

// How a data sync round made its logs durable.
enum class SyncKind {
  kFile,        // a segment's fdatasync (`logs` 1)
  kFileSystem,  // one syncfs shared by `logs` partition logs (storage/sync_group.h)
  kJournal,     // one write and fdatasync of the sync journal (storage/journal.h) for `logs`
  kCheckpoint,  // not a round: a journal checkpoint's syncfs (`logs` 0)
};
// One data sync round, however many appends it covers, or a checkpoint.
using SyncObserver = void (*)(std::chrono::nanoseconds took, size_t logs, SyncKind kind);
// nullptr: none (the default).
void set_sync_observer(SyncObserver observer);
SyncObserver sync_observer();

// Where one append's time went, observed as its completion starts (docs/broker.md,
// "Where a publish's time goes"). In `os` mode only `write` is set.
struct AppendTiming {
  // append_async's entry to the batch in the page cache: encoding, the log's mutex, a
  // roll and the write.
  std::chrono::nanoseconds write{0};
  // `fsync` mode: from the batch written to the start of the fdatasync that covered it,
  // less `gather` (the sync then running, the hand-off to a sync thread);
  std::chrono::nanoseconds sync_wait{0};
  // the covering round's group-commit wait for more appends (PartitionLog's commit delay);
  std::chrono::nanoseconds gather{0};
  // that fdatasync;
  std::chrono::nanoseconds sync{0};
  // and from its end to this append's completion starting (the completions ahead of it).
  std::chrono::nanoseconds complete{0};
  bool durable_wait = false;  // the four above are set
};
using AppendObserver = void (*)(const AppendTiming& timing);
// nullptr: none (the default).
void set_append_observer(AppendObserver observer);

}  // namespace causeway::storage
