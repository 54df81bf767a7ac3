#!/usr/bin/env python3
"""Fails unless README.md shows each given source file verbatim inside a fenced code block."""
import re
import sys

readme = open(sys.argv[1]).read()
blocks = re.findall(r"```[a-z+]*\n(.*?)```", readme, re.S)
missing = [path for path in sys.argv[2:] if open(path).read() not in blocks]
for path in missing:
    print(f"README.md does not show {path} verbatim in a code block", file=sys.stderr)
sys.exit(1 if missing else 0)
