#!/bin/sh
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz and runs one
# target, or all of them one after the other, for SECONDS each.
#   usage: tools/fuzz.sh TARGET|all SECONDS [extra libFuzzer flags]
#   targets: model extdata image tensorfile cli
# Seeds come from fixtures/ and /usr/share/libonnx-testdata (assembled into
# build-fuzz/seeds/TARGET); what the fuzzer adds goes to build-fuzz/corpus/TARGET
# (kept between runs).  Crashes land in build-fuzz/crashes/TARGET; turn each into
# a fixture under fixtures/bad or fixtures/bad_images with its expected error.
# Runs niced, one job, so the machine stays usable for others.  Each run
# appends "date target seconds execs findings" to build-fuzz/fuzz-log.tsv.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 TARGET|all SECONDS [libFuzzer flags]" >&2; exit 2; }
target=$1
secs=$2
shift 2
extra="$*"
root=$(cd "$(dirname "$0")/.." && pwd)
bd=$root/build-fuzz
td=/usr/share/libonnx-testdata/data
all="model extdata image tensorfile cli"

if [ ! -f "$bd/CMakeCache.txt" ]; then
    CC=clang cmake -S "$root" -B "$bd" -DLRSC_FUZZ=ON -DLRSC_TESTS=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
nice -n 10 make -C "$bd" -j2 --no-print-directory $(for t in $all; do echo fuzz_$t; done) >/dev/null

# prefix BYTE SRC DST: DST = BYTE (octal escape) followed by SRC; suffix: after it.
prefix() { { printf "$1"; cat "$2"; } >"$3"; }
suffix() { { cat "$2"; printf "$1"; } >"$3"; }

seed() { # target -> fills $bd/seeds/$1 once
    d=$bd/seeds/$1
    [ -d "$d" ] && return 0
    mkdir -p "$d"
    case $1 in
    model)
        for f in "$root"/fixtures/io/*.onnx "$root"/fixtures/bad/*.onnx; do cp "$f" "$d/"; done
        find "$td" -name model.onnx -size -32k | head -400 | while read -r f; do
            cp "$f" "$d/$(echo "$f" | cksum | cut -d' ' -f1).onnx"
        done ;;
    extdata)
        cp "$root"/fixtures/fuzz_seeds/extdata/* "$d/" ;;
    image)
        for f in "$root"/fixtures/images/* "$root"/fixtures/bad_images/*; do
            case $f in *.tsv) continue ;; esac
            if [ -f "$f" ] && [ "$(wc -c <"$f")" -lt 200000 ]; then suffix '\021' "$f" "$d/$(basename "$f")"; fi
        done ;;
    tensorfile)
        find "$td" -name '*.pb' -size -8k | head -300 | while read -r f; do
            prefix '\001' "$f" "$d/$(echo "$f" | cksum | cut -d' ' -f1).pb"
        done
        for f in "$root"/fixtures/calib_ref/*.npy "$root"/fixtures/fuzz_seeds/npy/*.npy; do
            if [ -f "$f" ]; then prefix '\000' "$f" "$d/$(basename "$f")"; fi
        done ;;
    cli)
        for f in "$root"/fixtures/io/*.onnx "$root"/fixtures/bad/*.onnx; do
            prefix '\000@\000\000\000' "$f" "$d/info_$(basename "$f")"
            prefix '\001@\000\000\000' "$f" "$d/dump_$(basename "$f")"
        done
        printf '\000--help' >"$d/help"
        printf '\001@\000extra\000\000\000' >"$d/extra"
        printf '\000/nonexistent/x.onnx' >"$d/missing" ;;
    esac
}

run() { # target
    t=$1
    seed "$t"
    mkdir -p "$bd/corpus/$t" "$bd/crashes/$t"
    log=$bd/fuzz-$t.log
    before=$(ls "$bd/crashes/$t" | wc -l)
    echo "fuzzing $t for ${secs}s (log: $log)"
    # One process (the first finding stops it); -rss_limit_mb bounds memory per input.
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    nice -n 10 "$bd/fuzz/fuzz_$t" "$bd/corpus/$t" "$bd/seeds/$t" \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$bd/crashes/$t/" $extra >"$log" 2>&1 || true
    after=$(ls "$bd/crashes/$t" | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$secs" "${execs:-?}" \
        "$((after - before))" >>"$bd/fuzz-log.tsv"
    echo "  $t: $((after - before)) new findings in $bd/crashes/$t"
}

if [ "$target" = all ]; then
    for t in $all; do run "$t"; done
else
    case " $all " in *" $target "*) ;; *) echo "unknown target $target (have: $all)" >&2; exit 2 ;; esac
    run "$target"
fi
