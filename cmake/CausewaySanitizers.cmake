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
  list(APPEND _cw_flags -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_compile_options(causeway_sanitizers INTERFACE ${_cw_flags})
  target_link_options(causeway_sanitizers INTERFACE ${_cw_flags})
  message(STATUS "Causeway: sanitizers ${CAUSEWAY_SANITIZE}")
endif()
