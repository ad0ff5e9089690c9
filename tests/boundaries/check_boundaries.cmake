# Run by ctest (tests/boundaries/CMakeLists.txt): cmake -DTARGETS_FILE=... -DWORK_DIR=... -P
#
# Each probe is "<library> <FAIL|PASS> <header>": a source file of the library that
# includes <header> must fail to compile because the header is not found (FAIL), or must
# compile (PASS). The PASS probes keep the test honest: if the include flags were wrong,
# every FAIL probe would fail for that reason and prove nothing, so each library also
# compiles something it is allowed to include. A FAIL probe that fails for any reason other
# than the missing header fails the test.
#
# The arrows (broker/CMakeLists.txt):
#   storage -> common; meta -> common, storage; core -> storage, meta, registry;
#   subscribe -> core, meta, rules; server -> core, subscribe, auth; auth -> meta;
#   rules -> common.
cmake_minimum_required(VERSION 3.25)
include("${TARGETS_FILE}")

set(probes
  # Against the arrows: a lower layer reaching up, or a layer reaching sideways.
  "storage FAIL core/event_store.h"
  "storage FAIL meta/topic_config.h"
  "storage FAIL server/server.h"
  "meta FAIL subscribe/coordinator.h"
  "meta FAIL core/event_store.h"
  "core FAIL server/server.h"
  "core FAIL subscribe/coordinator.h"
  "subscribe FAIL server/handlers.h"
  "core FAIL rules/matcher.h"
  "server FAIL rules/matcher.h"
  "rules FAIL storage/partition_log.h"
  "admin FAIL server/server.h"
  "server FAIL admin/metrics.h"
  "auth FAIL core/event_store.h"
  "auth FAIL server/handlers.h"
  "meta FAIL auth/authorizer.h"
  # Nothing in the broker sees the project root (the client's internals, the tests).
  "storage FAIL client/src/frame.h"
  "server FAIL client/src/frame.h"
  "core FAIL broker/src/server/server.h"
  # Along the arrows.
  "storage PASS storage/partition_log.h"
  "meta PASS storage/log_config.h"
  "meta PASS meta/meta_store.h"
  "core PASS meta/meta_store.h"
  "core PASS storage/log_manager.h"
  "core PASS causeway/registry/store.h"
  "subscribe PASS core/event_store.h"
  "subscribe PASS meta/meta_store.h"
  "subscribe PASS rules/matcher.h"
  "rules PASS rules/pattern.h"
  "server PASS subscribe/coordinator.h"
  "server PASS core/publish_pipeline.h"
  "admin PASS subscribe/coordinator.h"
  "admin PASS storage/sync_observer.h"
  "auth PASS meta/meta_store.h"
  "server PASS auth/authorizer.h")

file(MAKE_DIRECTORY "${WORK_DIR}")
set(failures "")
set(index 0)
foreach(probe IN LISTS probes)
  separate_arguments(parts UNIX_COMMAND "${probe}")
  list(GET parts 0 lib)
  list(GET parts 1 expect)
  list(GET parts 2 header)
  math(EXPR index "${index} + 1")
  set(source "${WORK_DIR}/probe_${index}_${lib}.cc")
  file(WRITE "${source}" "// ${lib} ${expect}: may a source of causeway::broker_${lib} include ${header}?\n#include \"${header}\"\n")
  set(args -std=c++20 -fsyntax-only)
  set(dirs ${INCLUDES_${lib}})
  list(REMOVE_DUPLICATES dirs)
  list(REMOVE_ITEM dirs "")
  foreach(dir IN LISTS dirs)
    if(NOT dir IN_LIST IMPLICIT_INCLUDES)
      list(APPEND args "-I${dir}")
    endif()
  endforeach()
  set(defs ${DEFINITIONS_${lib}})
  list(REMOVE_DUPLICATES defs)
  list(REMOVE_ITEM defs "")
  foreach(def IN LISTS defs)
    list(APPEND args "-D${def}")
  endforeach()
  execute_process(COMMAND "${CXX_COMPILER}" ${args} "${source}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(expect STREQUAL "PASS")
    if(rc EQUAL 0)
      message(STATUS "ok: ${lib} may include ${header}")
    else()
      string(APPEND failures "${lib} may include ${header}, but it does not compile:\n${err}\n")
    endif()
  else()
    string(FIND "${err}" "${header}" names_header)
    string(REGEX MATCH "No such file or directory|file not found" not_found "${err}")
    if(rc EQUAL 0)
      string(APPEND failures "${lib} must not include ${header}, but it compiles\n")
    elseif(names_header EQUAL -1 OR NOT not_found)
      string(APPEND failures "${lib} including ${header} fails, but not because the header is not found:\n${err}\n")
    else()
      message(STATUS "ok: ${lib} cannot include ${header}")
    endif()
  endif()
endforeach()

if(failures)
  message(FATAL_ERROR "broker library boundaries:\n${failures}")
endif()
