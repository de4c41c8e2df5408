#!/usr/bin/env bash
# AlphaFold-Multimer's whole model against OpenFold's, as `fold predict --features` runs
# it: OpenFold (openfold_multimer_model.py) builds model_1_multimer_v3 reduced to 2
# Evoformer and 2 extra-MSA blocks, with random weights, and runs a synthetic processed
# batch of two chains with 3 recycles; `fold import-params` converts its state dict,
# `fold predict --features` runs the batch, and the outputs are compared (final atoms
# within 1e-3 A RMS; logits, pTM, ipTM and the ranking confidence within 1e-4 relative).
# Runs the heteromer and the homomer, each with two templates.
#
# usage: tools/parity/multimer-model.sh --openfold DIR [--python PY] [--fold build/fold/fold] [--keep DIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
openfold="" python=python3 fold="$root/build/fold/fold" keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --openfold) openfold=$2; shift ;;
    --python) python=$2; shift ;;
    --fold) fold=$2; shift ;;
    --keep) keep=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "multimer-model.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$openfold" ] && [ -d "$openfold/openfold" ] || { echo "multimer-model.sh: --openfold must name an OpenFold checkout" >&2; exit 2; }
[ -x "$fold" ] || { echo "multimer-model.sh: $fold not built" >&2; exit 2; }
work=${keep:-$(mktemp -d)}
[ -n "$keep" ] || trap 'rm -rf "$work"' EXIT
py() { PYTHONPATH="$root/tools/parity" "$python" "$root/tools/parity/openfold_multimer_model.py" "$@"; }
status=0
for kind in heteromer homomer; do
  dir="$work/$kind"
  echo "## $kind"
  py make --openfold "$openfold" --out "$dir" $([ "$kind" = homomer ] && echo --homomer) 2>/dev/null
  "$fold" import-params "$dir/model.pt" "$dir/params" --config "$dir/config.toml"
  "$fold" predict --features "$dir/batch.npz" --params "$dir/params/model.safetensors" --config "$dir/config.toml" \
    --out "$dir/fold" --save-outputs "$dir/fold.npz" > "$dir/predict.log" 2>&1 || { cat "$dir/predict.log"; exit 1; }
  py compare "$dir/openfold.npz" "$dir/fold.npz" || status=1
done
exit $status
