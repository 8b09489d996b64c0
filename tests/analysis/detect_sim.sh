#!/bin/bash
# dicomaid-detect with its default (bundled) model on a small study made by the simulator:
# 4 slices of `python3 -m tools.sim studies --seed 1000000 --split standard` (two re-encoded
# as Deflated Explicit VR LE; truth.json and uids.txt alongside). Asserts the JSON shape of
# issue 4, one series, boxes only on the study's images, no error, status 0.
# DETECT_MODEL overrides the model (e.g. to run this before models/ is merged).
set -eu
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
fx="$s/tests/analysis/fixtures/sim"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

args=()
if [ -n "${DETECT_MODEL:-}" ]; then args=(--model "$DETECT_MODEL"); fi
"$b/src/dicomaid-detect" "${args[@]}" "$fx" >"$tmp/out.json" 2>"$tmp/err"
test ! -s "$tmp/err" || { cat "$tmp/err"; exit 1; }
"$b/tests/analysis/jsoncheck" --series 1 --uids "$fx/uids.txt" <"$tmp/out.json"
grep -q '"series_instance_uid": "2.25.20002699630071209701181598471222076843"' "$tmp/out.json"
grep -q '"study_probability": ' "$tmp/out.json"
echo "detect_sim: ok"
