# ctest script (programs_install): installs the "programs" component into a fresh prefix,
# as scripts/run does, and checks that each program the README runs is in its bin/ and
# answers --help. Inputs: BUILD_DIR, WORK_DIR.
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}" --component programs
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install --component programs failed (${rc}):\n${out}\n${err}")
endif()
foreach(program causeway-broker causeway-registry causeway)
  set(path "${WORK_DIR}/bin/${program}")
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "${program} is not installed in ${WORK_DIR}/bin (the README puts that directory on PATH)")
  endif()
  execute_process(COMMAND "${path}" --help RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 30)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${path} --help exited ${rc}:\n${out}\n${err}")
  endif()
endforeach()
file(GLOB installed "${WORK_DIR}/bin/*")
list(LENGTH installed n)
if(NOT n EQUAL 3)
  message(FATAL_ERROR "expected exactly the three programs in bin/, found: ${installed}")
endif()
