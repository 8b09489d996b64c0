#!/bin/bash
# dicomaid-detect end to end on a hand-made detector and study whose answer was worked out by
# hand from models/README.md (see tests/analysis/mkfixture.c): pixel reading with rescale in
# both VR encodings, series-wide percentile normalisation, resampling (64 -> 64 identity and
# 128 -> 64), inference, peaks, boxes back in image pixels, linking, type vote, centre in mm,
# the skipped CT and sagittal series, the non-DICOM file; then exit codes and error lines.
set -eu
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for size in 64 128; do
	"$b/tests/analysis/mkfixture" "$tmp/$size" "$size"
	"$b/src/dicomaid-detect" --model "$tmp/$size/tiny.ini" "$tmp/$size/study" \
		>"$tmp/out.json" 2>"$tmp/err"
	test ! -s "$tmp/err" || { cat "$tmp/err"; exit 1; }
	diff -u "$s/tests/analysis/tiny$size.json" "$tmp/out.json"
	"$b/tests/analysis/jsoncheck" --series 3 --min-lesions 2 <"$tmp/out.json"
done

# mirror_average: the tiny network commutes with mirroring (4 x 4 pooling, 1 x 1 convolutions),
# so a column offset of 0.25 comes back from the mirrored run as 1 - 0.25 and averages to 0.5:
# the answer of the 0.5 network above; without mirroring the boxes move by a pixel
"$b/tests/analysis/mkfixture" "$tmp/m" 64 0.25
"$b/src/dicomaid-detect" --model "$tmp/m/tiny.ini" "$tmp/m/study" >"$tmp/out.json"
! cmp -s "$s/tests/analysis/tiny64.json" "$tmp/out.json"
sed 's/^classes = 3$/&\nmirror_average = columns/' "$tmp/m/tiny.ini" >"$tmp/m/mirror.ini"
grep -q '^mirror_average = columns$' "$tmp/m/mirror.ini"
"$b/src/dicomaid-detect" --model "$tmp/m/mirror.ini" "$tmp/m/study" >"$tmp/out.json"
diff -u "$s/tests/analysis/tiny64.json" "$tmp/out.json"
# the same with a graph that leaves the logistic to the C side: averaged as probabilities
"$b/tests/analysis/mkfixture" "$tmp/l" 64 0.25 logits
grep -q '^heatmap_activation = none$' "$tmp/l/tiny.ini"
sed 's/^classes = 3$/&\nmirror_average = columns/' "$tmp/l/tiny.ini" >"$tmp/l/mirror.ini"
"$b/src/dicomaid-detect" --model "$tmp/l/mirror.ini" "$tmp/l/study" >"$tmp/out.json"
diff -u "$s/tests/analysis/tiny64.json" "$tmp/out.json"

# --threshold filters the lesion list but not the study probability
"$b/src/dicomaid-detect" --model "$tmp/64/tiny.ini" --threshold 0.9 "$tmp/64/study" >"$tmp/out.json"
test "$(grep -c '"type"' "$tmp/out.json")" = 1
grep -q '"study_probability": 0.9933' "$tmp/out.json"

# --verbose counts the non-DICOM file
"$b/src/dicomaid-detect" --model "$tmp/64/tiny.ini" --verbose "$tmp/64/study" 2>"$tmp/err" >/dev/null
grep -q '9 DICOM files, 1 other files skipped, 3 series, 0 errors' "$tmp/err"

# the same folder twice: each instance counted once, the same answer
"$b/src/dicomaid-detect" --model "$tmp/64/tiny.ini" "$tmp/64/study" "$tmp/64/study" >"$tmp/out.json"
diff -u "$s/tests/analysis/tiny64.json" "$tmp/out.json"

# an empty folder: no series, status 0
mkdir "$tmp/empty"
"$b/src/dicomaid-detect" --model "$tmp/64/tiny.ini" "$tmp/empty" >"$tmp/out.json"
"$b/tests/analysis/jsoncheck" --series 0 <"$tmp/out.json"

# usage: status 2
set +e
"$b/src/dicomaid-detect" --model "$tmp/64/tiny.ini" >/dev/null 2>&1; test $? = 2 || exit 1
"$b/src/dicomaid-detect" --bogus "$tmp/64/study" >/dev/null 2>&1; test $? = 2 || exit 1
"$b/src/dicomaid-detect" --threshold 7 "$tmp/64/study" >/dev/null 2>&1; test $? = 2 || exit 1
# a broken manifest, a missing folder, a corrupt DICOM file: status 1 with one line on stderr
printf '[model]\nname = x\nbogus = 1\n' >"$tmp/bad.ini"
"$b/src/dicomaid-detect" --model "$tmp/bad.ini" "$tmp/64/study" >/dev/null 2>"$tmp/err"
test $? = 1 || exit 1
grep -q "bad.ini:3: \[model\] unknown key 'bogus'" "$tmp/err" || { cat "$tmp/err"; exit 1; }
"$b/src/dicomaid-detect" --model "$tmp/64/tiny.ini" "$tmp/nonexistent" >/dev/null 2>"$tmp/err"
test $? = 1 || exit 1
test "$(wc -l <"$tmp/err")" = 1 || exit 1
head -c 1000 "$tmp/64/study/MR0.dcm" >"$tmp/64/study/MR9.dcm" # truncated copy
"$b/src/dicomaid-detect" --model "$tmp/64/tiny.ini" "$tmp/64/study" >"$tmp/out.json" 2>"$tmp/err"
test $? = 1 || exit 1
grep -q "MR9.dcm: " "$tmp/err" || exit 1
"$b/tests/analysis/jsoncheck" --series 3 <"$tmp/out.json" # the rest is still analysed
# a compressed image goes through the dcmtk adapter: the same answer as the native one
pf="${PYDICOM_FILES:-/usr/lib/python3/dist-packages/pydicom/data/test_files}"
for f in MR_small.dcm MR_small_RLE.dcm MR_small_jpeg_ls_lossless.dcm; do
	mkdir "$tmp/$f"
	cp "$pf/$f" "$tmp/$f/"
	"$b/src/dicomaid-detect" --model "$tmp/64/tiny.ini" "$tmp/$f" | sed 's/, "lesions".*//' >"$tmp/$f.out"
done
grep -q '"study_probability": ' "$tmp/MR_small.dcm.out"
cmp "$tmp/MR_small.dcm.out" "$tmp/MR_small_RLE.dcm.out"
cmp "$tmp/MR_small.dcm.out" "$tmp/MR_small_jpeg_ls_lossless.dcm.out"

# the manifest's sha256 is checked against the ONNX file
sum=$(sha256sum "$tmp/64/tiny.onnx" | cut -d' ' -f1)
sed "s/^onnx = .*/&\nsha256 = $sum/" "$tmp/64/tiny.ini" >"$tmp/64/sum.ini"
"$b/src/dicomaid-detect" --model "$tmp/64/sum.ini" "$tmp/64/study" >/dev/null 2>"$tmp/err" || test $? = 1
grep -q "MR9.dcm: " "$tmp/err" && ! grep -q SHA-256 "$tmp/err" || exit 1
sed "s/^onnx = .*/&\nsha256 = $(printf '%064d' 0)/" "$tmp/64/tiny.ini" >"$tmp/64/bad.ini"
"$b/src/dicomaid-detect" --model "$tmp/64/bad.ini" "$tmp/64/study" >/dev/null 2>"$tmp/err"
test $? = 1 || exit 1
grep -q "tiny.onnx: SHA-256 $sum differs from the manifest's 0000" "$tmp/err" || { cat "$tmp/err"; exit 1; }
echo "detect_tiny: ok"
