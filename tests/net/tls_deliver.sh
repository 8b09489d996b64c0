#!/bin/bash
# Result delivery over TLS: a [destination] with tls = yes gets the analysis result (the SR)
# from a daemon with no TLS port of its own (only tls_certificate, tls_key and tls_ca, for
# the outbound side), through a storescp +tls that requires our client certificate; a
# second TLS destination whose certificate is from another CA gets nothing, and the failed
# handshake is logged.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/net/tls_lib.sh"
FIX="$top_srcdir/tests/analysis/fixtures/sim"
ANALYSIS=yes

make_pki
PACS_PORT=$(( $(pick_port) + 2 ))
ROGUE_PORT=$((PACS_PORT + 1))
trap 'rc=$?; set +e; kill ${SCP_PID_pacs:-} ${SCP_PID_rogue:-} 2>/dev/null; (exit $rc); cleanup' EXIT
start_tls_scp pacs PACS client "$PACS_PORT"
start_tls_scp rogue PACS rogue "$ROGUE_PORT"

eval "plain_$(declare -f write_config)"
write_config() {
	plain_write_config
	sed -i "/^\[server\]/a tls_certificate = $P/server.crt\ntls_key = $P/server.key\ntls_ca = $P/ca.crt" \
		"$T/dicomaid.conf"
}
EXTRA_CONFIG="
[analysis]
stable_seconds = 1
workers = 1

[destination pacs]
ae_title = PACS
host = 127.0.0.1
port = $PACS_PORT
tls = yes

[destination rogue]
ae_title = PACS
host = 127.0.0.1
port = $ROGUE_PORT
tls = yes
" start_daemon
! grep -q 'event=tls_listening' "$T/daemon.log" || fail "a TLS port without tls_port"

storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$FIX"/*.dcm || fail "storescu"
sr=
for _ in $(seq 1 120); do
	sr=$(grep -l '1.2.840.10008.5.1.4.1.1.88.34' "$T"/pacs/* 2>/dev/null | head -1) || true
	[ -n "$sr" ] && break
	sleep 0.5
done
[ -n "$sr" ] || { cat "$T/pacs.log"; fail "no SR reached the TLS destination"; }
dsrdump "$sr" >/dev/null 2>&1 || fail "the delivered SR does not read"
grep -qE 'scu=[0-9]+ event=tls_established host=127.0.0.1 port='"$PACS_PORT" "$T/daemon.log" ||
	fail "no TLS delivery logged"
ok "SR delivered over TLS to storescp +tls"

for _ in $(seq 1 100); do
	grep -qE 'scu=[0-9]+ event=tls_failed host=127.0.0.1 port='"$ROGUE_PORT"' why="certificate verify failed' \
		"$T/daemon.log" && break
	sleep 0.1
done
grep -qE 'scu=[0-9]+ event=tls_failed host=127.0.0.1 port='"$ROGUE_PORT"' why="certificate verify failed' \
	"$T/daemon.log" || fail "no tls_failed for the untrusted destination"
[ -z "$(ls "$T/rogue")" ] || fail "the untrusted destination received something"
ok "untrusted TLS destination: handshake refused, nothing sent"
stop_daemon || fail "daemon exit status"
