#!/bin/bash
# DICOM TLS (PS3.15 B.1, BCP 195 profile) against dcmtk's echoscu/storescu/storescp +tls:
# certificates made here with openssl (a CA, server and client certificates, and an
# unrelated CA with its own client certificate); the configuration checks; echo and store
# over TLS while the plain port keeps serving; a client certificate from the wrong CA and
# no client certificate refused (logged, audited, daemon still serving), accepted without
# one when tls_verify_peer = no; a handshake not done within ARTIM dropped; the protocol
# floor (no TLS 1.1, no non-BCP 195 suite); a reload cannot turn a peer to TLS without a CA;
# outbound TLS: dicomaidctl echo to a [peer] with tls = yes (ourselves), C-MOVE to a
# storescp +tls, and C-MOVEs to TLS peers whose certificate we do not trust or that names
# another host.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/net/tls_lib.sh"
CTL="$top_builddir/src/dicomaidctl"
F=$PYDICOM_FILES

make_pki
ok "certificates made (CA, server, client; other CA, rogue client)"

# The test's [server] block gains the TLS keys; TLS_PORT follows PORT (start_daemon retries);
# extra_config prints sections to add (they may name $TLS_PORT).
eval "plain_$(declare -f write_config)"
extra_config() { :; }
write_config() {
	TLS_PORT=$((PORT + 1))
	EXTRA_CONFIG=$(extra_config) plain_write_config
	[ "${NO_TLS:-no}" = yes ] && return 0
	sed -i "/^\[server\]/a tls_port = $TLS_PORT\ntls_certificate = $P/server.crt\ntls_key = $P/server.key\ntls_ca = $P/ca.crt\ntls_verify_peer = ${VERIFY:-yes}" \
		"$T/dicomaid.conf"
}

# ---- configuration checks ------------------------------------------------------------
PORT=$(pick_port)
write_config
"$DICOMAID" --check-config -c "$T/dicomaid.conf" >/dev/null || fail "--check-config of a good TLS config"
# check_bad PATTERN: --check-config must fail with one "file:line: ..." line matching it.
check_bad() {
	local rc=0
	"$DICOMAID" --check-config -c "$T/bad.conf" >"$T/check.out" 2>&1 || rc=$?
	[ $rc = 1 ] || { cat "$T/check.out"; fail "bad config ($1): exit $rc"; }
	[ "$(wc -l < "$T/check.out")" = 1 ] || { cat "$T/check.out"; fail "bad config ($1): not one line"; }
	grep -qE "^$T/bad.conf:[0-9]+: .*$1" "$T/check.out" || { cat "$T/check.out"; fail "bad config: expected '$1'"; }
}
sed "s|^tls_key = .*|tls_key = $P/nosuch.key|" "$T/dicomaid.conf" > "$T/bad.conf"
check_bad "tls_key $P/nosuch.key: No such file"
line=$(grep -n '^tls_key' "$T/bad.conf" | cut -d: -f1)
grep -q "^$T/bad.conf:$line: " "$T/check.out" || { cat "$T/check.out"; fail "not the tls_key line ($line)"; }
sed "s|^tls_key = .*|tls_key = $P/client.key|" "$T/dicomaid.conf" > "$T/bad.conf"
check_bad "does not match tls_certificate"
sed "s|^tls_ca = .*|tls_ca = $P/client.csr|" "$T/dicomaid.conf" > "$T/bad.conf"
check_bad "tls_ca .*not a PEM certificate"
sed "s|^tls_certificate = .*|tls_certificate = $P/server.ext|" "$T/dicomaid.conf" > "$T/bad.conf"
check_bad "tls_certificate .*not a PEM certificate"
grep -v '^tls_certificate\|^tls_key' "$T/dicomaid.conf" > "$T/bad.conf"
check_bad "server.tls_port: needs tls_certificate and tls_key"
grep -v '^tls_ca' "$T/dicomaid.conf" > "$T/bad.conf"
check_bad "tls_verify_peer: needs tls_ca"
printf '[server]\nport = 104\n[peer x]\nae_title = X\ntls = yes\n' > "$T/bad.conf"
check_bad "\[peer x\] tls = yes needs \[server\] tls_ca"
ok "configuration: bad paths, mismatched key, bad CA, missing certificate/CA refused as file:line"

