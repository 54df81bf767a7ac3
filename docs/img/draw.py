#!/usr/bin/env python3
"""Draws the fusion / overlap pictures of docs/ops/*.md as SVG (no dependencies beyond Python 3).

Usage: docs/img/draw.py [OUTPUT_DIR]   (default: the directory of this script)

Each picture is a timeline: one lane per rank (or per thread / pipeline stage), time to the right,
one box per piece of work, coloured by kind (the same categories as the trace, src/core/trace.h):
compute (matmul), comm (data moved between ranks), reduce (sums), norm (add + RMSNorm / epilogue),
wait. Arrows show a rank reading or writing another rank's symmetric buffer. The pictures are
schematic (equal slots, not measured times); the figures are in the pages' tables.
The test design.svg_pictures regenerates them and fails if a committed SVG differs.
"""
import os
import sys
from xml.sax.saxutils import escape

COLORS = {  # fill, stroke
    "compute": ("#9ecae1", "#3182bd"),
    "comm": ("#fdd0a2", "#e6550d"),
    "reduce": ("#fdae6b", "#d94801"),
    "norm": ("#a1d99b", "#31a354"),
    "wait": ("#e0e0e0", "#969696"),
    "rank": ("#f2f0f7", "#756bb1"),
}
LABEL_W = 150  # lane labels
SLOT = 92      # width of one time slot
LANE_H = 30
FONT = "font-family='DejaVu Sans, Arial, sans-serif'"


class Svg:
    def __init__(self, width, title):
        self.width = width
        self.items = []
        self.y = 12
        self.text(10, self.y + 16, title, size=16, weight="bold")
        self.y += 34

    def text(self, x, y, s, size=12, anchor="start", weight="normal", color="#222"):
        self.items.append(f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' "
                          f"font-weight='{weight}' fill='{color}' {FONT}>{escape(s)}</text>")

    def rect(self, x, y, w, h, kind, label="", size=11):
        fill, stroke = COLORS[kind]
        self.items.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' height='{h:.1f}' rx='3' "
                          f"fill='{fill}' stroke='{stroke}' stroke-width='1.2'/>")
        if label:
            self.text(x + w / 2, y + h / 2 + 4, label, size=size, anchor="middle")

    def arrow(self, x1, y1, x2, y2, color="#555", dashed=False):
        dash = " stroke-dasharray='4,3'" if dashed else ""
        self.items.append(f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' stroke='{color}' "
                          f"stroke-width='1.3' marker-end='url(#arrow)'{dash}/>")

    def panel(self, title, note=""):
        self.y += 8
        self.text(10, self.y + 14, title, size=13, weight="bold")
        self.y += 22
        if note:
            for line in note.split("\n"):
                self.text(14, self.y + 12, line, size=11, color="#444")
                self.y += 16
        self.y += 4

    def lanes(self, labels):
        """Starts a timeline of the given lanes; returns {label: y of the lane's top}."""
        tops = {}
        for label in labels:
            tops[label] = self.y
            self.text(10, self.y + LANE_H / 2 + 4, label, size=12)
            self.items.append(f"<line x1='{LABEL_W - 6}' y1='{self.y + LANE_H:.1f}' x2='{self.width - 10}' "
                              f"y2='{self.y + LANE_H:.1f}' stroke='#ddd'/>")
            self.y += LANE_H + 8
        return tops

    def box(self, top, t0, t1, kind, label, size=11):
        """A box in the lane whose top is `top`, from slot t0 to slot t1 (fractions allowed)."""
        x0 = LABEL_W + t0 * SLOT
        self.rect(x0 + 1, top + 3, (t1 - t0) * SLOT - 2, LANE_H - 6, kind, label, size)
        return x0, x0 + (t1 - t0) * SLOT

    def legend(self, kinds):
        self.y += 6
        x = 10
        names = {"compute": "compute (matmul)", "comm": "data between ranks", "reduce": "reduction (fp32 sum)",
                 "norm": "add + RMSNorm / epilogue", "wait": "wait for a peer", "rank": "a rank (its EP and TP buffers)"}
        for k in kinds:
            self.rect(x, self.y, 16, 12, k)
            self.text(x + 22, self.y + 11, names[k], size=11)
            x += 34 + 7 * len(names[k])
        self.y += 24

    def save(self, path):
        h = self.y + 8
        head = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{h:.0f}' "
                f"viewBox='0 0 {self.width} {h:.0f}'>\n"
                "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
                "orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='#555'/></marker></defs>\n"
                f"<rect width='100%' height='100%' fill='white'/>\n")
        with open(path, "w") as f:
            f.write(head + "\n".join(self.items) + "\n</svg>\n")


