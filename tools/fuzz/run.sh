#!/usr/bin/env bash
# The readers' fuzz targets (tests/fuzz), built with clang under ASan + UBSan + libFuzzer.
#   tools/fuzz/run.sh [SECONDS]   fuzz every target SECONDS (default 60), a few at a time,
#                                 and print executions/s and coverage per target
#   tools/fuzz/run.sh --replay    run every target once over its seeds and over
#                                 tests/fuzz/regressions/<target>/ (the fuzz_regression test;
#                                 exit 77 when the targets are not built)
#   tools/fuzz/run.sh --build     only (re)build the fuzz targets
#   tools/fuzz/run.sh --report    print the table of the last run in --work again
# Options: --build-dir DIR (default build-fuzz), --work DIR (corpora, findings and logs;
# default /tmp/fold-fuzz), --jobs N (targets at once; default the number of cores),
# --targets a,b (default all).
# Seeds are real files, read in place: ../shared/data, the Debian example data in
# examples/.cache, configs/*.toml, and the binary formats written by fuzz_seeds from a
# real chain. The corpus each run grows is kept in the work folder for the next run.
# A finding is copied to <work>/findings/<target>/; minimise it with the target's
# -minimize_crash=1 and add it to tests/fuzz/regressions/<target>/ with the fix.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build_dir="$root/build-fuzz" work=/tmp/fold-fuzz jobs=$(nproc) targets="" mode=fuzz seconds=60
while [ $# -gt 0 ]; do
  case "$1" in
    --replay) mode=replay ;;
    --build) mode=build ;;
    --report) mode=report ;;
    --build-dir) build_dir=$(realpath -m "$2"); shift ;;
    --work) work=$(realpath -m "$2"); shift ;;
    --jobs) jobs="$2"; shift ;;
    --targets) targets="${2//,/ }"; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    [0-9]*) seconds="$1" ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --jobs needs a positive integer" >&2; exit 2; }
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: SECONDS must be a positive integer" >&2; exit 2; }

declare -A rcs
# The table of a fuzzing run, from its logs and findings (rcs: the targets' exit codes,
# when this process ran them). Sets status=1 on any finding.
report() {
  printf '%-22s %8s %12s %9s %7s %8s %7s %8s\n' target seconds executions exec/s edges features corpus findings
  for t in $targets; do
    log="$work/logs/$t.log"
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.*corp: \([0-9]*\).*/\1/p' <<<"$last")
    findings=$(find "$work/findings/$t" -type f 2>/dev/null | wc -l || true)
    seconds_run=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    printf '%-22s %8s %12s %9s %7s %8s %7s %8s\n' "$t" "${seconds_run:-?}" "$(stat number_of_executed_units)" \
      "$(stat average_exec_per_sec)" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$findings"
    if [ "${rcs[$t]:-0}" -ne 0 ] || [ "$findings" -gt 0 ]; then
      echo "  $t: exit ${rcs[$t]:-?}; findings in $work/findings/$t; log $log:"
      grep -E 'ERROR|SUMMARY|terminate|what\(\)|runtime error|Test unit written' "$log" | head -8 | sed 's/^/    /'
      status=1
    fi
  done
}

if [ "$mode" = report ]; then
  [ -n "$targets" ] || targets=$(ls "$work/logs" 2>/dev/null | sed -n 's/\.log$//p' | tr '\n' ' ')
  status=0
  report
  exit $status
fi

cxx=$(command -v clang++-14 || command -v clang++ || true)
cc=$(command -v clang-14 || command -v clang || true)
if [ -z "$cxx" ] || [ -z "$cc" ]; then
  echo "run.sh: clang is not installed (tools/setup.sh installs clang-14)" >&2
  exit 1
fi
if [ "$mode" = replay ]; then
  if [ ! -f "$build_dir/fuzz_targets.txt" ]; then
    echo "run.sh: skipped: the fuzz targets are not built in $build_dir (tools/setup.sh or tools/fuzz/run.sh --build builds them)"
    exit 77
  fi
