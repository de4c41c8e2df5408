#!/usr/bin/env bash
# A small AF-Multimer training dataset of real complexes, for `fold train` and
# `fold ablate` with a multimer config (fold ablate takes the longest complex, 4HHB):
#   4hhb_A..D   haemoglobin alpha2 beta2 (r-bioc-rcpi's 4HHB.pdb, 1.74 A, 574 residues),
#               with the alignments of make-complex-alignments.sh; chains C and D have
#               A's and B's sequences, so their folders are links to A's and B's
#   2q2k_A, _B  a homodimer, with its alignments (../shared/data)
# into OUT (default examples/complexes/complexes.h5).
# usage: tools/examples/make-complex-dataset.sh [--out H5] [--alignments DIR] [--fold BIN]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache="$root/examples/.cache"
shared="$root/../shared/data"
alignments="$root/examples/complexes"
out="$root/examples/complexes/complexes.h5"
fold_bin="$root/build/fold/fold"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(realpath -m "$2"); shift ;;
    --alignments) alignments=$(realpath -m "$2"); shift ;;
    --fold) fold_bin="$2"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "make-complex-dataset.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "make-complex-dataset.sh: $*" >&2; exit 1; }
[ -x "$fold_bin" ] || die "no fold binary at $fold_bin (build first, or --fold BIN)"
pdb="$cache/r-bioc-rcpi/usr/lib/R/site-library/Rcpi/protseq/4HHB.pdb"
[ -f "$pdb" ] || die "$cache is missing 4HHB.pdb; run tools/setup.sh"
for c in A B; do
  [ -d "$alignments/4hhb_$c" ] ||
    die "no $alignments/4hhb_$c: run tools/examples/make-complex-alignments.sh (after tools/setup.sh --with-swissprot)"
done
[ -f "$shared/mmcif/2q2k.cif" ] || die "$shared/mmcif/2q2k.cif not present"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/structures" "$work/alignments" "$(dirname "$out")"
ln -s "$pdb" "$work/structures/4hhb.pdb"
for pair in A:A B:B C:A D:B; do
  ln -s "$alignments/4hhb_${pair#*:}" "$work/alignments/4hhb_${pair%:*}"
done
rm -f "$out"
"$fold_bin" prepare --quiet --mmcif-dir "$work/structures" --alignment-dir "$work/alignments" --out "$out" > /dev/null
"$fold_bin" prepare --quiet --mmcif-dir "$shared/mmcif" --alignment-dir "$shared/alignments" --chains 2q2k_A,2q2k_B \
  --out "$out" > /dev/null
"$fold_bin" inspect "$out" | python3 -c '
import json, sys
chains = json.load(sys.stdin)["chain_list"]
print(len(chains), "chains:", ", ".join("%s (%d aa, MSA %d rows)" % (c["id"], c["length"], c["msa_depth"]) for c in chains))'
echo "wrote $out"
