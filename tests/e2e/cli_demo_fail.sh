#!/usr/bin/env bash
# mc2 demo judges its outputs: with one element of one operator's fused output made wrong (the
# hidden test hook --corrupt-output, docs/cli.md), that row says FAIL, the other rows still PASS,
# and the exit code is 1 — on processes and on threads, for a decoder row and for the MoE row.
# Usage: cli_demo_fail.sh MC2_BINARY
set -uo pipefail
mc2=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fails=0

expect_fail() {  # expect_fail ROW_PATTERN ARGS...
  local row=$1
  shift
  "$mc2" demo --iters 1 "$@" >"$out" 2>&1
  local code=$?
  local rows failed
  rows=$(grep -cE "^[A-Z].* (PASS|FAIL)$" "$out")
  failed=$(grep -cE "^[A-Z].* FAIL$" "$out")
  if ((code != 1 || rows != 5 || failed != 1)) || ! grep -qE "^${row}.* FAIL$" "$out" ||
     ! grep -q "mc2 demo: FAILED" "$out"; then
    echo "FAIL: mc2 demo $* -> exit $code (want 1, exactly the row '$row' FAIL of 5 rows):" >&2
    cat "$out" >&2
    fails=$((fails + 1))
  fi
}

expect_fail "LinearParallel LINEAR_REDUCE_SCATTER W8A8" --corrupt-output W8A8
expect_fail "AlltoAllAllGatherBatchMatMul" --threads --corrupt-output AlltoAll
expect_fail "WeightQuantMatmulAllReduceAddRmsNorm" --threads --corrupt-output WeightQuant
((fails == 0)) && echo "demo FAIL rows and exit code: ok"
exit $((fails > 0))
