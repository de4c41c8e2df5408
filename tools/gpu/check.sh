#!/usr/bin/env bash
# The GPU kit's one call: on a GPU host, from the repository root with $OUT set, builds a
# Release binary for sm_90a (or takes the rehearsal's prebuilt one, when it was built from
# these very sources and runs there) and runs every CUDA path, each step under its own
# time limit, one failure never stopping the rest:
#   env          the device, driver, CUDA, LibTorch and compilers
#   build        Release, sm_90a, -j16, only the targets below
#   gpu-tests    every gpu-labelled test binary (tests/CMakeLists.txt)
#   attention    fold_bench_attention: 4 variants, N_res 256 and 384, bf16 and fp32, against
#                the naive path and at::scaled_dot_product_attention with a float bias;
#                then the kernel's risks: view pair bias, bias-gradient atomics, Q = 1
#   predict      fold predict of 6KWC chain 1 (real MSA; AF2 model_1 shapes, random weights)
#                with --device cuda in fp32 and bf16, against the same binary on the CPU
#   train        20 steps of the tiny model on 2q2k chain A in bf16 and in fp16: the loss
#                falls and no step is skipped after the first few
#   sanitizer    compute-sanitizer memcheck, racecheck and synccheck over the small kernel
#                tests (forward and backward), CUDA_LAUNCH_BLOCKING=1
#   ablate       fold ablate, af2_model_1 in bf16, crop 256: none, checkpoint, chunk4
#   long-sequence  fold predict of synthetic N_res 2048 and 4096 (bf16, chunk auto, low
#                memory, one Evoformer and one extra-MSA block) against fold plan
#   profile      ncu (clocks left alone) over the attention kernels, forward and backward,
#                at N_res 384 in bf16: speed of light, occupancy, launch statistics
# Writes $OUT/gpu-report.md (every figure, the device named) and $OUT/logs.tar.gz.
# Everything must end within --deadline seconds (default 500), build included.
#
#   --rehearse   no GPU needed: builds from the packed folder alone (tools/gpu/pack.sh) in
#                build-gpu-rehearsal/ (or --build-dir) with Debian's copies of the packed dependencies
#                hidden (a private mount namespace, CMAKE_IGNORE_PREFIX_PATH), runs the
#                built programs there, prints each step the device run would take, and
#                stores the stripped binaries in KIT/bin for the device to reuse
#   --dry-run    prints each step with its time limit and does nothing
# usage: tools/gpu/check.sh [--kit DIR] [--build-dir DIR] [--jobs N] [--deadline S]
#                           [--steps a,b,...] [--rehearse | --dry-run]
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
self="$root/tools/gpu/check.sh"

all_steps=(env build gpu-tests attention predict train sanitizer ablate long-sequence profile)
declare -A limit=([env]=20 [build]=330 [gpu-tests]=90 [attention]=90 [predict]=120 [train]=90 [sanitizer]=150
                  [ablate]=120 [long-sequence]=120 [profile]=90)
targets=(fold fold_bench_attention)
mapfile -t gpu_tests < <(sed -n 's/^fold_test(\([A-Za-z0-9_]*\) LABEL gpu.*/\1/p' "$root/tests/CMakeLists.txt")
targets+=("${gpu_tests[@]}")

usage() { sed -n '2,/^set -uo/{/^set -uo/!p}' "$self"; }
die() { echo "check.sh: $*" >&2; exit 2; }

args=("$@")
kit="$root/.gpu-kit" build_dir="" jobs=16 deadline=500 steps="" mode=device
while [ $# -gt 0 ]; do
  case "$1" in
    --kit) [ $# -ge 2 ] || die "--kit needs a folder"; kit=$(realpath -m "$2"); shift ;;
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a folder"; build_dir=$(realpath -m "$2"); shift ;;
    --jobs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive number"; jobs=$2; shift ;;
    --deadline) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--deadline needs seconds"; deadline=$2; shift ;;
    --steps) [ $# -ge 2 ] || die "--steps needs a list"; steps=$2; shift ;;
    --rehearse) mode=rehearse ;;
    --dry-run) mode=dry-run ;;
    --internal-step) mode=internal; internal_step=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
if [ -n "$steps" ]; then
  IFS=, read -ra chosen <<< "$steps"
  for s in "${chosen[@]}"; do [ -n "${limit[$s]:-}" ] || die "unknown step $s (one of: ${all_steps[*]})"; done
