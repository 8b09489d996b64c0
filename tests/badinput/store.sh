#!/bin/bash
# C-STORE bad input (PS3.4 B.2.3, PS3.7 9.1.1; the Cxxx statuses are dicomaid's, see
# src/services/store.c): no data set, a data set that cannot be parsed, UIDs that are not
# UIDs (never used in a path), SOP Instance / SOP Class mismatches, the peer aborting or
# vanishing mid data set; then stale .part files removed at start-up. Each failure: the
# status, a one-line log, no file, no index row, no .part left, and the daemon keeps serving.
. "$(dirname "$0")/lib.sh"
DSBYTES="$top_builddir/tests/integration/dsbytes"
SRC="$PYDICOM_FILES/MR_small_implicit.dcm"
[ -f "$SRC" ] || fail "missing $SRC (python3-pydicom)"

start_daemon
P="-pc $MR,$IMPLICIT -pc $VERIFICATION,$IMPLICIT"
AC="AC pcs=1:0,3:0 max_pdu=65536"

# mk NAME UID [dcmodify args...]: a copy of MR_small (implicit VR LE) with SOP Instance UID.
mk() {
	local name=$1 uid=$2
	shift 2
	cp "$SRC" "$T/$name.dcm"
	dcmodify -nb -imt -m "(0008,0018)=$uid" "$@" "$T/$name.dcm" >/dev/null 2>&1 ||
		fail "dcmodify $name"
}

# nothing_stored UID: no file of that instance anywhere in the storage tree, no index row,
# no .part left in incoming/.
nothing_stored() {
	local f
	f=$(find "$T/data" -name "*$1*" | head -n 1)
	[ -z "$f" ] || fail "$1: file left: $f"
	[ "$(sql "select count(*) from instances where sop_instance_uid='$1'")" = 0 ] ||
		fail "$1: index row"
	for _ in $(seq 1 50); do
		[ -z "$(ls "$T/data/incoming")" ] && return 0
		sleep 0.05
	done
	fail "$1: left in incoming/: $(ls "$T/data/incoming")"
}

# A 2 MB instance, stored whole first: its PDUs fill the daemon's max_pdu exactly.
head -c 2097152 /dev/urandom >"$T/pixels"
U=1.2.826.0.1.3680043.9.7777.5
mk big $U.1 -m "(0028,0010)=1024" -m "(0028,0011)=1024" -if "(7fe0,0010)=$T/pixels"
fg big $P assoc store:1:$MR:$U.1:"$T/big.dcm" release
expect big "$AC / STATUS 0x0000 / RELEASED"
stored=$(find "$T/data" -name "$U.1.dcm")
[ -n "$stored" ] || fail "2 MB instance not stored"
cmp <("$DSBYTES" "$T/big.dcm") <("$DSBYTES" "$stored") || fail "2 MB instance differs"
ok "2 MB instance in P-DATA-TF PDUs of exactly max_pdu bytes stored byte-identical"

# store_case NAME UID(command) FILE STATUS LOG-REGEX: one C-STORE that must fail with STATUS,
# followed by a C-ECHO on the same association.
store_case() {
	fg "$1" $P assoc store:1:$MR:"$2":"$3" echo:3 release
	expect "$1" "$AC / STATUS $4 / STATUS 0x0000 / RELEASED"
	logged "$1" "store_failed sop_instance=.* status=$4 why=\".*$5"
}

fg nodata $P assoc store-nodata:1:$MR:$U.2 echo:3 release
expect nodata "$AC / STATUS 0xC000 / STATUS 0x0000 / RELEASED"
logged nodata 'store_failed sop_instance=.* status=0xC000 why="C-STORE-RQ without a data set'
nothing_stored $U.2
ok "C-STORE-RQ without a data set -> C000"

# Garbage: implicit VR "elements" whose lengths run far past the end.
printf 'garbage!%.0s' $(seq 512) >"$T/garbage"
store_case garbage $U.3 "$T/garbage" 0xC000 ''
nothing_stored $U.3
# A well-formed first element header whose length runs past the data set.
printf '\x08\x00\x18\x00\xf0\xff\xff\x7f1.2.3' >"$T/trunc"
store_case trunc $U.4 "$T/trunc" 0xC000 'data set truncated'
nothing_stored $U.4
ok "data sets that cannot be parsed -> C000, no file"

mk mismatch $U.5
store_case mismatch $U.6 "$T/mismatch.dcm" 0xC001 'SOP Instance UID differs'
nothing_stored $U.5
nothing_stored $U.6
ok "SOP Instance UID of the data set differs from the command's -> C001"

