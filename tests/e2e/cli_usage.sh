#!/usr/bin/env bash
# Wrong arguments to every subcommand: a usage message on stderr, a non-zero exit, no crash
# (exit codes >= 128 would be a signal, i.e. an abort or a stack trace).
# Usage: cli_usage.sh MC2_BINARY
set -uo pipefail
mc2=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0

expect_usage() {  # expect_usage PATTERN ARGS...: non-zero exit below 128, PATTERN on stderr
  local pattern=$1
  shift
  "$mc2" "$@" >"$dir/out" 2>"$dir/err"
  local code=$?
  if ((code == 0 || code >= 128)) || ! grep -qiE "$pattern" "$dir/err"; then
    echo "FAIL: mc2 $* -> exit $code, stderr:" >&2
    cat "$dir/err" >&2
    fails=$((fails + 1))
  fi
}

expect_usage "subcommand" 
expect_usage "subcommand|no-such" no-such-command
expect_usage "ranks" demo --ranks 3
expect_usage "preset" demo --preset 13b
expect_usage "iters" demo --iters 0
expect_usage "inputs.*required|required" run-op arn
expect_usage "op|operator" run-op no-such-op --inputs "$dir" --outputs "$dir/o"
expect_usage "rank0" run-op arn --inputs "$dir" --outputs "$dir/o"
expect_usage "suite" bench
expect_usage "suite|kernels" bench gpus
expect_usage "ranks" bench collectives --ranks 1
expect_usage "info" info --bogus
expect_usage "required|A|B|dir" compare
expect_usage "program|required" launch
# More of each subcommand's options: bad values, missing values, unknown options, stray arguments.
expect_usage "bogus|not expected|extra" demo --bogus
expect_usage "iters" demo --iters abc
expect_usage "iters" demo --iters 99999999999999999999
expect_usage "ranks" demo -n
expect_usage "info|extra|not expected" info extra-argument
expect_usage "op.*required|required" gen-inputs
expect_usage "outputs.*required|required" gen-inputs arn
expect_usage "op|operator" gen-inputs no-such-op --outputs "$dir/g"
expect_usage "ranks" gen-inputs arn --outputs "$dir/g" --ranks 9
expect_usage "dtype" gen-inputs arn --outputs "$dir/g" --dtype fp64
expect_usage "ranks" gen-inputs moe --outputs "$dir/g" --ranks 2
expect_usage "reference" run-op arn --inputs "$dir" --outputs "$dir/o" --reference=fp64
expect_usage "ranks" run-op arn --inputs "$dir" --outputs "$dir/o" --ranks 0
expect_usage "inputs" run-op arn --inputs "$dir/no-such-dir" --outputs "$dir/o"
expect_usage "x-shard-type" run-op moe --inputs "$dir" --outputs "$dir/o" --x-shard-type 2
expect_usage "required|actual|golden" compare "$dir"
expect_usage "no-such|exist" compare "$dir/no-such-a" "$dir"
expect_usage "not expected: ops" bench kernels ops
expect_usage "json" bench kernels --json
expect_usage "ranks" bench collectives -n 9
expect_usage "ranks" launch -n 0 true
expect_usage "cannot run" launch -n 2 /no/such/program

# Bad attribute values on valid inputs: a message naming the option, exit 1.
"$mc2" gen-inputs moe --outputs "$dir/moe" --ranks 4 >/dev/null
"$mc2" gen-inputs lp --outputs "$dir/lp" --ranks 2 >/dev/null
expect_usage "act" run-op moe --inputs "$dir/moe" --outputs "$dir/o" --ep 2 --tp 2 --act-type bogus --reference
expect_usage "ep|tp" run-op moe --inputs "$dir/moe" --outputs "$dir/o" --ep 3 --tp 2 --reference
expect_usage "type" run-op lp --inputs "$dir/lp" --outputs "$dir/o" --type bogus --reference
expect_usage "quant" run-op lp --inputs "$dir/lp" --outputs "$dir/o" --quant-type bogus --reference
expect_usage "op|operator" compare "$dir/lp" "$dir/lp" --op bogus
expect_usage "rule" compare "$dir/lp" "$dir/lp" --rule bogus

# --help works for every subcommand and names its options.
for cmd in demo info run-op compare gen-inputs launch bench; do
  if ! "$mc2" "$cmd" --help >"$dir/out" 2>&1 || ! grep -q "Usage" "$dir/out"; then
    echo "FAIL: mc2 $cmd --help" >&2
    fails=$((fails + 1))
  fi
done
((fails == 0)) && echo "usage errors: ok"
exit $((fails > 0))
