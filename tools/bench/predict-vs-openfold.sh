#!/usr/bin/env bash
# Whole-model inference, this system against OpenFold, side by side in one run on one
# machine (a benchmark, not a test): fold_bench_predict and tools/bench/openfold_predict.py
# on the same synthetic shapes (AF2 model_1 channels, --blocks Evoformer blocks, one
# extra-MSA block, no templates, one iteration, fp32), default and chunked, one warm-up
# and the median of --repeats each, then the ratio fold / OpenFold.
#
# usage: tools/bench/predict-vs-openfold.sh --openfold DIR [--bench build/tools/bench/fold_bench_predict]
#          [--n-res 256] [--blocks 4] [--n-seq 128] [--n-extra 256] [--chunk-size 4] [--threads 2]
#          [--repeats 3] [--tune-chunk-size]
# DIR is an OpenFold checkout (ce0029e is the anchor), run with the PyTorch that
# tools/setup.sh installs; it needs ml-collections, dm-tree, scipy, biopython and
# modelcif from PyPI (its imports reach them; without modelcif OpenFold fails to load).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bench="$root/build/tools/bench/fold_bench_predict"
openfold="" n_res=256 blocks=4 n_seq=128 n_extra=256 chunk=4 threads=2 repeats=3 tune=""
while [ $# -gt 0 ]; do
  case "$1" in
    --openfold) openfold=$2; shift ;;
    --bench) bench=$2; shift ;;
    --n-res) n_res=$2; shift ;;
    --blocks) blocks=$2; shift ;;
    --n-seq) n_seq=$2; shift ;;
    --n-extra) n_extra=$2; shift ;;
    --chunk-size) chunk=$2; shift ;;
    --threads) threads=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --tune-chunk-size) tune="--tune-chunk-size" ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "predict-vs-openfold.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$openfold" ] && [ -d "$openfold/openfold" ] || { echo "predict-vs-openfold.sh: --openfold must name an OpenFold checkout" >&2; exit 2; }
[ -x "$bench" ] || { echo "predict-vs-openfold.sh: $bench not built" >&2; exit 2; }

shape=(--n-res "$n_res" --blocks "$blocks" --n-seq "$n_seq" --n-extra "$n_extra" --threads "$threads" --repeats "$repeats")
echo "# fold vs OpenFold, $(date -u +%F), $(nproc) cores, torch $(python3 -c 'import torch; print(torch.__version__)')"
echo "fold $(git -C "$root" rev-parse --short HEAD), OpenFold $(git -C "$openfold" rev-parse --short HEAD 2>/dev/null || echo "(no git)")"
echo
ours=$("$bench" "${shape[@]}" --chunk-size "$chunk" --modes default,chunk)
echo "$ours"
echo
declare -A theirs
echo "| system | mode | median s | runs s | peak RSS growth MiB |"
echo "|---|---|---:|---|---:|"
for mode in none "$chunk"; do
  line=$(python3 "$root/tools/bench/openfold_predict.py" --openfold "$openfold" "${shape[@]}" --chunk-size "$mode" $tune)
  theirs[$mode]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["median_seconds"])' "$line")
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("| OpenFold | %s | %.2f | %s | %.1f |" % ("default" if r["chunk_size"]=="none" else "chunk size " + r["chunk_size"] + (" (tuned)" if r["tune_chunk_size"] else ""), r["median_seconds"], ", ".join("%.2f" % s for s in r["seconds"]), r["peak_rss_growth_mib"]))' "$line"
done
echo
ours_default=$(echo "$ours" | awk -F'|' '$3 ~ /default/ {gsub(/ /,"",$4); print $4}')
ours_chunk=$(echo "$ours" | awk -F'|' '$3 ~ /chunk-size/ {gsub(/ /,"",$4); print $4}')
python3 - "$ours_default" "${theirs[none]}" "$ours_chunk" "${theirs[$chunk]}" "$chunk" <<'EOF'
import sys
d, od, c, oc, chunk = sys.argv[1:]
print("| mode | fold s | OpenFold s | fold / OpenFold |")
print("|---|---:|---:|---:|")
print("| default | %s | %.2f | %.2fx |" % (d, float(od), float(d) / float(od)))
print("| chunk size %s | %s | %.2f | %.2fx |" % (chunk, c, float(oc), float(c) / float(oc)))
EOF
