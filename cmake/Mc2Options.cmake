# Compiler flags shared by every mc2 target. Kept in one interface target so that
# third-party code (GoogleTest, Highway headers) is not held to our warning level.
add_library(mc2_flags INTERFACE)
target_compile_options(mc2_flags INTERFACE -Wall -Wextra)
if(MC2_WERROR)
  target_compile_options(mc2_flags INTERFACE -Werror)
endif()
# Sanitizers (preset asan: address,undefined; tsan: thread). Applied to every target, GoogleTest
# included, so that instrumented code never calls uninstrumented containers.
# -fno-sanitize-recover: a UBSan report stops the process (by default UBSan prints and goes on,
# and the test would pass). Runtime options are set by the test presets (CMakePresets.json), the
# suppressions (third-party code only) are in cmake/sanitizers/.
if(MC2_SANITIZE)
  add_compile_options(-fsanitize=${MC2_SANITIZE} -fno-omit-frame-pointer)
  if(MC2_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
  add_link_options(-fsanitize=${MC2_SANITIZE})
endif()
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "" FORCE)
endif()
