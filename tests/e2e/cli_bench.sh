#!/usr/bin/env bash
# mc2 bench --quick: the JSON records parse and follow docs/bench.md's schema; the trace is valid
# Chrome trace JSON with spans of both ranks.
# Usage: cli_bench.sh MC2_BINARY
set -euo pipefail
mc2=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$mc2" bench kernels --quick --json "$dir/k.json" --trace "$dir/trace.json"
python3 - "$dir/k.json" "$dir/trace.json" <<'PY'
import json, sys
records = json.load(open(sys.argv[1]))
assert isinstance(records, list) and records, "no records"
keys = {"suite", "case", "implementation", "shape", "ranks", "median_us", "min_us", "max_us", "gbps", "gflops"}
for r in records:
    assert set(r) == keys, f"record keys {sorted(r)}"
    assert r["suite"] == "kernels"
    assert r["median_us"] > 0 and r["min_us"] <= r["median_us"] <= r["max_us"], r
    assert r["gbps"] is None or r["gbps"] > 0, r
assert any(r["implementation"].startswith("mc2") for r in records), "no mc2 record"
trace = json.load(open(sys.argv[2]))
spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
assert {e["pid"] for e in spans} == {0, 1}, "spans of both ranks expected"
for e in spans:
    assert e["dur"] >= 0 and e["ts"] >= 0 and e["cat"] in {"compute", "comm", "reduce", "norm", "wait", "other"}, e
print(f"bench json: {len(records)} records, trace: {len(spans)} spans: ok")
PY
