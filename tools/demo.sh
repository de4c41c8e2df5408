#!/usr/bin/env bash
# The main job: shows the build's environment, reads real example data (fetched by
# tools/setup.sh from Debian's data-only packages) through every parser, and predicts
# a real protein (RNase P protein, 1NZ0 chain A, from its a3m) on the CPU with a
# randomly initialised tiny model: the whole inference path, not a meaningful structure
# (AF2's trained weights are not redistributable here; `fold import-params` takes them),
# then runs AF2's search offline on small databases built from the example data
# (jackhmmer, hhblits, hhsearch) and predicts from it with the template found, builds
# the example training dataset, describes it, trains the tiny model on it for a few
# minutes, scores a held-out chain's predicted structure (lDDT-Ca), and relaxes a
# structure with Amber as AF2 does.
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

step "fold predict (tiny random model, RNase P protein 1NZ0:A from its a3m)"
a3m="$ex/python3-csb/usr/lib/python3/dist-packages/csb/test/data/d1nz0a_.a3m"
work="$root/build/demo"
mkdir -p "$work"
# The a3m's first record is the query: its FASTA.
awk 'NR == 1 {print ">d1nz0a_"} NR > 1 && /^>/ {exit} NR > 1 {print}' "$a3m" > "$work/d1nz0a_.fasta"
"$fold" init-params --config tiny --seed 0 "$work/tiny.safetensors"
"$fold" predict --fasta "$work/d1nz0a_.fasta" --msa "$a3m" --params "$work/tiny.safetensors" --config tiny \
  --recycles 1 --chunk-size auto --out "$work/predict"
"$fold" inspect "$work/predict/d1nz0a_.cif"

step "AF2's search offline: HH-suite databases from the example data, then fold msa (jackhmmer, hhblits, hhsearch)"
# No HH-suite database is packaged; these are built with HH-suite's own tools.
"$root/tools/examples/make-hhsuite-dbs.sh" --out "$work/search-dbs"
dbs="$work/search-dbs"
rm -rf "$work/alignments"
"$fold" msa --fasta "$dbs/query.fasta" --tool jackhmmer --db "$dbs/uniref90.fasta" --hhblits-db "$dbs/bfd/bfd" \
  --pdb70-db "$dbs/pdb70/pdb70" --out "$work/alignments"
"$fold" inspect --max-records 4 "$work/alignments/HBB_HUMAN/pdb70_hits.hhr"

step "fold predict from the search, with the template hhsearch found (tiny random model with templates)"
"$fold" init-params --config tiny --set model.template.enabled=true --seed 0 "$work/tiny-templates.safetensors"
"$fold" predict --fasta "$dbs/query.fasta" --alignment-dir "$work/alignments/HBB_HUMAN" \
  --template-mmcif-dir "$dbs/structures" --params "$work/tiny-templates.safetensors" --config tiny \
  --set model.template.enabled=true --set data.common.use_templates=true --recycles 1 --out "$work/predict-templates"
python3 -c 'import json, sys; print("templates used:", json.load(open(sys.argv[1]))["templates"])' \
  "$work/predict-templates/query.json"

step "example training dataset (tools/examples/make-dataset.sh) and fold inspect of it"
"$root/tools/examples/make-dataset.sh" --out "$work/dataset"
"$fold" inspect --max-records 2 "$work/dataset/train.h5"

step "fold train: the tiny model on the example training set, scored on a held-out chain"
# The shortest validation chain is the held-out one. A short run (EMA decay 0.95, as
# AF2's 0.999 would average over more steps than it has): the point is the whole path,
# not a good model; tools/train/overfit.sh shows the model learning a structure.
held_out=$("$fold" inspect "$work/dataset/valid.h5" |
  python3 -c 'import json, sys; print(min(json.load(sys.stdin)["chain_list"], key=lambda c: c["length"])["id"])')
"$fold" train --config tiny --data "$work/dataset/train.h5" --valid-data "$work/dataset/valid.h5" \
  --valid-chains "$held_out" --out "$work/train" --steps 200 --set scheduler.warmup_no_steps=10 \
  --set optimizer.ema_decay=0.95 --set train.log_every=10 --set data.common.max_recycling_iters=1
"$root/tools/train/plot-log.sh" "$work/train/log.jsonl" "$work/train/curve.png" "demo: tiny model, example set"

step "fold relax: Amber relaxation as AF2 does it"
# A few minutes of training leave the tiny model's prediction partly collapsed (residues
# on top of each other), which relax refuses with the reason; a real structure,
# ubiquitin (1UBQ), stands in for a good prediction.
"$fold" relax "$work/train/predictions/$held_out.pdb" --out "$work/relax" ||
  echo "(refused: the demo's model is not trained enough to give a structure to relax)"
"$fold" relax "$ex/freesasa/usr/share/freesasa/test-data/1ubq.pdb" --out "$work/relax"