# ---- inbound -------------------------------------------------------------------------
start_daemon
grep -q "event=tls_listening .*tls_port=$TLS_PORT verify_peer=yes" "$T/daemon.log" || fail "no TLS listener"
TLS_OPTS=(+tls "$P/client.key" "$P/client.crt" +cf "$P/ca.crt")

echoscu "${TLS_OPTS[@]}" -aec DICOMAID 127.0.0.1 "$TLS_PORT" || fail "echoscu +tls"
grep -q 'event=tls_established .*tls="TLSv1.[23] ' "$T/daemon.log" || fail "no tls_established line"
echoscu -aec DICOMAID 127.0.0.1 "$PORT" || fail "plain echoscu alongside TLS"
# A plain client on the TLS port does not get an association (its A-ASSOCIATE-RQ is not a
# TLS ClientHello).
! echoscu -aec DICOMAID 127.0.0.1 "$TLS_PORT" >/dev/null 2>&1 || fail "plain echo on the TLS port worked"
ok "C-ECHO over TLS; plain C-ECHO on the plain port; plain client refused on the TLS port"

mkdir -p "$T/in"
for i in 1 2 3; do
	cp "$F/CT_small.dcm" "$T/in/ct$i.dcm"
	dcmodify -nb -m "(0008,0018)=1.2.826.0.1.3680043.9.7777.77.$i" "$T/in/ct$i.dcm" >/dev/null 2>&1 || fail dcmodify