mk class $U.7
fg class $P assoc store:1:$CT:$U.7:"$T/class.dcm" echo:3 release
expect class "$AC / STATUS 0x0122 / STATUS 0x0000 / RELEASED"
logged class 'store_failed .*status=0x0122 why="Affected SOP Class differs from the presentation context'
nothing_stored $U.7
ok "Affected SOP Class differs from the context's abstract syntax -> 0122"

# UIDs that are not UIDs: never used in a path.
touch "$T/before"
mk study_dots $U.8 -m "(0020,000D)=../../etc"
store_case study_dots $U.8 "$T/study_dots.dcm" 0xC002 'missing or invalid'
nothing_stored $U.8
mk series_alpha $U.9 -m "(0020,000E)=1.2.abc"
store_case series_alpha $U.9 "$T/series_alpha.dcm" 0xC002 'missing or invalid'
nothing_stored $U.9
mk study_long $U.10 -m "(0020,000D)=1.2.3.4567890123456789012345678901234567890123456789012345678901234"
store_case study_long $U.10 "$T/study_long.dcm" 0xC002 invalid
nothing_stored $U.10
mk study_zero $U.11 -m "(0020,000D)=1.02.3"
store_case study_zero $U.11 "$T/study_zero.dcm" 0xC002 'missing or invalid'
nothing_stored $U.11
mk no_study $U.12 -e "(0020,000D)"
store_case no_study $U.12 "$T/no_study.dcm" 0xC002 'missing or invalid'
nothing_stored $U.12
mk inst_dots ../x
store_case inst_dots ../x "$T/inst_dots.dcm" 0xC002 'Affected SOP Instance UID is not a valid UID'
[ ! -e "$T/x.dcm" ] && [ ! -e "$T/data/x.dcm" ] || fail "../x written"
[ ! -e /tmp/etc ] || [ "$(find /tmp/etc -newer "$T/before" | wc -l)" = 0 ] ||
	fail "something written under /tmp/etc"
[ -z "$(find "$T" -newer "$T/before" -name '*.dcm' ! -path "$T/*.dcm")" ] ||
	fail "files written: $(find "$T" -newer "$T/before" -name '*.dcm' ! -path "$T/*.dcm")"
ok "invalid UIDs (../../etc, 1.2.abc, 65 chars, leading zero, missing, ../x) -> C002, nothing written"

# The peer aborts after 600 kB of the 2 MB data set (past the first 256 kB write), or just
# closes the connection after 100 kB: nothing stored, no .part left.
mk big2 $U.13 -m "(0028,0010)=1024" -m "(0028,0011)=1024" -if "(7fe0,0010)=$T/pixels"
bg abortmid $P assoc store:1:$MR:$U.13:"$T/big2.dcm":600000 waitfile:"$T/go" abort
for _ in $(seq 1 100); do
	[ -n "$(ls "$T/data/incoming")" ] && break
	sleep 0.05
done
[ -n "$(ls "$T/data/incoming"/*.part)" ] || fail "no .part while the data set arrives"
touch "$T/go"
wait_bg abortmid
expect abortmid "$AC / SENT 600000 / WAITED"
sleep 0.2
logged abortmid 'abort_received'
logged abortmid 'closed .*instances=0 outcome=aborted-by-peer'
nothing_stored $U.13
fg vanish $P assoc store:1:$MR:$U.13:"$T/big2.dcm":100000
expect vanish "$AC / SENT 100000"
sleep 0.2
logged vanish 'closed .*instances=0 outcome=connection-lost'
nothing_stored $U.13
ok "A-ABORT / connection lost mid data set -> no file, no .part, no index row"

serves "bad C-STOREs"
[ "$(sql "select count(*) from instances")" = 1 ] || fail "index rows: $(sql "select sop_instance_uid from instances")"
stop_daemon || fail "daemon did not exit 0"

# Stale .part files from a crash are removed at start-up.
echo stale >"$T/data/incoming/crash1.part"
echo stale >"$T/data/incoming/crash2.part"
start_daemon
[ -z "$(ls "$T/data/incoming")" ] || fail "left in incoming/: $(ls "$T/data/incoming")"
grep -q 'event=store_open .*stale_parts=2' "$T/daemon.log" || fail "no stale_parts=2 log line"
serves "start-up with stale parts"
stop_daemon || fail "daemon did not exit 0"
ok "stale .part files removed at start-up (logged), still serving"
