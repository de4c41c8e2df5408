#!/usr/bin/env bash
# AlphaFold-Multimer's whole model against OpenFold's, as `fold predict --features` runs
# it: OpenFold (openfold_multimer_model.py) builds model_1_multimer_v3 reduced to 2
# Evoformer and 2 extra-MSA blocks, with random weights, and runs a synthetic processed
# batch of two chains with 3 recycles; `fold import-params` converts its state dict,
# `fold predict --features` runs the batch, and the outputs are compared (final atoms
# within 1e-3 A RMS; logits, pTM, ipTM and the ranking confidence within 1e-4 relative);
# then the weights go out as AF2's multimer .npz (`fold export-params`), OpenFold's own
# converter must read that file back to the same weights, and `fold import-params` of it
# must predict the same.
# Runs the heteromer and the homomer, each with two templates, the heteromer under the
# early recycling stop, and a real homomer: OpenFold's own multimer data pipeline on PDB
# 2Q2K's two chains with their alignments (--alignments, default ../shared/data/alignments;
# that case needs pandas < 2.3 and numpy < 2 beside OpenFold, whose pipeline calls
# np.sum on a generator). The real homomer also carries a ground truth, twice: 2Q2K's
# deposited chains (--mmcif DIR holding 2q2k.cif, default ../shared/data/mmcif), and the
# prediction with its two chains exchanged (a truth the chain permutation must swap
# back). For those, `fold predict --loss` gives the multimer losses, and OpenFold's
# permutation and AlphaFoldLoss on the same outputs must agree, every term within 1e-4
# relative. OpenFold's loss reads openfold/resources/stereo_chemical_props.txt, which its
# scripts/install_third_party_dependencies.sh downloads (AlphaFold's
# alphafold/common/stereo_chemical_props.txt is the same file).
# And a real heteromer, PDB 4HHB's alpha and beta chains with MSAs paired by species
# (--complexes DIR, default examples/complexes, which tools/examples/make-complex-alignments.sh
# writes), with no recycling: at 287 residues one pair's recycling distogram bin (CB
# distances binned at 15 edges) falls on the other side of an edge after the first
# iteration, from a 1e-4 A difference, and the later iterations then differ by more
# than the targets (measured: 2 of 82,369 bin entries), so it checks the one iteration.
#
# usage: tools/parity/multimer-model.sh --openfold DIR [--python PY] [--fold build/fold/fold] [--keep DIR]
#          [--alignments DIR] [--mmcif DIR] [--complexes DIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
openfold="" python=python3 fold="$root/build/fold/fold" keep="" alignments="$root/../shared/data/alignments"
mmcif="$root/../shared/data/mmcif" complexes="$root/examples/complexes"
while [ $# -gt 0 ]; do
  case "$1" in
    --openfold) openfold=$2; shift ;;
    --python) python=$2; shift ;;
    --fold) fold=$2; shift ;;
    --keep) keep=$2; shift ;;
    --alignments) alignments=$2; shift ;;
    --mmcif) mmcif=$2; shift ;;
    --complexes) complexes=$2; shift ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "multimer-model.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$openfold" ] && [ -d "$openfold/openfold" ] || { echo "multimer-model.sh: --openfold must name an OpenFold checkout" >&2; exit 2; }
[ -x "$fold" ] || { echo "multimer-model.sh: $fold not built" >&2; exit 2; }
[ -f "$openfold/openfold/resources/stereo_chemical_props.txt" ] || {
  echo "multimer-model.sh: $openfold/openfold/resources/stereo_chemical_props.txt is missing (OpenFold's" \
    "scripts/install_third_party_dependencies.sh downloads it; AlphaFold's alphafold/common/ has the same file)" >&2
  exit 2
}
work=${keep:-$(mktemp -d)}
[ -n "$keep" ] || trap 'rm -rf "$work"' EXIT
py() { PYTHONPATH="$root/tools/parity" "$python" "$root/tools/parity/openfold_multimer_model.py" "$@"; }
status=0
kinds=(heteromer homomer early-stop)
if [ -d "$alignments/2q2k_A" ] && [ -d "$alignments/2q2k_B" ] && [ -f "$mmcif/2q2k.cif" ]; then
  kinds+=(real-homomer real-homomer-swapped)
else echo "multimer-model.sh: no $alignments/2q2k_{A,B} or $mmcif/2q2k.cif: the real homomer is left out"; fi
if [ -f "$complexes/4hhb.fasta" ]; then kinds+=(real-heteromer)
else echo "multimer-model.sh: no $complexes/4hhb.fasta (tools/examples/make-complex-alignments.sh): the real heteromer is left out"; fi
for kind in "${kinds[@]}"; do
  dir="$work/$kind"
  echo "## $kind"
  case $kind in
    homomer) extra=(--homomer) ;;
    # A tolerance no random model misses: both stop after the second iteration.
    early-stop) extra=(--tolerance 1000) ;;
    real-homomer) extra=(--real-homomer "$alignments" --ground-truth "$mmcif/2q2k.cif") ;;
    real-homomer-swapped) extra=(--real-homomer "$alignments" --ground-truth swapped-prediction) ;;
    real-heteromer) extra=(--real-complex "$complexes/4hhb.fasta" "$complexes" --recycles 0) ;;
    *) extra=() ;;
  esac
  loss=()
  case $kind in real-homomer*) loss=(--loss) ;; esac
  py make --openfold "$openfold" --out "$dir" "${extra[@]}" 2>/dev/null
  "$fold" import-params "$dir/model.pt" "$dir/params" --config "$dir/config.toml"
  "$fold" predict --features "$dir/batch.npz" --params "$dir/params/model.safetensors" --config "$dir/config.toml" \
    --out "$dir/fold" --save-outputs "$dir/fold.npz" "${loss[@]}" > "$dir/predict.log" 2>&1 || { cat "$dir/predict.log"; exit 1; }
  py compare "$dir/openfold.npz" "$dir/fold.npz" || status=1
  if [ ${#loss[@]} -gt 0 ]; then py losses --openfold "$openfold" --out "$dir" "$dir/fold.npz" 2>/dev/null || status=1; fi
  # AF2's multimer .npz layout: ours written, OpenFold's converter reads it back, and the
  # same file through fold import-params predicts the same.
  "$fold" export-params "$dir/params/model.safetensors" "$dir/af2.npz" --config "$dir/config.toml"
  py npz --openfold "$openfold" --out "$dir" "$dir/af2.npz" 2>/dev/null || status=1
  "$fold" import-params "$dir/af2.npz" "$dir/from_npz" --config "$dir/config.toml" > /dev/null
  "$fold" predict --features "$dir/batch.npz" --params "$dir/from_npz/af2.safetensors" --config "$dir/config.toml" \
    --out "$dir/fold_npz" --save-outputs "$dir/fold_npz.npz" > "$dir/predict_npz.log" 2>&1 || { cat "$dir/predict_npz.log"; exit 1; }
  echo "from the AF2 .npz:"
  py compare "$dir/openfold.npz" "$dir/fold_npz.npz" || status=1
done
exit $status
