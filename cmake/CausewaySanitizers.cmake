# CAUSEWAY_SANITIZE=address,undefined applies sanitizers through an INTERFACE target that
# every causeway target links. An unknown name fails configuration loudly instead of being
# silently ignored.
add_library(causeway_sanitizers INTERFACE)
add_library(causeway::sanitizers ALIAS causeway_sanitizers)
if(CAUSEWAY_SANITIZE)
  string(REPLACE "," ";" _cw_sans "${CAUSEWAY_SANITIZE}")
  set(_cw_flags "")
  foreach(_san IN LISTS _cw_sans)
    string(STRIP "${_san}" _san)
    if(NOT _san MATCHES "^(address|undefined|thread|leak)$")
      message(FATAL_ERROR "CAUSEWAY_SANITIZE: unknown sanitizer '${_san}' "
                          "(expected a comma-separated list of address, undefined, thread, leak)")
    endif()
    list(APPEND _cw_flags "-fsanitize=${_san}")
  endforeach()
  if("address" IN_LIST _cw_sans AND "thread" IN_LIST _cw_sans)
    message(FATAL_ERROR "CAUSEWAY_SANITIZE: address and thread cannot be combined")
  endif()
  # Clang before 16 cannot emit UBSan's function-type check (part of "undefined") for
  # coroutines: the prologue data of a split coroutine lands in another section and the
  # assembler stops with "Cannot represent a difference across sections" (server.cc,
  # connection.cc). GCC has no such check; Clang 16 emits it.
  if("undefined" IN_LIST _cw_sans AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang"
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 16)
    list(APPEND _cw_flags -fno-sanitize=function)
  endif()
  list(APPEND _cw_flags -fno-omit-frame-pointer -fno-sanitize-recover=all)
  # UBSan's vptr check probes memory with pipe(2), so a process out of file descriptors gets
  # false "invalid vptr" reports. That one check is recoverable: UBSAN_OPTIONS=halt_on_error=1
  # (scripts/test) still stops on it, and the descriptor-exhaustion test runs its broker with
  # halt_on_error=0 and checks that nothing else was reported.
  if("undefined" IN_LIST _cw_sans)
    list(APPEND _cw_flags -fsanitize-recover=vptr)
  endif()
  target_compile_options(causeway_sanitizers INTERFACE ${_cw_flags})
  target_link_options(causeway_sanitizers INTERFACE ${_cw_flags})
  message(STATUS "Causeway: sanitizers ${CAUSEWAY_SANITIZE}")
endif()

# CAUSEWAY_BUILD_FUZZERS=ON instruments every causeway target for libFuzzer's coverage
# (-fsanitize=fuzzer-no-link), not only the fuzz harnesses: without it libFuzzer sees the
# few edges of the harness and none of the decoder it calls. Linking with the flag brings in
# the sanitizer runtime that defines the coverage callbacks, so tests and daemons of such a
# build still link; tests/fuzz adds -fsanitize=fuzzer (libFuzzer's main) to the fuzzers.
if(CAUSEWAY_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CAUSEWAY_BUILD_FUZZERS needs Clang (libFuzzer), found ${CMAKE_CXX_COMPILER_ID}; "
                        "configure a fresh build directory with CC=clang CXX=clang++ (tests/fuzz/README.md)")
  endif()
  target_compile_options(causeway_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
  target_link_options(causeway_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
  message(STATUS "Causeway: libFuzzer coverage instrumentation on every target")
endif()
