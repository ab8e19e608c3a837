#!/bin/sh
# Two builds of bench_interp on one model, in alternating rounds, so that
# load from other processes hits both alike: prints each build's least wall
# time and least CPU time (per run) over the rounds, and their ratios; then
# the median over rounds of each round's least wall time (with 10 rounds
# or more, the steadier figure for changes of a few percent).  CPU time is
# the steadier figure on a shared machine.
#
# usage: BASE=/path/to/old/bench_interp tools/bench_interp/ab.sh MODEL BATCH [ROUNDS]
# environment: BUILD=build (this build's folder), MODELS_DIR=$BUILD/models,
#              RUNS=5 (runs per round after one warm-up), THREADS=2
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
MODELS_DIR=${MODELS_DIR:-$BUILD/models}
RUNS=${RUNS:-5}
THREADS=${THREADS:-2}
NEW=$BUILD/tools/bench_interp/bench_interp
[ $# -ge 2 ] || { echo "usage: BASE=OLD_BENCH_INTERP $0 MODEL BATCH [ROUNDS]" >&2; exit 2; }
[ -n "${BASE:-}" ] && [ -x "$BASE" ] || { echo "ab.sh: BASE must name an earlier bench_interp" >&2; exit 2; }
[ -x "$NEW" ] || { echo "ab.sh: $NEW missing (build the project first)" >&2; exit 2; }
m=$1 b=$2 r=${3:-3}
f=$MODELS_DIR/$m.onnx
i=0
while [ "$i" -lt "$r" ]; do
    for who in base new; do
        if [ "$who" = base ]; then bin=$BASE; else bin=$NEW; fi
        "$bin" "$f" --batch "$b" --runs "$RUNS" --threads "$THREADS" |
            sed -n "s/.*min_ms=\([0-9.]*\).*cpu_ms=\([0-9.]*\).*/$who \1 \2/p"
    done
    i=$((i + 1))
done | sort -k1,1 -k2,2n | awk -v m="$m" -v b="$b" '
    { if (!($1 in w) || $2 < w[$1]) w[$1] = $2; if (!($1 in c) || $3 < c[$1]) c[$1] = $3
      r[$1, ++n[$1]] = $2 }
    END { mb = r["base", int((n["base"] + 1) / 2)]; mn = r["new", int((n["new"] + 1) / 2)]
          printf "%s batch %d: wall base %.2f new %.2f ratio %.3f | cpu base %.2f new %.2f ratio %.3f\n",
                 m, b, w["base"], w["new"], w["new"] / w["base"], c["base"], c["new"], c["new"] / c["base"]
          printf "%s batch %d: median over rounds of the least wall time: base %.2f new %.2f ratio %.3f\n",
                 m, b, mb, mn, mn / mb }'
