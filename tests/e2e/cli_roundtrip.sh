#!/usr/bin/env bash
# run-op -> compare round trips through the mc2 command, for every operator: the golden model
# (CANN rounding and float64) and the fused operator (threads and processes).
# Usage: cli_roundtrip.sh MC2_BINARY
set -euo pipefail
mc2=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

check() {  # check OP RANKS EXTRA...
  local op=$1 ranks=$2
  shift 2
  "$mc2" gen-inputs "$op" --outputs "$dir/$op/in" --ranks "$ranks"
  "$mc2" run-op "$op" --inputs "$dir/$op/in" --outputs "$dir/$op/a" --reference "$@"
  "$mc2" run-op "$op" --inputs "$dir/$op/in" --outputs "$dir/$op/b" --reference=cann "$@"
  "$mc2" run-op "$op" --inputs "$dir/$op/in" --outputs "$dir/$op/exact" --reference=exact "$@"
  # The golden model is deterministic: two runs agree exactly.
  "$mc2" compare "$dir/$op/a" "$dir/$op/b" --rule allclose --rtol 0 --atol 0
  # CANN rounding against float64 within the operator's own test rule.
  "$mc2" compare "$dir/$op/a" "$dir/$op/exact" --op "$op"
  # The fused operator (ranks as threads, then as processes) against the golden model.
  "$mc2" run-op "$op" --inputs "$dir/$op/in" --outputs "$dir/$op/fused" "$@"
  "$mc2" compare "$dir/$op/fused" "$dir/$op/a" --op "$op"
  "$mc2" run-op "$op" --inputs "$dir/$op/in" --outputs "$dir/$op/fused_p" --processes "$@"
  "$mc2" compare "$dir/$op/fused_p" "$dir/$op/a" --op "$op"
}

check arn 2
check moe 4 --ep 2 --tp 2 --act-type gelu --y2 --y3
check lp 2
check arn-inplace 2

# The fused output is judged, not just produced: a fused output compared with another rank's fails.
cp "$dir/arn/fused/rank1/normOut.npy" "$dir/arn/fused/rank0/normOut.npy"
if "$mc2" compare "$dir/arn/fused" "$dir/arn/a" --op arn >/dev/null; then
  echo "compare accepted a wrong fused output" >&2
  exit 1
fi

# A wrong value is caught: perturb one output by rewriting it with the other rank's.
cp "$dir/lp/a/rank1/output.npy" "$dir/lp/b/rank0/output.npy"
if "$mc2" compare "$dir/lp/b" "$dir/lp/a" --op lp; then
  echo "compare accepted a wrong output" >&2
  exit 1
fi
# Missing and malformed inputs are usage errors, not crashes.
if "$mc2" run-op arn --inputs "$dir/lp/in" --outputs "$dir/x" --reference 2>"$dir/err"; then exit 1; fi
grep -q "x1.npy: missing" "$dir/err"
echo "garbage" > "$dir/arn/in/rank0/gamma.npy"
if "$mc2" run-op arn --inputs "$dir/arn/in" --outputs "$dir/x" --reference 2>"$dir/err"; then exit 1; fi
grep -q "gamma.npy" "$dir/err"
echo "cli round trip: ok"
