// See causeway/common/heap_trim.h.
#include "causeway/common/heap_trim.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace causeway {

HeapTrim trim_free_heap(size_t min_free_bytes) {
  HeapTrim out;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const struct mallinfo2 info = mallinfo2();
  out.free_bytes = info.fordblks;  // free chunks in every arena (not mmapped ones: those are unmapped on free)
  if (out.free_bytes > min_free_bytes) {
    malloc_trim(0);
    out.trimmed = true;
  }
#else
  (void)min_free_bytes;
#endif
  return out;
}

}  // namespace causeway
