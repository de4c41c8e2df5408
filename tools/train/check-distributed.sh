#!/usr/bin/env bash
# Distributed training end to end, against the same run in one process, step by step:
#   --dap P          `fold launch --nproc P -- fold train ... --set dist.dap=P`: the ranks
#                    split the Evoformer-family stacks' activations (same sums, another order)
#   --dp D --zero S  D data-parallel ranks (ZeRO stage S), one sample each per step, against
#                    one process accumulating D samples per step; also: the run's sharded
#                    checkpoint half-way, resumed in one process, continues the same curve,
#                    and each rank's optimizer state is its share of one process's
# (both: P x D ranks), started by --launcher: `fold launch` (default), torchrun (PyTorch's
# launcher, `torchrun --nproc-per-node N --no-python fold ...`; python3 -m
# torch.distributed.run where no torchrun is on PATH) or slurm (the N processes started
# by hand with the variables srun sets: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
# SLURM_LAUNCH_NODE_IPADDR; no MASTER_ADDR). The logged losses must agree to fp32 tolerance. That tolerance over a
# training run is measured, not assumed: a second one-process run with another thread count
# (another summation order) gives the spread that rounding alone produces, as training
# amplifies it and discrete steps (lDDT bins, the renamed ground truth) can flip. A
# distributed run passes if it stays within max(--tol, that spread).
# Data: --data H5 (e.g. the example set of tools/examples/make-dataset.sh), or by default
# the 2q2k chains of ../shared/data converted with fold prepare.
# usage: tools/train/check-distributed.sh [--fold BIN] [--data H5] [--steps N] [--dap P] [--dp D]
#        [--zero S] [--tol T] [--work DIR] [--launcher fold|torchrun|slurm]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fold_bin="$root/build/fold/fold"
shared="$root/../shared/data"
data=""
steps=20
dap=1
dp=1
zero=2
tol=1e-4
work=""
launcher=fold
while [ $# -gt 0 ]; do
  case "$1" in
    --fold) fold_bin="$2"; shift ;;
    --data) data="$2"; shift ;;
    --steps) steps="$2"; shift ;;
    --dap) dap="$2"; shift ;;
    --dp) dp="$2"; shift ;;
    --zero) zero="$2"; shift ;;
    --tol) tol="$2"; shift ;;
    --work) work="$2"; shift ;;
    --launcher) launcher="$2"; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "check-distributed.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
case "$launcher" in
  fold|slurm) ;;
  torchrun)
    if command -v torchrun > /dev/null; then torchrun=(torchrun)
    elif python3 -c 'import torch.distributed.run' 2> /dev/null; then torchrun=(python3 -m torch.distributed.run)
    else echo "check-distributed.sh: SKIP: no torchrun (PyTorch's wheel, which tools/setup.sh installs)" >&2; exit 77; fi ;;
  *) echo "check-distributed.sh: --launcher must be fold, torchrun or slurm, got $launcher" >&2; exit 2 ;;
esac
nproc=$((dap * dp))
[ "$nproc" -ge 2 ] || { echo "check-distributed.sh: --dap and/or --dp must make at least 2 ranks" >&2; exit 2; }
[ -x "$fold_bin" ] || { echo "check-distributed.sh: no fold binary at $fold_bin" >&2; exit 1; }
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/fold-check-distributed.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
log() { echo "[check-distributed] $*" >&2; }
if [ -z "$data" ]; then
  [ -f "$shared/mmcif/2q2k.cif" ] || { echo "check-distributed.sh: SKIP: $shared/mmcif/2q2k.cif not present" >&2; exit 77; }
  "$fold_bin" prepare --quiet --mmcif-dir "$shared/mmcif" --alignment-dir "$shared/alignments" \
    --chains 2q2k_A,2q2k_B --out "$work/data.h5" > /dev/null
  data="$work/data.h5"
fi
half=$((steps / 2))
# Dropout stays on: a sample's masks do not depend on the rank that takes it.
args=(train --config tiny --data "$data" --steps "$steps" --quiet --set train.log_every=1
  --set scheduler.warmup_no_steps=5 --set data.train.crop_size=48
  --set data.train.max_msa_clusters=16 --set data.train.max_extra_msa=32)
one=("${args[@]}" --set train.grad_accumulation="$dp" --set train.checkpoint_every=0)

log "one process accumulating $dp sample(s) per step, $steps steps"
"$fold_bin" --threads 2 "${one[@]}" --out "$work/one" > /dev/null
log "the same with one thread (the rounding spread)"
"$fold_bin" --threads 1 "${one[@]}" --out "$work/control" > /dev/null
log "$nproc ranks under $launcher: dist.dap=$dap x $dp data-parallel (dist.zero=$zero), $steps steps"
threads=$(( $(nproc) / nproc )); [ "$threads" -ge 1 ] || threads=1
rank_args=("${args[@]}" --threads "$threads" --out "$work/dist" --set dist.dap="$dap" --set dist.zero="$zero"
  --set train.checkpoint_every="$half")
