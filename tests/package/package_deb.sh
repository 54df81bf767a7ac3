#!/usr/bin/env bash
# cpack -G DEB on the build tree, then what the .deb holds (dpkg-deb -c) and declares (dpkg-deb -f):
# the library with its CANN names, the headers, the CLI, the CMake package, mc2.pc; a sane name,
# version and maintainer; Depends on the Debian runtime packages of what it links.
# Usage: package_deb.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp" >"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; fail "cpack"; }
deb=$(ls "$tmp"/*.deb)
echo "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"
dpkg-deb -c "$deb" >"$tmp/list"
for f in ./usr/lib/libmc2.so.0 ./usr/lib/libascendcl.so ./usr/lib/libhccl.so ./usr/lib/libnnopbase.so \
         ./usr/lib/libopapi.so ./usr/lib/libatb.so ./usr/include/acl/acl.h ./usr/include/hccl/hccl.h \
         ./usr/include/aclnnop/aclnn_all_to_all_all_gather_batch_matmul.h ./usr/include/atb/atb_infer.h \
         ./usr/include/mc2/ops/linear_parallel/lp_op.h ./usr/lib/libmc2_reference.a ./usr/bin/mc2 \
         ./usr/lib/cmake/mc2/mc2Config.cmake ./usr/lib/pkgconfig/mc2.pc ./usr/share/mc2/examples/moe_threads.cpp; do
  grep -q " $f\( \|$\)" "$tmp/list" || { cat "$tmp/list"; fail "the .deb does not hold $f"; }
done
grep -q ' ./usr/lib/libascendcl.so -> libmc2.so$' "$tmp/list" || fail "libascendcl.so is not a symlink to libmc2.so"
dpkg-deb -f "$deb" Package Version Maintainer Architecture Depends | tee "$tmp/fields"
grep -qx 'Package: mc2' "$tmp/fields" || fail "package name"
grep -q '^Version: [0-9]' "$tmp/fields" || fail "version"
grep -q '^Maintainer: .*<.*@.*>' "$tmp/fields" || fail "maintainer"
for dep in libhwy libopenblas libopenmpi libstdc++6; do
  grep '^Depends:' "$tmp/fields" | grep -q "$dep" || fail "Depends lacks $dep"
done
echo "PASS"