elif [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S "$root" -B "$build_dir" -G Ninja -DFOLD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
fi
[ "$mode" = replay ] || cmake --build "$build_dir" --target fuzzers
[ "$mode" = build ] && exit 0

[ -n "$targets" ] || targets=$(cat "$build_dir/fuzz_targets.txt" | tr ';' ' ')
shared="$root/../shared/data" examples="$root/examples/.cache"

# Seeds: symbolic links to the real files, one folder per target.
rm -rf "$work/seeds"
mkdir -p "$work/seeds"
seed() {  # target, then files (globs that match nothing are skipped)
  local t=$1; shift
  mkdir -p "$work/seeds/$t"
  for f in "$@"; do [ -f "$f" ] && ln -sf "$f" "$work/seeds/$t/$(echo "${f#"$root/"}" | tr '/' '_')"; done
  return 0
}
shopt -s nullglob globstar
seed fuzz_fasta "$shared"/fasta/*.fasta "$examples"/hmmer-doc/**/*.fa "$examples"/python3-csb/**/*.fa
seed fuzz_a3m "$shared"/alignments/*/*.a3m "$examples"/python3-csb/**/*.a3m
seed fuzz_stockholm "$shared"/alignments/*/*.sto "$examples"/hmmer-doc/**/*.sto
seed fuzz_hhr "$shared"/alignments/*/*.hhr "$examples"/python3-csb/**/*.hhr
seed fuzz_mmcif "$shared"/mmcif/*.cif
seed fuzz_pdb "$examples"/freesasa/**/*.pdb "$examples"/python3-csb/**/*.pdb
seed fuzz_config "$root"/configs/*.toml
if [ -d "$shared" ]; then
  "$build_dir/tests/fuzz/fuzz_seeds" "$work/seeds" "$shared" "$root/configs/tiny.toml"
else
  echo "run.sh: $shared is absent; the binary formats start from their regression inputs only"
fi
shopt -u globstar

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tools/fuzz/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$root/tools/fuzz/ubsan.supp}"
mkdir -p "$work/logs"
status=0

run_target() {  # target
  local t=$1 bin="$build_dir/tests/fuzz/$1" log="$work/logs/$1.log"
  local inputs=("$work/seeds/$t")
  [ -d "$root/tests/fuzz/regressions/$t" ] && inputs+=("$root/tests/fuzz/regressions/$t")
  mkdir -p "$work/seeds/$t"
  if [ "$mode" = replay ]; then
    # The first folder is where libFuzzer would add new inputs: an empty scratch one.
    local scratch
    scratch=$(mktemp -d)
    local rc=0
    "$bin" -runs=0 -timeout=30 -rss_limit_mb=2048 "$scratch" "${inputs[@]}" >"$log" 2>&1 || rc=$?
    rm -rf "$scratch"
    return $rc
  fi
  mkdir -p "$work/corpus/$t" "$work/findings/$t"
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/findings/$t/" "$work/corpus/$t" "${inputs[@]}" >"$log" 2>&1
}

# Up to $jobs targets at once; each one's result is read from its log afterwards.
declare -A pids
for t in $targets; do
  [ -x "$build_dir/tests/fuzz/$t" ] || { echo "run.sh: no fuzz target $t in $build_dir" >&2; exit 2; }
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_target "$t" &
  pids[$t]=$!
done
for t in $targets; do
  if wait "${pids[$t]}"; then rcs[$t]=0; else rcs[$t]=$?; fi
done

if [ "$mode" = replay ]; then
  for t in $targets; do
    inputs=$(find -L "$work/seeds/$t" "$root/tests/fuzz/regressions/$t" -type f 2>/dev/null | wc -l || true)
    if [ "${rcs[$t]}" -eq 0 ]; then
      printf '%-22s %4d inputs  ok\n' "$t" "$inputs"
    else
      printf '%-22s %4d inputs  FAILED (exit %d); log:\n' "$t" "$inputs" "${rcs[$t]}"
      tail -40 "$work/logs/$t.log"
      status=1
    fi
  done
  exit $status
fi

report
exit $status
