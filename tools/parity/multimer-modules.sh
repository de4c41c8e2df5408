#!/usr/bin/env bash
# AlphaFold-Multimer's modules against OpenFold: computes OpenFold's values
# (openfold_multimer_modules.py, random weights and inputs, float32 and float64) into a
# scratch folder, then runs the tests that read them (FOLD_OPENFOLD_MULTIMER_REF) and
# prints each error. Without this the tests skip, saying so: the values come from running
# OpenFold and are not kept in the repository.
#
# usage: tools/parity/multimer-modules.sh --openfold DIR [--python PY] [--build DIR] [--keep DIR]
# DIR is an OpenFold checkout (ce0029e is the anchor); PY a Python with the PyTorch that
# tools/setup.sh installs and ml-collections, dm-tree, scipy, biopython and modelcif.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
openfold="" python=python3 build="$root/build" keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --openfold) openfold=$2; shift ;;
    --python) python=$2; shift ;;
    --build) build=$2; shift ;;
    --keep) keep=$2; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "multimer-modules.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$openfold" ] && [ -d "$openfold/openfold" ] || { echo "multimer-modules.sh: --openfold must name an OpenFold checkout" >&2; exit 2; }
[ -f "$build/CTestTestfile.cmake" ] || { echo "multimer-modules.sh: no build in $build" >&2; exit 2; }
out=${keep:-$(mktemp -d)}
[ -n "$keep" ] || trap 'rm -rf "$out"' EXIT
echo "# OpenFold $(git -C "$openfold" rev-parse --short HEAD 2>/dev/null || echo "(no git)"), fold $(git -C "$root" rev-parse --short HEAD)"
"$python" "$root/tools/parity/openfold_multimer_modules.py" --openfold "$openfold" --out "$out"
FOLD_OPENFOLD_MULTIMER_REF=$out ctest --test-dir "$build" --output-on-failure -V \
  -R '^((InputEmbedder|EvoformerBlock|TemplatePairStack|Confidence)\.(Multimer|InterfaceTm)|TemplateEmbedderMultimer\.)MatchesOpenFold$' |
  grep -E '^\S*[0-9]+: \[ errors|Passed|Failed|tests passed|Skipped' | sed -E 's/^[0-9]+: //'