def arn(path):
    s = Svg(1000, "WeightQuantMatmulAllReduceAddRmsNorm: how the fusion and the overlap work (2 ranks)")
    s.panel("Decode, one-shot (m·n·2 ≤ 256 KiB): the product goes straight into the rank's symmetric buffer",
            "Each rank's matmul epilogue writes P_r into its own half[seq % 2] and raises its flag; every rank then\n"
            "sums P_0 + P_1 in fp32, rank order, one rounding (A), adds its residual and norms: no copy-in, no exit barrier.")
    tops = s.lanes(["rank 0", "rank 1"])
    for r, top in enumerate(tops.values()):
        s.box(top, 0, 3, "compute", f"x1_{r} @ dequant(x2_{r}) → P_{r} in own half")
        s.box(top, 3, 3.4, "wait", "flag")
        s.box(top, 3.4, 6.4, "reduce", "A = P_0 + P_1 (reads peer half in place)")
        s.box(top, 6.4, 8.6, "norm", "y = A + res_r; normOut = rms·γ")
    s.arrow(LABEL_W + 3 * SLOT - 10, tops["rank 1"] + 6, LABEL_W + 4.2 * SLOT, tops["rank 0"] + LANE_H - 3)
    s.arrow(LABEL_W + 3 * SLOT - 10, tops["rank 0"] + LANE_H - 6, LABEL_W + 4.2 * SLOT, tops["rank 1"] + 3)

    s.panel("Prefill, two-shot in chunks: the reduction of chunk i runs between the matmuls of the next chunks",
            "Rows of each chunk are split between the ranks: rank q sums its rows of chunk i over every rank's half (RSi),\n"
            "norms them and signals; the other ranks read q's reduced rows and norm them locally (AGi). One thread per rank.")
    tops = s.lanes(["rank 0", "rank 1"])
    for top in tops.values():
        t = 0.0
        plan = [("compute", "MM0", 1.0), ("compute", "MM1", 1.0), ("reduce", "RS0", 0.35),
                ("compute", "MM2", 1.0), ("reduce", "RS1", 0.35), ("norm", "AG0", 0.3),
                ("compute", "MM3", 1.0), ("reduce", "RS2", 0.35), ("norm", "AG1", 0.3),
                ("reduce", "RS3", 0.35), ("norm", "AG2", 0.3), ("norm", "AG3", 0.3)]
        for kind, label, w in plan:
            s.box(top, t, t + w, kind, label, size=10)
            t += w
    s.text(LABEL_W, s.y + 4, "MMi: matmul of chunk i into the buffer; RSi: sum + add + RMSNorm of the own rows of chunk i; "
           "AGi: norm of the peers' reduced rows. Chunks ≥ 256 rows.", size=10, color="#444")
    s.y += 16

    s.panel("Across machines (no mapped peer buffers): chained, the all-reduce of chunk i on a progress thread",
            "The caller keeps the core on the matmul of chunk i + 1 while the plan's progress thread blocks in the\n"
            "collective of chunk i (Communicator::AllReduce over the network) and then adds + norms it.")
    tops = s.lanes(["caller", "progress thread"])
    for i in range(4):
        s.box(tops["caller"], i * 1.5, i * 1.5 + 1.5, "compute", f"MM{i} → normOut rows")
        s.box(tops["progress thread"], i * 1.5 + 1.5, i * 1.5 + 2.55, "comm", f"AllReduce {i}")
        s.box(tops["progress thread"], i * 1.5 + 2.55, i * 1.5 + 3.0, "norm", f"N{i}", size=10)
        s.arrow(LABEL_W + (i * 1.5 + 1.5) * SLOT - 4, tops["caller"] + LANE_H - 4,
                LABEL_W + (i * 1.5 + 1.5) * SLOT + 8, tops["progress thread"] + 4)
    s.box(tops["caller"], 6.0, 7.5, "wait", "wait for the last")
    s.legend(["compute", "comm", "reduce", "norm", "wait"])
    s.save(path)


