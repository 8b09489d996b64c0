#!/bin/bash
# dicomaidctl against a running daemon: every subcommand, its exit status, --json output
# checked by tests/ops/jsoncheck, the control protocol below it (ctlraw), and the
# listings that read the index with the daemon down.
. "$top_srcdir/tests/integration/lib.sh"
CTL="$top_builddir/src/dicomaidctl"
JSONCHECK="$top_builddir/tests/ops/jsoncheck"
CTLRAW="$top_builddir/tests/ops/ctlraw"
MR="$PYDICOM_FILES/MR_small.dcm"
[ -f "$MR" ] || fail "missing test file $MR"

# ctl ARGS...: runs dicomaidctl on the test's config; output in $T/out, status in $RC.
ctl() { RC=0; "$CTL" -c "$T/dicomaid.conf" "$@" >"$T/out" 2>"$T/err" || RC=$?; }
expect_rc() {
	[ "$RC" = "$1" ] || { cat "$T/out" "$T/err"; fail "$2: exit $RC, expected $1"; }
}
json_ok() { "$JSONCHECK" < "$T/out" || { cat "$T/out"; fail "$1: invalid JSON"; }; }

wait_control() {
	for _ in $(seq 1 100); do
		grep -q 'event=control_listening' "$T/daemon.log" && return 0
		sleep 0.05
	done
	fail "no control socket"
}

PORT_FIXED=$(pick_port)
ANALYSIS=yes # lib.sh: no [analysis] enabled = no
DEAD_PORT=$((PORT_FIXED + 1))
EXTRA_CONFIG="
[peer self]
ae_title = DICOMAID
host = 127.0.0.1
port = $PORT_FIXED

[peer dead]
ae_title = NOBODY
host = 127.0.0.1
port = $DEAD_PORT

[peer nohost]
ae_title = NOHOST

[analysis]
enabled = yes
stable_seconds = 1
workers = 1

[destination deadend]
ae_title = DEADEND
host = 127.0.0.1
port = $DEAD_PORT
" start_daemon
wait_control
SOCK="$T/data/dicomaid.sock"
[ -S "$SOCK" ] || fail "no socket at the default path (storage path)/dicomaid.sock"
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$SOCK"), expected 660"
ok "control socket $SOCK, mode 0660"

# --- usage errors (exit 2) before anything is read
for args in "" "frobnicate" "status extra" "study" "study not-a-uid" "echo" "reanalyze" \
	    "studies --since yesterday" "studies --bogus"; do
	ctl $args
	expect_rc 2 "dicomaidctl $args"
done
RC=0; "$CTL" -c "$T/nonexistent.conf" status 2>"$T/err" || RC=$?
[ $RC = 1 ] && grep -q "cannot open" "$T/err" || fail "missing config: exit $RC"
ok "usage errors exit 2, a missing config exits 1"

# --- status
ctl status
expect_rc 0 "status"
grep -q '^instances received  *0$' "$T/out" || { cat "$T/out"; fail "status text"; }
grep -q '^analysis enabled  *yes$' "$T/out" && grep -q '^analysis pending  *0$' "$T/out" \
	|| { cat "$T/out"; fail "status: analysis lines"; }
ctl --json status
expect_rc 0 "status --json"
json_ok status
grep -q '"ok":true,' "$T/out" && grep -q '"instances_received":0,' "$T/out" \
	&& grep -q '"associations":0,' "$T/out" && grep -q '"jobs_pending":0,' "$T/out" \
	&& grep -q '"deliveries_failed":0}$' "$T/out" \
	&& grep -q "\"pid\":$DAEMON_PID," "$T/out" || { cat "$T/out"; fail "status JSON content"; }
ctl status --json
json_ok "status with --json after the command"
ok "status (text and JSON)"

# --- a study arrives; status counts it, the listings show it
storescu -aet STORESCU -aec DICOMAID 127.0.0.1 "$PORT" "$MR" || fail "storescu"
STUDY=$(dcmdump -q +P StudyInstanceUID "$MR" | sed 's/.*\[\(.*\)\].*/\1/')
SERIES=$(dcmdump -q +P SeriesInstanceUID "$MR" | sed 's/.*\[\(.*\)\].*/\1/')
PID_=$(dcmdump -q +P PatientID "$MR" | sed 's/.*\[\(.*\)\].*/\1/')
[ -n "$STUDY" ] && [ -n "$SERIES" ] || fail "cannot read the UIDs of $MR"
sleep 1.2 # one throughput sample later
ctl --json status
json_ok status
grep -q '"instances_received":1,' "$T/out" && grep -q '"instances_last_minute":1,' "$T/out" \
	|| { cat "$T/out"; fail "status after one C-STORE"; }
