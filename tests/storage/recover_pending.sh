#!/bin/bash
# Start-up check of instances left pending by an unclean stop (src/storage/store.c,
# sql/007_store_pending.sql). A group commit indexes its rows before the files, directories
# and WAL are synced in one round; a power loss in that round can leave a row whose file is
# missing or incomplete, never acknowledged. The state is crafted on a stopped daemon's
# storage: pending rows for an intact file (kept), a truncated file and a missing file (both
# removed, row and file), and a row that is not pending (left alone). Then dicomaid starts,
# and the removed instance can be stored again.
. "$top_srcdir/tests/integration/lib.sh"
command -v storescu >/dev/null || fail "storescu (dcmtk) missing"
command -v sqlite3 >/dev/null || fail "sqlite3 missing"

uid() { echo "1.2.826.0.1.3680043.9.7777.60.$1"; }
for i in 1 2 3 4; do
	cp "$PYDICOM_FILES/MR_small.dcm" "$T/i$i.dcm"
	dcmodify -nb -imt -m "(0008,0018)=$(uid $i)" "$T/i$i.dcm" >/dev/null 2>&1 || fail dcmodify
done
start_daemon
storescu -aet RECOVER -aec DICOMAID 127.0.0.1 "$PORT" "$T"/i[1-4].dcm || fail "storescu"
stop_daemon || fail "exit status"
[ "$(sql "select count(*) from instances")" = 4 ] || fail "4 instances not indexed"
[ "$(sql "select count(*) from store_pending")" = 0 ] || fail "a clean stop leaves rows pending"
ok "a clean stop leaves nothing pending"

path() { echo "$T/data/$(sql "select file_path from instances where sop_instance_uid='$(uid "$1")'")"; }
crc() { python3 -c 'import sys, zlib; print(zlib.crc32(open(sys.argv[1], "rb").read()))' "$1"; }
p1=$(path 1) p2=$(path 2) p3=$(path 3) p4=$(path 4)
for i in 1 2 3; do
	p=$(path $i)
	sqlite3 "$T/data/index.sqlite" "insert into store_pending(instance_ref, file_crc32) select id, $(crc "$p") from instances where sop_instance_uid='$(uid $i)'" ||
		fail "crafting the pending rows"
done
truncate -s 1000 "$p2"   # its data never reached the disk
rm "$p3"                 # its rename never reached the disk
rm "$p4"                 # not pending: an acknowledged instance is never removed by the check

start_daemon
grep -q 'event=store_open .*pending_checked=3 pending_removed=2' "$T/daemon.log" ||
	fail "start-up check not logged as expected: $(grep event=store_open "$T/daemon.log")"
[ -f "$p1" ] || fail "the intact pending instance was removed"
[ ! -e "$p2" ] || fail "the truncated pending file is still there"
[ "$(sql "select group_concat(sop_instance_uid, ' ') from (select sop_instance_uid from instances order by 1)")" = "$(uid 1) $(uid 4)" ] ||
	fail "rows after the check: $(sql "select sop_instance_uid from instances")"
[ "$(sql "select count(*) from store_pending")" = 0 ] || fail "rows still pending after the check"
ok "pending instances checked at start-up: intact kept, truncated and missing removed, others untouched"

storescu -aet RECOVER -aec DICOMAID 127.0.0.1 "$PORT" "$T/i2.dcm" || fail "storescu again"
cmp <("$top_builddir/tests/integration/dsbytes" "$T/i2.dcm") <("$top_builddir/tests/integration/dsbytes" "$p2") ||
	fail "the instance stored again differs"
stop_daemon || fail "exit status"
ok "the removed instance is stored again"
