#!/bin/bash
# kill -9 between storing an analysis' results and marking its job done (issue 5): the SR and
# GSPS are durable and indexed, the job is still 'running', nothing is queued for delivery.
# After the restart the job runs again and must not leave a second, different SR beside the
# first: its results carry the UIDs fixed by the first attempt (analyses.plan_*), so the study
# holds one SR and one GSPS for the series, and the PACS receives each exactly once, with the
# UIDs stored before the crash. Run under the default duplicate policy (the retry replaces
# the files) and under "reject" (the stored ones stand).
# The kill comes from the daemon itself (DICOMAID_TEST_KILL_AFTER_RESULTS=1 makes it raise
# SIGKILL at that point), because no outside timing can hit that window reliably.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/analysis_lib.sh"
ANALYSIS=yes

start_pacs pacs
config() {
	EXTRA_CONFIG="
[analysis]
stable_seconds = 1
workers = 1
$(destination pacs "$PACS_PORT_pacs")
"
}
config

study=$(tag "$FIX/IM0028.dcm" 0020,000D)
in_study="from instances i join series s on s.id = i.series_ref join studies st on st.id = s.study_ref where st.study_uid = '$study'"

# stored_files CLASS: SOP Instance UIDs of the CLASS files in the storage, one per file.
stored_files() {
	local f
	while IFS= read -r f; do
		[ "$(tag "$f" 0008,0016)" = "$1" ] && tag "$f" 0008,0018
	done < <(find "$T/data" -name '*.dcm')
	return 0
}

# round NAME DIR: sends DIR's series with the kill hook on, checks the state the kill left,
# restarts without it and checks that the results stored before the kill are the ones kept
# and delivered once.
round() {
	local name=$1 dir=$2 series q st sr gsps n_sr0 n_gs0
	series=$(tag "$(ls "$dir"/*.dcm | head -n 1)" 0020,000E)
	q="from analyses a join series s on s.id = a.series_ref where s.series_uid = '$series'"
	n_sr0=$(pacs_count pacs "$SR_CLASS")
	n_gs0=$(pacs_count pacs "$GSPS_CLASS")
	export DICOMAID_TEST_KILL_AFTER_RESULTS=1
	PORT_FIXED=${PORT:-} start_daemon
	unset DICOMAID_TEST_KILL_AFTER_RESULTS
	wait_analysis_ready
	storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$dir"/*.dcm || fail "$name: storescu"
	st=0
	timeout 30 tail --pid="$DAEMON_PID" -f /dev/null || fail "$name: the daemon did not kill itself"
	wait "$DAEMON_PID" || st=$?
	DAEMON_PID=
	[ $st = 137 ] || fail "$name: exit status $st, want 137 (SIGKILL)"
	grep -q 'event=test_kill_after_results' "$T/daemon.log" || fail "$name: not killed at the hook"
	mv "$T/daemon.log" "$T/daemon.$name.log"

	# What the kill left: results durable and indexed, the job running, nothing queued.
	[ "$(sql "select a.state $q")" = running ] || fail "$name: job is '$(sql "select a.state $q")'"
	sr=$(sql "select a.plan_sr_uid $q")
	gsps=$(sql "select a.plan_gsps_uid $q")
	[ -n "$sr" ] && [ -n "$gsps" ] || fail "$name: no planned result UIDs"
	[ "$(sql "select count(*) $in_study and i.sop_instance_uid = '$sr'")" = 1 ] ||
		fail "$name: the SR was not stored before the kill"
	[ "$(sql "select count(*) $in_study and i.sop_instance_uid = '$gsps'")" = 1 ] ||
		fail "$name: the GSPS was not stored before the kill"
	[ "$(sql "select count(*) from deliveries d join analyses a on a.id = d.analysis_ref join series s on s.id = a.series_ref where s.series_uid = '$series'")" = 0 ] ||
		fail "$name: deliveries queued before the job was done"

	# Restart: the job runs again and keeps the stored results' UIDs.
	WRITE_CONFIG=no PORT_FIXED=$PORT start_daemon
	wait_analysis_ready
	wait_for 30 sql_is "select a.state $q" done ||
		{ sql "select a.state, a.attempts, a.last_error $q"; fail "$name: job not done after the restart"; }
	[ "$(sql "select a.attempts $q")" = 2 ] || fail "$name: attempts $(sql "select a.attempts $q"), want 2"
	[ "$(sql "select a.sr_uid $q")" = "$sr" ] || fail "$name: the retry wrote another SR"
	[ "$(sql "select a.gsps_uid $q")" = "$gsps" ] || fail "$name: the retry wrote another GSPS"
	wait_for 15 sql_is "select count(*) from deliveries where state != 'sent'" 0 ||
		{ sql "select * from deliveries"; fail "$name: deliveries not sent"; }
	sleep 1.5 # a duplicate, if any, would be sent by now
	[ "$(pacs_count pacs "$SR_CLASS")" = $((n_sr0 + 1)) ] || fail "$name: the PACS received $(( $(pacs_count pacs "$SR_CLASS") - n_sr0 )) SRs, want 1"
	[ "$(pacs_count pacs "$GSPS_CLASS")" = $((n_gs0 + 1)) ] || fail "$name: the PACS received $(( $(pacs_count pacs "$GSPS_CLASS") - n_gs0 )) GSPS, want 1"
	pacs_sops pacs "$SR_CLASS" | grep -x "$sr" >/dev/null || fail "$name: the PACS did not receive SR $sr"
	pacs_sops pacs "$GSPS_CLASS" | grep -x "$gsps" >/dev/null || fail "$name: the PACS did not receive GSPS $gsps"
	stop_daemon || fail "$name: exit status"
	no_parts || fail "$name: partial files left"
	ok "$name: killed after storing SR $sr and its GSPS; the retry kept both UIDs; delivered once"
}

# ---- duplicates = overwrite (default): the retry's files replace the first attempt's -------
round overwrite "$FIX"

# ---- duplicates = reject: the stored results stand ------------------------------------------
copy_series "$T/s2" 2
DUPLICATES=reject
round reject "$T/s2"

# Two series, two analyses: the study holds exactly their two SRs and two GSPS, in the index
# and on disk, no orphan beside them.
[ "$(sql "select count(*) $in_study and i.sop_class_uid = '$SR_CLASS'")" = 2 ] ||
	fail "the index holds $(sql "select count(*) $in_study and i.sop_class_uid = '$SR_CLASS'") SRs, want 2"
[ "$(sql "select count(*) $in_study and i.sop_class_uid = '$GSPS_CLASS'")" = 2 ] || fail "GSPS count in the index"
[ "$(stored_files "$SR_CLASS" | sort -u | wc -l)" = 2 ] && [ "$(stored_files "$SR_CLASS" | wc -l)" = 2 ] ||
	{ stored_files "$SR_CLASS"; fail "the storage holds other than 2 SR files"; }
[ "$(stored_files "$GSPS_CLASS" | wc -l)" = 2 ] || fail "the storage holds other than 2 GSPS files"
ok "the study holds one SR and one GSPS per analysed series (index and files)"
stop_pacs pacs
