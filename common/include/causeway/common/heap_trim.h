// File: causeway/common/heap_trim.h
//
// Returning freed heap memory to the OS. glibc's malloc keeps freed memory in its arenas
// (one per thread that allocated, up to 8 per core) and returns only the top of each heap
// on its own, so after a spike of large requests or reads a daemon's RSS stays near its
// high-water mark although the memory is free: in the broker, 30 MiB after a short load
// where 17 MiB was in use, and ~150 MiB after bigger spikes. The daemons call
// trim_free_heap() from their maintenance loops; it measures first (mallinfo2) and trims
// (malloc_trim, which madvises free pages in every arena) only when enough is free, so
// the arenas' locks are taken for a trim only after a spike.
//
// Thread-safe. Without glibc it does nothing and reports nothing free.
#pragma once

#include <cstddef>

namespace causeway {

struct HeapTrim {
  size_t free_bytes = 0;  // free in the allocator's arenas before the call
  bool trimmed = false;   // malloc_trim ran
};

// Trims when more than `min_free_bytes` are free in the arenas.
HeapTrim trim_free_heap(size_t min_free_bytes);

}  // namespace causeway
