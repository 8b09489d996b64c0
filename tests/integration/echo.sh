#!/bin/bash
# C-ECHO against dcmtk's echoscu, and the association rejects a real peer can provoke:
# wrong called AE title, unknown calling AE with require_known_peers, and the log lines.
. "$(dirname "$0")/lib.sh"

EXTRA_CONFIG='
[peer modality]
ae_title = ECHOSCU
host = 127.0.0.1
port = 11112
' start_daemon

echoscu -aet ECHOSCU -aec DICOMAID 127.0.0.1 "$PORT" || fail "echoscu failed"
ok "C-ECHO answered"

# Several echoes on one association.
echoscu -aet ECHOSCU -aec DICOMAID --repeat 5 127.0.0.1 "$PORT" || fail "repeated echo failed"
ok "5 C-ECHOs on one association"

if echoscu -aet ECHOSCU -aec WRONGAE 127.0.0.1 "$PORT" 2>"$T/out"; then
	fail "wrong called AE title was accepted"
fi
grep -qi 'Called AE Title Not Recognized' "$T/out" || { cat "$T/out"; fail "echoscu did not see reason 7"; }
grep -q 'event=rejected .*called=WRONGAE .*result=1 source=1 reason=7' "$T/daemon.log" || fail "no reject log line"
ok "wrong called AE rejected (permanent, user, reason 7)"

stop_daemon || fail "daemon did not exit 0 on SIGTERM"
ok "SIGTERM exits 0"

# The audit table has every association, the reject included, with no patient data.
[ "$(sql "select count(*) from associations where called_ae='WRONGAE' and outcome='rejected' and ended_at is not null")" = 1 ] || fail "reject not audited"
[ "$(sql "select count(*) from associations where calling_ae='ECHOSCU' and called_ae='DICOMAID' and outcome='released'")" = 2 ] || fail "released associations not audited"
ok "associations audited"
rm -rf "$T/data"

EXTRA_CONFIG='
[access]
require_known_peers = yes

[peer modality]
ae_title = ECHOSCU
host = 127.0.0.1

[peer storeonly]
ae_title = STOREONLY
services = store

[peer elsewhere]
ae_title = ELSEWHERE
host = 127.0.0.2
' start_daemon
echoscu -aet ECHOSCU -aec DICOMAID 127.0.0.1 "$PORT" || fail "known peer refused"
if echoscu -aet STRANGER -aec DICOMAID 127.0.0.1 "$PORT" 2>"$T/out"; then
	fail "unknown calling AE accepted with require_known_peers"
fi
grep -qi 'Calling AE Title Not Recognized' "$T/out" || { cat "$T/out"; fail "echoscu did not see reason 3"; }
ok "unknown calling AE rejected (reason 3)"

if echoscu -aet ELSEWHERE -aec DICOMAID 127.0.0.1 "$PORT" 2>"$T/out"; then
	fail "peer accepted from the wrong host"
fi
grep -qi 'Calling AE Title Not Recognized' "$T/out" || fail "wrong host: no reason 3"
ok "known AE calling from another host rejected"

echoscu -v -aet STOREONLY -aec DICOMAID 127.0.0.1 "$PORT" >"$T/out" 2>&1 || true
grep -qi 'Status: 0x124' "$T/out" || { cat "$T/out"; fail "echo by a store-only peer not refused with 0124"; }
grep -q 'event=not_authorized calling=STOREONLY command=C-ECHO-RQ' "$T/daemon.log" || fail "no not_authorized log line"
ok "C-ECHO refused (0124) for a peer limited to store"

# SIGHUP reloads the peer list: STRANGER becomes known.
cat >> "$T/dicomaid.conf" <<CONF

[peer stranger]
ae_title = STRANGER
CONF
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 50); do grep -q 'event=reload ' "$T/daemon.log" && break; sleep 0.1; done
echoscu -aet STRANGER -aec DICOMAID 127.0.0.1 "$PORT" || fail "peer added by SIGHUP refused"
ok "SIGHUP reloads peers"

# No patient names at info level, ever.
if grep -qi 'patient_name\|name=' "$T/daemon.log"; then fail "log mentions names"; fi
stop_daemon || fail "exit status"
