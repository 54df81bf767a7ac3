# What `cmake --install` puts under the prefix, the CMake package and pkg-config file that find it,
# and the .deb `cpack` builds. Included by the top-level CMakeLists once every target exists.
#
#   lib/libmc2.so(.0, .0.x.y)      the one shared library, with the CANN names as symlinks to it:
#   lib/lib{ascendcl,hccl,nnopbase,opapi,opapi_transformer,atb}.so
#   include/{acl,aclnn,aclnnop,hccl,atb}/   CANN's headers (mc2's versions)
#   include/mc2/{core,reference,kernels,comm,ops}/  the native C++ API's headers, and
#   lib/libmc2_{core,reference,kernels,comm,ops}.a   its static layers (CMake component "native")
#   bin/mc2, libexec/mc2/*_bench   the CLI and the benchmarks `mc2 bench` runs (tools/CMakeLists.txt)
#   lib/cmake/mc2/                 find_package(mc2 [COMPONENTS native]): mc2::mc2 (the shared
#                                  library, CANN API), mc2::core ... mc2::ops, mc2::reference
#   lib/pkgconfig/mc2.pc           pkg-config --cflags --libs mc2 (CANN API)
#
# Why the native layers are static archives and not in libmc2.so: libmc2.so exports the CANN API
# only (src/api/libmc2.map), so programs cannot come to depend on mc2's internals through it. The
# native API (src/ops, src/comm) and the golden model (src/reference) are for programs that choose
# to build on mc2's own types; they link the archives, which a version bump may change. The golden
# model is part of the package because checking results against it is a feature: the CANN-style
# examples link it for their PASS / FAIL.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MC2_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mc2)

# The CANN API: libmc2.so and its CANN names.
set_target_properties(mc2_shared PROPERTIES EXPORT_NAME mc2)
install(TARGETS mc2_shared EXPORT mc2Targets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/acl ${PROJECT_SOURCE_DIR}/include/aclnn
                  ${PROJECT_SOURCE_DIR}/include/aclnnop ${PROJECT_SOURCE_DIR}/include/hccl
                  ${PROJECT_SOURCE_DIR}/include/atb
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT runtime)
foreach(alias ${MC2_CANN_LIB_NAMES})
  install(CODE "execute_process(COMMAND \${CMAKE_COMMAND} -E create_symlink libmc2.so
                \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/lib${alias}.so\")
                message(STATUS \"Installing: \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/lib${alias}.so -> libmc2.so\")"
          COMPONENT runtime)
endforeach()
install(EXPORT mc2Targets NAMESPACE mc2:: DESTINATION ${MC2_CMAKE_DIR} COMPONENT runtime)

# The native API: the static layers and their headers (include/mc2/<layer>/..., included as
# "ops/arn/arn_op.h" with include/mc2 on the path, as inside the tree).
set(MC2_NATIVE_LAYERS core reference kernels comm ops)
foreach(layer ${MC2_NATIVE_LAYERS})
  set_target_properties(mc2_${layer} PROPERTIES EXPORT_NAME ${layer})
  install(TARGETS mc2_${layer} EXPORT mc2NativeTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/src/${layer} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mc2
          COMPONENT runtime FILES_MATCHING PATTERN "*.h")
endforeach()
install(EXPORT mc2NativeTargets NAMESPACE mc2:: DESTINATION ${MC2_CMAKE_DIR} COMPONENT runtime)

if(OPENBLAS_FOUND)
  set(MC2_HAVE_OPENBLAS ON)
else()
  set(MC2_HAVE_OPENBLAS OFF)
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mc2Config.cmake.in
                              ${PROJECT_BINARY_DIR}/mc2Config.cmake
                              INSTALL_DESTINATION ${MC2_CMAKE_DIR}
                              PATH_VARS CMAKE_INSTALL_BINDIR)
# 0.x: a new minor version may change the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mc2ConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mc2Config.cmake ${PROJECT_BINARY_DIR}/mc2ConfigVersion.cmake
        DESTINATION ${MC2_CMAKE_DIR} COMPONENT runtime)

# pkg-config: the CANN API (libmc2.so). The native layers are for CMake users (find_package).
# The prefix is found from the file's own place (${pcfiledir}), so the file is right wherever the
# tree is installed (cmake --install --prefix P, DESTDIR, the .deb's /usr).
file(RELATIVE_PATH MC2_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" MC2_PC_TO_PREFIX "${MC2_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/mc2.pc.in ${PROJECT_BINARY_DIR}/mc2.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/mc2.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT runtime)

# The CANN-style examples, as sources: they build against the installed package (CMakeLists.txt
# beside them: find_package(mc2 COMPONENTS native)); tests/package builds and runs them from there.
install(FILES ${PROJECT_SOURCE_DIR}/examples/arn_threads.cpp ${PROJECT_SOURCE_DIR}/examples/atb_linear_parallel.cpp
              ${PROJECT_SOURCE_DIR}/examples/hccl_rootinfo.cpp ${PROJECT_SOURCE_DIR}/examples/moe_threads.cpp
        DESTINATION ${CMAKE_INSTALL_DATADIR}/mc2/examples COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/examples/installed/CMakeLists.txt
        DESTINATION ${CMAKE_INSTALL_DATADIR}/mc2/examples COMPONENT runtime)

# cpack -G DEB: one package "mc2" with all of the above. Its Depends come from dpkg-shlibdeps
# (the Debian runtime packages of every library the binaries link: libhwy, libopenblas, Open MPI,
# libstdc++ ...); the -dev packages the native component's find_dependency calls need are
# Recommends (a program using only the CANN API does not need them).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mc2)
set(CPACK_PACKAGE_VENDOR "mc2")
set(CPACK_PACKAGE_CONTACT "mc2 maintainers <mc2@localhost>")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "mc2 maintainers <mc2@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "CANN MC2 fused communication + computation operators on CPUs (aclnn, HCCL, ATB API)")
set(CPACK_PACKAGE_DESCRIPTION
    "mc2 runs Huawei CANN's fused operators WeightQuantMatmulAllReduceAddRmsNorm, AlltoAllAllGatherBatchMatMul and ATB LinearParallelOperation on CPUs, with CANN's own API (libascendcl, libhccl, libnnopbase, libopapi, libatb are names of libmc2.so), a native C++ API, a golden reference model and the mc2 command.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # needs dpkg-dev and file (scripts/deps)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libhwy-dev, nlohmann-json3-dev, libopenblas-dev, libopenmpi-dev, pkg-config")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://localhost/mc2")
include(CPack)
