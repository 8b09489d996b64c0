#!/bin/bash
# Socket activation and the service notifications, without systemd: the daemon is started
# by systemd-socket-activate (Debian's systemd package) on two TCP ports and the control
# socket, and a study is sent through the inherited sockets with storescu. NOTIFY_SOCKET
# points at tests/ops/notifyrecv, which records READY=1, STATUS=, WATCHDOG=1 (with
# WATCHDOG_USEC set) and STOPPING=1.
. "$top_srcdir/tests/integration/lib.sh"
CTL="$top_builddir/src/dicomaidctl"
JSONCHECK="$top_builddir/tests/ops/jsoncheck"
MR="$PYDICOM_FILES/MR_small.dcm"
[ -f "$MR" ] || fail "missing test file $MR"

NOTIFY="$T/notify.sock"
"$top_builddir/tests/ops/notifyrecv" "$NOTIFY" 60 > "$T/notify.log" &
RECV_PID=$!
trap 'st=$?; kill $RECV_PID 2>/dev/null; (exit $st); cleanup' EXIT
for _ in $(seq 1 50); do [ -S "$NOTIFY" ] && break; sleep 0.05; done
[ -S "$NOTIFY" ] || fail "notifyrecv did not start"

# The configured port is one nobody listens on: connections must use the passed sockets.
started=no
for try in 1 2 3 4 5; do
	PORT=$(pick_port); P1=$((PORT + 1)); P2=$((PORT + 2))
	write_config
	printf '\n[control]\nsocket = %s\n' "$T/ctl.sock" >> "$T/dicomaid.conf"
	NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=300000 systemd-socket-activate \
		-l "127.0.0.1:$P1" -l "127.0.0.1:$P2" -l "$T/ctl.sock" --fdname=dicom:dicom:control \
		-E NOTIFY_SOCKET -E WATCHDOG_USEC \
		"$DICOMAID" -c "$T/dicomaid.conf" > "$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	# systemd-socket-activate starts the daemon on the first connection.
	for _ in $(seq 1 40); do
		grep -q "Listening on 127.0.0.1:$P2" "$T/daemon.log" && break
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	if grep -q "Listening on 127.0.0.1:$P2" "$T/daemon.log"; then started=yes; break; fi
	wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=
done
[ $started = yes ] || { cat "$T/daemon.log"; fail "systemd-socket-activate did not listen"; }

storescu -aet STORESCU -aec DICOMAID 127.0.0.1 "$P1" "$MR" || fail "storescu through the first passed socket"
grep -q "event=listening ae_title=DICOMAID bind=127.0.0.1 port=$P1 fd=3 activated=yes" "$T/daemon.log" \
	|| { cat "$T/daemon.log"; fail "daemon did not use the passed socket for port $P1"; }
grep -q "event=listening ae_title=DICOMAID bind=127.0.0.1 port=$P2 fd=4 activated=yes" "$T/daemon.log" \
	|| fail "daemon did not use the passed socket for port $P2"
grep -q "event=control_listening socket=$T/ctl.sock activated=yes" "$T/daemon.log" \
	|| fail "daemon did not use the passed control socket"
! grep -q "port=$PORT " "$T/daemon.log" || fail "daemon bound the configured port as well"
ok "daemon started by systemd-socket-activate on ports $P1, $P2 and the control socket"

storescu -aet STORESCU -aec DICOMAID 127.0.0.1 "$P2" "$MR" || fail "storescu through the second passed socket"
[ "$(sql "select count(*) from instances")" = 1 ] || fail "instance not indexed"
# (the audit row of an association is closed by the storage thread, just after it ends)
for _ in $(seq 1 100); do
	[ "$(sql "select count(*) from associations where calling_ae='STORESCU' and instances_received=1")" = 2 ] && break
	sleep 0.05
done
[ "$(sql "select count(*) from associations where calling_ae='STORESCU' and instances_received=1")" = 2 ] \
	|| { sql "select * from associations"; fail "expected two associations with one instance each"; }
ok "a study sent through each inherited socket is stored"

"$CTL" -c "$T/dicomaid.conf" --json status > "$T/out" || fail "status over the passed control socket"
"$JSONCHECK" < "$T/out" || fail "status JSON"
grep -q '"listeners":2,' "$T/out" && grep -q '"instances_received":2,' "$T/out" \
	|| { cat "$T/out"; fail "status content"; }
ok "dicomaidctl status over the passed control socket"

sleep 1.3 # a STATUS= update and a few watchdog pings
kill -TERM "$DAEMON_PID"
rc=0; wait "$DAEMON_PID" || rc=$?; DAEMON_PID=
[ $rc = 0 ] || fail "daemon exit $rc"
sleep 0.3
grep -qx 'READY=1' "$T/notify.log" || { cat "$T/notify.log"; fail "no READY=1"; }
grep -qx 'STATUS=0 associations, 2 instances received, 2 in the last minute; analysis 0 pending, 0 running, 0 failed; deliveries 0 pending, 0 failed' "$T/notify.log" \
	|| { cat "$T/notify.log"; fail "no STATUS= with the counts"; }
[ "$(grep -cx 'WATCHDOG=1' "$T/notify.log")" -ge 3 ] || { cat "$T/notify.log"; fail "too few WATCHDOG=1"; }
grep -qx 'STOPPING=1' "$T/notify.log" || { cat "$T/notify.log"; fail "no STOPPING=1"; }
[ "$(grep -nx 'READY=1' "$T/notify.log" | cut -d: -f1)" -lt "$(grep -nx 'STOPPING=1' "$T/notify.log" | cut -d: -f1)" ] \
	|| fail "STOPPING=1 before READY=1"
grep -q "event=watchdog interval_ms=150" "$T/daemon.log" || fail "watchdog interval not half of WATCHDOG_USEC"
ok "notifications: READY=1, STATUS=, WATCHDOG=1 every 150 ms, STOPPING=1"

# A passed socket that is not a listening TCP socket (an unnamed UNIX one) is refused.
write_config
rc=0; timeout 10 systemd-socket-activate -l "$T/other.sock" "$DICOMAID" -c "$T/dicomaid.conf" \
	> "$T/bad.log" 2>&1 & BAD=$!
# (connect until it is listening: the file exists from bind() on)
for _ in $(seq 1 100); do
	"$top_builddir/tests/ops/ctlraw" "$T/other.sock" < /dev/null > /dev/null 2>&1 && break
	sleep 0.05
done
wait $BAD || rc=$?
[ $rc = 1 ] && grep -q "passed socket 3 (unknown) is not a listening TCP socket" "$T/bad.log" \
	|| { cat "$T/bad.log"; fail "wrong socket type: exit $rc"; }
ok "a passed socket of the wrong kind stops the daemon with exit 1"