else
  chosen=("${all_steps[@]}")
fi
if [ -z "$build_dir" ]; then
  build_dir="$root/build-gpu"
  [ "$mode" = rehearse ] && build_dir="$root/build-gpu-rehearsal"
fi

# The source stamp: a hash of every file the build reads from the repository, so that
# prebuilt binaries are used only for exactly these sources.
source_stamp() {
  (cd "$root" && find CMakeLists.txt fold evoformer structure_module dap kernels data tests tools/bench tools/cmake \
     -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' -o -name '*.txt' -o -name '*.cmake' \
     -o -name '*.toml' \) -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

# The kit's libraries: usr/ always; a sysdep only where this system lacks it.
kit_environment() {
  [ -d "$kit/usr" ] || { echo "check.sh: no packed folder at $kit (run tools/gpu/pack.sh first)" >&2; return 1; }
  local missing="$work/sysdeps"
  mkdir -p "$missing"
  for f in "$kit"/sysdeps/*; do
    [ -e "$f" ] || continue
    local b; b=$(basename "$f")
    ldconfig -p 2>/dev/null | grep -q " $b " ||
      ls /lib/x86_64-linux-gnu/"$b" /usr/lib/x86_64-linux-gnu/"$b" /lib64/"$b" /usr/lib64/"$b" > /dev/null 2>&1 ||
      ln -sf "$f" "$missing/"
  done
  # LibTorch and the CUDA libraries of its wheel, wherever this host's python3 has them:
  # prebuilt binaries carry the rehearsal machine's paths.
  local torch_libs
  torch_libs=$(python3 -c 'import glob, os, torch; d = os.path.dirname(torch.__file__)
print(":".join([d + "/lib"] + sorted(glob.glob(d + "/../nvidia/*/lib")) + sorted(glob.glob(d + "/../nvidia/*/*/lib"))))' 2>/dev/null)
  export LD_LIBRARY_PATH="$kit/usr/lib/x86_64-linux-gnu:$missing${torch_libs:+:$torch_libs}:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PATH="$PATH:/usr/local/cuda/bin"
}

configure_and_build() {
  local ignore=()
  [ "$mode" = rehearse ] && ignore=(-DCMAKE_IGNORE_PREFIX_PATH=/usr -DCMAKE_IGNORE_PATH="/usr/include;/usr/lib/x86_64-linux-gnu")
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOLD_CUDA=ON -DFOLD_CUDA_ARCHITECTURES=90a \
    -DCMAKE_PREFIX_PATH="$kit/usr" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DPython3_EXECUTABLE="$(command -v python3)" \
    -DHDF5_C_INCLUDE_DIR="$kit/usr/include/hdf5/serial" \
    -DZLIB_ROOT="$kit/usr" -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" \
    "${ignore[@]}" &&
    cmake --build "$build_dir" -j "$jobs" --target "${targets[@]}"
}

bin_of() { echo "$(cat "$work/bin_dir")/$1"; }  # a program the steps run, prebuilt or built here

# Copies every built target into one flat folder (the steps' bin_of, the kit's bin/).
collect_targets() {
  local dest=$1 t
  mkdir -p "$dest"
  for t in "${targets[@]}"; do
    case $t in
      fold) cp "$build_dir/fold/fold" "$dest/" ;;
      fold_bench_attention) cp "$build_dir/tools/bench/$t" "$dest/" ;;
      *) cp "$build_dir/tests/$t" "$dest/" ;;
    esac || return 1
  done
}

section() { cat >> "$work/sections/$step.md"; }
figure() { printf '%s\n' "$*" > "$work/figures/$step"; }  # the one-line summary of the step

# ---------------------------------------------------------------------------------------
# Steps. Each runs in its own process (this script with --internal-step), under timeout.

step_env() {
  {
    echo "| what | value |"
    echo "|---|---|"
    echo "| GPU | $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -1) |"
    echo "| SM clock now | $(nvidia-smi --query-gpu=clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | head -1) |"
    echo "| nvcc | $( (nvcc --version 2>&1 || echo missing) | tail -1) |"
    echo "| LibTorch | $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -1) |"
    echo "| C++ compiler | $(c++ --version 2>&1 | head -1) |"
    echo "| compute-sanitizer | $( (compute-sanitizer --version 2>&1 || echo missing) | tail -1) |"
    echo "| CPU cores | $(nproc) |"
    echo "| kit | $(head -1 "$kit/MANIFEST" 2>/dev/null || echo 'no MANIFEST') |"
    echo "| sources | stamp $(source_stamp) |"
  } | section
  figure "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>&1 | head -1)"
  nvidia-smi
}

