#!/bin/bash
# Crash consistency of the whole pipeline (issue 8): store -> analysis -> SR/GSPS -> PACS.
# ROUNDS times (default 20; ROUNDS=100 from bench/crash_bench.sh): several storescu processes
# each send one new series (a copy of the simulated fixture under new UIDs, a new study per
# round) while dicomaid runs with analysis on and a storescp playing the PACS; the round picks
# a phase (transfer, group commit, analysis, delivery; in turn from a random start), waits
# until the daemon is in it, and SIGKILLs it a random few milliseconds later:
#   transfer  an inbound association was accepted (its C-STOREs are in flight);
#   commit    an instance was committed (its neighbours are being written and fsynced);
#   analysis  a job is 'running' in the index (reading, inference, writing, committing SRs);
#   delivery  a worker recorded a result, or an outbound association to the PACS was accepted.
# After each restart: every instance acknowledged with Success is stored with a byte-identical
# data set and indexed; no .part file of the killed process is left; no index row lacks its
# file; jobs left running and deliveries left sending are recovered; no result reached the
# PACS twice (but see check_pacs_once: C-STORE cannot tell a result that the PACS stored just
# before the kill from one it never got, so a delivery caught in flight is sent again, same
# UID, same data set). After the last round, once the queues are empty: every series stored
# has exactly one analysis and it is done; the PACS holds exactly one SR and one GSPS per
# analysed series, counted by SOP Instance UID and by the series they describe (so a result
# re-sent under a new UID is caught too); they are the analyses' own results, all recorded as
# sent; and the index holds no result, delivery or finding that no done analysis names.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/analysis_lib.sh"
. "$(dirname "$0")/crash_lib.sh"
ANALYSIS=yes
ROUNDS=${ROUNDS:-20}
NSER=${NSER:-4}        # series (= storescu processes) per round, 4 instances each
WORKERS=${WORKERS:-2}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3   # Debian's, which has python3-pydicom

# The pool: pool/<study>/<series>/<sop>.dcm, the path the daemon stores each under.
"$PY" - "$FIX" "$T/pool" "$ROUNDS" "$NSER" <<'PY' || fail "making the pool"
import glob, os, sys, pydicom
fix, out, rounds, nser = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
from pydicom.uid import ExplicitVRLittleEndian
src = [pydicom.dcmread(f) for f in sorted(glob.glob(fix + "/*.dcm"))]
for ds in src:  # as storescu sends it: the data set is compared byte for byte
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.is_little_endian, ds.is_implicit_VR = True, False
uids = [(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID) for ds in src]
for r in range(1, rounds + 1):
    for k in range(1, nser + 1):
        for ds, (study, series, sop) in zip(src, uids):
            ds.StudyInstanceUID = f"{study}.{r}"
            ds.SeriesInstanceUID = f"{series}.{r}.{k}"
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{sop}.{r}.{k}"
            d = f"{out}/{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}"
            os.makedirs(d, exist_ok=True)
            ds.save_as(f"{d}/{ds.SOPInstanceUID}.dcm", write_like_original=False)