def linear_parallel(path):
    s = Svg(1000, "LinearParallel: how the fusion and the overlap work (2 ranks)")
    s.panel("LINEAR_ALL_REDUCE: as WeightQuantMatmulAllReduceAddRmsNorm without the norm",
            "Decode one-shot: every rank sums all rows of both halves and adds the residual. Prefill two-shot in chunks\n"
            "(≥ 64 rows): rank q sums its rows of chunk i into its half and signals, the others copy them (+ residual).")
    tops = s.lanes(["rank 0", "rank 1"])
    for top in tops.values():
        t = 0.0
        for kind, label, w in [("compute", "mm c0 → half_r", 1.3), ("compute", "mm c1 → half_r", 1.3),
                               ("reduce", "Σ own rows c0", 0.9), ("comm", "copy c0 + res", 1.0),
                               ("compute", "mm c2 → half_r", 1.3), ("reduce", "Σ own c1", 0.8),
                               ("comm", "copy c1", 0.6), ("reduce", "Σ own c2", 0.6), ("comm", "copy c2", 0.6)]:
            s.box(top, t, t + w, kind, label, size=10)
            t += w

    s.panel("LINEAR_REDUCE_SCATTER: the peers' blocks first, the own block last in each chunk round",
            "Rank r multiplies the rows of block r + 1, r + 2, ..., then its own block r, writing each into its half; the sum\n"
            "of its own block's chunk i (over every rank's half, rank order) runs behind the matmuls of round i + 1.")
    tops = s.lanes(["rank 0", "rank 1"])
    for r, top in enumerate(tops.values()):
        other, own = 1 - r, r
        t = 0.0
        for kind, label, w in [("compute", f"mm blk{other} c0", 1.1), ("compute", f"mm blk{own} c0", 1.1),
                               ("compute", f"mm blk{other} c1", 1.1), ("reduce", f"Σ blk{own} c0 → out", 1.0),
                               ("compute", f"mm blk{own} c1", 1.1), ("reduce", f"Σ blk{own} c1 → out", 1.0)]:
            s.box(top, t, t + w, kind, label, size=10)
            t += w
    s.arrow(LABEL_W + 1.1 * SLOT - 6, tops["rank 1"] + 5, LABEL_W + 3.6 * SLOT, tops["rank 0"] + LANE_H - 4, dashed=True)
    s.arrow(LABEL_W + 1.1 * SLOT - 6, tops["rank 0"] + LANE_H - 5, LABEL_W + 3.6 * SLOT, tops["rank 1"] + 4, dashed=True)

    s.panel("ALL_GATHER_LINEAR: multiply the own shard while the peers' shards arrive",
            "Each rank copies x_r into its half and signals, multiplies its own rows from x_r, then each peer's rows straight\n"
            "from that peer's half as soon as its flag is up (no gathered copy; keepIntermediate writes one).")
    tops = s.lanes(["rank 0", "rank 1"])
    for r, top in enumerate(tops.values()):
        s.box(top, 0, 0.8, "comm", f"x_{r} → half_{r}", size=10)
        s.box(top, 0.8, 3.3, "compute", f"rows of x_{r} @ W_{r}")
        s.box(top, 3.3, 5.8, "compute", f"rows of x_{1 - r} (read from half_{1 - r}) @ W_{r}")
    s.arrow(LABEL_W + 0.8 * SLOT - 4, tops["rank 1"] + 5, LABEL_W + 3.5 * SLOT, tops["rank 0"] + LANE_H - 4, dashed=True)
    s.arrow(LABEL_W + 0.8 * SLOT - 4, tops["rank 0"] + LANE_H - 5, LABEL_W + 3.5 * SLOT, tops["rank 1"] + 4, dashed=True)

    s.panel("ALL_GATHER_LINEAR_REDUCE_SCATTER (agDim × rsDim grid): chunk rounds as REDUCE_SCATTER",
            "Round i multiplies chunk i of every RS block of the gathered rows (AG peers' halves read in place), peers' blocks\n"
            "first; the RS-group sum of chunk i - 1 of the own block overlaps round i. Larger Q runs in passes over block rows.")
    tops = s.lanes(["rank j"])
    t = 0.0
    for kind, label, w in [("comm", "x_j → half_j", 0.8), ("compute", "round 0: chunk 0 of each block", 2.2),
                           ("compute", "round 1: chunk 1 of each block", 2.2), ("reduce", "Σ own c0 → out", 0.9),
                           ("compute", "round 2 ...", 1.2), ("reduce", "Σ own c1", 0.8)]:
        s.box(tops["rank j"], t, t + w, kind, label, size=10)
        t += w
    s.legend(["compute", "comm", "reduce"])
    s.save(path)


