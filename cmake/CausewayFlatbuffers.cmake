# causeway_flatbuffers_generate(<target> FILES a.fbs ...) runs flatc at build time into the
# build tree and exposes the generated headers through an INTERFACE target.
function(causeway_flatbuffers_generate target)
  cmake_parse_arguments(ARG "" "" "FILES" ${ARGN})
  set(_out_dir "${CMAKE_CURRENT_BINARY_DIR}/generated/causeway/schemas")
  set(_headers "")
  foreach(_fbs IN LISTS ARG_FILES)
    get_filename_component(_abs "${_fbs}" ABSOLUTE)
    get_filename_component(_name "${_fbs}" NAME_WE)
    set(_hdr "${_out_dir}/${_name}_generated.h")
    add_custom_command(
      OUTPUT "${_hdr}"
      COMMAND "${FLATC}" --cpp --scoped-enums -o "${_out_dir}" "${_abs}"
      DEPENDS "${_abs}"
      COMMENT "flatc ${_name}.fbs"
      VERBATIM)
    list(APPEND _headers "${_hdr}")
  endforeach()
  add_custom_target(${target}_gen DEPENDS ${_headers})
  add_library(${target} INTERFACE)
  add_dependencies(${target} ${target}_gen)
  target_include_directories(${target} INTERFACE "${CMAKE_CURRENT_BINARY_DIR}/generated")
  target_link_libraries(${target} INTERFACE flatbuffers::flatbuffers)
endfunction()
