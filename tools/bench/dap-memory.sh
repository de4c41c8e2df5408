#!/usr/bin/env bash
# Per-rank peak memory of one training step under DAP 1, 2, 4 (ARCHITECTURE.md, Distribution): `fold train`
# for one step at one crop size, under `fold launch` for DAP > 1, on the CPU with the
# tracking allocator. Prints a Markdown table: the step's peak on top of the resident
# weights and optimizer state (activations, gradients, temporaries) per rank, and its
# ratio to DAP 1 against the ideal 1/dap.
# usage: tools/bench/dap-memory.sh --data H5 [--fold BIN] [--config tiny] [--crop 256] [--daps "1 2 4"] [--set k=v ...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fold_bin="$root/build/fold/fold"
data=""
config=tiny
crop=256
daps="1 2 4"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --fold) fold_bin="$2"; shift ;;
    --data) data="$2"; shift ;;
    --config) config="$2"; shift ;;
    --crop) crop="$2"; shift ;;
    --daps) daps="$2"; shift ;;
    --set) extra+=(--set "$2"); shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "dap-memory.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$data" ] || { echo "dap-memory.sh: --data H5 is required" >&2; exit 2; }
work=$(mktemp -d /tmp/fold-dap-memory.XXXXXX)
trap 'rm -rf "$work"' EXIT
args=(train --config "$config" --data "$data" --steps 1 --quiet --set train.checkpoint_every=0
  --set data.train.crop_size="$crop" "${extra[@]}")
for k in $daps; do
  threads=$(( $(nproc) / k )); [ "$threads" -ge 1 ] || threads=1
  if [ "$k" = 1 ]; then
    "$fold_bin" --threads "$threads" "${args[@]}" --out "$work/dap1" > /dev/null 2>"$work/dap1.err"
  else
    "$fold_bin" launch --nproc "$k" -- fold --threads "$threads" "${args[@]}" --out "$work/dap$k" --set dist.dap="$k" \
      > /dev/null 2>"$work/dap$k.err"
  fi
done
python3 - "$work" "$config" "$crop" $daps <<'PY'
import json, sys
work, config, crop, daps = sys.argv[1], sys.argv[2], sys.argv[3], [int(k) for k in sys.argv[4:]]
rows = {}
for k in daps:
    r = json.loads(open(f"{work}/dap{k}/log.jsonl").readline())
    rows[k] = (r.get("peak_step_memory_bytes_per_rank") or [r["peak_step_memory_bytes"]], r["step_seconds"], r["loss"])
mib = lambda b: b / 2**20
base = max(rows[daps[0]][0])
print(f"config {config}, crop {crop}, CPU tracking allocator, one training step\n")
print("| DAP | peak step memory per rank (MiB) | max rank / DAP 1 | ideal 1/dap | step s | loss |")
print("|---|---|---|---|---|---|")
for k in daps:
    per, secs, loss = rows[k]
    print(f"| {k} | {', '.join(f'{mib(b):.1f}' for b in per)} | {max(per) / base:.3f} | {1 / k:.3f} | {secs:.2f} | {loss:.5f} |")
PY
