#!/usr/bin/env bash
# The benchmark suite in one run: writes DIR/bench-<date>.md with the device and build
# (`fold info`, the git revision) and each benchmark's table: attention kernels, model
# inference (predict), the training data loader, one training step (train-step: fold
# ablate with strategy none), and the memory-strategy ablation (fold ablate).
# usage: tools/bench/run-all.sh --data H5 [--out DIR] [--device cpu|cuda] [--config tiny]
#        [--crops 64,128] [--strategies none,checkpoint,dap2,dap2+checkpoint,chunk4] [--quick]
# --quick: small shapes, for a smoke run. The example dataset of
# tools/examples/make-dataset.sh is the usual --data.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build="$root/build"
data=""
out="$root/tools/bench/results"
device=cpu
config=tiny
crops=64,128
strategies=none,checkpoint,dap2,dap2+checkpoint,chunk4
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data="$2"; shift ;;
    --out) out="$2"; shift ;;
    --device) device="$2"; shift ;;
    --config) config="$2"; shift ;;
    --crops) crops="$2"; shift ;;
    --strategies) strategies="$2"; shift ;;
    --quick) quick=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "run-all.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$data" ] || { echo "run-all.sh: --data H5 is required (tools/examples/make-dataset.sh makes one)" >&2; exit 2; }
fold="$build/fold/fold"
for b in "$fold" "$build/tools/bench/fold_bench_attention" "$build/tools/bench/fold_bench_predict" \
         "$build/tools/bench/fold_bench_loader"; do
  [ -x "$b" ] || { echo "run-all.sh: $b is not built (cmake --build build)" >&2; exit 1; }
done
mkdir -p "$out"
report="$out/bench-$(date +%Y-%m-%d).md"
work=$(mktemp -d /tmp/fold-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ "$quick" = 1 ]; then
  n_res_attention=64; n_res_predict=64; samples=4; crops=32
else
  n_res_attention=128,256; n_res_predict=64,128,256; samples=24
fi
section() {  # title, command...
  local title=$1; shift
  echo "[bench] $title" >&2
  { echo; echo "## $title"; echo; echo "\`$*\`"; echo; } >> "$report"
  if ! "$@" >> "$report" 2> "$work/stderr"; then
    { echo; echo "FAILED:"; echo '```'; tail -5 "$work/stderr"; echo '```'; } >> "$report"
  fi
}
{
  echo "# fold benchmarks, $(date '+%Y-%m-%d %H:%M')"
  echo
  echo "- revision: $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "- device: $device"
  echo
  echo '```'
  "$fold" info
  echo '```'
} > "$report"
section "attention" "$build/tools/bench/fold_bench_attention" --device "$device" --n-res "$n_res_attention"
section "predict" "$build/tools/bench/fold_bench_predict" --device "$device" --n-res "$n_res_predict"
section "loader" "$build/tools/bench/fold_bench_loader" "$data" --samples "$samples"
section "train-step" "$fold" ablate --config "$config" --data "$data" --crop "$crops" --strategies none \
  --steps 3 --device "$device" --out "$work/train-step"
section "ablate" "$fold" ablate --config "$config" --data "$data" --crop "$crops" --strategies "$strategies" \
  --steps 2 --device "$device" --out "$out/ablation-$(date +%Y-%m-%d)"
echo "[bench] wrote $report" >&2
