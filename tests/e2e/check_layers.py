#!/usr/bin/env python3
"""Checks docs/design.md's dependency rules against the code: the includes and the link lines.

Usage: check_layers.py DESIGN_MD REPO_ROOT LAYER_LINKS_TXT
       check_layers.py --self-test

The rules are read from design.md's "| layer | may use |" table (so the page and the check cannot drift):
  - every `#include "L/..."` in src/<layer>/ or tools/ names the same layer or one it may use;
  - every mc2_<layer> library (and the mc2 CLI) links only the libraries of layers it may use
    (LAYER_LINKS_TXT is written by cmake/Mc2LayerLinks.cmake at configure time).
Prints each violation with the file and line or the target, and exits 1 if there is any.
"""
import os
import re
import sys
import tempfile

LAYERS = ["core", "reference", "kernels", "comm", "ops", "api", "tools"]


def read_rules(design_md):
    rules = {}
    for line in open(design_md):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0]:
            continue
        layer = cells[0].split()[0]
        if layer not in LAYERS:
            continue
        allowed_text = re.split(r"—|--|never", cells[1])[0]  # "..., core — never api": only what comes before
        allowed = {w for w in re.findall(r"[a-z]+", allowed_text) if w in LAYERS}
        rules[layer] = allowed | {layer}
    missing = [l for l in LAYERS if l not in rules]
    if missing:
        raise SystemExit(f"{design_md}: no rule for the layer(s) {missing}")
    return rules


def check_includes(rules, root):
    errors = []
    include = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')
    for layer in LAYERS:
        base = os.path.join(root, "tools" if layer == "tools" else os.path.join("src", layer))
        for dirpath, _, files in os.walk(base):
            for f in sorted(files):
                if not f.endswith((".h", ".cc", ".cpp", ".inc")):
                    continue
                path = os.path.join(dirpath, f)
                for n, line in enumerate(open(path, errors="replace"), 1):
                    m = include.match(line)
                    if m and m.group(1) in LAYERS and m.group(1) not in rules[layer]:
                        errors.append(f"{os.path.relpath(path, root)}:{n}: {layer} includes {m.group(1)}/ "
                                      f"(it may use {', '.join(sorted(rules[layer] - {layer})) or 'nothing of ours'})")
    return errors


def check_links(rules, links_txt):
    errors = []
    seen = set()
    for line in open(links_txt):
        if ":" not in line:
            continue
        target, deps = line.split(":", 1)
        target = target.strip()
        layer = "tools" if target == "mc2" else target[len("mc2_"):]
        if layer not in rules:
            continue
        seen.add(layer)
        for dep in filter(None, (d.strip() for d in deps.strip().split(";"))):
            dep_layer = dep[len("mc2_"):] if dep.startswith("mc2_") else None
            if dep_layer in LAYERS and dep_layer not in rules[layer]:
                errors.append(f"target {target} links {dep}: {layer} may not use {dep_layer}")
    for layer in ("core", "reference", "kernels", "comm", "ops", "tools"):
        if layer not in seen:
            errors.append(f"{links_txt}: no link line of the {layer} layer")
    return errors


def self_test():
    """The check must catch a violation of each kind (a check that cannot fail proves nothing)."""
    with tempfile.TemporaryDirectory() as d:
        design = os.path.join(d, "design.md")
        open(design, "w").write("| layer | may use |\n|---|---|\n| core | nothing of ours |\n"
                                "| reference | core |\n| kernels | core (and Highway) |\n| comm | core |\n"
                                "| ops | kernels, comm, core |\n| api | ops, comm, core |\n"
                                "| tools (the `mc2` CLI) | ops, kernels, comm, reference, core — never api |\n")
        rules = read_rules(design)
        assert rules["tools"] == {"ops", "kernels", "comm", "reference", "core", "tools"}, rules["tools"]
        assert rules["core"] == {"core"}, rules["core"]
        for sub in ("src/kernels", "src/ops", "tools"):
            os.makedirs(os.path.join(d, sub))
        open(os.path.join(d, "src/kernels/a.cc"), "w").write('#include "kernels/a.h"\n#include "comm/x.h"\n')
        open(os.path.join(d, "src/ops/b.cc"), "w").write('#include "comm/x.h"\n#include "kernels/a.h"\n')
        open(os.path.join(d, "tools/c.cc"), "w").write('#include "api/runtime.h"\n')
        errors = check_includes(rules, d)
        assert len(errors) == 2 and "src/kernels/a.cc:2" in errors[0] and "tools/c.cc:1" in errors[1], errors
        links = os.path.join(d, "links.txt")
        open(links, "w").write("mc2_core: Threads::Threads\nmc2_reference: mc2_core\nmc2_kernels: mc2_core;hwy::hwy\n"
                               "mc2_comm: mc2_core;mc2_kernels\nmc2_ops: mc2_kernels;mc2_comm;mc2_core\n"
                               "mc2: mc2_ops;mc2_api\n")
        errors = check_links(rules, links)
        assert len(errors) == 2 and "mc2_comm links mc2_kernels" in errors[0] and "mc2 links mc2_api" in errors[1], errors
    print("check_layers self-test: ok")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    design, root, links = sys.argv[1:4]
    rules = read_rules(design)
    errors = check_includes(rules, root) + check_links(rules, links)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print("layers: " + "; ".join(f"{l} -> {', '.join(sorted(rules[l] - {l})) or '-'}" for l in LAYERS) + ": ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
