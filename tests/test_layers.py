#!/usr/bin/env python3
"""The layering suite (ctest `layering_*`): tools/layers/check_includes.py passes on this
tree, and on a copy of it with one deliberate upward include (data/ including fold/) and
one sideways include (evoformer/ including structure_module/) it fails naming both.

usage: test_layers.py ROOT
"""
import os
import shutil
import subprocess
import sys
import tempfile

root = os.path.abspath(sys.argv[1])
checker = os.path.join(root, "tools", "layers", "check_includes.py")
failures = []


def check(tree):
    return subprocess.run([sys.executable, checker, tree], capture_output=True, text=True)


def expect(condition, what):
    print(("ok: " if condition else "FAIL: ") + what)
    if not condition:
        failures.append(what)


clean = check(root)
expect(clean.returncode == 0, "the tree's includes all point down\n" + clean.stdout)

with tempfile.TemporaryDirectory(prefix="fold-layers-") as copy:
    for top in ("data", "kernels", "dap", "evoformer", "structure_module", "fold"):
        shutil.copytree(os.path.join(root, top), os.path.join(copy, top),
                        ignore=shutil.ignore_patterns("*.txt", "*.md"))
    os.makedirs(os.path.join(copy, "tools", "layers"))
    shutil.copy(os.path.join(root, "tools", "layers", "layers.txt"), os.path.join(copy, "tools", "layers"))
    expect(check(copy).returncode == 0, "the unmodified copy passes")

    with open(os.path.join(copy, "data", "fasta.cpp"), "a") as f:
        f.write('\n#include "fold/model/alphafold.h"\n')
    with open(os.path.join(copy, "evoformer", "transition.h"), "a") as f:
        f.write('\n#include "structure_module/rigid.h"\n')
    broken = check(copy)
    expect(broken.returncode == 1, "an upward and a sideways include fail the check")
    expect("data/fasta.cpp" in broken.stdout and "fold/model/alphafold.h" in broken.stdout,
           "the message names data/fasta.cpp and what it includes\n" + broken.stdout)
    expect("evoformer/transition.h" in broken.stdout and "structure_module/rigid.h" in broken.stdout,
           "the message names the sideways include of evoformer/transition.h")

sys.exit(1 if failures else 0)
