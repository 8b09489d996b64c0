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

# Query/Retrieve finds the result: the SR by its SOP Class in the study, and the study by
# the Lesion Found key, which answers what the latest analysis found.
study=$(dcmdump -q +P 0020,000D "$(ls "$FIX"/*.dcm | head -1)" | sed 's/.*\[\(.*\)\].*/\1/')
sr_series=$(sql "select s.series_uid from instances i join series s on s.id = i.series_ref where i.sop_instance_uid = '$sr_uid'")
rm -rf "$T/find"; mkdir -p "$T/find"
(cd "$T/find" && findscu -aet PACSQ -aec DICOMAID -S -X 127.0.0.1 "$PORT" -k QueryRetrieveLevel=IMAGE \
	-k "StudyInstanceUID=$study" -k "SeriesInstanceUID=$sr_series" \
	-k "SOPClassUID=1.2.840.10008.5.1.4.1.1.88.34" -k SOPInstanceUID -k CompletionFlag \
	-k VerificationFlag >/dev/null 2>&1) || fail "findscu SR"
[ "$(ls "$T/find" | wc -l)" = 1 ] || fail "the SR is not found by C-FIND"
dcmdump -q +P 0008,0018 "$T/find/rsp0001.dcm" | grep -q "$sr_uid" || fail "C-FIND returned another SR"
dcmdump -q +P 0040,A493 "$T/find/rsp0001.dcm" | grep -q UNVERIFIED || fail "VerificationFlag"
lesions=$(sql "select sum(lesions) from analyses where state = 'done'")
want=NO; [ "$lesions" -gt 0 ] && want=YES
rm -rf "$T/find"; mkdir -p "$T/find"
(cd "$T/find" && findscu -aet PACSQ -aec DICOMAID -S -X 127.0.0.1 "$PORT" -k QueryRetrieveLevel=STUDY \
	-k "StudyInstanceUID=$study" -k "(0071,0010)=DICOMAID QR 1" -k "(0071,1001)" >/dev/null 2>&1) ||
	fail "findscu lesion key"
dcmdump -q +P 0071,1001 "$T/find/rsp0001.dcm" | grep -q "\[$want\]" || fail "Lesion Found is not $want"
ok "C-FIND finds the SR (IMAGE level, UNVERIFIED) and the study's Lesion Found = $want ($lesions lesions)"

# The findings: the fixture's simulated glioma (tests/analysis/fixtures/sim/truth.json) is found
# by the bundled model as a glioma, centred within 15 mm of the truth, and written in the SR
# with the type the index recorded (SNOMED CT "Glioma").
series=$(dcmdump -q +P 0020,000E "$(ls "$FIX"/*.dcm | head -1)" | sed 's/.*\[\(.*\)\].*/\1/')
read -r tx ty tz <<<"$(tr -d '\n ' <"$FIX/truth.json" | sed 's/.*"centre_mm":\[\([^]]*\)\].*/\1/' | tr ',' ' ')"
near=$(sql "select count(*) from findings f join analyses a on a.id = f.analysis_ref join series s on s.id = a.series_ref where s.series_uid = '$series' and f.type = 'glioma' and (f.centre_x - ($tx)) * (f.centre_x - ($tx)) + (f.centre_y - ($ty)) * (f.centre_y - ($ty)) + (f.centre_z - ($tz)) * (f.centre_z - ($tz)) < 225")
[ "$near" -ge 1 ] || { sql "select type, probability, centre_x, centre_y, centre_z from findings"; fail "the simulated glioma was not found near ($tx $ty $tz)"; }
sr_file=$(grep -l "$sr_uid" "$T"/pacs/* 2>/dev/null | head -1)
meaning=$(sql "select f.code_meaning from findings f join analyses a on a.id = f.analysis_ref where a.sr_uid = '$sr_uid' limit 1")
dsrdump "$sr_file" | grep -F "$meaning" >/dev/null || fail "the SR does not name the finding ($meaning)"
[ "$(dsrdump "$sr_file" | grep -c 'SCOORD')" -ge 1 ] || fail "the SR has no image region"
[ "$meaning" = Glioma ] || fail "the SR names the finding \"$meaning\", not Glioma"
ok "the simulated glioma is found as a glioma within 15 mm of the truth and is in the SR as \"$meaning\""

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
