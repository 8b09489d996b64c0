#!/bin/bash
# Interop as an SCU against dcmtk's storescp: tests/dimse/mini_scu sends C-ECHO-RQ and a
# C-STORE-RQ with a 100 KB data set framed by dimse_tx (storescp announces a 4096-byte Maximum
# Length, so the data set goes out in ~25 PDUs) and reads the responses through dimse_rx.
# Checks: both responses Success, and the file storescp wrote holds our data set byte for byte.
set -u
top_builddir=${top_builddir:-.}
scu="$top_builddir/tests/dimse/mini_scu"
for tool in storescp dump2dcm dcmdump od; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool not installed (Debian package dcmtk)"; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/dimse_scu.XXXXXX")
scp_pid=
cleanup() {
	[ -n "$scp_pid" ] && jobs -p | grep -qx "$scp_pid" && kill "$scp_pid" 2>/dev/null && wait "$scp_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; sed 's/^/  /' "$work"/*.log 2>/dev/null; exit 1; }

class=1.2.840.10008.5.1.4.1.1.4
inst=1.2.826.0.1.3680043.10.99.2
{
	echo "(0008,0016) UI [$class]"
	echo "(0008,0018) UI [$inst]"
	echo '(0010,0010) PN [Interop^Scu]'
	printf '(0040,a160) UT ['
	head -c 100000 /dev/zero | tr '\0' 'y'
	echo ']'
} > "$work/in.dump"
dump2dcm +te --line 200000 "$work/in.dump" "$work/in.dcm" 2>/dev/null || fail "dump2dcm"

# Data set size of a Part 10 file: file size - 144 - (0002,0000) value
ds_size() {
	local gl
	gl=$(od -An -tu4 -j140 -N4 "$1" | tr -d ' ')
	echo $(( $(stat -c %s "$1") - 144 - gl ))
}

mkdir "$work/rcv"
for attempt in 1 2 3 4 5; do
	port=$(( 20000 + RANDOM % 30000 ))
	storescp --max-pdu 4096 -aet STORESCP -od "$work/rcv" "$port" 2> "$work/storescp.log" &
	scp_pid=$!
	sleep 0.3
	kill -0 "$scp_pid" 2>/dev/null && break
	scp_pid=
done
[ -n "$scp_pid" ] || fail "storescp did not start"

"$scu" "$port" STORESCP "$class" "$inst" "$work/in.dcm" 2> "$work/scu.log" || fail "mini_scu exit $?"
grep -q "peer max length 4096" "$work/scu.log" || fail "storescp did not announce 4096"
grep -q 'C-ECHO-RSP responding_to=1 status=0x0000' "$work/scu.log" || fail "no C-ECHO-RSP"
grep -q "C-STORE-RSP responding_to=2 status=0x0000 class=$class instance=$inst" "$work/scu.log" || fail "no C-STORE-RSP"

out=$(ls "$work"/rcv/* 2>/dev/null | head -1)
[ -n "$out" ] || fail "storescp stored nothing"
dcmdump "$out" 2>&1 | grep -q "$inst" || fail "stored file lacks the SOP Instance UID"
n=$(ds_size "$work/in.dcm")
m=$(ds_size "$out")
[ "$n" = "$m" ] || fail "data set sizes differ: sent $n, stored $m"
cmp -s <(tail -c "$n" "$work/in.dcm") <(tail -c "$m" "$out") || fail "stored data set differs"
echo "PASS: mini_scu -> storescp: C-ECHO and C-STORE of $n bytes"
