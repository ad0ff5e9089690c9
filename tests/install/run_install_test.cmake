# ctest script (client_install_consumer): installs the client and registry_client components
# of the build tree into a fresh prefix, then configures, builds and runs the two consumers
# against it with find_package(causeway): tests/install (causeway::client alone, checking
# that the package never looked for cpp-httplib) and
# tests/install/registry_client (causeway::registry_client). No network.
# Inputs: BUILD_DIR, SOURCE_DIR, WORK_DIR, CXX_COMPILER, GENERATOR, CONSUMER_FLAGS (sanitizers
# the package was built with; the consumer must link with them too).
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/consumer")
set(registry_consumer_build "${WORK_DIR}/registry_consumer")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 240)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" --component client)
run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" --component registry_client)

# The exported package must not mention Asio, FlatBuffers or build-tree paths.
file(GLOB exported "${prefix}/lib*/cmake/causeway/*.cmake")
foreach(f IN LISTS exported)
  file(READ "${f}" text)
  foreach(bad asio flatbuffers "${BUILD_DIR}")
    string(FIND "${text}" "${bad}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "${f} mentions '${bad}'")
    endif()
  endforeach()
endforeach()
if(EXISTS "${prefix}/include/asio.hpp" OR EXISTS "${prefix}/include/causeway/common/batch_format.h")
  message(FATAL_ERROR "internal headers were installed")
endif()
# Only the registry_client component's export may name cpp-httplib or pkg-config.
file(GLOB client_exports "${prefix}/lib*/cmake/causeway/causewayTargets*.cmake")
if(NOT client_exports)
  message(FATAL_ERROR "causewayTargets.cmake was not installed")
endif()
foreach(f IN LISTS client_exports)
  file(READ "${f}" text)
  foreach(bad httplib HTTPLIB PkgConfig registry_client)
    string(FIND "${text}" "${bad}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "${f} (causeway::client) mentions '${bad}'")
    endif()
  endforeach()
endforeach()

set(flags "")
if(CONSUMER_FLAGS)
  string(REPLACE "," ";" sans "${CONSUMER_FLAGS}")
  foreach(s IN LISTS sans)
    string(APPEND flags " -fsanitize=${s}")
  endforeach()
endif()
# causeway::client alone: the consumer's CMakeLists fails the configure if the package
# looked for cpp-httplib. (pkg-config stays enabled: CMake 3.25's FindOpenSSL, which the
# client's package needs for libssl, calls pkg_check_modules unconditionally on Unix.)
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${consumer_build}" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    "-DCMAKE_CXX_FLAGS=${flags}" -DCMAKE_CXX_COMPILER_LAUNCHER=)
run(${CMAKE_COMMAND} --build "${consumer_build}")
run("${consumer_build}/consumer")

# causeway::registry_client: find_package(causeway COMPONENTS registry_client).
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/registry_client" -B "${registry_consumer_build}" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    "-DCMAKE_CXX_FLAGS=${flags}" -DCMAKE_CXX_COMPILER_LAUNCHER=)
run(${CMAKE_COMMAND} --build "${registry_consumer_build}")
run("${registry_consumer_build}/registry_consumer")
