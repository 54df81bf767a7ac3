#!/usr/bin/env bash
# mc2 bench SUITE --quick: the JSON records parse and follow docs/bench.md's schema (every field,
# its type, the ranks the suite runs on, positive ordered times), --plot writes a PNG, and for the
# kernels suite --trace writes valid Chrome trace JSON with spans of both ranks.
# Usage: cli_bench.sh MC2_BINARY SUITE
set -euo pipefail
mc2=$1
suite=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
extra=()
[[ $suite == kernels ]] && extra=(--trace "$dir/trace.json")
"$mc2" bench "$suite" --quick --json "$dir/r.json" --plot "$dir/r.png" "${extra[@]}"
python3 - "$suite" "$dir/r.json" "$dir/r.png" "$dir/trace.json" <<'PY'
import json, os, sys
suite, records_path, png_path, trace_path = sys.argv[1:5]
records = json.load(open(records_path))
assert isinstance(records, list) and records, "no records"
strings = ("suite", "case", "implementation", "shape")
numbers = ("median_us", "min_us", "max_us")
optional = ("gbps", "gflops")
def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)
for r in records:
    assert set(r) == set(strings + numbers + optional + ("ranks",)), f"record keys {sorted(r)}"
    for k in strings:
        assert isinstance(r[k], str) and r[k], (k, r)
    assert r["suite"] == suite, r
    assert isinstance(r["ranks"], int) and not isinstance(r["ranks"], bool), r
    for k in numbers:
        assert number(r[k]) and r[k] > 0, (k, r)
    assert r["min_us"] <= r["median_us"] <= r["max_us"], r
    for k in optional:
        assert r[k] is None or (number(r[k]) and r[k] > 0), (k, r)
impls = {r["implementation"] for r in records}
if suite == "kernels":
    assert all(r["ranks"] == 1 for r in records), "kernels run on one rank"
    assert any(i.startswith("mc2_") for i in impls), impls
elif suite == "collectives":
    assert all(r["ranks"] == 2 for r in records), "collectives --quick runs on 2 ranks"
    assert {"mc2", "openmpi"} <= impls, impls
    assert all(r["gbps"] is not None for r in records), "collectives carry the bus bandwidth"
else:
    # Every operator, fused and chained, on its ranks (ARN and LinearParallel 2, MoE an EP 2 x TP 2 grid).
    want = {"WeightQuantMatmulAllReduceAddRmsNorm": 2, "LinearParallel LINEAR_ALL_REDUCE": 2,
            "AlltoAllAllGatherBatchMatMul": 4}
    for case, ranks in want.items():
        rows = [r for r in records if r["case"] == case]
        assert rows, f"no record of {case}"
        assert all(r["ranks"] == ranks for r in rows), (case, rows)
        variants = {r["implementation"] for r in rows}
        assert "fused" in variants and any(v.startswith("chain") for v in variants), (case, variants)
        if case != "AlltoAllAllGatherBatchMatMul":  # 2 m k n / time of the local product
            assert all(r["gflops"] is not None for r in rows if r["implementation"] == "fused"), rows
png = open(png_path, "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000, "--plot did not write a PNG"
msg = f"bench {suite}: {len(records)} records, plot {len(png)} bytes"
if suite == "kernels":
    trace = json.load(open(trace_path))
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert {e["pid"] for e in spans} == {0, 1}, "spans of both ranks expected"
    for e in spans:
        assert e["dur"] >= 0 and e["ts"] >= 0 and e["cat"] in {"compute", "comm", "reduce", "norm", "wait", "other"}, e
    msg += f", trace: {len(spans)} spans"
print(msg + ": ok")
PY