step_build() {
  local prebuilt="$kit/bin"
  if [ -f "$prebuilt/STAMP" ] && [ "$(cat "$prebuilt/STAMP")" = "$(source_stamp)" ] && "$prebuilt/fold" info; then
    echo "$prebuilt" > "$work/bin_dir"
    echo "Prebuilt binaries of the rehearsal (source stamp $(cat "$prebuilt/STAMP")) run here: no build." | section
    figure "prebuilt, stamp $(cat "$prebuilt/STAMP")"
    return 0
  fi
  [ -f "$prebuilt/STAMP" ] && echo "prebuilt binaries present but not usable here (stamp or run): building"
  local t0=$SECONDS
  configure_and_build || return 1
  collect_targets "$work/bin" || return 1
  echo "$work/bin" > "$work/bin_dir"
  "$work/bin/fold" info || return 1
  echo "Built ${targets[*]} (Release, sm_90a, -j$jobs) in $((SECONDS - t0)) s." | section
  figure "built in $((SECONDS - t0)) s"
}

# gtest's summary lines -> "N passed, M failed, K skipped"
gtest_counts() {
  local log=$1
  local passed failed skipped
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
}

step_gpu_tests() {
  local rc=0 summary=""
  echo "| binary | result | failed tests |" | section
  echo "|---|---|---|" | section
  for t in "${gpu_tests[@]}"; do
    "$(bin_of "$t")" --gtest_color=no > "$work/logs/gpu-tests-$t.log" 2>&1 || rc=1
    cat "$work/logs/gpu-tests-$t.log"
    local failed
    failed=$(sed -n 's/^\[  FAILED  \] \([A-Za-z0-9_./]*\).*/\1/p' "$work/logs/gpu-tests-$t.log" | sort -u | tr '\n' ' ')
    echo "| $t | $(gtest_counts "$work/logs/gpu-tests-$t.log") | ${failed:--} |" | section
    summary+="$t: $(gtest_counts "$work/logs/gpu-tests-$t.log"); "
  done
  figure "$summary"
  return $rc
}

step_attention() {
  "$(bin_of fold_bench_attention)" --device cuda --n-res 256,384 --dtypes bf16,fp32 --repeats 10 | tee "$work/attention.md"
  local rc=${PIPESTATUS[0]}
  "$(bin_of fold_bench_attention)" --device cuda --n-res 384 --dtypes bf16 --repeats 10 \
    --variants triangle_start,triangle_start_view_bias,triangle_start_frozen_bias,template_pointwise | tee "$work/risks.md"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  sed -n '/^| variant/,$p' "$work/attention.md" | section
  echo -e "\nThe kernel's known risks (issue 23), N_res 384, bf16: the pair bias as the model's movedim view, the\nbias gradient's atomics (frozen = no bias gradient), Q = 1 template pointwise attention:\n" | section
  sed -n '/^| variant/,$p' "$work/risks.md" | section
  python3 - "$work/attention.md" <<'PY' | tee -a "$work/sections/attention.md"
import sys
rows = [[c.strip() for c in l.strip().strip("|").split("|")] for l in open(sys.argv[1]) if l.startswith("| ") and "---" not in l]
head, rows = rows[0], rows[1:]
idx = {h: i for i, h in enumerate(head)}
def get(v, n, d, impl, col):
    for r in rows:
        if r[idx["variant"]] == v and r[idx["N_res"]] == n and r[idx["dtype"]] == d and r[idx["implementation"]] == impl:
            try: return float(r[idx[col]])
            except ValueError: return None
print("\nTargets at N_res 384, bf16 (fused forward+backward at least 1.2x faster than SDPA with a bias; "
      "peak attention memory at least 16x below naive):\n")
print("| variant | SDPA / fused fwd+bwd time | naive / fused fwd+bwd peak | naive / fused fwd peak |")
print("|---|---:|---:|---:|")
for v in ["msa_row", "msa_column", "triangle_start", "triangle_end"]:
    f, s = get(v, "384", "bf16", "fused", "fwd+bwd ms"), get(v, "384", "bf16", "torch sdpa", "fwd+bwd ms")
    fp, np_ = get(v, "384", "bf16", "fused", "fwd+bwd peak MiB"), get(v, "384", "bf16", "naive", "fwd+bwd peak MiB")
    ffp, nfp = get(v, "384", "bf16", "fused", "fwd peak MiB"), get(v, "384", "bf16", "naive", "fwd peak MiB")
    ratio = lambda a, b: f"{a / b:.2f}x" if a is not None and b else "n/a"
    print(f"| {v} | {ratio(s, f)} | {ratio(np_, fp)} | {ratio(nfp, ffp)} |")
PY
  figure "table in the report"
  return "$rc"
}

