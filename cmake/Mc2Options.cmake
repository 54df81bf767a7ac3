# Compiler flags shared by every mc2 target. Kept in one interface target so that
# third-party code (GoogleTest, Highway headers) is not held to our warning level.
add_library(mc2_flags INTERFACE)
target_compile_options(mc2_flags INTERFACE -Wall -Wextra)
if(MC2_WERROR)
  target_compile_options(mc2_flags INTERFACE -Werror)
endif()
if(MC2_SANITIZE)
  add_compile_options(-fsanitize=${MC2_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${MC2_SANITIZE})
endif()
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "" FORCE)
endif()