done
storescu "${TLS_OPTS[@]}" -aet MODALITY -aec DICOMAID 127.0.0.1 "$TLS_PORT" "$T"/in/*.dcm || fail "storescu +tls"
n=$(sql "SELECT count(*) FROM instances WHERE sop_instance_uid LIKE '1.2.826.0.1.3680043.9.7777.77.%'")
[ "$n" = 3 ] || fail "stored over TLS: $n of 3 in the index"
for i in 1 2 3; do
	f=$(sql "SELECT file_path FROM instances WHERE sop_instance_uid = '1.2.826.0.1.3680043.9.7777.77.$i'")
	[ -f "$T/data/$f" ] || fail "stored file missing: $f"
done
ok "C-STORE over TLS: 3 instances indexed and on disk"

# A large instance (8 MiB of pixel data: many TLS records, PDUs split across them), in a
# large PDU; stored byte for byte.
DSBYTES="$top_builddir/tests/integration/dsbytes"
/usr/bin/python3 - "$F/CT_small.dcm" "$T/big.dcm" <<'PY' || fail "making the large instance"
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.Rows = ds.Columns = 2048
ds.PixelData = bytes((i * 7) & 0xff for i in range(256)) * (2048 * 2048 * 2 // 256)
ds.SOPInstanceUID = "1.2.826.0.1.3680043.9.7777.78.1"
if 0xFFFCFFFC in ds:
    del ds[0xFFFCFFFC]  # trailing padding: dcmtk does not send it
ds.save_as(sys.argv[2])
PY
storescu "${TLS_OPTS[@]}" -pdu 131072 -aet MODALITY -aec DICOMAID 127.0.0.1 "$TLS_PORT" "$T/big.dcm" ||
	fail "storescu +tls of the large instance"
f=$(sql "SELECT file_path FROM instances WHERE sop_instance_uid = '1.2.826.0.1.3680043.9.7777.78.1'")
[ -n "$f" ] || fail "large instance not indexed"
cmp <("$DSBYTES" "$T/big.dcm") <("$DSBYTES" "$T/data/$f") || fail "large instance stored differently"
ok "C-STORE over TLS of an 8 MiB instance: stored byte for byte"

# wait_log PATTERN: the daemon logged it (within 5 s).
wait_log() {
	for _ in $(seq 1 100); do grep -qE "$1" "$T/daemon.log" && return 0; sleep 0.05; done
	fail "not logged: $1"
}
# A client certificate from another CA.
! echoscu +tls "$P/rogue.key" "$P/rogue.crt" +cf "$P/ca.crt" -aec DICOMAID 127.0.0.1 "$TLS_PORT" \
	>"$T/rogue.out" 2>&1 || fail "rogue client certificate accepted"
wait_log 'event=tls_failed peer=127.0.0.1 stage=handshake why="certificate verify failed'
kill -0 "$DAEMON_PID" || fail "daemon died"
echoscu "${TLS_OPTS[@]}" -aec DICOMAID 127.0.0.1 "$TLS_PORT" || fail "good echo after a rejected one"
# No client certificate at all.
! echoscu +tla +cf "$P/ca.crt" -aec DICOMAID 127.0.0.1 "$TLS_PORT" >"$T/anon.out" 2>&1 \
	|| fail "client without a certificate accepted with tls_verify_peer = yes"
wait_log 'event=tls_failed .*why="peer did not return a certificate"'
# Both are audited as connections without an association (as is the plain client above).
audited() {
	sql "SELECT count(*) FROM associations WHERE outcome = 'tls-handshake-failed' AND
	     calling_ae = '' AND detail LIKE 'TLS: $1%'"
}
for _ in $(seq 1 50); do
	[ "$(audited 'certificate verify failed')$(audited 'peer did not return')" = 11 ] && break
	sleep 0.1
done
[ "$(audited 'certificate verify failed')" = 1 ] || fail "no audit row for the wrong-CA client"
[ "$(audited 'peer did not return')" = 1 ] || fail "no audit row for the client without certificate"
# The client must verify us too: a client trusting only the other CA gives up.
! echoscu "${TLS_OPTS[@]/$P\/ca.crt/$P/otherca.crt}" -aec DICOMAID 127.0.0.1 "$TLS_PORT" \
	>/dev/null 2>&1 || fail "client trusting another CA connected"
echoscu "${TLS_OPTS[@]}" -aec DICOMAID 127.0.0.1 "$TLS_PORT" || fail "echo after the refusals"
ok "wrong-CA and missing client certificates refused, logged, audited; daemon keeps serving"

# The protocol floor: TLS 1.1 and a TLS 1.2 suite outside BCP 195 are refused; TLS 1.2
# with a BCP 195 suite works.
s_client() {
	timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -CAfile "$P/ca.crt" \
		-cert "$P/client.crt" -key "$P/client.key" "$@" </dev/null >"$T/s_client.out" 2>&1
}
s_client -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 || { cat "$T/s_client.out"; fail "TLS 1.2 BCP 195 suite"; }
grep -q 'Cipher is ECDHE-RSA-AES128-GCM-SHA256' "$T/s_client.out" || { cat "$T/s_client.out"; fail "TLS 1.2 suite"; }
! s_client -tls1_2 -cipher AES128-SHA || fail "TLS 1.2 with AES128-SHA (not BCP 195) accepted"
! s_client -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' || fail "TLS 1.1 accepted"
kill -0 "$DAEMON_PID" || fail "daemon died"
ok "TLS 1.2 with a BCP 195 suite; TLS 1.1 and non-BCP 195 suites refused"
stop_daemon || fail "daemon exit status"

# ---- tls_verify_peer = no: no client certificate needed ---------------------------------
VERIFY=no ARTIM=2 start_daemon
echoscu +tla +cf "$P/ca.crt" -aec DICOMAID 127.0.0.1 "$TLS_PORT" || fail "anonymous client with tls_verify_peer = no"
ok "tls_verify_peer = no: a client without a certificate is served"
# A client that connects and never starts the handshake is dropped after ARTIM.
exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT"
wait_log 'event=tls_failed peer=127.0.0.1 why="handshake not complete in 2 s"'
exec 3<&-
for _ in $(seq 1 50); do
	n=$(sql "SELECT count(*) FROM associations WHERE outcome = 'tls-handshake-timeout'")
	[ "$n" = 1 ] && break; sleep 0.1
done
[ "$n" = 1 ] || fail "no audit row for the handshake timeout"
echoscu +tla +cf "$P/ca.crt" -aec DICOMAID 127.0.0.1 "$TLS_PORT" || fail "echo after the timeout"
stop_daemon || fail "daemon exit status"
ok "a handshake not complete within ARTIM is dropped, logged and audited"

# ---- outbound: [peer] tls = yes ------------------------------------------------------
DEST_PORT=$(( $(pick_port) + 2 ))
BAD_PORT=$((DEST_PORT + 1))
NAME_PORT=$((DEST_PORT + 3))
extra_config() {
	cat <<CONF
[peer self]
ae_title = DICOMAID
host = 127.0.0.1
port = $TLS_PORT
tls = yes

[peer archive]
ae_title = ARCHIVE
host = 127.0.0.1
port = $DEST_PORT
tls = yes

[peer rogue]
ae_title = ROGUE
host = 127.0.0.1
port = $BAD_PORT
tls = yes

[peer misnamed]
ae_title = MISNAMED
host = 127.0.0.1
port = $NAME_PORT
tls = yes
CONF
}
start_daemon
storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$T"/in/*.dcm || fail "plain storescu"

# dicomaidctl echo: the daemon calls its own TLS port as a TLS client.
"$CTL" -c "$T/dicomaid.conf" echo self >"$T/ctl.out" 2>&1 || { cat "$T/ctl.out"; fail "ctl echo self over TLS"; }
wait_log 'scu=[0-9]+ event=tls_established host=127.0.0.1'
ok "outbound C-ECHO over TLS (dicomaidctl echo to a [peer] with tls = yes)"

# C-MOVE to a storescp +tls that trusts our CA and presents a certificate from it, and to
# one whose certificate is from the other CA (writing to the same folder).
trap 'rc=$?; set +e; kill ${SCP_PID_archive:-} ${SCP_PID_rogue:-} ${SCP_PID_misnamed:-} 2>/dev/null; (exit $rc); cleanup' EXIT
start_tls_scp archive ARCHIVE client "$DEST_PORT"
start_tls_scp rogue ROGUE rogue "$BAD_PORT"
start_tls_scp misnamed MISNAMED misnamed "$NAME_PORT"
movescu -v -aet PACS -aec DICOMAID -aem ARCHIVE -S 127.0.0.1 "$PORT" -k QueryRetrieveLevel=IMAGE \
	-k StudyInstanceUID="$(dcmdump -q +P 0020,000d "$F/CT_small.dcm" | sed 's/.*\[\(.*\)\].*/\1/')" \
	-k SeriesInstanceUID="$(dcmdump -q +P 0020,000e "$F/CT_small.dcm" | sed 's/.*\[\(.*\)\].*/\1/')" \
	-k "SOPInstanceUID=1.2.826.0.1.3680043.9.7777.77.1\\1.2.826.0.1.3680043.9.7777.78.1" \
	>"$T/move.out" 2>&1 || { cat "$T/move.out"; fail "movescu to a TLS peer"; }
