#!/bin/bash
# Automatic analysis end to end: storescu sends a small simulated MR study (and a CT image);
# once the series is quiet dicomaid analyses it with the bundled model, stores the TID 1500
# SR in the study and delivers it to a storescp playing the PACS. The SR must read with
# dsrdump, list every analysed image as evidence, be indexed, and arrive exactly once; the
# CT series is recorded as not applicable. A restart resends nothing already confirmed.
. "$(dirname "$0")/lib.sh"
FIX="$top_srcdir/tests/analysis/fixtures/sim"
ANALYSIS=yes
PACS_PORT=$(( $(pick_port) + 2 ))

mkdir -p "$T/pacs"
storescp -aet PACS -od "$T/pacs" "$PACS_PORT" >"$T/storescp.log" 2>&1 & pacs_pid=$!
for _ in $(seq 1 50); do (echo > /dev/tcp/127.0.0.1/$PACS_PORT) 2>/dev/null && break; sleep 0.1; done

EXTRA_CONFIG="
[analysis]
stable_seconds = 2
workers = 1

[destination pacs]
ae_title = PACS
host = 127.0.0.1
port = $PACS_PORT
" start_daemon
for _ in $(seq 1 100); do grep -q 'event=analysis_ready' "$T/daemon.log" && break; sleep 0.1; done
grep -q 'event=analysis_ready' "$T/daemon.log" || fail "analysis not ready"

n_src=$(ls "$FIX"/*.dcm | wc -l)
storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$FIX"/*.dcm || fail "storescu study"
# The same slices as another series, JPEG-LS compressed: decoded through dcmtk.
mkdir -p "$T/jls"
for f in "$FIX"/*.dcm; do
	b=$(basename "$f")
	dcmcjpls "$f" "$T/jls/$b" || fail "dcmcjpls"
	dcmodify -nb -m "(0020,000E)=$(dcmdump -q +P 0020,000E "$f" | sed 's/.*\[\(.*\)\].*/\1/').9" \
		-m "(0008,0018)=$(dcmdump -q +P 0008,0018 "$f" | sed 's/.*\[\(.*\)\].*/\1/').9" "$T/jls/$b" \
		>/dev/null 2>&1 || fail dcmodify
done
storescu -aet MODALITY -aec DICOMAID -xt 127.0.0.1 "$PORT" "$T"/jls/*.dcm || fail "storescu JPEG-LS"
storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$PYDICOM_FILES/CT_small.dcm" || fail "storescu CT"

# Wait for the SR at the PACS.
sr=
for _ in $(seq 1 120); do
	sr=$(grep -l 'ComprehensiveSRStorage\|1.2.840.10008.5.1.4.1.1.88.34' "$T"/pacs/* 2>/dev/null | head -1) || true
	[ -n "$sr" ] && break
	sleep 0.5
done
[ -n "$sr" ] || fail "no SR reached the PACS"
ok "SR delivered to the PACS"

dsrdump "$sr" >"$T/sr.txt" 2>"$T/sr.err" || { cat "$T/sr.err"; fail "dsrdump failed"; }
[ ! -s "$T/sr.err" ] || { cat "$T/sr.err"; fail "dsrdump reported problems"; }
grep -q 'Imaging Measurement Report' "$T/sr.txt" || fail "not a TID 1500 report"
ok "dsrdump reads it: Imaging Measurement Report"

# Every analysed image is listed in the evidence.
dcmdump -q +P 0008,1155 "$sr" | sort -u >"$T/evidence.txt"
for f in "$FIX"/*.dcm; do
	uid=$(dcmdump -q +P 0008,0018 "$f" | sed 's/.*\[\(.*\)\].*/\1/')
	grep -q "$uid" "$T/evidence.txt" || fail "evidence misses $uid"
done
ok "the SR references all $n_src source images"

# The index: one analysis done, the SR stored in the study, its delivery sent.
for _ in $(seq 1 60); do
	[ "$(sql "select count(*) from analyses where state in ('done', 'failed', 'not-applicable')")" -ge 3 ] &&
	[ "$(sql "select count(*) from deliveries where state <> 'sent'")" = 0 ] && break
	sleep 0.5
done
[ "$(sql "select count(*) from analyses where state = 'done'")" = 2 ] || { sql "select state, last_error from analyses"; fail "analyses not done"; }
[ "$(sql "select count(*) from analyses where state = 'not-applicable'")" = 1 ] || fail "CT not marked not-applicable"
sr_uid=$(sql "select sr_uid from analyses where state = 'done' order by id limit 1")
[ "$(sql "select count(*) from instances where sop_instance_uid = '$sr_uid'")" = 1 ] || fail "SR not indexed"
[ "$(sql "select count(*) from deliveries where state = 'sent' and sop_instance_uid = '$sr_uid'")" = 1 ] || fail "delivery not recorded as sent"
ok "both series analysed (one JPEG-LS, decoded by dcmtk), CT not applicable, SR indexed, delivery sent"

# Restart: nothing is analysed or sent again (every delivery was confirmed above).
[ "$(sql "select count(*) from deliveries where state <> 'sent'")" = 0 ] || fail "deliveries still pending"
n_pacs=$(ls "$T/pacs" | wc -l)
stop_daemon || fail "exit status"
WRITE_CONFIG=no PORT_FIXED=$PORT start_daemon
sleep 4
[ "$(ls "$T/pacs" | wc -l)" = "$n_pacs" ] || fail "results sent again after a restart"
[ "$(sql "select count(*) from analyses")" = 3 ] || fail "series analysed again after a restart"
ok "restart: no duplicate analysis or delivery"

stop_daemon || fail "exit status"
kill $pacs_pid; wait $pacs_pid 2>/dev/null || true