ok "status counts the instance (received 1, last minute 1)"

ctl studies
expect_rc 0 studies
grep -q " $STUDY\$" "$T/out" && grep -q '^(1 study)$' "$T/out" || { cat "$T/out"; fail "studies text"; }
ctl --json studies
json_ok studies
grep -q "^\[{\"study_uid\":\"$STUDY\",\"patient_id\":\"$PID_\"," "$T/out" \
	&& grep -q '"modalities":"MR[,SR]*","series":[12],"instances":[12],' "$T/out" \
	|| { cat "$T/out"; fail "studies JSON"; }
# (the analysis may already have added its SR series to the study)
ctl --json studies --patient "no-such-patient"
json_ok "studies --patient"
[ "$(cat "$T/out")" = "[]" ] || fail "studies --patient filter: $(cat "$T/out")"
ctl studies --patient "$PID_" --since "$(date +%F)"
grep -q '^(1 study)$' "$T/out" || { cat "$T/out"; fail "studies --patient --since today"; }
ctl studies --since "$(date -d tomorrow +%Y%m%d)"
grep -q '^(0 studies)$' "$T/out" || { cat "$T/out"; fail "studies --since tomorrow"; }
ok "studies (text, JSON, --patient, --since)"

ctl study "$STUDY"
expect_rc 0 study
grep -q "^study  *$STUDY\$" "$T/out" && grep -q " $SERIES\$" "$T/out" \
	|| { cat "$T/out"; fail "study text"; }
ctl --json study "$STUDY"
json_ok study
grep -q "\"series\":\[{\"series_uid\":\"$SERIES\",.*\"instances\":1," "$T/out" \
	|| { cat "$T/out"; fail "study JSON"; }
ctl study 1.2.3.4.5.6.7
expect_rc 4 "unknown study"
grep -q "no study 1.2.3.4.5.6.7" "$T/err" || fail "unknown study message"
ok "study UID (text, JSON, unknown UID exits 4)"

# --- echo: to ourselves, to a closed port, an unknown peer, a peer without address
ctl echo self
expect_rc 0 "echo self"
grep -q '^status  *0$' "$T/out" || { cat "$T/out"; fail "echo output"; }
ctl --json echo DICOMAID
expect_rc 0 "echo by AE title"
json_ok echo
grep -q '"ok":true,"peer":"self","ae_title":"DICOMAID",' "$T/out" || { cat "$T/out"; fail "echo JSON"; }
ctl echo dead
expect_rc 1 "echo to a closed port"
grep -q "C-ECHO to dead (NOBODY at 127.0.0.1:$DEAD_PORT) failed: cannot connect" "$T/err" \
	|| { cat "$T/err"; fail "echo failure message"; }
ctl --json echo dead
expect_rc 1 "echo dead --json"
json_ok "echo failure"
grep -q '"ok":false,"code":"failed",' "$T/out" || fail "echo failure JSON"
ctl echo nosuchpeer
expect_rc 4 "echo to an unknown peer"
ctl echo nohost
expect_rc 1 "echo to a peer without host"
grep -q "needs host and port" "$T/err" || fail "echo nohost message"
ok "echo (success 0, unreachable 1, unknown 4, no address 1)"

# --- reload: good, then a broken file (running configuration kept), then good again
cp "$T/dicomaid.conf" "$T/good.conf"
ctl echo added
expect_rc 4 "echo to a peer not yet configured"
printf '\n[peer added]\nae_title = ADDED\nhost = 127.0.0.1\nport = %s\n' "$PORT" >> "$T/dicomaid.conf"
ctl --json reload
expect_rc 0 reload
json_ok reload
grep -q '"peers":4,' "$T/out" || { cat "$T/out"; fail "reload did not add the peer"; }
# The new peer is known now: the association is tried (and rejected: we are not ADDED).
ctl echo added
expect_rc 1 "echo to the peer added by reload"
grep -q "C-ECHO to added (ADDED at 127.0.0.1:$PORT) failed: association rejected" "$T/err" \
	|| { cat "$T/err"; fail "echo to the added peer"; }