PY
uid_of() { local b=${1##*/}; echo "${b%.dcm}"; }
stored_of() { echo "$T/data/${1#"$T/pool/"}"; }
STUDY0=$(tag "$FIX/IM0028.dcm" 0020,000D)
SERIES0=$(tag "$FIX/IM0028.dcm" 0020,000E)

start_pacs pacs
EXTRA_CONFIG="
[analysis]
stable_seconds = 1
workers = $WORKERS
gsps = yes
$(destination pacs "$PACS_PORT_pacs")
results = yes
"

# Log watching: watch_start follows the daemon's log from now on (tail -F, woken by inotify);
# watch_for PATTERN SECONDS waits for a new line matching PATTERN; watch_stop ends the tail.
WATCH_PID=
watch_start() {
	exec {WATCH_FD}< <(exec tail -n 0 -F "$T/daemon.log" 2>/dev/null)
	WATCH_PID=$!
}
watch_for() { timeout "$2" grep -q -m 1 -e "$1" <&"$WATCH_FD"; }
watch_stop() {
	kill "$WATCH_PID" 2>/dev/null || true
	exec {WATCH_FD}<&-
	WATCH_PID=
}

# pacs_seen: one line per object the PACS received: SOP class, SOP Instance UID, the series
# the result describes (the SR's evidence, the GSPS's referenced series) and the file. Files
# already listed are skipped, so each is read once.
: > "$T/pacs.seen"
pacs_seen() {
	local f cls sop ser seq
	for f in "$T"/pacs/*; do
		[ -f "$f" ] || continue
		grep -qF " $f" "$T/pacs.seen" && continue
		cls=$(tag "$f" 0008,0016)
		sop=$(tag "$f" 0008,0018)
		seq=0008,1115 # GSPS: Referenced Series Sequence
		[ "$cls" = "$SR_CLASS" ] && seq=0040,A375 # SR: Current Requested Procedure Evidence
		ser=$(dcmdump -q +P $seq "$f" 2>/dev/null | grep '^ .*(0020,000e)' | head -n 1 |
			sed 's/.*\[\(.*\)\].*/\1/')
		echo "$cls $sop $ser $f" >> "$T/pacs.seen"
	done
}

# check_pacs_once: each result reached the PACS once, counted by SOP Instance UID and by
# (class, series). The one exception is C-STORE's own: a result whose delivery was in flight
# ('sending') when the daemon was killed may have been stored by the PACS before the response
# was recorded, and is sent again after the restart under the same UID. That is allowed only
# for those deliveries ($T/inflight), once per kill that caught it, with an identical data set
# (a PACS keeps one instance per SOP Instance UID).
: > "$T/inflight"
check_pacs_once() {
	local d u n k
	pacs_seen
	for u in $(awk '{print $2}' "$T/pacs.seen" | sort | uniq -d); do
		n=$(grep -c " $u " "$T/pacs.seen")
		k=$(grep -cx "$u" "$T/inflight" || true)
		[ "$n" -le $((1 + k)) ] ||
			fail "round $round: the PACS received $u $n times (in flight at $k kills)"
		awk -v u="$u" '$2 == u {print $4}' "$T/pacs.seen" | while read -r d; do
			"$DSBYTES" "$d" | md5sum
		done | sort -u | awk 'END {exit NR != 1}' ||
			fail "round $round: $u received twice with different contents"
	done
	d=$(awk '{print $1, $2, $3}' "$T/pacs.seen" | sort -u | awk '{print $1, $3}' | sort | uniq -d)
	[ -z "$d" ] || fail "round $round: the PACS received two results for one series: $d"
}

PHASES=(transfer commit analysis delivery)
phase0=$((RANDOM % 4))
declare -A hits=([transfer]=0 [commit]=0 [analysis]=0 [delivery]=0)
: > "$T/acked.all"
start=$SECONDS
restart
wait_analysis_ready
for round in $(seq 1 "$ROUNDS"); do
	phase=${PHASES[(round + phase0) % 4]}
	watch_start
	pids=
	for k in $(seq 1 "$NSER"); do
		storescu -v -aet CRASH$k -aec DICOMAID 127.0.0.1 "$PORT" \
			"$T/pool/$STUDY0.$round/$SERIES0.$round.$k"/*.dcm >"$T/scu.$k.log" 2>&1 &
		pids="$pids $!"
	done
	# Kills in the later phases hit this round's series whole: their transfers end first.
	if [ "$phase" = analysis ] || [ "$phase" = delivery ]; then
		for p in $pids; do wait "$p" || true; done
		watch_stop
		watch_start
	fi
	seen=yes
	case $phase in
	transfer)
		watch_for 'assoc=[0-9]* event=accepted' 20 || seen=no
		delay=$((RANDOM % 60)) ;;
	commit)
		watch_for 'assoc=[0-9]* event=stored' 20 || seen=no
		delay=$((RANDOM % 15)) ;;
	analysis)
		seen=no
		for _ in $(seq 1 3000); do
			sql_ge "select count(*) from analyses where state = 'running'" 1 && { seen=yes; break; }
			sleep 0.01
		done
		delay=$((RANDOM % 150)) ;;
	delivery)
		if [ $((RANDOM % 2)) = 0 ]; then
			watch_for 'worker=[0-9]* event=analysed' 30 || seen=no
		else
			watch_for 'scu=[0-9]* event=accepted' 30 || seen=no
		fi
		delay=$((RANDOM % 30)) ;;
	esac
	[ $seen = yes ] || fail "round $round: the daemon never reached the $phase phase"
	sleep "$(printf '0.%03d' "$delay")"
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	watch_stop
	hits[$phase]=$((hits[$phase] + 1))
	for p in $pids; do wait "$p" || true; done
	: > "$T/acked.round"
	acked_from "$T/acked.round" "$T"/scu.*.log
	cat "$T/acked.round" >> "$T/acked.all"
	nj=$(sql "select count(*) from analyses where state = 'running'")
	nd=$(sql "select count(*) from deliveries where state = 'sending'")
	sql "select sop_instance_uid from deliveries where state = 'sending'" >> "$T/inflight"

	restart   # recovery happens at start-up
	wait_analysis_ready
	if [ $((nj + nd)) -gt 0 ]; then
		grep -q "event=queue_recovered jobs=$nj deliveries=$nd" "$T/daemon.log" ||
			fail "round $round: $nj running jobs, $nd sending deliveries not recovered"
	fi
	check_store "restart after SIGKILL"
	check_acked "$T/acked.round"
	check_pacs_once
	echo "ok - round $round: $phase +${delay} ms; $(grep -c . "$T/acked.round") acknowledged," \
		"recovered $nj jobs, $nd deliveries; $(grep -c . "$T/pacs.seen") files at the PACS"
done

# The end: the queues drain, then every result is at the PACS exactly once.
round=final
drain=$((60 + ROUNDS * NSER * 2))
wait_for "$drain" sql_is "select count(*) from analyses where state in ('pending', 'running')" 0 ||
	{ sql "select id, series_ref, state, attempts, last_error from analyses"; fail "jobs not done"; }
wait_for "$drain" sql_is "select count(*) from deliveries where state != 'sent'" 0 ||
	{ sql "select * from deliveries where state != 'sent'"; fail "deliveries not all sent"; }
sleep 1.5 # a duplicate, if any, would be sent by now (the delivery timer ticks each second)
stop_daemon || fail "exit status after the last round"
no_parts || { find "$T/data" -name '*.part'; fail "partial files left after a clean stop"; }
check_store final
sort -u "$T/acked.all" > "$T/acked.uniq"
check_acked "$T/acked.uniq"
check_pacs_once

nseries=$(sql "select count(*) from series where modality = 'MR'")
[ "$nseries" -gt 0 ] || fail "no series was ever stored"
bad=$(sql "select s.series_uid, a.state, a.attempts, a.last_error from series s left join analyses a
	on a.series_ref = s.id where s.modality = 'MR' and
	((select count(*) from analyses b where b.series_ref = s.id) != 1 or
	coalesce(a.state, '') != 'done')")
[ -z "$bad" ] || fail "series without exactly one done analysis: $bad"
ngsps=$(sql "select count(*) from analyses where gsps_uid is not null")
# Exactly the analyses' results at the PACS: one SR per series, one GSPS per analysis that made one.
sql "select '$SR_CLASS', sr_uid, series_uid from analyses join series s on s.id = series_ref
	where state = 'done' union all select '$GSPS_CLASS', gsps_uid, series_uid from analyses
	join series s on s.id = series_ref where state = 'done' and gsps_uid is not null" | tr '|' ' ' | sort > "$T/want"
awk '{print $1, $2, $3}' "$T/pacs.seen" | sort -u > "$T/got"
diff "$T/want" "$T/got" || fail "the PACS holds other results than the analyses' (want < > got)"
[ "$(grep -c "^$SR_CLASS " "$T/got")" = "$nseries" ] || fail "not one SR per series at the PACS"
[ "$(sql "select count(*) from deliveries where state = 'sent'")" = "$(grep -c . "$T/got")" ] ||
	fail "sent deliveries != results at the PACS"
# No orphan result in the index: each stored SR or GSPS is the result some analysis names.
orphans=$(sql "select sop_instance_uid from instances where sop_class_uid in
	('$SR_CLASS', '$GSPS_CLASS') and sop_instance_uid not in (select sr_uid from analyses
	where sr_uid is not null union select gsps_uid from analyses where gsps_uid is not null)")
[ -z "$orphans" ] || fail "results stored but named by no analysis: $orphans"
orphans=$(sql "select sop_instance_uid from deliveries where analysis_ref is null or
	sop_instance_uid not in (select sr_uid from analyses a where a.id = analysis_ref union
	select gsps_uid from analyses a where a.id = analysis_ref)")
[ -z "$orphans" ] || fail "deliveries of no analysis' result: $orphans"
[ "$(sql "select count(*) from findings f join analyses a on a.id = f.analysis_ref
	where a.state != 'done'")" = 0 ] || fail "findings of an analysis that is not done"
# A kill between the rename into place and the index commit leaves the file unindexed; it was
# never acknowledged (checked above), and a resend replaces it (store.c, known_instance).
unindexed=$(( $(find "$T/data" -name '*.dcm' | wc -l) - $(sql "select count(*) from instances") ))
[ "$unindexed" -ge 0 ] || fail "more index rows than files"
stop_pacs pacs
for p in "${PHASES[@]}"; do
	[ "${hits[$p]}" -gt 0 ] || [ "$ROUNDS" -lt 4 ] || fail "no kill landed in the $p phase"
done
resent=$(( $(grep -c . "$T/pacs.seen") - $(grep -c . "$T/got") ))
ok "$ROUNDS rounds (transfer ${hits[transfer]}, commit ${hits[commit]}, analysis ${hits[analysis]}," \
	"delivery ${hits[delivery]}): $(grep -c . "$T/acked.uniq") instances acknowledged, all stored" \
	"and identical; $nseries series analysed once; $nseries SRs and $ngsps GSPS at the PACS" \
	"exactly once; $resent sent again after a kill caught its delivery in flight;" \
	"$unindexed unacknowledged files left unindexed" \
	"($((SECONDS - start)) s)"
