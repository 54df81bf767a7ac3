#!/usr/bin/env python3
"""Runs the mpirun commands of README.md's "Across machines (mpirun)" section, as shown there.

Usage: readme_mpirun.py README.md BUILD_DIR

The only changes to each command are those this one machine needs: `--host a:2,b:2` (two machines of two
ranks) becomes `-x MC2_MPI_RANKS_PER_NODE=2`, which makes the runtime treat ranks 0-1 and 2-3 as two
machines (the MPI path between them, shared memory within); `build/default` becomes BUILD_DIR; mpirun gets
--allow-run-as-root --oversubscribe. The inputs the commands name (`in`, `DIR`) are made here, and what the
commands produce is checked: the demo's rows all PASS, run-op's outputs meet the operator's rule against
the golden model, the CANN-style program prints no FAIL.
"""
import os
import re
import shutil
import shlex
import subprocess
import sys
import tempfile

readme, build = sys.argv[1], os.path.abspath(sys.argv[2])
text = open(readme).read()
section = re.search(r"^## Across machines \(mpirun\)\n(.*?)^## ", text, re.S | re.M)
assert section, "README.md has no '## Across machines (mpirun)' section"
block = re.search(r"```sh\n(.*?)```", section.group(1), re.S)
assert block, "the section has no sh code block"
commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
commands = [c for c in commands if c.startswith("mpirun ")]
assert commands, "no mpirun command in the section"

mc2 = os.path.join(build, "tools", "mc2")
work = tempfile.mkdtemp()
env = dict(os.environ, MC2_COMM_TIMEOUT_MS="120000")


def run(argv, **kw):
    print("+", " ".join(argv), flush=True)
    return subprocess.run(argv, cwd=work, env=env, text=True, capture_output=True, timeout=900, **kw)


def check(result, what):
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    assert result.returncode == 0, f"{what}: exit {result.returncode}"


# The inputs the README's commands read: `in` for run-op (made with the README's own gen-inputs), DIR.
check(run([mc2, "gen-inputs", "lp", "--outputs", "in", "--ranks", "2"]), "gen-inputs")
os.mkdir(os.path.join(work, "DIR"))

ran = set()
try:
    for command in commands:
        argv = shlex.split(command.replace("--host a:2,b:2", "-x MC2_MPI_RANKS_PER_NODE=2"))
        argv = [a.replace("build/default", build, 1) if a.startswith("build/default") else a for a in argv]
        argv[1:1] = ["--allow-run-as-root", "--oversubscribe"]
        result = run(argv)
        check(result, command)
        assert "FAIL" not in result.stdout, f"{command}: a FAIL in its output"
        if argv[-1] == "demo":
            rows = re.findall(r"^[A-Z].* (PASS|FAIL)$", result.stdout, re.M)
            # the decoder layer's four rows and, on 4 ranks, the MoE row
            assert len(rows) == 5 and set(rows) == {"PASS"}, f"{command}: rows {rows}"
            ran.add("demo")
        elif "run-op" in argv:
            check(run([mc2, "run-op", "lp", "--inputs", "in", "--outputs", "golden", "--reference"]), "golden")
            check(run([mc2, "compare", "out", "golden", "--op", "lp"]), "compare with the golden model")
            ran.add("run-op")
        else:
            assert "PASS" in result.stdout, f"{command}: no PASS"
            ran.add(os.path.basename(argv[-2]))
finally:
    shutil.rmtree(work, ignore_errors=True)
print(f"README mpirun commands: {len(commands)} run ({', '.join(sorted(ran))}): ok")
