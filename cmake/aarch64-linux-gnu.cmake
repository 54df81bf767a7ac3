# Cross build for 64-bit Arm Linux with Debian's cross compiler (g++-aarch64-linux-gnu) and the
# arm64 builds of the libraries from multiarch (dpkg --add-architecture arm64; libhwy-dev:arm64,
# libgtest-dev:arm64). Test binaries run under user-mode emulation (qemu-user); scripts/test-arm
# installs all of it, configures with this file and runs the kernels' tests on NEON and SVE CPUs.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Libraries and packages of the target architecture only (multiarch puts them in
# /usr/lib/aarch64-linux-gnu); programs (pkg-config, qemu) are the build machine's.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
# gtest_discover_tests lists the tests by running the binary: through qemu. The CPU model is
# chosen again per run by scripts/test-arm.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -cpu max)