def moe(path):
    s = Svg(1000, "AlltoAllAllGatherBatchMatMul: the four-stage expert pipeline (one rank of an EP × TP grid)")
    s.panel("Each element of y2 crosses at most two communicators",
            "x_(i,j)[p·El + e] is pushed over EP into rank (p, j)'s EP half, forwarded into y2[e] in (p, j)'s TP half, and\n"
            "the TP peers (p, t) copy it from there: one EP hop, one TP hop. Stage k of expert e runs in iteration e + k.")
    # The grid: 2 x 2 with EP and TP groups.
    gx, gy = LABEL_W + 40, s.y
    cell = {}
    for p in range(2):
        for t in range(2):
            x, y = gx + t * 170, gy + p * 54
            s.rect(x, y, 130, 34, "rank", f"rank (p={p}, t={t})")
            cell[(p, t)] = (x, y)
    for p in range(2):
        x0, y0 = cell[(p, 0)]
        s.arrow(x0 + 130, y0 + 17, x0 + 170, y0 + 17)
    for t in range(2):
        x0, y0 = cell[(0, t)]
        s.arrow(x0 + 65, y0 + 34, x0 + 65, y0 + 54)
    s.text(gx + 360, gy + 14, "→  TP group (same p): AllGather of y2 along H (or C)", size=11)
    s.text(gx + 360, gy + 34, "↓  EP group (same t): AllToAll of the experts' tokens", size=11)
    s.text(gx + 360, gy + 54, "Only members of a communicator map its symmetric buffer,", size=11, color="#444")
    s.text(gx + 360, gy + 70, "so a hop ends at the rank that shares both groups.", size=11, color="#444")
    s.y = gy + 112

    s.panel("Pipelined pass over the local experts (El = 3 shown)",
            "Each wait is for what a peer did one iteration earlier: in a balanced grid the all-to-all and the all-gather of\n"
            "experts e + 1 and e + 2 are done (by the peers, on their cores) while this rank multiplies expert e.")
    tops = s.lanes(["push (EP)", "forward", "gather (TP)", "matmul + epilogue"])
    stages = [("push (EP)", "comm", "x[q·El+{e}] → EP peer q"), ("forward", "comm", "A_{e} → y2[{e}]"),
              ("gather (TP)", "comm", "peers' y2[{e}] blocks"), ("matmul + epilogue", "compute", "y2[{e}] @ W[{e}], bias+act")]
    for k, (lane, kind, fmt) in enumerate(stages):
        for e in range(3):
            s.box(tops[lane], (e + k) * 1.45, (e + k) * 1.45 + 1.4, kind, fmt.format(e=e), size=10)
    for i in range(6):
        s.text(LABEL_W + i * 1.45 * SLOT + 0.7 * SLOT, s.y + 4, f"iteration {i}", size=10, anchor="middle", color="#444")
    s.y += 14
    s.legend(["compute", "comm", "rank"])
    s.save(path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    arn(os.path.join(out, "arn_fusion.svg"))
    linear_parallel(os.path.join(out, "linear_parallel_fusion.svg"))
    moe(os.path.join(out, "moe_pipeline.svg"))


if __name__ == "__main__":
    main()