printf '\n[server]\nbogus_key = 1\n' >> "$T/dicomaid.conf"
# (dicomaidctl itself reads a good copy: it refuses a broken file too.)
RC=0; "$CTL" -c "$T/good.conf" reload >"$T/out" 2>"$T/err" || RC=$?
expect_rc 1 "reload of a broken file"
grep -q "reload failed: .*dicomaid.conf:[0-9]*: " "$T/err" || { cat "$T/err"; fail "reload error message"; }
cp "$T/good.conf" "$T/dicomaid.conf"
ctl echo self
expect_rc 0 "daemon still answers after a failed reload"
ok "reload (peers change; a broken file is refused with file:line)"

# --- analysis: the series is analysed once quiet (stable_seconds = 1); study, findings
# and status show it; reanalyze queues it again; retry re-queues failed jobs/deliveries.
sqlw() { sqlite3 -cmd ".timeout 5000" "$T/data/index.sqlite" "$1" >/dev/null; }
wait_done() { # wait_done N: until N analyses of the series are done
	for _ in $(seq 1 200); do
		[ "$(sql "select count(*) from analyses a join series s on a.series_ref = s.id
			where s.series_uid = '$SERIES' and a.state in ('done', 'not-applicable')")" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "series not analysed $1 time(s)"
}
wait_done 1
STATE=$(sql "select state from analyses order by id desc limit 1")
ctl --json study "$STUDY"
json_ok "study with analysis"
grep -q "\"series_uid\":\"$SERIES\",.*\"analysis\":{\"state\":\"$STATE\"," "$T/out" \
	|| { cat "$T/out"; fail "study JSON: analysis state"; }
ctl study "$STUDY"
grep -q " $STATE.* $SERIES\$" "$T/out" || { cat "$T/out"; fail "study text: analysis state"; }
ctl --json findings
expect_rc 0 findings
json_ok findings
if [ "$STATE" = done ]; then
	grep -q "\"series_uid\":\"$SERIES\",.*\"findings\":\[" "$T/out" || { cat "$T/out"; fail "findings JSON"; }
fi
N_ALL=$({ grep -o '"series_uid"' "$T/out" || true; } | wc -l)
ctl --json findings --positive
json_ok "findings --positive"
N_POS=$({ grep -o '"series_uid"' "$T/out" || true; } | wc -l)
[ "$N_POS" -le "$N_ALL" ] || fail "more positive analyses than analyses"
if grep -q '"lesions":0,' "$T/out"; then fail "findings --positive lists a negative analysis"; fi
ctl findings
expect_rc 0 "findings (text)"
grep -q "^($N_ALL analys[ie]s)\$" "$T/out" || { cat "$T/out"; fail "findings text count"; }
ctl --json status
grep -q '"analysis_enabled":true,' "$T/out" && grep -q '"jobs_pending":0,' "$T/out" \
	|| { cat "$T/out"; fail "status after analysis"; }
ok "analysis shown by study, findings ($N_ALL, $N_POS positive) and status"

ctl --json reanalyze "$STUDY"
expect_rc 0 "reanalyze study"
json_ok reanalyze
grep -q "\"uid\":\"$STUDY\",\"series\":1}" "$T/out" || { cat "$T/out"; fail "reanalyze answer (SR series skipped)"; }
wait_done 2
ctl reanalyze "$SERIES"
expect_rc 0 "reanalyze series"
wait_done 3
ctl reanalyze 1.2.3.4.5.6.7
expect_rc 4 "reanalyze an unknown UID"
ok "reanalyze (study, series; unknown UID exits 4)"

# A failed job and a failed delivery (as the pipeline leaves them after their last attempt).
sqlw "insert into analyses(series_ref, state, attempts, last_error, created_at, updated_at)
	select id, 'failed', 3, 'test', 0, 0 from series where series_uid = '$SERIES'"
sqlw "insert into deliveries(destination, sop_instance_uid, sop_class_uid, transfer_syntax,
	rel_path, state, attempts, created_at, updated_at, next_attempt_at)
	values('deadend', '1.2.3.4', '1.2.840.10008.5.1.4.1.1.88.34', '1.2.840.10008.1.2.1',
	'nonexistent.dcm', 'failed', 50, 0, 0, 0)"
ctl --json status
grep -q '"jobs_failed":1,' "$T/out" && grep -q '"deliveries_failed":1}' "$T/out" \
	|| { cat "$T/out"; fail "status: failed counts"; }
ctl --json retry
expect_rc 0 retry
json_ok retry
grep -q '^{"ok":true,"jobs":1,"deliveries":1}$' "$T/out" || { cat "$T/out"; fail "retry answer"; }
[ "$(sql "select count(*) from analyses where state = 'failed' and attempts = 3")" = 0 ] \
	|| fail "failed job not re-queued"