step_predict() {
  local fold data="$kit/data/6KWC_1" w="$work/predict" rc=0
  fold=$(bin_of fold)
  mkdir -p "$w"
  "$fold" init-params --config af2_model_1 --seed 0 "$w/params.safetensors" || return 1
  local common=(predict --fasta "$data/6kwc.fasta" --msa "$data/bfd_uniref_hits.a3m" --params "$w/params.safetensors"
                --recycles 0 --seed 0 --quiet --set data.predict.max_msa_clusters=128 --set data.predict.max_extra_msa=512)
  for run in cpu-fp32 cuda-fp32 cuda-bf16; do
    local dev=${run%-*} prec=${run#*-}
    local t0=$SECONDS
    "$fold" "${common[@]}" --device "$dev" --precision "$prec" --out "$w/$run" --save-outputs "$w/$run.npz" || rc=1
    echo "$((SECONDS - t0))" > "$w/$run.wall"
  done
  python3 - "$w" <<'PY' | section || rc=1
import json, sys, glob, os
import numpy as np
w = sys.argv[1]
def load(run):
    z = np.load(f"{w}/{run}.npz")
    j = json.load(open(glob.glob(f"{w}/{run}/*.json")[0]))
    return z, j
if not os.path.exists(f"{w}/cpu-fp32.npz"):
    print("The CPU reference run failed: nothing to compare with.")
    sys.exit(1)
ref, _ = load("cpu-fp32")
mask = ref["final_atom_mask"] > 0.5
# All atoms, not CA alone: a freshly initialised model's backbone update is zero, so its
# CA atoms sit still and would agree whatever the arithmetic.
print("| run | wall s | model s | peak MiB | max abs diff vs CPU (A) | all-atom RMSD vs CPU (A) | mean pLDDT |")
print("|---|---:|---:|---:|---:|---:|---:|")
ok = True
for run in ["cpu-fp32", "cuda-fp32", "cuda-bf16"]:
    if not os.path.exists(f"{w}/{run}.npz"):
        print(f"| {run} | failed | | | | | |")
        ok = ok and run != "cuda-fp32"
        continue
    z, j = load(run)
    x, r = z["final_atom_positions"], ref["final_atom_positions"]
    d = np.abs(x - r)[mask]
    rmsd = np.sqrt(((x - r)[mask] ** 2).sum(-1).mean())
    model = sum(v for k, v in j["timings_seconds"].items() if k not in ("features", "load_params"))
    print(f"| {run} | {open(f'{w}/{run}.wall').read().strip()} | {model:.2f} | {j['peak_memory_bytes'] / 2**20:.0f} | "
          f"{d.max():.2e} | {rmsd:.2e} | {j['mean_plddt']:.2f} |")
    # fp32 on the GPU computes the CPU's function; bf16 is reported, not judged.
    if run == "cuda-fp32" and not d.max() < 1e-3: ok = False
print("\nfp32 on the GPU " + ("agrees with" if ok else "DIFFERS from") + " the CPU (every atom within 1e-3 A).")
sys.exit(0 if ok else 1)
PY
  figure "see the table"
  return $rc
}

step_train() {
  local fold rc=0
  fold=$(bin_of fold)
  echo "| precision | steps | first-3 mean loss | last-3 mean loss | steps not taken after step 5 | s/step (median) |" | section
  echo "|---|---:|---:|---:|---:|---:|" | section
  for prec in bf16 fp16; do
    local run="$work/train-$prec"
    rm -rf "$run"
    "$fold" train --config tiny --data "$kit/data/2q2k.h5" --chains 2q2k_A --out "$run" --steps 20 --precision "$prec" \
      --device cuda --workers 1 --quiet --set scheduler.warmup_no_steps=0 --set data.common.max_recycling_iters=0 \
      --set train.log_every=1 --set train.validate_every=0 --set train.checkpoint_every=0 || rc=1
    python3 - "$run/log.jsonl" "$prec" <<'PY' | section || rc=1
import json, os, sys, statistics
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()] if os.path.exists(sys.argv[1]) else []
recs = [r for r in recs if r.get("loss") is not None]
loss = [r["loss"] for r in recs]
if len(loss) < 6:
    print(f"| {sys.argv[2]} | {len(recs)} | failed: too few logged steps | | | |")
    sys.exit(1)
untaken = [r["step"] for r in recs if r["step"] > 5 and not r.get("stepped", True)]
secs = [r["step_seconds"] for r in recs if "step_seconds" in r]
first, last = statistics.mean(loss[:3]), statistics.mean(loss[-3:])
print(f"| {sys.argv[2]} | {len(recs)} | {first:.3f} | {last:.3f} | {len(untaken)} {untaken} | "
      f"{statistics.median(secs) if secs else float('nan'):.3f} |")
sys.exit(0 if last < first and not untaken else 1)
PY
  done
  figure "see the table"
  return $rc
}

