#!/bin/bash
# [storage] max_instance_size (issue 8): a data set larger than the limit is read to its
# end and dropped, the C-STORE answered A700 (PS3.4 B.2.3, Refused: Out of Resources),
# nothing of it left on disk or in the index, and the association goes on. Audit: the
# failed status is logged (event=failed_status) and recorded (associations.failures, a
# dimse_failures row), with UIDs only, never the patient's name.
. "$(dirname "$0")/lib.sh"

IDLE=30 STORAGE_EXTRA='max_instance_size = 1M' start_daemon

MR_FILE="$PYDICOM_FILES/MR_small_implicit.dcm"
PNAME=$(dcmdump -q +P 0010,0010 "$MR_FILE" | sed 's/.*\[\(.*\)\].*/\1/')
[ -n "$PNAME" ] || fail "no patient name in $MR_FILE"
UID1=1.2.826.0.1.3680043.9.7777.8.1
UID2=1.2.826.0.1.3680043.9.7777.8.2
UID3=1.2.826.0.1.3680043.9.7777.8.3
cp "$MR_FILE" "$T/big.dcm"
head -c 2097152 /dev/urandom >"$T/pixels"
dcmodify -nb -m "(0008,0018)=$UID1" -m "(0028,0010)=1024" -m "(0028,0011)=1024" \
	-if "(7fe0,0010)=$T/pixels" "$T/big.dcm" >/dev/null 2>&1 || fail dcmodify
cp "$MR_FILE" "$T/small.dcm"
dcmodify -nb -m "(0008,0018)=$UID2" "$T/small.dcm" >/dev/null 2>&1 || fail dcmodify
cp "$MR_FILE" "$T/small3.dcm"
dcmodify -nb -m "(0008,0018)=$UID3" "$T/small3.dcm" >/dev/null 2>&1 || fail dcmodify

bg hold -t 30000 assoc echo waitfile:"$T/go" echo release
wait_statuses 1 "$T/hold.out"

# rawpeer: the 2 MB instance, then a small one and a C-ECHO on the same association.
fg big -t 20000 -pc $MR,$IMPLICIT -pc $VERIFICATION,$IMPLICIT assoc \
	store:1:$MR:$UID1:"$T/big.dcm" store:1:$MR:$UID2:"$T/small.dcm" echo:3 release
expect big "AC pcs=1:0,3:0 max_pdu=65536 / STATUS 0xA700 / STATUS 0x0000 / STATUS 0x0000 / RELEASED"
logged big "instance_too_large sop_instance=$UID1 limit=1048576"
logged big "store_failed sop_instance=$UID1 status=0xA700 why=\"data set larger than max_instance_size\""
logged big "failed_status command=C-STORE-RSP msg_id=1 status=0xA700 sop_class=$MR sop_instance=$UID1"
logged big "stored sop_instance=$UID2"
ok "2 MB data set over max_instance_size = 1M -> A700; the association goes on (store, echo)"

for _ in $(seq 1 50); do
	[ -z "$(ls "$T/data/incoming")" ] && break
	sleep 0.05
done
[ -z "$(ls "$T/data/incoming")" ] || fail "left in incoming/: $(ls "$T/data/incoming")"
[ -z "$(find "$T/data" -name "$UID1*")" ] || fail "file left: $(find "$T/data" -name "$UID1*")"
[ "$(sql "select count(*) from instances where sop_instance_uid='$UID1'")" = 0 ] || fail "index row for $UID1"
[ -n "$(find "$T/data" -name "$UID2.dcm")" ] || fail "$UID2 not stored"
ok "nothing of the large instance on disk or in the index"

# dcmtk's storescu sees the same (the status and a small instance after it still work).
storescu -v --no-halt -aet STORESCU -aec DICOMAID 127.0.0.1 "$PORT" "$T/big.dcm" "$T/small3.dcm" >"$T/storescu.out" 2>&1 || true
grep -Eqi 'A700|Refused: *Out ?of ?Resources' "$T/storescu.out" || { cat "$T/storescu.out"; fail "storescu did not see A700"; }
[ -n "$(find "$T/data" -name "$UID3.dcm")" ] || fail "$UID3 (after the refused one) not stored"
ok "storescu: A700 for the large one, the next one stored"

touch "$T/go"
wait_bg hold
expect hold "AC pcs=1:0 max_pdu=65536 / STATUS 0x0000 / WAITED / STATUS 0x0000 / RELEASED"

# Audit rows.
audit_outcome "calling_ae='RAWPEER' and outcome='released' and failures=1 and instances_received=1" 1
audit_outcome "calling_ae='STORESCU' and failures=1" 1
[ "$(sql "select command||'|'||status||'|'||sop_class_uid||'|'||sop_instance_uid||'|'||comment||'|'||message_id from dimse_failures f join associations a on a.id=f.association_ref where a.calling_ae='RAWPEER'")" = \
	"C-STORE-RSP|$((0xA700))|$MR|$UID1|data set larger than max_instance_size|1" ] ||
	fail "dimse_failures: $(sql 'select * from dimse_failures')"
audit_outcome "calling_ae='RAWPEER' and outcome='released' and failures=0" 1
ok "failed status audited: associations.failures, dimse_failures row"

serves "max_instance_size"
stop_daemon || fail "daemon did not exit 0"
! grep -qF "$PNAME" "$T/daemon.log" || fail "patient name in the log"
! sqlite3 "$T/data/index.sqlite" .dump | grep -v '^INSERT INTO \(patients\|"patients"\)' | grep -qF "$PNAME" ||
	fail "patient name in the audit tables"
ok "no patient name in the log or the audit; orderly stop"
