#!/usr/bin/env bash
# `fold ablate` on the CPU as the ablation issue checks it: strategies none, checkpoint,
# dap2, dap2+checkpoint, chunk4 at crops 64 and 128 with the given config; passes when
# fold ablate finishes with agreeing losses and, at every crop, the peak memory per rank
# orders as expected: checkpoint < none and dap2 < none.
# Data: --data H5 (e.g. the example set of tools/examples/make-dataset.sh, whose longest
# chain has 374 residues), or by default the 2q2k chains of ../shared/data. A multimer
# config (tiny_multimer) ablates on a complex: 2q2k's two chains as one sample.
# usage: tools/bench/check-ablate.sh [--fold BIN] [--config tiny] [--data H5] [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fold_bin="$root/build/fold/fold"
shared="$root/../shared/data"
config=tiny
data=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fold) fold_bin="$2"; shift ;;
    --config) config="$2"; shift ;;
    --data) data="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "check-ablate.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
work=$(mktemp -d /tmp/fold-check-ablate.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -n "$out" ] || out="$work/ablation"
if [ -z "$data" ]; then
  [ -f "$shared/mmcif/2q2k.cif" ] || { echo "check-ablate.sh: SKIP: $shared/mmcif/2q2k.cif not present" >&2; exit 77; }
  "$fold_bin" prepare --quiet --mmcif-dir "$shared/mmcif" --alignment-dir "$shared/alignments" \
    --chains 2q2k_A,2q2k_B --out "$work/data.h5" > /dev/null
  data="$work/data.h5"
fi
"$fold_bin" ablate --config "$config" --data "$data" --crop 64,128 \
  --strategies none,checkpoint,dap2,dap2+checkpoint,chunk4 --steps 2 --out "$out"
python3 - "$out/ablation.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
peak = {(r["crop"], r["strategy"]): float(r["peak_mib_per_rank"]) for r in rows if r["status"] == "ok"}
ok = True
for crop in sorted({r["crop"] for r in rows}, key=int):
    for s in ("checkpoint", "dap2"):
        good = (crop, s) in peak and (crop, "none") in peak and peak[(crop, s)] < peak[(crop, "none")]
        print(f"[check-ablate] crop {crop}: {s} {peak.get((crop, s), 'n/a')} MiB/rank < none "
              f"{peak.get((crop, 'none'), 'n/a')} MiB: {'PASS' if good else 'FAIL'}")
        ok &= good
sys.exit(0 if ok else 1)
PY
