#!/usr/bin/env bash
# The main job for now: shows the build's environment and reads real example data
# (fetched by tools/setup.sh from Debian's data-only packages) through every parser.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fold="$root/build/fold/fold"
ex="$root/examples/.cache"
[ -x "$fold" ] || { echo "demo.sh: $fold is missing; run tools/setup.sh first" >&2; exit 1; }
[ -d "$ex" ] || { echo "demo.sh: $ex is missing; run tools/setup.sh first" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "fold info"
"$fold" info
theseus="$ex/theseus-examples/usr/share/doc/theseus/examples"
files=(
  "$theseus/trypsins/$(ls "$theseus/trypsins" | grep -m1 '\.pdb\.gz$')"   # header-less PDB
  "$ex/libcifpp-dev/usr/share/doc/libcifpp-dev/examples/1cbs.cif.gz"    # mmCIF
  "$ex/r-bioc-rcpi/usr/lib/R/site-library/Rcpi/protseq/4HHB.pdb"        # PDB with SEQRES
  "$theseus/trypsins/tryps.a2m.gz"                                      # family alignment
  "$ex/hmmer-doc/usr/share/doc/hmmer/tutorial/globins4.sto"             # Stockholm
  "$ex/python3-csb/usr/lib/python3/dist-packages/csb/test/data/d1nz0a_.a3m"
)
for f in "${files[@]}"; do
  step "fold inspect ${f#$root/}"
  "$fold" inspect --max-records 3 "$f"
done
