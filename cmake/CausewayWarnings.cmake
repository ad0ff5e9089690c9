# Warnings live on an INTERFACE target linked PRIVATE by our own targets, so they are never
# pushed onto consumers of the installed package. -Werror is opt-in (CI turns it on).
add_library(causeway_warnings INTERFACE)
target_compile_options(causeway_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2
  # GCC 12 at -O3 reports "potential null pointer dereference" deep inside Asio's scheduler
  # (inlined into every file that runs an io_context); the check stays on in the other
  # build types, including CI's.
  $<$<NOT:$<CONFIG:Release>>:-Wnull-dereference>)
if(CAUSEWAY_WERROR)
  target_compile_options(causeway_warnings INTERFACE -Werror)
endif()
add_library(causeway::warnings ALIAS causeway_warnings)

# causeway_target_defaults(<target>): our warnings and the configured sanitizers, both
# PRIVATE so neither leaks into the installed package's interface.
function(causeway_target_defaults target)
  target_link_libraries(${target} PRIVATE causeway::warnings causeway::sanitizers)
endfunction()
