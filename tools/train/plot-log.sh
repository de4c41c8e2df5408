#!/usr/bin/env bash
# The training curve of a `fold train` run as a PNG: the total loss and FAPE per logged
# step (left axis, log scale) and the validation lDDT-Ca, and for complexes interface
# lDDT-Ca (right axis), from log.jsonl.
# usage: tools/train/plot-log.sh RUN_DIR/log.jsonl OUT.png [TITLE]
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,4p' "$0" >&2; exit 2; }
log=$1
png=$2
title=${3:-$(basename "$(dirname "$log")")}
command -v gnuplot > /dev/null || { echo "plot-log.sh: gnuplot is missing (tools/setup.sh installs gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$log" "$tmp" <<'PY'
import json, sys
log, tmp = sys.argv[1], sys.argv[2]
with open(log) as f, open(tmp + "/loss.dat", "w") as loss, open(tmp + "/valid.dat", "w") as valid, \
        open(tmp + "/interface.dat", "w") as interface:
    for line in f:
        r = json.loads(line)
        if r.get("loss") is not None:
            loss.write(f'{r["step"]} {r["loss"]} {r["losses"].get("fape", "nan")}\n')
        v = r.get("validation")
        if v:
            valid.write(f'{r["step"]} {v["lddt_ca"]}\n')
            if "interface_lddt_ca" in v:
                interface.write(f'{r["step"]} {v["interface_lddt_ca"]}\n')
PY
# A complex's run has an interface score; a chain's has none to plot.
interface_plot=""
[ -s "$tmp/interface.dat" ] &&
  interface_plot=", \"$tmp/interface.dat\" using 1:2 axes x1y2 with linespoints lw 2 pt 5 title \"interface lDDT-Ca\""
gnuplot <<GP
set terminal pngcairo size 900,540 font ",11" noenhanced
set output "$png"
set title "$title"
set xlabel "optimizer step"
set ylabel "loss"
set logscale y
set y2label "validation lDDT-Ca"
set y2range [0:1]
set y2tics 0.1
set ytics nomirror
set key outside bottom center horizontal
set grid
plot "$tmp/loss.dat" using 1:2 with lines lw 1.5 title "total loss", \
     "$tmp/loss.dat" using 1:3 with lines lw 1.5 title "FAPE", \
     "$tmp/valid.dat" using 1:2 axes x1y2 with linespoints lw 2 pt 7 title "lDDT-Ca (EMA weights)"$interface_plot
GP
echo "$png"
