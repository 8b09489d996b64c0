#!/bin/bash
# Interop with real dcmtk peers (echoscu, storescu, dump2dcm, dcmdump from Debian's dcmtk):
# tests/dimse/mini_scp answers through the dimse layer (dimse_rx for reassembly, dimse_tx and
# the builders for responses). Checks that dcmtk accepts our C-ECHO-RSP and C-STORE-RSP
# (exit status 0), that a 100 KB data set arrives intact through many PDVs, and that mini_scp
# saw orderly releases with no DIMSE error.
set -u
top_builddir=${top_builddir:-.}
scp="$top_builddir/tests/dimse/mini_scp"
for tool in echoscu storescu dump2dcm dcmdump; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool not installed (Debian package dcmtk)"; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/dimse_interop.XXXXXX")
scp_pid=
cleanup() {
	[ -n "$scp_pid" ] && jobs -p | grep -qx "$scp_pid" && kill "$scp_pid" 2>/dev/null
	rm -rf "$work"
}
[ -n "${KEEP:-}" ] && echo "work=$work" || trap cleanup EXIT
fail() { echo "FAIL: $*"; sed 's/^/  scp: /' "$work/scp.log" 2>/dev/null; exit 1; }

# a data set larger than several 16 KiB PDUs: a 100000-character Text Value (0040,A160) UT
{
	echo '(0008,0016) UI =MRImageStorage'
	echo '(0008,0018) UI [1.2.826.0.1.3680043.10.99.1]'
	echo '(0010,0010) PN [Interop^Test]'
	printf '(0040,a160) UT ['
	head -c 100000 /dev/zero | tr '\0' 'x'
	echo ']'
} > "$work/in.dump"
dump2dcm +te --line 200000 "$work/in.dump" "$work/in.dcm" 2>/dev/null || fail "dump2dcm"

mkdir "$work/out"
"$scp" "$work/port" "$work/out" 3 2> "$work/scp.log" &
scp_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "mini_scp did not start"
port=$(cat "$work/port")
export TCP_NODELAY=1

echoscu -to 10 -aet DIMSETEST -aec MINISCP 127.0.0.1 "$port" || fail "echoscu exit $?"
storescu -xe -to 10 -aet DIMSETEST -aec MINISCP 127.0.0.1 "$port" "$work/in.dcm" || fail "storescu exit $?"
# a small maximum PDU on the requestor side must not matter for our responses
echoscu -to 10 --max-pdu 4096 -aet DIMSETEST -aec MINISCP 127.0.0.1 "$port" || fail "echoscu (4096) exit $?"

wait "$scp_pid"
rc=$?
scp_pid=
[ "$rc" -eq 0 ] || fail "mini_scp exit $rc"
grep -q 'C-ECHO-RQ msg_id=' "$work/scp.log" || fail "no C-ECHO-RQ logged"
grep -q 'C-STORE-RQ msg_id=.*instance=1.2.826.0.1.3680043.10.99.1 ' "$work/scp.log" || fail "no C-STORE-RQ logged"
[ -s "$work/out/0.ds" ] || fail "no data set received"
dcmdump -f "$work/out/0.ds" > "$work/out.txt" 2>&1 || fail "dcmdump of received data set"
grep -q '1.2.826.0.1.3680043.10.99.1' "$work/out.txt" || fail "SOP Instance UID not in received data set"
# -xe: Explicit VR Little Endian accepted, the file's own syntax, so the received data set
# is byte for byte the file after its meta header
size=$(stat -c %s "$work/out/0.ds")
[ "$size" -gt 100000 ] || fail "data set only $size bytes"
tail -c "$size" "$work/in.dcm" | cmp -s - "$work/out/0.ds" || fail "received data set differs from the file"
echo "PASS: echoscu x2 and storescu against dimse (data set of $size bytes identical)"
