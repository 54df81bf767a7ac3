#!/usr/bin/env bash
# The installed package, used the three ways a program finds it (issue 6):
#   1. cmake --install into a temporary prefix; the files the layout promises are there
#      (cmake/Mc2Install.cmake), the CANN names are symlinks to libmc2.so;
#   2. find_package(mc2) from a consumer project (tests/package/consumer), which builds and runs;
#      a version the package is not compatible with is refused;
#   3. pkg-config --cflags --libs mc2;
#   4. a CANN build line: g++ main.cpp -I<prefix>/include -L<prefix>/lib -lascendcl -lhccl
#      -lnnopbase -lopapi -latb (the program records libmc2.so.0 once);
#   5. the examples installed under share/mc2/examples, built with find_package(mc2 COMPONENTS
#      native) and run (each judges itself against the golden model), hccl_rootinfo under the
#      installed mc2 launch.
# Usage: package_test.sh BUILD_DIR LIBDIR
set -euo pipefail
build=$1
libdir_rel=$2
# $3: the sanitizers the tree was built with (MC2_SANITIZE, e.g. address,undefined). A library
# built with them needs them at the consumer's link too (the sanitizer runtime must come first).
san=()
[[ -n ${3:-} ]] && san=("-fsanitize=$3")
cmake_san=()
[[ -n ${3:-} ]] && cmake_san=("-DCMAKE_CXX_FLAGS=${san[*]}" "-DCMAKE_EXE_LINKER_FLAGS=${san[*]}")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
libdir=$prefix/$libdir_rel
cxx=${CXX:-g++}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fail() { echo "FAIL: $*"; exit 1; }

echo "== 1. cmake --install --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "install"; }
for f in "$libdir/libmc2.so" "$libdir/libmc2.so.0" include/acl/acl.h include/acl/acl_rt.h include/aclnn/acl_meta.h \
         include/aclnnop/aclnn_weight_quant_matmul_all_reduce_add_rms_norm.h \
         include/aclnnop/aclnn_all_to_all_all_gather_batch_matmul.h include/hccl/hccl.h include/atb/atb_infer.h \
         include/mc2/ops/arn/arn_op.h include/mc2/comm/thread_transport.h include/mc2/reference/arn.h \
         "$libdir/libmc2_ops.a" "$libdir/libmc2_reference.a" bin/mc2 "$libdir/cmake/mc2/mc2Config.cmake" \
         "$libdir/cmake/mc2/mc2ConfigVersion.cmake" "$libdir/pkgconfig/mc2.pc" share/mc2/examples/arn_threads.cpp \
         share/mc2/examples/CMakeLists.txt; do
  [[ $f == /* ]] || f=$prefix/$f
  [[ -e $f ]] || fail "not installed: ${f#$prefix/}"
done
for name in ascendcl hccl nnopbase opapi opapi_transformer atb; do
  [[ $(readlink "$libdir/lib$name.so") == libmc2.so ]] || fail "lib$name.so is not a symlink to libmc2.so"
done
ls "$prefix/include/mc2/src" 2>/dev/null && fail "include/mc2 has a src/ level"
# No api/ internals among the native headers.
[[ ! -e $prefix/include/mc2/api ]] || fail "src/api headers were installed"

echo "== 2. find_package(mc2)"
cmake -S "$here/consumer" -B "$tmp/fp" "${gen[@]}" "${launcher[@]}" "${cmake_san[@]}" -DCMAKE_PREFIX_PATH="$prefix" \
      -DMC2_WANT_VERSION=0.1 >"$tmp/fp.log" 2>&1 || { cat "$tmp/fp.log"; fail "configure with find_package(mc2 0.1)"; }
cmake --build "$tmp/fp" >"$tmp/fp-build.log" 2>&1 || { cat "$tmp/fp-build.log"; fail "build (find_package)"; }
"$tmp/fp/consumer" || fail "the find_package consumer"
if cmake -S "$here/consumer" -B "$tmp/fp9" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" -DMC2_WANT_VERSION=9.0 \
         >"$tmp/fp9.log" 2>&1; then
  fail "find_package(mc2 9.0) accepted version $(grep -o 'VERSION "[^"]*"' "$libdir/cmake/mc2/mc2ConfigVersion.cmake" | head -1)"
fi
grep -q 'requested version "9.0"' "$tmp/fp9.log" ||
  { cat "$tmp/fp9.log"; fail "find_package(mc2 9.0) failed for another reason"; }

echo "== 3. pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig
pkg-config --exists mc2 || fail "pkg-config does not find mc2"
[[ $(pkg-config --modversion mc2) == "$(sed -n 's/.*PACKAGE_VERSION "\([^"]*\)".*/\1/p' "$libdir/cmake/mc2/mc2ConfigVersion.cmake" | head -1)" ]] ||
  fail "mc2.pc's version differs from the CMake package's"
# shellcheck disable=SC2046
$cxx -std=c++17 "${san[@]}" "$here/consumer/main.cpp" -o "$tmp/pc" $(pkg-config --cflags --libs mc2) -Wl,-rpath,"$libdir" ||
  fail "build (pkg-config)"
"$tmp/pc" || fail "the pkg-config consumer"

echo "== 4. CANN build line"
$cxx -std=c++17 "${san[@]}" "$here/consumer/main.cpp" -o "$tmp/cann" -I"$prefix/include" -L"$libdir" \
     -lascendcl -lhccl -lnnopbase -lopapi -latb -Wl,-rpath,"$libdir" || fail "build (CANN line)"
needed=$(readelf -d "$tmp/cann" | grep -c 'NEEDED.*libmc2\.so\.0' || true)
[[ $needed == 1 ]] || fail "the CANN-line program records libmc2.so.0 $needed times (want 1)"
"$tmp/cann" || fail "the CANN-line consumer"

echo "== 5. the installed examples"
cmake -S "$prefix/share/mc2/examples" -B "$tmp/ex" "${gen[@]}" "${launcher[@]}" "${cmake_san[@]}" -DCMAKE_PREFIX_PATH="$prefix" \
      >"$tmp/ex.log" 2>&1 || { cat "$tmp/ex.log"; fail "configure the examples (find_package(mc2 COMPONENTS native))"; }
cmake --build "$tmp/ex" -j 2 >"$tmp/ex-build.log" 2>&1 || { cat "$tmp/ex-build.log"; fail "build the examples"; }
export MC2_API_QUIET=1
"$tmp/ex/arn_threads" int8 | tee "$tmp/arn.log"; grep -q PASS "$tmp/arn.log" || fail "arn_threads"
"$tmp/ex/moe_threads" fp16 h | tee "$tmp/moe.log"; grep -q PASS "$tmp/moe.log" || fail "moe_threads"
"$tmp/ex/atb_linear_parallel" float | tee "$tmp/atb.log"; grep -q PASS "$tmp/atb.log" || fail "atb_linear_parallel"
mkdir "$tmp/rootinfo"
"$prefix/bin/mc2" launch -n 2 "$tmp/ex/hccl_rootinfo" "$tmp/rootinfo" | tee "$tmp/ri.log"
grep -q FAIL "$tmp/ri.log" && fail "hccl_rootinfo"
echo "PASS"
