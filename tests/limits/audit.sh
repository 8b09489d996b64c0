#!/bin/bash
# Audit (issue 8): association starts and ends, rejects and every failed DIMSE status are
# in the associations table and the log, without patient names. Refusals covered here: an
# unknown calling AE and a known one from the wrong host (RJ 1/1/3, PS3.8 Table 9-21), a
# C-STORE from a peer not allowed to store (0124 Not Authorized, PS3.7 C.5.9) and UIDs
# crafted for path traversal (C002, nothing written outside the store).
. "$(dirname "$0")/lib.sh"

IDLE=30 EXTRA_CONFIG='
[access]
require_known_peers = yes

[peer raw]
ae_title = RAWPEER
host = 127.0.0.1

[peer readonly]
ae_title = READONLY
services = echo

[peer far]
ae_title = FAR
host = 127.0.0.2
' start_daemon

MR_FILE="$PYDICOM_FILES/MR_small_implicit.dcm"
PNAME=$(dcmdump -q +P 0010,0010 "$MR_FILE" | sed 's/.*\[\(.*\)\].*/\1/')
U=1.2.826.0.1.3680043.9.7777.10

bg hold -t 30000 assoc echo waitfile:"$T/go" echo release
wait_statuses 1 "$T/hold.out"

fg stranger -aet STRANGER assoc
expect stranger "RJ result=1 source=1 reason=3"
logged stranger 'rejected peer=127.0.0.1 calling=STRANGER .*result=1 source=1 reason=3'
fg wronghost -aet FAR assoc
expect wronghost "RJ result=1 source=1 reason=3"
logged wronghost 'rejected peer=127.0.0.1 calling=FAR .*result=1 source=1 reason=3'
audit_outcome "calling_ae='STRANGER' and outcome='rejected' and detail='RJ 1/1/3 calling AE title not recognized' and ended_at>=started_at" 1
audit_outcome "calling_ae='FAR' and peer='127.0.0.1' and outcome='rejected' and detail='RJ 1/1/3 calling AE title not recognized'" 1
ok "unknown calling AE, calling AE from the wrong host -> RJ 1/1/3, logged and audited"

cp "$MR_FILE" "$T/ro.dcm"
dcmodify -nb -m "(0008,0018)=$U.1" "$T/ro.dcm" >/dev/null 2>&1 || fail dcmodify
fg ro -aet READONLY -pc $MR,$IMPLICIT -pc $VERIFICATION,$IMPLICIT assoc \
	store:1:$MR:$U.1:"$T/ro.dcm" echo:3 release
expect ro "AC pcs=1:0,3:0 max_pdu=65536 / STATUS 0x0124 / STATUS 0x0000 / RELEASED"
logged ro "failed_status command=C-STORE-RSP msg_id=1 status=0x0124 sop_class=$MR sop_instance=$U.1"
[ -z "$(find "$T/data" -name "$U.1*")" ] || fail "refused instance written"
ok "C-STORE from a peer without the store service -> 0124, logged"

cp "$MR_FILE" "$T/dots.dcm"
dcmodify -nb -m "(0008,0018)=$U.2" -m "(0020,000D)=../../etc" "$T/dots.dcm" >/dev/null 2>&1 || fail dcmodify
cp "$MR_FILE" "$T/inst.dcm"
dcmodify -nb -m "(0008,0018)=../x" "$T/inst.dcm" >/dev/null 2>&1 || fail dcmodify
fg trav -pc $MR,$IMPLICIT assoc store:1:$MR:$U.2:"$T/dots.dcm" store:1:$MR:../x:"$T/inst.dcm" release
expect trav "AC pcs=1:0 max_pdu=65536 / STATUS 0xC002 / STATUS 0xC002 / RELEASED"
logged trav "failed_status command=C-STORE-RSP msg_id=1 status=0xC002 sop_class=$MR sop_instance=$U.2"
logged trav "failed_status command=C-STORE-RSP msg_id=2 status=0xC002 sop_class=$MR sop_instance=../x"
[ ! -e "$T/x.dcm" ] && [ ! -e "$T/data/x.dcm" ] && [ ! -e "$T/etc" ] || fail "path traversal wrote outside"
[ -z "$(find "$T" -name "$U.2*")" ] || fail "instance with ../../etc study written"
ok "UIDs crafted for path traversal -> C002, nothing written, logged"

touch "$T/go"
wait_bg hold
expect hold "AC pcs=1:0 max_pdu=65536 / STATUS 0x0000 / WAITED / STATUS 0x0000 / RELEASED"
stop_daemon || fail "daemon did not exit 0"

# Every connection is one row, begun and ended; the failures are counted and detailed.
n_conn=$(grep -c 'event=connected' "$T/daemon.log")
[ "$(sql "select count(*) from associations where ended_at is not null and outcome is not null")" = "$n_conn" ] ||
	fail "$(sql 'select count(*) from associations') rows for $n_conn connections"
[ "$(sql "select failures from associations where calling_ae='READONLY'")" = 1 ] || fail "READONLY failures"
[ "$(sql "select group_concat(status||' '||sop_instance_uid, ',') from dimse_failures f join associations a on a.id = f.association_ref where a.calling_ae='RAWPEER' and a.failures=2 order by f.id")" = \
	"$((0xC002)) $U.2,$((0xC002)) ../x" ] || fail "dimse_failures: $(sql 'select * from dimse_failures')"
[ "$(sql "select count(*) from dimse_failures")" = 3 ] || fail "expected 3 dimse_failures rows"
[ "$(grep -c 'event=failed_status' "$T/daemon.log")" = 3 ] || fail "expected 3 failed_status log lines"
! grep -qF "$PNAME" "$T/daemon.log" || fail "patient name in the log"
! sqlite3 "$T/data/index.sqlite" "select * from associations; select * from dimse_failures;" | grep -qF "$PNAME" ||
	fail "patient name in the audit"
ok "every connection audited once; 3 failed statuses in dimse_failures and the log; no patient name"
