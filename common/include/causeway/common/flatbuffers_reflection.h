// File: causeway/common/flatbuffers_reflection.h
//
// <flatbuffers/reflection.h> for code that looks up reflection tables by name. Include it
// before any other FlatBuffers header that pulls in reflection (idl.h does).
//
// GCC 12 at -O1 with UBSan reads a flatbuffers::String's c_str() as a zero-size object in
// reflection's generated key comparison and reports -Wstringop-overread, a false positive
// (scripts/test builds at -O1 with warnings as errors in CI). Clang has no such warning
// and would warn about the unknown name, so the pragmas are GCC's only.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
#include <flatbuffers/reflection.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
