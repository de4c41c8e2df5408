#!/usr/bin/env bash
# Faults in a distributed run (`fold launch --nproc 2 -- fold train ... --set dist.dap=2`),
# each with its outcome asserted, then the run resumed and compared bit for bit (model,
# EMA and optimizer files) with a run never interrupted:
#   --fault sigterm    SIGTERM to the launcher mid-run (what SLURM sends before it kills a
#                      job): every rank finishes the step, one checkpoint is written, the
#                      launcher exits 0 within the time limit
#   --fault kill-rank  SIGKILL to one rank mid-step: the launcher stops the other, says
#                      which rank died and exits non-zero within the time limit (no hang)
# Data: the 2q2k chains of ../shared/data converted with fold prepare (skips without them).
# usage: tools/train/check-faults.sh --fault sigterm|kill-rank [--fold BIN] [--work DIR] [--limit SECONDS]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fold_bin="$root/build/fold/fold"
shared="$root/../shared/data"
fault=""
work=""
limit=120
while [ $# -gt 0 ]; do
  case "$1" in
    --fault) fault="$2"; shift ;;
    --fold) fold_bin="$2"; shift ;;
    --work) work="$2"; shift ;;
    --limit) limit="$2"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "check-faults.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
case "$fault" in
  sigterm|kill-rank) ;;
  *) echo "check-faults.sh: --fault must be sigterm or kill-rank, got '$fault'" >&2; exit 2 ;;
esac
[ -x "$fold_bin" ] || { echo "check-faults.sh: no fold binary at $fold_bin" >&2; exit 1; }
[ -f "$shared/mmcif/2q2k.cif" ] || { echo "check-faults.sh: SKIP: $shared/mmcif/2q2k.cif not present" >&2; exit 77; }
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/fold-check-faults.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
log() { echo "[check-faults] $*" >&2; }
fail() { echo "[check-faults] FAIL: $*" >&2; exit 1; }

"$fold_bin" prepare --quiet --mmcif-dir "$shared/mmcif" --alignment-dir "$shared/alignments" \
  --chains 2q2k_A,2q2k_B --out "$work/data.h5" > /dev/null
# --steps is far beyond what runs: the faulted run must still be running when hit.
train=(train --config tiny --data "$work/data.h5" --steps 100000 --quiet --threads 1 --set train.log_every=1
  --set train.checkpoint_every=2 --set data.train.crop_size=32 --set data.train.max_msa_clusters=8
  --set data.train.max_extra_msa=16 --set dist.dap=2)
launch() { "$fold_bin" launch --nproc 2 --grace 20 -- fold "$@"; }
logged_steps() { [ -f "$1" ] && wc -l < "$1" || echo 0; }

log "fault: $fault, in a DAP-2 run under fold launch"
# Not through the function: $! must be the launcher itself, which the fault signals.
"$fold_bin" launch --nproc 2 --grace 20 -- fold "${train[@]}" --out "$work/run" > "$work/run.out" 2> "$work/run.err" &
launcher=$!
for _ in $(seq $((limit * 10))); do [ "$(logged_steps "$work/run/log.jsonl")" -ge 3 ] && break; sleep 0.1; done
[ "$(logged_steps "$work/run/log.jsonl")" -ge 3 ] || { kill -KILL "$launcher"; cat "$work/run.err" >&2; fail "no 3 steps in ${limit} s"; }
if [ "$fault" = sigterm ]; then
  kill -TERM "$launcher"
else
  rank=$(pgrep -P "$launcher" | tail -n 1)
  log "SIGKILL to rank process $rank"
  kill -KILL "$rank"
fi
start=$(date +%s)
for _ in $(seq $((limit * 10))); do kill -0 "$launcher" 2> /dev/null || break; sleep 0.1; done
if kill -0 "$launcher" 2> /dev/null; then
  pkill -KILL -P "$launcher" || true
  kill -KILL "$launcher"
  fail "the launcher still ran ${limit} s after the fault (a hang)"
fi
code=0
wait "$launcher" || code=$?
log "the launcher exited with code $code after $(( $(date +%s) - start )) s"
if [ "$fault" = sigterm ]; then
  [ "$code" -eq 0 ] || { cat "$work/run.err" >&2; fail "exit code $code after SIGTERM, not 0"; }
  grep -q "stop requested: checkpointing at step" "$work/run.err" || fail "no stop message in the log"
  grep -q "every rank stopped cleanly after the signal" "$work/run.err" || fail "no launcher message"
else
  [ "$code" -ne 0 ] || fail "exit code 0 after a rank was killed"
  grep -q "exited with code 137; stopping the other ranks" "$work/run.err" || { cat "$work/run.err" >&2; fail "no message naming the killed rank"; }
fi

# Resume from the newest checkpoint for 2 more steps; a fresh run to the same step must
# give the same bytes.
checkpoint=$(ls -d "$work/run/checkpoints/step-"* | grep -v partial | sort | tail -n 1)
at=$((10#${checkpoint##*step-}))
target=$((at + 2))
log "resuming from step $at to step $target; the reference runs to step $target uninterrupted"
launch train --resume "$work/run" --quiet --threads 1 --stop-after 2 > /dev/null 2> "$work/resume.err" ||
  { cat "$work/resume.err" >&2; fail "resume failed"; }
launch "${train[@]}" --out "$work/reference" --stop-after "$target" > /dev/null 2> "$work/reference.err" ||
  { cat "$work/reference.err" >&2; fail "reference run failed"; }
name="step-$(printf %08d "$target")"
for file in model.safetensors ema.safetensors optimizer.safetensors; do
  cmp -s "$work/run/checkpoints/$name/$file" "$work/reference/checkpoints/$name/$file" ||
    fail "$file at step $target differs from the uninterrupted run's"
done
log "PASS: $fault handled (exit code $code); resumed from step $at, step $target is bit for bit the uninterrupted run's"
