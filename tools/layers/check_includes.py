#!/usr/bin/env python3
"""Checks that every project include points down the layers of tools/layers/layers.txt.

usage: check_includes.py [ROOT]   (ROOT: the repository, default this script's)

Every C++/CUDA source under a unit of the table may include files of its own unit and
of units on strictly lower layers; anything else is printed as
`file:line: includes X (unit U, layer N) from unit V, layer M` and the exit status is 1.
Files outside every unit (tests/, tools/) are not checked: tests include what they test.
"""
import os
import re
import sys

SOURCE_EXTENSIONS = (".h", ".cpp", ".cu", ".cuh")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def read_units(root):
    units = []
    with open(os.path.join(root, "tools", "layers", "layers.txt")) as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            if len(line) < 2 or not line[0].isdigit():
                sys.exit(f"layers.txt:{number}: expected '<layer> <path prefix> <targets...>'")
            for prefix in line[1].split(","):
                units.append((int(line[0]), prefix.rstrip("/"), line[1]))
    return units


def unit_of(path, units):
    """(layer, unit) of the longest prefix that names path, its stem or a folder above it."""
    best, best_length = None, -1
    for layer, prefix, unit in units:
        if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "."):
            if len(prefix) > best_length:
                best, best_length = (layer, unit), len(prefix)
    return best


def violations(root):
    units = read_units(root)
    found = []
    for top in sorted({prefix.split("/")[0] for _, prefix, _ in units}):
        for folder, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if not name.endswith(SOURCE_EXTENSIONS):
                    continue
                path = os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
                own = unit_of(path, units)
                if own is None:
                    continue
                with open(os.path.join(root, path), errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = unit_of(m.group(1), units)
                        if target is None or target == own or target[0] < own[0]:
                            continue
                        found.append(f"{path}:{number}: includes {m.group(1)} (unit {target[1]}, layer {target[0]}) "
                                     f"from unit {own[1]}, layer {own[0]}")
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    found = violations(root)
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} include(s) point up or sideways in the layers of tools/layers/layers.txt (ARCHITECTURE.md)")
        return 1
    print("layers: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