step_sanitizer() {
  local t rc=0
  t=$(bin_of test_kernels_gpu)
  # Small cases of every kernel, forward and backward: the sanitizers slow kernels 10-100x.
  local attention='AttentionGpu.QueryAndKeyLengthsDifferAcrossTileBoundaries:AttentionGpu.FullyMasked*:AttentionGpu.UngatedAndOddHeadDims'
  local small="$attention:AttentionGpu.MixedDtypes*:AttentionGpu.MaskBias*:LayerNormGpu.*:DeviceCopyGpu.*"
  echo "| tool | tests | result |" | section
  echo "|---|---|---|" | section
  for tool in memcheck racecheck synccheck; do
    local filter=$small
    [ "$tool" = racecheck ] && filter="$attention:LayerNormGpu.StatisticsEqualCpuPath"
    # A third of the step each, so that one slow tool leaves the others their turn.
    CUDA_LAUNCH_BLOCKING=1 timeout --kill-after=5 45 compute-sanitizer --tool "$tool" --error-exitcode 3 \
      --print-limit 20 "$t" --gtest_color=no --gtest_filter="$filter" > "$work/logs/sanitizer-$tool.log" 2>&1
    local r=$?
    [ $r -eq 0 ] || rc=1
    local summary
    summary=$(grep -E "(ERROR|RACECHECK|SYNCCHECK) SUMMARY|Hazard|Error:" "$work/logs/sanitizer-$tool.log" | sort | uniq -c | head -5 | tr '\n' ';')
    echo "| $tool | \`$filter\` ($(gtest_counts "$work/logs/sanitizer-$tool.log")) | exit $r: ${summary:-no summary line} |" | section
    tail -40 "$work/logs/sanitizer-$tool.log"
  done
  figure "see the table"
  return $rc
}

step_ablate() {
  local fold
  fold=$(bin_of fold)
  "$fold" ablate --config af2_model_1 --data "$kit/data/ldh.h5" --crop 256 --strategies none,checkpoint,chunk4 \
    --steps 2 --device cuda --precision bf16 --out "$work/ablate"
  local rc=$?
  [ -f "$work/ablate/ablation.md" ] && section < "$work/ablate/ablation.md"
  figure "exit $rc"
  return $rc
}