# A free port for the rendezvous, so parallel tests do not collide.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case "$launcher" in
  fold) "$fold_bin" launch --nproc "$nproc" -- fold "${rank_args[@]}" > /dev/null ;;
  torchrun)
    "${torchrun[@]}" --nproc-per-node "$nproc" --master-addr 127.0.0.1 --master-port "$port" --no-python \
      "$fold_bin" "${rank_args[@]}" > "$work/torchrun.log" 2>&1 || { cat "$work/torchrun.log" >&2; exit 1; } ;;
  slurm)
    pids=()
    for ((r = 0; r < nproc; r++)); do
      env -u MASTER_ADDR -u RANK -u WORLD_SIZE -u LOCAL_RANK SLURM_PROCID=$r SLURM_NTASKS=$nproc SLURM_LOCALID=$r \
        SLURM_LAUNCH_NODE_IPADDR=127.0.0.1 MASTER_PORT="$port" "$fold_bin" "${rank_args[@]}" > "$work/rank$r.log" 2>&1 &
      pids+=($!)
    done
    for ((r = 0; r < nproc; r++)); do
      wait "${pids[$r]}" || { cat "$work/rank$r.log" >&2; echo "check-distributed.sh: rank $r failed" >&2
        kill "${pids[@]}" 2> /dev/null; exit 1; }
    done ;;
esac
resumed=""
if [ "$dp" -gt 1 ]; then
  log "its step-$half checkpoint resumed in one process, to step $steps"
  "$fold_bin" --threads 2 "${one[@]}" --resume "$work/dist/checkpoints/step-$(printf %08d "$half")" \
    --out "$work/resumed" > /dev/null
  resumed="$work/resumed/log.jsonl"
fi

python3 - "$work/one/log.jsonl" "$work/dist/log.jsonl" "$work/control/log.jsonl" "$tol" "$dap" "$dp" "$zero" "$resumed" <<'PY'
import json, sys
def records(path):
    return {r["step"]: r for r in map(json.loads, open(path)) if r.get("loss") is not None}
one, dist, control = (records(p) for p in sys.argv[1:4])
tol, dap, dp, zero, resumed = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
ok = True
if not (sorted(one) == sorted(dist) == sorted(control)):
    sys.exit(f"[check-distributed] FAIL: logged steps differ: {sorted(one)} / {sorted(dist)} / {sorted(control)}")
rel = lambda a, b: abs(a - b) / abs(b)
loss = lambda rs, s: rs[s]["loss"]
spread = max(rel(loss(control, s), loss(one, s)) for s in one)
bound = max(tol, spread)
name = f"DAP {dap} x DP {dp}"
print(f"step  1 process, 2 threads  {name:<12}  rel. diff   1 process, 1 thread  rel. diff")
for s in sorted(one):
    print(f"{s:4d}  {loss(one, s):<22.7g}  {loss(dist, s):<12.7g}  {rel(loss(dist, s), loss(one, s)):.2e}    "
          f"{loss(control, s):<19.7g}  {rel(loss(control, s), loss(one, s)):.2e}")
worst = max(rel(loss(dist, s), loss(one, s)) for s in one)
print(f"[check-distributed] worst relative loss difference over {len(one)} steps: {name} {worst:.2e}, "
      f"thread-count spread {spread:.2e}; bound {bound:.2e}: {'PASS' if worst <= bound else 'FAIL'}")
ok &= worst <= bound
if resumed:
    back = records(resumed)
    steps = sorted(back)
    worst = max(rel(loss(back, s), loss(one, s)) for s in steps)
    good = steps == [s for s in sorted(one) if s > min(steps) - 1] and worst <= bound
    print(f"[check-distributed] {name}'s sharded checkpoint resumed in one process, steps {steps[0]}-{steps[-1]}: "
          f"worst relative loss difference {worst:.2e}: {'PASS' if good else 'FAIL'}")
    ok &= good
    whole = one[max(one)]["optimizer_state_bytes"]
    per_rank = dist[max(dist)]["optimizer_state_bytes_per_rank"]
    shards = per_rank[::dap]  # the ranks of a DAP group hold the same shard
    share = max(shards) / whole
    partition = sum(shards) == whole if zero > 0 else all(b == whole for b in shards)
    good = partition and (share <= 1 / dp + 0.1 if zero > 0 else True)
    print(f"[check-distributed] optimizer state bytes: one process {whole:.0f}; per rank with DP {dp}, ZeRO {zero}: "
          f"{', '.join(f'{b:.0f}' for b in per_rank)} (largest {share:.3f} of one process's, ideal "
          f"{1 / dp if zero > 0 else 1:.3f}): {'PASS' if good else 'FAIL'}")
    ok &= good
sys.exit(0 if ok else 1)
PY