ctl --json retry
grep -q '^{"ok":true,"jobs":0,"deliveries":0}$' "$T/out" || { cat "$T/out"; fail "second retry"; }
wait_done 4
ok "retry re-queues failed jobs and deliveries"

# How a finding is shown (the untrained test model finds none: one is written here).
AID=$(sql "select max(a.id) from analyses a join series s on a.series_ref = s.id
	where s.series_uid = '$SERIES' and a.state = 'done'")
[ -n "$AID" ] || fail "no done analysis of $SERIES"
if :; then
	sqlw "insert into findings(analysis_ref, lesion, type, code_meaning, probability, centre_x,
		centre_y, centre_z, extent_x, extent_y, extent_z, volume_mm3, slices, tracking_uid)
		values($AID, 1, 'glioma', 'Glioma \"quoted\"', 0.9, 1.5, -2, 30, 10, 12, 14, 4200, 7, '2.25.1')"
	sqlw "update analyses set lesions = 1, study_probability = 0.93 where id = $AID"
	ctl --json findings --positive
	json_ok "findings --positive with a finding"
	grep -q "^\[{\"study_uid\":\"$STUDY\",\"series_uid\":\"$SERIES\",.*\"study_probability\":0.93,\"lesions\":1,.*\"findings\":\[{\"lesion\":1,\"type\":\"glioma\",\"code_meaning\":\"Glioma \\\\\"quoted\\\\\"\",\"probability\":0.9,\"centre_mm\":\[1.5,-2,30\],\"extent_mm\":\[10,12,14\],\"volume_mm3\":4200,\"slices\":7,\"tracking_uid\":\"2.25.1\"}\]}\]\$" "$T/out" \
		|| { cat "$T/out"; fail "findings JSON with a finding"; }
	ctl findings --positive
	grep -q '^    #1 glioma, probability 0.90, centre (1.5, -2.0, 30.0) mm, 4.2 cm3, 7 slices$' "$T/out" \
		|| { cat "$T/out"; fail "findings text with a finding"; }
	ctl study "$STUDY"
	grep -q "done, 1 found  *$SERIES\$" "$T/out" && grep -q '#1 glioma' "$T/out" \
		|| { cat "$T/out"; fail "study text with a finding"; }
	ok "a finding: type, probability, location, volume (text and JSON, escaped)"
fi

# --- the protocol itself
printf 'status\necho self\nbogus\n\nstatus  x\nretry\n' | "$CTLRAW" "$SOCK" > "$T/out"
"$JSONCHECK" -l < "$T/out" || { cat "$T/out"; fail "raw answers are not JSON lines"; }
[ "$(wc -l < "$T/out")" = 6 ] || { cat "$T/out"; fail "expected 6 answers in order"; }
sed -n 2p "$T/out" | grep -q '"peer":"self"' || fail "answers out of order"
sed -n 3p "$T/out" | grep -q '"code":"usage","error":"unknown command' || fail "unknown command"
sed -n 4p "$T/out" | grep -q '"error":"bad request: empty request"' || fail "empty line"
sed -n 5p "$T/out" | grep -q '"error":"bad request: words must be separated' || fail "double space"
sed -n 6p "$T/out" | grep -q '^{"ok":true,"jobs":0,"deliveries":' || fail "retry answer"
head -c 3000 /dev/zero | tr '\0' 'x' | "$CTLRAW" "$SOCK" > "$T/out"
grep -q '"error":"request longer than 1024 bytes"' "$T/out" || { cat "$T/out"; fail "long line"; }
# A client that sends without reading its answers does not hold the daemon up.
awk 'BEGIN { for (i = 0; i < 570000; i++) print "status" }' > "$T/many"
"$CTLRAW" "$SOCK" < "$T/many" > /dev/null 2>&1 &
HOG=$!
sleep 0.5
ctl status
expect_rc 0 "status while another client does not read its answers"
kill $HOG 2>/dev/null || true; wait $HOG 2>/dev/null || true
ok "protocol: answers in order, errors as JSON, long line refused, a non-reading client is held back"

# --- the daemon stops: the socket goes, read-only listings keep working
stop_daemon || fail "daemon did not exit 0"
[ ! -e "$SOCK" ] || fail "socket file left behind"
ctl status
expect_rc 3 "status with the daemon down"
grep -q "dicomaid is not running" "$T/err" || fail "not-running message"
ctl reload
expect_rc 3 "reload with the daemon down"
ctl --json studies
expect_rc 0 "studies with the daemon down"
json_ok "studies (daemon down)"
grep -q "$STUDY" "$T/out" || fail "studies (daemon down) lost the study"
ok "daemon down: status exits 3, studies still listed"

