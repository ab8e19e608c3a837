#!/bin/sh
# Every malformed model in fixtures/bad must be refused by `onnx-lrsc info`
# with exit status 1 and exactly one stderr line that names the file and
# contains the expected fragment from EXPECTED.tsv.  A crash (signal, sanitizer
# report) fails the test.
# usage: bad_models.sh ONNX_LRSC FIXTURES_BAD_DIR
set -u
bin=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

check() { # file fragment
    "$bin" info "$1" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && grep -qF -- "$2" "$tmp/err" && grep -qF -- "$1" "$tmp/err"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL $1 (exit $rc, $lines stderr lines, wanted '$2'):"
        sed 's/^/    /' "$tmp/err" | head -20
    fi
}

while IFS="$(printf '\t')" read -r name expect; do
    case "$name" in '#'*|'') continue ;; esac
    check "$dir/$name" "$expect"
done <"$dir/EXPECTED.tsv"

# Cases that need the file system rather than a committed file.
check "$tmp/does-not-exist.onnx" "No such file or directory"
mkdir "$tmp/folder.onnx"
check "$tmp/folder.onnx" "not a regular file"
# A symbolic link inside the model folder that points outside it.
mkdir "$tmp/model"
cp "$dir/ext_missing_file.onnx" "$tmp/model/m.onnx"
ln -s /etc/hostname "$tmp/model/no_such_file.bin"
check "$tmp/model/m.onnx" "resolves outside the model's folder"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