n=$(ls "$T/archive" | wc -l)
[ "$n" = 2 ] || { cat "$T/move.out" "$T/archive.log"; fail "storescp +tls received $n of 2"; }
big=$(ls "$T"/archive/*1.2.826.0.1.3680043.9.7777.78.1*) || fail "the large instance did not arrive"
cmp <("$DSBYTES" "$T/big.dcm") <("$DSBYTES" "$big") || fail "the large instance arrived different"
grep -q 'Final Move Response (Success)' "$T/move.out" || { cat "$T/move.out"; fail "move status"; }
ok "C-MOVE sub-association over TLS to storescp +tls: 2 instances (one of 8 MiB) received intact"

# move_refused AE NAME PORT WHY: a C-MOVE of one instance to the TLS peer AE (storescp NAME on
# PORT) ends in failure, the log names the reason WHY, and the peer received nothing.
move_refused() {
	movescu -v -aet PACS -aec DICOMAID -aem "$1" -S 127.0.0.1 "$PORT" -k QueryRetrieveLevel=IMAGE \
		-k StudyInstanceUID="$(dcmdump -q +P 0020,000d "$F/CT_small.dcm" | sed 's/.*\[\(.*\)\].*/\1/')" \
		-k SeriesInstanceUID="$(dcmdump -q +P 0020,000e "$F/CT_small.dcm" | sed 's/.*\[\(.*\)\].*/\1/')" \
		-k "SOPInstanceUID=1.2.826.0.1.3680043.9.7777.77.3" >"$T/move_$2.out" 2>&1 || true
	grep -q 'Final Move Response' "$T/move_$2.out" && ! grep -q 'Final Move Response (Success)' "$T/move_$2.out" \
		|| { cat "$T/move_$2.out"; fail "move to $1 not failed"; }
	wait_log 'scu=[0-9]+ event=tls_failed host=127.0.0.1 port='"$3"' why="'"$4"
	[ -z "$(ls "$T/$2")" ] || fail "$1 received something"
	kill -0 "$DAEMON_PID" || fail "daemon died"
}
move_refused ROGUE rogue "$BAD_PORT" 'certificate verify failed'
ok "C-MOVE to a TLS peer with an untrusted certificate fails, logged"

