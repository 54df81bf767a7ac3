#!/usr/bin/env python3
"""The operator pages' pictures: docs/img/draw.py regenerates exactly the committed SVGs, each SVG is
well-formed XML with drawn boxes, and each page under docs/ops shows its picture.

Usage: check_pictures.py REPO_ROOT
"""
import os
import subprocess
import sys
import tempfile
import xml.dom.minidom

root = sys.argv[1]
img = os.path.join(root, "docs", "img")
pages = {"arn.md": "arn_fusion.svg", "linear_parallel.md": "linear_parallel_fusion.svg", "moe.md": "moe_pipeline.svg"}
errors = []
with tempfile.TemporaryDirectory() as d:
    subprocess.run([sys.executable, os.path.join(img, "draw.py"), d], check=True)
    for page, svg in pages.items():
        committed = os.path.join(img, svg)
        if not os.path.exists(committed):
            errors.append(f"{svg}: missing (run docs/img/draw.py)")
            continue
        if open(committed).read() != open(os.path.join(d, svg)).read():
            errors.append(f"{svg}: differs from what docs/img/draw.py draws (run it and commit the result)")
        doc = xml.dom.minidom.parse(committed)
        if doc.documentElement.tagName != "svg" or len(doc.getElementsByTagName("rect")) < 10:
            errors.append(f"{svg}: not an SVG picture")
        text = open(os.path.join(root, "docs", "ops", page)).read()
        if f"](../img/{svg})" not in text:
            errors.append(f"docs/ops/{page}: does not show ../img/{svg}")
for e in errors:
    print(e, file=sys.stderr)
if not errors:
    print(f"pictures: {len(pages)} pages, SVGs up to date: ok")
sys.exit(1 if errors else 0)
