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

# --help works for every subcommand and names its options.
for cmd in demo info run-op compare gen-inputs launch bench; do
  if ! "$mc2" "$cmd" --help >"$dir/out" 2>&1 || ! grep -q "Usage" "$dir/out"; then
    echo "FAIL: mc2 $cmd --help" >&2
    fails=$((fails + 1))
  fi
done
((fails == 0)) && echo "usage errors: ok"
exit $((fails > 0))