# A certificate from the trusted CA that names another host (RFC 6125) is refused too.
move_refused MISNAMED misnamed "$NAME_PORT" 'certificate verify failed \(IP address mismatch\)'
ok "C-MOVE to a TLS peer whose certificate names another host fails, logged"

stop_daemon || fail "daemon exit status"
kill $SCP_PID_archive $SCP_PID_rogue $SCP_PID_misnamed 2>/dev/null || true
wait $SCP_PID_archive $SCP_PID_rogue $SCP_PID_misnamed 2>/dev/null || true

# ---- reload: renewed certificate files serve new connections; a broken renewal is refused
extra_config() { :; }
start_daemon
served_cn() {
	timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -CAfile "$P/ca.crt" \
		-cert "$P/client.crt" -key "$P/client.key" </dev/null 2>/dev/null |
		openssl x509 -noout -subject | sed 's/.*CN *= *//'
}
[ "$(served_cn)" = server ] || fail "served certificate before the renewal: $(served_cn)"
cp "$P/server.crt" "$P/server.crt.orig"
cp "$P/server.key" "$P/server.key.orig"
mkcert renewed ca
cp "$P/renewed.crt" "$P/server.crt"       # the key not yet replaced: they do not match
rc=0; "$CTL" -c "$T/dicomaid.conf" reload >"$T/ctl.out" 2>&1 || rc=$?
[ $rc = 1 ] || { cat "$T/ctl.out"; fail "reload with a mismatched key: exit $rc"; }
grep -q "dicomaid.conf:[0-9]*: tls_key .*does not match tls_certificate" "$T/ctl.out" ||
	{ cat "$T/ctl.out"; fail "reload message for a mismatched key"; }
[ "$(served_cn)" = server ] || fail "served certificate after a refused reload: $(served_cn)"
cp "$P/renewed.key" "$P/server.key"
kill -HUP "$DAEMON_PID"
wait_log 'event=tls_reloaded server=yes client=yes verify_peer=yes'
[ "$(served_cn)" = renewed ] || fail "served certificate after the renewal: $(served_cn)"
echoscu +tls "$P/client.key" "$P/client.crt" +cf "$P/ca.crt" -aec DICOMAID 127.0.0.1 "$TLS_PORT" ||
	fail "echo over TLS after the renewal"
stop_daemon || fail "daemon exit status"
mv "$P/server.crt.orig" "$P/server.crt"
mv "$P/server.key.orig" "$P/server.key"
ok "SIGHUP reads the TLS files anew (renewed certificate served); a mismatched renewal is refused and the old one kept"

# ---- reload: a peer cannot turn to TLS when no tls_ca was loaded at start-up -------------
extra_config() { :; }
NO_TLS=yes start_daemon
! grep -q "event=tls_listening" "$T/daemon.log" || { cat "$T/dicomaid.conf" "$T/daemon.log"; fail "TLS listener without tls_port"; }
sed -i "/^\[server\]/a tls_ca = $P/ca.crt" "$T/dicomaid.conf"
printf '\n[peer archive]\nae_title = ARCHIVE\nhost = 127.0.0.1\nport = %s\ntls = yes\n' "$DEST_PORT" \
	>> "$T/dicomaid.conf"
"$DICOMAID" --check-config -c "$T/dicomaid.conf" >/dev/null || fail "the reloaded file is valid"
rc=0; "$CTL" -c "$T/dicomaid.conf" reload >"$T/ctl.out" 2>&1 || rc=$?
[ $rc = 1 ] || { cat "$T/ctl.out"; fail "reload turning a peer to TLS: exit $rc"; }
grep -q "dicomaid.conf:[0-9]*: \[peer archive\] tls = yes, but no tls_ca was loaded at start-up" \
	"$T/ctl.out" || { cat "$T/ctl.out"; fail "reload message"; }
echoscu -aec DICOMAID 127.0.0.1 "$PORT" || fail "daemon after the refused reload"
stop_daemon || fail "daemon exit status"
ok "reload refuses tls = yes on a peer without a CA loaded at start-up"
grep -q 'ERROR: AddressSanitizer\|runtime error:' "$T/daemon.log" && fail "sanitizer report"
ok "done"
