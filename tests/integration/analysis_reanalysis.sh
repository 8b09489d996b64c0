#!/bin/bash
# Late instances re-open an analysed series (issue 5): storescu sends three of the simulated
# study's four slices; once their SR has reached the PACS the fourth slice follows. The
# series is analysed again and the PACS receives a second SR that supersedes the first:
#  - its Predecessor Documents Sequence (0040,A360) names the first SR's Study, Series and
#    SOP Instance UIDs (and SOP Class);
#  - the simulated lesion, found both times, keeps its Tracking Identifier and Tracking
#    Unique Identifier (the boxes of the two analyses overlap);
#  - its evidence lists all four images, and the index records the second analysis with the
#    first as its predecessor.
# Both SRs read with dsrdump and pass dciodvfy with no "Error" line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/analysis_lib.sh"
ANALYSIS=yes

start_analysis_daemon

study=$(tag "$FIX/IM0028.dcm" 0020,000D)
series=$(tag "$FIX/IM0028.dcm" 0020,000E)
q="from analyses a join series s on s.id = a.series_ref where s.series_uid = '$series'"

# top FILE TAG: a top-level string value (the first match: the top level precedes nested
# sequences of higher tags; dcmdump reads the whole file, so no pipe is cut short).
top() { dcmdump -q -Un -s +P "$2" "$1" 2>/dev/null | sed 's/^[^[]*\[\(.*\)\].*$/\1/'; }
# sr_file UID: the file the PACS holds for SOP Instance UID.
sr_file() {
	local f
	for f in "$T"/pacs/*; do
		[ "$(top "$f" 0008,0018)" = "$1" ] && { echo "$f"; return 0; }
	done
	return 1
}
# tracking FILE: "UID identifier" per measurement group, from dsrdump.
tracking() {
	dsrdump +Pc "$1" | awk '
		/"Tracking Identifier"\)=/ { id = $0; sub(/.*"Tracking Identifier"\)="/, "", id); sub(/".*/, "", id) }
		/"Tracking Unique Identifier"\)=/ { u = $0; sub(/.*"Tracking Unique Identifier"\)="?/, "", u); sub(/["> ].*/, "", u); print u, id }'
}
check_valid() {
	local v out
	out=$(dsrdump "$1" 2>&1) || fail "dsrdump exit status on $(basename "$1")"
	printf '%s\n' "$out" | grep -E '^(E|F): ' && fail "dsrdump errors on $(basename "$1")"
	v=$(dciodvfy -new "$1" 2>&1) || true
	if printf '%s\n' "$v" | grep -q '^Error'; then
		printf '%s\n' "$v" | grep '^Error'
		fail "dciodvfy reports errors in $(basename "$1")"
	fi
}

# ---- first send: three slices ---------------------------------------------------------------
storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$FIX"/IM0028.dcm "$FIX"/IM0029.dcm \
	"$FIX"/IM0030.dcm || fail "storescu (3 slices)"
wait_for 30 sql_is "select count(*) $q and a.state = 'done'" 1 ||
	{ sql "select a.state, a.last_error $q"; fail "first analysis not done"; }
sr1=$(sql "select a.sr_uid $q and a.state = 'done'")
wait_for 15 sql_is "select state from deliveries where sop_instance_uid = '$sr1'" sent ||
	fail "first SR not delivered"
f1=$(sr_file "$sr1") || fail "the PACS has no file for the first SR"
sr1_series=$(top "$f1" 0020,000E)
[ "$(sql "select a.lesions $q and a.state = 'done'")" -ge 1 ] || fail "the first analysis found no lesion"
tracking "$f1" >"$T/track1"
[ -s "$T/track1" ] || { dsrdump +Pc "$f1"; fail "no tracking identifiers in the first SR"; }
[ -z "$(dcmdump -q +P 0040,A360 "$f1")" ] || fail "the first SR names a predecessor"
check_valid "$f1"
ok "first SR ($(wc -l <"$T/track1") lesion(s): $(tr '\n' ';' <"$T/track1")) delivered"

# ---- the late fourth slice --------------------------------------------------------------------
storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$FIX"/IM0031.dcm || fail "storescu (late slice)"
wait_for 30 sql_is "select count(*) $q and a.state = 'done'" 2 ||
	{ sql "select a.id, a.state, a.last_error $q"; fail "the series was not analysed again"; }
