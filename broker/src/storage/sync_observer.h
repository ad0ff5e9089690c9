// File: storage/sync_observer.h
//
// A process-wide observer of the data syncs partition logs run (one fdatasync of a
// segment, however many appends it covers), for the broker's metrics (admin/metrics.h).
// Set it once before logs open; it runs on the syncing thread and must be cheap.
#pragma once

#include <chrono>

namespace causeway::storage {

using SyncObserver = void (*)(std::chrono::nanoseconds took);
// nullptr: none (the default).
void set_sync_observer(SyncObserver observer);

}  // namespace causeway::storage
