#!/bin/bash
# A study without lesion, end to end (issue 5): storescu sends four lesion-free slices of a
# simulated MR study (tests/analysis/fixtures/neg, Deflated Explicit VR Little Endian); the
# PACS (storescp) receives one explicit negative TID 1500 SR: the qualitative evaluation
# Finding = "No abnormality" (DCM 121071 / 111286), no measurement group, no tracking
# identifier, no image region.
# No presentation state is written for it (there is nothing to draw), so the PACS receives
# the SR alone. The SR reads with dsrdump and passes dciodvfy with no "Error" line.
#
# The bundled model scores these slices 0.10 (dicomaid-detect), under its study threshold
# 0.40; a retrained model that flags them fails this test with its findings printed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/analysis_lib.sh"
ANALYSIS=yes
NEG="$top_srcdir/tests/analysis/fixtures/neg"

start_analysis_daemon

series=$(tag "$NEG/IM0031.dcm" 0020,000E)
storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$NEG"/*.dcm || fail "storescu"
q="from analyses a join series s on s.id = a.series_ref where s.series_uid = '$series'"
wait_for 30 sql_is "select a.state $q" done ||
	{ sql "select a.state, a.last_error $q"; fail "the negative series was not analysed"; }
lesions=$(sql "select a.lesions $q")
[ "$lesions" = 0 ] || {
	sql "select f.type, f.probability, f.centre_x, f.centre_y, f.centre_z from findings f join analyses a on a.id = f.analysis_ref"
	fail "the model found $lesions lesion(s) in the lesion-free study"
}
[ -z "$(sql "select a.gsps_uid $q")" ] || fail "a presentation state was written for a negative study"
sr_uid=$(sql "select a.sr_uid $q")
[ -n "$sr_uid" ] || fail "no SR recorded"
wait_for 15 sql_is "select count(*) from deliveries where state = 'sent'" 1 ||
	{ sql "select * from deliveries"; fail "the SR was not delivered"; }
[ "$(sql "select count(*) from deliveries")" = 1 ] || fail "more than the SR was queued for delivery"
ok "negative series analysed (0 lesions), SR $sr_uid delivered, no GSPS queued"

[ "$(pacs_count pacs "$SR_CLASS")" = 1 ] || fail "PACS has $(pacs_count pacs "$SR_CLASS") SRs, want 1"
[ "$(pacs_count pacs "$GSPS_CLASS")" = 0 ] || fail "PACS received a GSPS for a negative study"
[ "$(ls "$T/pacs" | wc -l)" = 1 ] || fail "PACS received $(ls "$T/pacs" | wc -l) objects, want 1"
sr=$(ls "$T"/pacs/* | head -n 1)
[ "$(tag "$sr" 0008,0018)" = "$sr_uid" ] || fail "the PACS holds another SR"

out=$(dsrdump +Pc "$sr" 2>"$T/dsrdump.err") || { cat "$T/dsrdump.err"; fail "dsrdump exit status"; }
[ ! -s "$T/dsrdump.err" ] || { cat "$T/dsrdump.err"; fail "dsrdump reported problems"; }
printf '%s\n' "$out" >"$T/sr.txt"
grep -q 'Imaging Measurement Report' "$T/sr.txt" || fail "not a TID 1500 report"
# TID 1500 row 12: the qualitative evaluation (DCM 121071 "Finding") answered negatively.
grep -q 'Qualitative Evaluations' "$T/sr.txt" || { cat "$T/sr.txt"; fail "no Qualitative Evaluations"; }
grep -q 'contains CODE:(121071,DCM,"Finding")=(111286,DCM,"No abnormality")' "$T/sr.txt" ||
	{ cat "$T/sr.txt"; fail "no negative qualitative evaluation Finding = No abnormality"; }
for absent in 'Measurement Group' 'Tracking Unique Identifier' 'Tracking Identifier' \
	'SCOORD' 'Imaging Measurements'; do
	! grep -q "$absent" "$T/sr.txt" || { grep "$absent" "$T/sr.txt"; fail "negative SR holds '$absent'"; }
done
ok "dsrdump: Imaging Measurement Report, Finding = No abnormality, no measurement group, no region"

v=$(dciodvfy -new "$sr" 2>&1) || true
if printf '%s\n' "$v" | grep -q '^Error'; then
	printf '%s\n' "$v" | grep '^Error'
	fail "dciodvfy reports errors in the negative SR"
fi
[ "$(printf '%s\n' "$v" | head -n 1)" = Comprehensive3DSR ] || fail "dciodvfy: not a Comprehensive 3D SR"
# The evidence lists the four analysed images.
dcmdump -q +P 0008,1155 "$sr" | sort -u >"$T/evidence.txt"
for f in "$NEG"/*.dcm; do
	grep -q "$(tag "$f" 0008,0018)" "$T/evidence.txt" || fail "evidence misses $(basename "$f")"
done
ok "dciodvfy: no Error; the evidence lists all four images"

stop_daemon || fail "exit status"
stop_pacs pacs
