#!/bin/sh
# Nothing lost: a save interrupted by SIGKILL, SIGTERM or SIGINT at various
# moments leaves no partial output and no temporary file, leaves an existing
# file at the output path untouched, and never modifies the input model.
# A save that finished before the signal must have written the complete model
# (byte-identical to the input, which load+save reproduces).
# usage: kill_mid_write.sh SAVE_HELPER [MIB [PERCENTS]]
#   MIB: model size (default 200); PERCENTS: when to signal, as percentages of
#   the time one save takes here (default "2 15 35 55 75 90 100").
set -u
bin=$1
mib=${2:-200}
pcts=${3:-2 15 35 55 75 90 100}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
runs=0
finished=0
note() { echo "$*"; }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

"$bin" make "$tmp/in.onnx" "$mib" || exit 1
in_sum=$(cksum <"$tmp/in.onnx")

# How long one whole save takes here (load + pack + write + fsync).
t0=$(date +%s%N)
"$bin" save "$tmp/in.onnx" "$tmp/ref.onnx" >/dev/null || exit 1
t1=$(date +%s%N)
cmp -s "$tmp/in.onnx" "$tmp/ref.onnx" || bad "an uninterrupted save is not byte-identical to its input"
rm -f "$tmp/ref.onnx"
dur_ms=$(( (t1 - t0) / 1000000 ))
note "one save of a $mib MiB model takes ${dur_ms} ms"

old='previous output, must survive an interrupted save'
for mode in inline external; do
    for sig in KILL TERM INT; do
        for pct in $pcts; do
            printf '%s\n' "$old" >"$tmp/out.onnx"
            rm -f "$tmp/out.onnx.data"
            if [ $mode = external ]; then
                "$bin" save "$tmp/in.onnx" "$tmp/out.onnx" ext >"$tmp/log" 2>&1 &
            else
                "$bin" save "$tmp/in.onnx" "$tmp/out.onnx" >"$tmp/log" 2>&1 &
            fi
            pid=$!
            sleep "$(awk "BEGIN { printf \"%.3f\", $dur_ms * $pct / 100000 }")"
            kill -s $sig $pid 2>/dev/null
            wait $pid 2>/dev/null
            rc=$?
            runs=$((runs + 1))
            what="$mode save, SIG$sig at ${pct}% (exit $rc)"
            [ "$(cksum <"$tmp/in.onnx")" = "$in_sum" ] || bad "$what: the input model changed"
            extra=$(ls -A "$tmp" | grep -v -x -e in.onnx -e out.onnx -e out.onnx.data -e log)
            [ -z "$extra" ] || bad "$what: left behind: $extra"
            # Two states are allowed: the old output untouched (and no data file), or
            # the complete new output (the signal came after the commit).
            if [ "$(head -c 200 "$tmp/out.onnx")" = "$old" ]; then
                [ $rc -ne 0 ] || bad "$what: reported success but the output is the old one"
                [ ! -e "$tmp/out.onnx.data" ] || bad "$what: a data file was left without its model"
            else
                finished=$((finished + 1))
                if [ $mode = external ]; then
                    # Materialise the external data again: must give the input back.
                    "$bin" save "$tmp/out.onnx" "$tmp/check.onnx" >/dev/null 2>&1 &&
                        cmp -s "$tmp/in.onnx" "$tmp/check.onnx" ||
                        bad "$what: the output is neither the old file nor a complete model"
                    rm -f "$tmp/check.onnx"
                else
                    cmp -s "$tmp/in.onnx" "$tmp/out.onnx" ||
                        bad "$what: the output is neither the old file nor a complete model"
                fi
            fi
        done
    done
done
echo "$runs interrupted saves ($finished had committed before the signal), $fail failures"
[ "$fail" -eq 0 ]