step_long_sequence() {
  local fold w="$work/long" rc=0
  fold=$(bin_of fold)
  mkdir -p "$w"
  # One Evoformer and one extra-MSA block: the peak is one block's, the time per block.
  local blocks=(--set model.evoformer_stack.no_blocks=1 --set model.extra_msa.extra_msa_stack.no_blocks=1)
  "$fold" init-params --config af2_model_1 "${blocks[@]}" --seed 0 "$w/params.safetensors" || return 1
  echo "| N_res | measured peak GiB | stage | fold plan peak GiB | measured / plan | evoformer s/block | extra MSA s/block |" | section
  echo "|---:|---:|---|---:|---:|---:|---:|" | section
  for n in 2048 4096; do
    python3 "$root/tools/bench/synthetic_features.py" "$w/f$n.npz" --n-res "$n" --n-seq 128 --n-extra 1024 || { rc=1; continue; }
    "$fold" predict --features "$w/f$n.npz" --params "$w/params.safetensors" --out "$w/out$n" --device cuda \
      --precision bf16 --chunk-size auto --low-memory --recycles 0 --quiet "${blocks[@]}" ||
      { rc=1; echo "| $n | failed | | | | | |" | section; continue; }
    "$fold" plan --n-res "$n" --n-seq 128 --n-extra 1024 --precision bf16 --chunk-size auto --low-memory --device cuda \
      > "$w/plan$n.txt" || rc=1
    cat "$w/plan$n.txt"
    python3 - "$w/out$n" "$w/plan$n.txt" "$n" <<'PY' | section
import glob, json, re, sys
j = json.load(open(glob.glob(sys.argv[1] + "/*.json")[0]))
stages = j["peak_memory_bytes_per_stage"]
stage = max(stages, key=stages.get)
m = re.search(r"peak beyond the weights: ([0-9.]+) GiB", open(sys.argv[2]).read())
plan = float(m.group(1)) if m else float("nan")
peak = j["peak_memory_bytes"] / 2**30
t = j["timings_seconds"]
print(f"| {sys.argv[3]} | {peak:.2f} | {stage} | {plan:.2f} | {peak / plan:.2f} | {t.get('evoformer', float('nan')):.2f} | "
      f"{t.get('extra_msa_stack', float('nan')):.2f} |")
PY
  done
  figure "see the table"
  return $rc
}

step_profile() {
  local ncu
  ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | tail -1)
  [ -n "$ncu" ] || { echo "ncu not found" | section; figure "ncu not found"; return 1; }
  # Our kernels only (naive and SDPA launch ATen's), warm-up launches included in the count.
  "$ncu" --clock-control none --kernel-name regex:attention --launch-count 8 --section SpeedOfLight \
    --section Occupancy --section LaunchStats --print-summary per-kernel \
    "$(bin_of fold_bench_attention)" --device cuda --n-res 384 --dtypes bf16 --repeats 1 --variants triangle_start \
    > "$work/profile.txt" 2>&1
  local rc=$?
  cat "$work/profile.txt"
  { echo '```'; grep -v '^==PROF==' "$work/profile.txt" | sed -n '/attention/,$p' | head -200; echo '```'; } | section
  figure "ncu exit $rc"
  return $rc
}

# ---------------------------------------------------------------------------------------

if [ "$mode" = internal ]; then
  step=$internal_step
  kit_environment || exit 1
  "step_${step//-/_}"
  exit $?
fi

if [ "$mode" = dry-run ]; then
  echo "check.sh would run, within $deadline s in all (kit $kit, build $build_dir, -j$jobs):"
  for s in "${chosen[@]}"; do printf '  %-14s limit %4d s\n' "$s" "${limit[$s]}"; done
  echo "targets: ${targets[*]}"
  exit 0
fi

