#!/bin/bash
# validate.sh: the SR and GSPS that src/report writes, checked by independent validators:
# dcmtk's dsrdump (SR document model) and dcmpschk (presentation state), and dicom3tools'
# dciodvfy (IOD, modules, SR content-item rules, evidence completeness). No "Error" line is
# allowed. The TID 1500 content tree is checked against DICOM-FACTS section 1 on dsrdump's
# output, and the Current Requested Procedure Evidence Sequence must list every image.
set -u
tool="${top_builddir:-.}/tests/report/rtool"
tmp=$(mktemp -d /tmp/report_validate.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
for t in dsrdump dciodvfy dcmpschk dcmdump; do
	command -v $t >/dev/null || { echo "FAIL: $t not installed (dcmtk, dicom3tools)"; exit 1; }
done

"$tool" sr "$tmp/sr.dcm" || fail "SR with lesions not written"
"$tool" negsr "$tmp/neg.dcm" || fail "negative SR not written"
"$tool" predsr "$tmp/pred.dcm" || fail "superseding SR not written"
"$tool" gsps "$tmp/pr.dcm" || fail "GSPS not written"
"$tool" mfsr "$tmp/mf.dcm" || fail "multi-frame SR not written"
"$tool" sr2d "$tmp/sr2d.dcm" || fail "Comprehensive SR not written"
"$tool" mfgsps "$tmp/mfpr.dcm" || fail "multi-frame GSPS not written"

# count LINES PATTERN: number of lines of LINES matching the fixed string PATTERN
count() { printf '%s\n' "$1" | grep -cF -- "$2"; }
expect() { # expect WHAT ACTUAL WANTED
	[ "$2" = "$3" ] || fail "$1: got $2, want $3"
}

for f in sr neg pred; do
	out=$(dsrdump -v +Pc +Pu "$tmp/$f.dcm" 2>&1) || fail "$f: dsrdump exit status"
	printf '%s\n' "$out" | grep -E '^(E|F): ' && fail "$f: dsrdump errors"
	v=$(dciodvfy -new "$tmp/$f.dcm" 2>&1)
	printf '%s\n' "$v" | grep '^Error' && fail "$f: dciodvfy errors"
	expect "$f: IOD" "$(printf '%s\n' "$v" | head -n 1)" "Comprehensive3DSR"
	expect "$f: title" "$(count "$out" '<CONTAINER:(126000,DCM,"Imaging Measurement Report")')" 1
	expect "$f: language" "$(count "$out" '(121049,DCM,"Language of Content Item and Descendants")=(en-US,RFC5646')" 1
	expect "$f: observer type" "$(count "$out" '(121005,DCM,"Observer Type")=(121007,DCM,"Device")')" 1
	expect "$f: device UID" "$(count "$out" '(121012,DCM,"Device Observer UID")="2.25.9000001"')" 1
	expect "$f: device name" "$(count "$out" '(121013,DCM,"Device Observer Name")="dicomaid"')" 1
	expect "$f: manufacturer" "$(count "$out" '(121014,DCM,"Device Observer Manufacturer")')" 1
	expect "$f: model" "$(count "$out" '(121015,DCM,"Device Observer Model Name")')" 1
	expect "$f: procedure" "$(count "$out" '(121058,DCM,"Procedure reported")=(24590-2,LN,"Brain MRI")')" 1
	expect "$f: image library" "$(count "$out" '(111028,DCM,"Image Library")')" 1
	expect "$f: library entries" "$(count "$out" '<contains IMAGE:=(MR image,"2.25.3000')" 8
	expect "$f: unverified" "$(count "$out" 'Verification Flag   : UNVERIFIED')" 1
	expect "$f: complete" "$(count "$out" 'Completion Flag     : COMPLETE')" 1

	# Current Requested Procedure Evidence (0040,A375): every image, under study and series
	ev=$(dcmdump "$tmp/$f.dcm" | awk '/\(0040,a375\)/ {on=1; ind=index($0,"("); next}
		on && index($0,"(") <= ind {on=0} on')
	for i in 1 2 3 4 5 6 7 8; do
		expect "$f: evidence 2.25.3000$i" "$(count "$ev" "(0008,1155) UI [2.25.3000$i]")" 1
	done
	expect "$f: evidence series" "$(count "$ev" '(0020,000e) UI [2.25.2000001]')" 1
	expect "$f: evidence study" "$(count "$ev" '(0020,000d) UI [2.25.1000001]')" 1
	d=$(dcmdump "$tmp/$f.dcm")
	# top level, evidence, and the predecessor reference when there is one
	expect "$f: study UID" "$(count "$d" '(0020,000d) UI [2.25.1000001]')" $([ $f = pred ] && echo 3 || echo 2)
	expect "$f: patient" "$(count "$d" '(0010,0010) PN [Test^Patient]')" 1
	expect "$f: contributing equipment" "$(count "$d" '(0018,a001) SQ')" 1
	expect "$f: processing purpose" "$(count "$d" '(0008,0100) SH [109102]')" 1
	expect "$f: SR modality" "$(count "$d" '(0008,0060) CS [SR]')" 1
done

# the positive report: 2 groups (TID 1411), 3 slices each
out=$(dsrdump +Pc +Pu +Pt "$tmp/sr.dcm" 2>&1)
expect "groups" "$(count "$out" '<contains CONTAINER:(125007,DCM,"Measurement Group")=SEPARATE>  # TID 1411')" 2
expect "tracking ids" "$(count "$out" '(112039,DCM,"Tracking Identifier")="Lesion ')" 2
expect "tracking uids" "$(count "$out" '(112040,DCM,"Tracking Unique Identifier")="2.25.4000')" 2
expect "typed finding" "$(count "$out" '(121071,DCM,"Finding")=(302820008,SCT,"Intracranial meningioma")')" 1
expect "generic finding" "$(count "$out" '(121071,DCM,"Finding")=(126952004,SCT,"Neoplasm of brain")')" 1
expect "finding site" "$(count "$out" '(363698007,SCT,"Finding Site")=(12738006,SCT,"Brain")')" 2
expect "algorithm name" "$(count "$out" '(111001,DCM,"Algorithm Name")="BrainTumourCNN"')" 2
expect "algorithm version" "$(count "$out" '(111003,DCM,"Algorithm Version")="1.4.0"')" 2
expect "scoords" "$(count "$out" '<contains SCOORD:(111030,DCM,"Image Region")=(POLYLINE,')" 6
expect "selected from" "$(count "$out" '<selected from IMAGE:=(MR image,"2.25.3000')" 6
expect "size" "$(count "$out" '(103339001,SCT,"Long Axis")="')" 2
expect "size unit" "$(count "$out" '(mm,UCUM,"millimeter")')" 2
expect "volume" "$(count "$out" '(118565006,SCT,"Volume")="')" 2
expect "certainty" "$(count "$out" '(111012,DCM,"Certainty of Finding")="93" (%,UCUM,"Percent")')" 1
expect "no negative" "$(count "$out" '111286')" 0
# each box is a closed 5-point polyline: first point = last point, 10 FL values
pts=$(dcmdump "$tmp/sr.dcm" | grep '(0070,0022) FL')
expect "graphic data" "$(count "$pts" '#  40,10 GraphicData')" 6
expect "closed" "$(printf '%s\n' "$pts" | awk '{split($3,v,"\\"); if (v[1]!=v[9] || v[2]!=v[10]) bad++} END {print bad+0}')" 0

# the negative report: a qualitative evaluation, no group
out=$(dsrdump +Pc "$tmp/neg.dcm" 2>&1)
expect "negative" "$(count "$out" '(C0034375,UMLS,"Qualitative Evaluations")')" 1
expect "no abnormality" "$(count "$out" '(121071,DCM,"Finding")=(111286,DCM,"No abnormality")')" 1
expect "negative groups" "$(count "$out" 'Measurement Group')" 0
expect "negative scoords" "$(count "$out" 'SCOORD')" 0

# superseding report: Predecessor Documents Sequence (0040,A360)
d=$(dcmdump "$tmp/pred.dcm")
expect "predecessor" "$(count "$d" '(0040,a360) SQ')" 1
expect "predecessor uid" "$(count "$d" '(0008,1155) UI [2.25.7000001]')" 1
expect "no predecessor" "$(count "$(dcmdump "$tmp/sr.dcm")" '(0040,a360)')" 0

# GSPS
out=$(dcmpschk "$tmp/pr.dcm" 2>&1) || fail "dcmpschk exit status"
expect "dcmpschk" "$(count "$out" 'Test passed')" 1
v=$(dciodvfy -new "$tmp/pr.dcm" 2>&1)
printf '%s\n' "$v" | grep '^Error' && fail "GSPS: dciodvfy errors"
expect "GSPS IOD" "$(printf '%s\n' "$v" | head -n 1)" "GrayscaleSoftcopyPresentationState"
d=$(dcmdump "$tmp/pr.dcm")
expect "GSPS polylines" "$(count "$d" '(0070,0023) CS [POLYLINE]')" 6
expect "GSPS units" "$(count "$d" '(0070,0005) CS [PIXEL]')" 6
expect "GSPS labels" "$(count "$d" '(0070,0006) ST [Lesion ')" 6
expect "GSPS annotated images" "$(count "$d" '(0070,0002) CS [AI_FINDINGS]')" 6 # 5 images + layer
expect "GSPS referenced images" "$(count "$d" '(0008,1155) UI [2.25.3000')" $((8 + 5))

# the Comprehensive SR (88.33) fallback: same tree, other IOD
dsrdump -v "$tmp/sr2d.dcm" 2>&1 | grep -E '^(E|F): ' && fail "sr2d: dsrdump errors"
v=$(dciodvfy -new "$tmp/sr2d.dcm" 2>&1)
printf '%s\n' "$v" | grep '^Error' && fail "sr2d: dciodvfy errors"
expect "sr2d: IOD" "$(printf '%s\n' "$v" | head -n 1)" "ComprehensiveSR"
expect "sr2d: scoords" "$(count "$(dsrdump "$tmp/sr2d.dcm")" 'SCOORD')" 6

# multi-frame source (one Enhanced MR instance, 8 frames): frame-exact references
out=$(dsrdump -v +Pu "$tmp/mf.dcm" 2>&1) || fail "mf: dsrdump exit status"
printf '%s\n' "$out" | grep -E '^(E|F): ' && fail "mf: dsrdump errors"
dciodvfy -new "$tmp/mf.dcm" 2>&1 | grep '^Error' && fail "mf: dciodvfy errors"
expect "mf: library entry" "$(count "$out" '<contains IMAGE:=(MRe image,"2.25.3100001")>')" 1
for fr in 2 3 4 5 6; do
	want=1; [ $fr = 4 ] && want=2
	expect "mf: frame $fr" "$(count "$out" "<selected from IMAGE:=(MRe image,\"2.25.3100001\",$fr)>")" $want
done
ev=$(dcmdump "$tmp/mf.dcm" | awk '/\(0040,a375\)/ {on=1; ind=index($0,"("); next}
	on && index($0,"(") <= ind {on=0} on')
expect "mf: evidence" "$(count "$ev" '(0008,1155) UI [2.25.3100001]')" 1
out=$(dcmpschk "$tmp/mfpr.dcm" 2>&1) || fail "mf: dcmpschk exit status"
expect "mf: dcmpschk" "$(count "$out" 'Test passed')" 1
dciodvfy -new "$tmp/mfpr.dcm" 2>&1 | grep '^Error' && fail "mf: GSPS dciodvfy errors"
d=$(dcmdump "$tmp/mfpr.dcm")
expect "mf: GSPS all frames" "$(count "$d" '(0008,1160) IS [1\2\3\4\5\6\7\8]')" 1
expect "mf: GSPS annotated frames" "$(count "$d" '(0070,0002) CS [AI_FINDINGS]')" 6

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "validate.sh: all checks passed"
