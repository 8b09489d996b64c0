#!/bin/bash
# Cross-check the codec against dcmtk 3.6.7 (dcmdump, dcmftest, dcmconv):
#  1. files we write (our Part 10 header + a data set from the writer, in implicit, explicit
#     and deflated explicit VR LE) are accepted by dcmdump without warnings, with our values;
#  2. files dcmconv writes in every uncompressed transfer syntax (incl. big endian and
#     deflate) parse with our header reader and attrs collector to the values dcmdump shows.
set -u
: "${top_builddir:=.}"
tool="$top_builddir/tests/dicom/dcmtool"
src="${DICOMAID_TEST_FILES:-/usr/lib/python3/dist-packages/pydicom/data/test_files}/MR_small.dcm"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
err() { echo "FAIL: $*" >&2; fail=1; }

for cmd in dcmdump dcmftest dcmconv; do
	command -v $cmd >/dev/null || { echo "FAIL: $cmd not found (apt-get install dcmtk)" >&2; exit 1; }
done
[ -x "$tool" ] || { echo "FAIL: $tool not built" >&2; exit 1; }
[ -r "$src" ] || { echo "FAIL: $src missing (apt-get install python3-pydicom)" >&2; exit 1; }

# 1. our files, read by dcmtk
for ts in 1.2.840.10008.1.2 1.2.840.10008.1.2.1 1.2.840.10008.1.2.1.99; do
	f="$tmp/ours-$ts.dcm"
	uid=$("$tool" write "$ts" "$f" | sed -n 's/^sop_instance_uid=//p') || err "write $ts"
	dcmftest "$f" | grep -q '^yes:' || err "dcmftest rejects $f"
	dcmdump -M -Un "$f" >"$tmp/dump" 2>"$tmp/warn" || err "dcmdump fails on $f"
	[ -s "$tmp/warn" ] && { err "dcmdump warns on $ts:"; cat "$tmp/warn" >&2; }
	for want in "(0002,0010) UI [$ts]" "(0002,0003) UI [$uid]" "(0008,0018) UI [$uid]" \
		"(0002,0012) UI [2.25.183397019632319029108732013223820263953]" \
		"(0002,0013) SH [DICOMAID_010]" "(0002,0016) AE [DCMTOOL]" \
		"(0010,0010) PN [Test^Dicomaid]" "(0028,0010) US 2" "(0028,0011) US 2" \
		"(0008,1155) UI [1.2.3.4.5.6]" "(7fe0,0010) OW 0000\\0064\\00c8\\012c"; do
		grep -qF "$want" "$tmp/dump" || err "$ts: dcmdump lacks '$want'"
	done
	# (0002,0000) must equal the sum of the meta elements after it as dcmdump lists them:
	# value length + 12 for the long VR forms, + 8 for the others (PS3.5 7.1.2)
	gl=$(sed -n 's/^(0002,0000) UL \([0-9]*\).*/\1/p' "$tmp/dump")
	sum=$(awk '/^\(0002,00(0[1-9a-f]|[1-9a-f][0-9a-f])\)/ {
		n = $0; sub(/.*# */, "", n); sub(/,.*/, "", n);
		s += n + ($2 ~ /^(OB|OD|OF|OL|OV|OW|SQ|SV|UC|UN|UR|UT|UV)$/ ? 12 : 8) } END { print s }' "$tmp/dump")
	[ -n "$gl" ] && [ "$gl" = "$sum" ] || err "$ts: group length ${gl:-none}, elements add up to $sum"
	"$tool" attrs "$f" >"$tmp/attrs" || err "our reader fails on our $ts file"
	grep -qx "rows=2" "$tmp/attrs" && grep -qx "sop_instance_uid=$uid" "$tmp/attrs" || \
		err "$ts: our reader disagrees with our writer"
done

# 2. dcmtk's files, read by us
declare -A opt=([1.2.840.10008.1.2]=+ti [1.2.840.10008.1.2.1]=+te [1.2.840.10008.1.2.2]=+tb \
	[1.2.840.10008.1.2.1.99]=+td)
for ts in "${!opt[@]}"; do
	f="$tmp/dcmtk-$ts.dcm"
	dcmconv "${opt[$ts]}" "$src" "$f" || { err "dcmconv ${opt[$ts]}"; continue; }
	"$tool" attrs "$f" >"$tmp/attrs" || { err "our reader fails on dcmconv ${opt[$ts]}"; continue; }
	for want in "ts=$ts" "patient_name=CompressedSamples^MR1" "modality=MR" "rows=64" \
		"columns=64" "sop_instance_uid=1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457" \
		"meta_sop_instance_uid=1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457" \
		'image_position=-83.9063\-91.2000\6.6406' "slice_thickness=0.8000" "truncated=0"; do
		grep -qxF "$want" "$tmp/attrs" || err "dcmconv ${opt[$ts]}: no '$want'"
	done
done
# our deflated file converted by dcmtk to big endian, and read back
dcmconv +tb "$tmp/ours-1.2.840.10008.1.2.1.99.dcm" "$tmp/be.dcm" && "$tool" attrs "$tmp/be.dcm" \
	| grep -qx "patient_name=Test^Dicomaid" || err "round trip deflate -> dcmtk big endian"

[ $fail = 0 ] && echo "ok"
exit $fail