if [ "$mode" = rehearse ]; then
  # Hide Debian's copies of everything the kit packs, so the build can only use the kit.
  [ -d "$kit/usr" ] || { echo "check.sh --rehearse: no packed folder at $kit (run tools/gpu/pack.sh first)" >&2; exit 1; }
  if [ -z "${FOLD_REHEARSAL_HIDDEN:-}" ]; then
    if unshare --mount --propagation private true 2>/dev/null; then
      exec unshare --mount --propagation private env FOLD_REHEARSAL_HIDDEN=1 "$self" "${args[@]}"
    fi
    echo "check.sh --rehearse: no private mount namespace here: Debian's paths are hidden from CMake only"
  else
    empty=$(mktemp -d) empty_file=$(mktemp)
    for p in "$kit"/usr/include/* "$kit"/usr/share/cmake/* "$kit"/usr/lib/x86_64-linux-gnu/cmake/*; do
      target="/${p#"$kit"/}"
      if [ -d "$target" ]; then mount --bind "$empty" "$target"; elif [ -f "$target" ]; then mount --bind "$empty_file" "$target"; fi
    done
    for p in "$kit"/usr/lib/x86_64-linux-gnu/lib* "$kit"/usr/lib/x86_64-linux-gnu/hdf5; do
      target=$(realpath -m "/usr/lib/x86_64-linux-gnu/$(basename "$p")")
      if [ -d "$target" ]; then mount --bind "$empty" "$target"; elif [ -f "$target" ]; then mount --bind "$empty_file" "$target"; fi
    done
    echo "check.sh --rehearse: Debian's copies of the packed headers, libraries and CMake files are hidden"
  fi
  work=$(mktemp -d)
  kit_environment || exit 1
  t0=$SECONDS
  configure_and_build || { echo "check.sh --rehearse: FAILED: the build from the packed folder" >&2; exit 1; }
  echo "check.sh --rehearse: built ${targets[*]} from the packed folder in $((SECONDS - t0)) s"
  "$build_dir/fold/fold" info > /dev/null || { echo "check.sh --rehearse: FAILED: fold info" >&2; exit 1; }
  for t in "${gpu_tests[@]}"; do
    "$build_dir/tests/$t" --gtest_brief=1 > "$work/$t.log" 2>&1 ||
      { cat "$work/$t.log"; echo "check.sh --rehearse: FAILED: $t" >&2; exit 1; }
    echo "check.sh --rehearse: $t: $(gtest_counts "$work/$t.log") (no GPU here)"
  done
  collect_targets "$kit/bin" || { echo "check.sh --rehearse: FAILED: a target was not built" >&2; exit 1; }
  strip "$kit/bin"/*
  source_stamp > "$kit/bin/STAMP"
  echo "check.sh --rehearse: stripped binaries in $kit/bin ($(du -sm "$kit/bin" | cut -f1) MiB, stamp $(cat "$kit/bin/STAMP")); kit now $(du -sm "$kit" | cut -f1) MiB"
  "$self" --dry-run --kit "$kit" --deadline "$deadline" ${steps:+--steps "$steps"}
  echo "check.sh --rehearse: passed"
  exit 0
fi

# The device run.
[ -n "${OUT:-}" ] || die "set OUT to the folder for gpu-report.md and the logs"
mkdir -p "$OUT"
work=$(mktemp -d)
mkdir -p "$work/sections" "$work/figures" "$work/logs"
export work kit build_dir jobs
start=$SECONDS
declare -A status seconds
for step in "${chosen[@]}"; do
  left=$((deadline - (SECONDS - start) - 10))
  lim=${limit[$step]}
  [ "$lim" -gt "$left" ] && lim=$left
  if [ "$lim" -lt 15 ]; then
    status[$step]="not run: no time left"
    seconds[$step]=0
    continue
  fi
  if [ "$step" != env ] && [ "$step" != build ] && [ ! -s "$work/bin_dir" ]; then
    status[$step]="not run: no binaries (build failed)"
    seconds[$step]=0
    continue
  fi
  echo "== $step (limit $lim s)"
  t0=$SECONDS
  timeout --kill-after=5 "$lim" "$self" --internal-step "$step" --kit "$kit" --build-dir "$build_dir" --jobs "$jobs" \
    > "$work/logs/$step.log" 2>&1
  rc=$?
  seconds[$step]=$((SECONDS - t0))
  case $rc in
    0) status[$step]=pass ;;
    124|137) status[$step]="TIMEOUT after $lim s" ;;
    *) status[$step]="FAIL (exit $rc)" ;;
  esac
  echo "   ${status[$step]} in ${seconds[$step]} s: $(cat "$work/figures/$step" 2>/dev/null)"
  [ "${status[$step]}" = pass ] || tail -15 "$work/logs/$step.log"
done

report="$OUT/gpu-report.md"
{
  echo "# GPU kit report"
  echo
  echo "Device: $(cat "$work/figures/env" 2>/dev/null || echo unknown). $(date -u +%FT%TZ), $((SECONDS - start)) s in all."
  echo
  echo "| step | result | seconds | summary |"
  echo "|---|---|---:|---|"
  for step in "${chosen[@]}"; do
    echo "| $step | ${status[$step]} | ${seconds[$step]} | $(cat "$work/figures/$step" 2>/dev/null) |"
  done
  for step in "${chosen[@]}"; do
    [ -f "$work/sections/$step.md" ] || continue
    echo
    echo "## $step"
    echo
    cat "$work/sections/$step.md"
  done
} > "$report"
for f in "$work"/logs/*.log; do  # keep each log under 2 MiB: the first and last MiB
  [ "$(stat -c %s "$f")" -gt 2097152 ] && { head -c 1048576 "$f"; echo; echo "[... cut ...]"; tail -c 1048576 "$f"; } > "$f.cut" && mv "$f.cut" "$f"
done
tar -czf "$OUT/logs.tar.gz" -C "$work" logs
cat "$report"
for step in "${chosen[@]}"; do [ "${status[$step]}" = pass ] || exit 1; done
exit 0