sr2=$(sql "select a.sr_uid $q and a.state = 'done' order by a.id desc limit 1")
[ "$sr2" != "$sr1" ] || fail "the re-analysis reused the first SR's UID"
[ "$(sql "select a.predecessor_ref = (select min(a.id) $q) $q and a.sr_uid = '$sr2'")" = 1 ] ||
	fail "the index does not record the first analysis as the predecessor"
[ "$(sql "select a.instances $q and a.sr_uid = '$sr2'")" = 4 ] || fail "the re-analysis did not see four images"
wait_for 15 sql_is "select state from deliveries where sop_instance_uid = '$sr2'" sent ||
	fail "second SR not delivered"
f2=$(sr_file "$sr2") || fail "the PACS has no file for the second SR"
[ "$(top "$f2" 0020,000E)" != "$sr1_series" ] || fail "the second SR is in the first SR's series"
check_valid "$f2"

# Predecessor Documents Sequence > Referenced Series Sequence > Referenced SOP Sequence.
# pred FILE PATH: the value at the nesting PATH (dcmdump +p form, lower-case hex).
pred() {
	local t=${2##*.}; t=${t#(}; t=${t%)}
	dcmdump -q -Un +p +P "$t" "$1" 2>/dev/null |
		awk -v p="$2 " 'index($0, p) == 1 && !n++' | sed 's/^[^[]*\[\(.*\)\].*$/\1/'
}
[ "$(pred "$f2" "(0040,a360).(0020,000d)")" = "$study" ] ||
	{ dcmdump "$f2" | grep -A 16 '(0040,a360)'; fail "predecessor study"; }
[ "$(pred "$f2" "(0040,a360).(0008,1115).(0020,000e)")" = "$sr1_series" ] || fail "predecessor series"
[ "$(pred "$f2" "(0040,a360).(0008,1115).(0008,1199).(0008,1155)")" = "$sr1" ] ||
	fail "predecessor SOP instance"
[ "$(pred "$f2" "(0040,a360).(0008,1115).(0008,1199).(0008,1150)")" = "$SR_CLASS" ] ||
	fail "predecessor SOP class"
ok "second SR $sr2 supersedes $sr1 (Predecessor Documents Sequence: study, series, instance)"

# The same lesion keeps both identifiers.
tracking "$f2" >"$T/track2"
[ -s "$T/track2" ] || fail "no tracking identifiers in the second SR"
kept=0
while read -r uid id; do
	got=$(awk -v u="$uid" '$1 == u { $1 = ""; sub(/^ /, ""); print }' "$T/track2")
	[ -z "$got" ] && continue
	[ "$got" = "$id" ] || fail "Tracking UID $uid was '$id', is now '$got'"
	kept=$((kept + 1))
done <"$T/track1"
[ $kept -ge 1 ] || { cat "$T/track1" "$T/track2"; fail "no lesion kept its Tracking Unique Identifier"; }
# Identifiers stay unique within each report, and the index holds what the SR says.
[ "$(cut -d' ' -f1 "$T/track2" | sort -u | wc -l)" = "$(wc -l <"$T/track2")" ] || fail "duplicate Tracking UID"
[ "$(cut -d' ' -f2- "$T/track2" | sort -u | wc -l)" = "$(wc -l <"$T/track2")" ] || fail "duplicate Tracking Identifier"
sql "select f.tracking_uid || ' ' || f.tracking_id from findings f join analyses a on a.id = f.analysis_ref where a.sr_uid = '$sr2' order by f.lesion" >"$T/track2.db"
diff "$T/track2" "$T/track2.db" >/dev/null || { cat "$T/track2" "$T/track2.db"; fail "index and SR disagree"; }
ok "$kept lesion(s) kept Tracking Identifier and UID across the analyses: $(tr '\n' ';' <"$T/track2")"

dcmdump -q +P 0008,1155 "$f2" | sort -u >"$T/evidence.txt"
for f in "$FIX"/*.dcm; do
	grep -q "$(tag "$f" 0008,0018)" "$T/evidence.txt" || fail "evidence misses $(basename "$f")"
done
[ "$(pacs_count pacs "$SR_CLASS")" = 2 ] || fail "PACS has $(pacs_count pacs "$SR_CLASS") SRs, want 2"
ok "the second SR's evidence lists all four images; the PACS holds both SRs once each"

stop_daemon || fail "exit status"
stop_pacs pacs