# --- a stale socket (crash) is replaced; a live one is not taken over
WRITE_CONFIG=no start_daemon
wait_control
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=
[ -S "$SOCK" ] || fail "expected a stale socket after SIGKILL"
WRITE_CONFIG=no start_daemon
wait_control
grep -q "event=ctl_stale_socket path=$SOCK action=replaced" "$T/daemon.log" || fail "stale socket not replaced"
ctl status
expect_rc 0 "status after a stale socket"
sed "s/^port = $PORT_FIXED\$/port = $DEAD_PORT/" "$T/dicomaid.conf" > "$T/second.conf"
RC=0; "$DICOMAID" -c "$T/second.conf" > "$T/second.log" 2>&1 || RC=$?
[ $RC = 1 ] && grep -q "another daemon is serving it" "$T/second.log" \
	|| { cat "$T/second.log"; fail "second daemon on a live socket: exit $RC"; }
ctl status
expect_rc 0 "first daemon still serves its socket"
ok "stale socket replaced; a live one refused"
stop_daemon || fail "daemon did not exit 0"

# With analysis off, reanalyze is refused (exit 5); an index without the analysis tables
# (schema 2) has no findings (exit 5).
sed -i 's/^enabled = yes$/enabled = no/' "$T/dicomaid.conf"
WRITE_CONFIG=no start_daemon
wait_control
ctl reanalyze "$STUDY"
expect_rc 5 "reanalyze with analysis off"
grep -q "analysis is off" "$T/err" || fail "analysis off message"
stop_daemon || fail "daemon did not exit 0"
sqlite3 "$T/old.sqlite" < "$top_srcdir/sql/001_init.sql"
sqlite3 "$T/old.sqlite" < "$top_srcdir/sql/002_query.sql"
sqlite3 "$T/old.sqlite" "pragma user_version = 2"
sed "s|^database = .*|database = $T/old.sqlite|" "$T/dicomaid.conf" > "$T/old.conf"
RC=0; "$CTL" -c "$T/old.conf" findings > /dev/null 2>"$T/err" || RC=$?
[ $RC = 5 ] && grep -q "no analysis tables (schema 2" "$T/err" || { cat "$T/err"; fail "findings on schema 2: exit $RC"; }
RC=0; "$CTL" -c "$T/old.conf" studies > "$T/out" 2>"$T/err" || RC=$?
[ $RC = 0 ] && grep -q '^(0 studies)$' "$T/out" || fail "studies on schema 2: exit $RC"
ok "analysis off: reanalyze exits 5; schema 2 index: findings exits 5, studies works"

# Without -c, when the installed configuration file does not exist, dicomaidctl uses the
# embedded default that `dicomaid` without -c runs on: ./dicomaid-data of the current folder.
installed=$("$CTL" --help | sed -n 's/.*configuration file (default \(.*\),$/\1/p')
[ -n "$installed" ] || { "$CTL" --help; fail "--help names no default configuration file"; }
mkdir -p "$T/cwd/dicomaid-data"
if [ -e "$installed" ]; then
	# an installed configuration on this machine: it is the one read without -c
	(cd "$T/cwd" && "$CTL" -c "$installed" studies) >"$T/want" 2>&1 || true
	(cd "$T/cwd" && "$CTL" studies) >"$T/out" 2>&1 || true
	cmp -s "$T/want" "$T/out" || { cat "$T/want" "$T/out"; fail "without -c: not $installed"; }
	ok "without -c: the installed $installed (the embedded default is not checked here)"
	exit 0
fi
RC=0; (cd "$T/cwd" && "$CTL" studies) >"$T/out" 2>"$T/err" || RC=$?
[ $RC = 1 ] && grep -q "\./dicomaid-data/index.sqlite" "$T/err" ||
	{ cat "$T/out" "$T/err"; fail "no index, embedded default: exit $RC"; }
cp "$(sed -n 's/^database = //p' "$T/dicomaid.conf")" "$T/cwd/dicomaid-data/index.sqlite"
RC=0; (cd "$T/cwd" && "$CTL" studies) >"$T/out" 2>"$T/err" || RC=$?
[ $RC = 0 ] && grep -q " $STUDY\$" "$T/out" || { cat "$T/out" "$T/err"; fail "studies on the embedded default: exit $RC"; }
ok "without -c and no installed configuration: the embedded default's ./dicomaid-data"
