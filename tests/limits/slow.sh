#!/bin/bash
# Slowloris (issue 8): a peer that trickles bytes must not hold a slot. Before the
# association ARTIM bounds the connection (PS3.8 9.1.5: the A-ASSOCIATE-RQ must arrive
# within artim_timeout); on an association only complete PDUs restart the idle timer, so a
# PDU dripped one byte at a time must complete within idle_timeout, else A-ABORT and close.
# Also a P-DATA-TF claiming more than max_pdu: A-ABORT at once, nothing allocated. Other
# associations are served meanwhile and the freed slot is usable again.
. "$(dirname "$0")/lib.sh"

ARTIM=2 IDLE=3 MAX_ASSOC=2 start_daemon

# A normal association held open through all of it: a C-ECHO a second, until $T/go.
hold_steps=(assoc echo)
for _ in $(seq 1 25); do hold_steps+=(sleep:700 echo); done
bg hold -t 30000 "${hold_steps[@]}" waitfile:"$T/go" echo release
wait_statuses 1 "$T/hold.out"

# 1. Sta2: an A-ASSOCIATE-RQ header claiming 1000 bytes, then one byte every 300 ms.
fg rqdrip -t 10000 hex:0100000003E8 drip:40:300 wait-close
grep -q '^DRIP stopped' "$T/rqdrip.out" || fail "rqdrip: the daemon let the drip finish: $(cat "$T/rqdrip.out")"
ms=$(sed -n 's/^DRIP stopped ms=\([0-9]*\)/\1/p' "$T/rqdrip.out")
[ "$ms" -ge $((ARTIM * 1000 - 300)) ] && [ "$ms" -le $((ARTIM * 1000 + 1500)) ] ||
	fail "rqdrip: closed after $ms ms, ARTIM is ${ARTIM}s"
logged rqdrip 'artim_timeout'
logged rqdrip 'closed .*outcome=artim-timeout'
ok "A-ASSOCIATE-RQ dripped a byte at a time -> closed after ARTIM (${ARTIM}s)"

# 2. Sta6: a P-DATA-TF of 60000 bytes (under max_pdu) dripped at 300 ms a byte: it would
# take 18 s; idle_timeout (3 s) aborts it. Meanwhile the max_associations slot is held.
bg pdrip -t 20000 assoc pdata-len:60000 drip:60:300 wait-close
fg full assoc
expect full "RJ result=2 source=3 reason=2"
wait_bg pdrip
expect_drip() {
	local got
	got=$(sed 's/CLOSED ms=[0-9]*/CLOSED/; s/DRIP stopped ms=[0-9]*/DRIP stopped/' "$T/pdrip.out")
	[ "$got" = "$(printf 'AC pcs=1:0 max_pdu=65536\nDRIP stopped\nABORT source=0 reason=0 CLOSED')" ] ||
		fail "pdrip: got [$got]"
}
expect_drip
ms=$(sed -n 's/^DRIP stopped ms=\([0-9]*\)/\1/p' "$T/pdrip.out")
[ "$ms" -ge $((IDLE * 1000 - 400)) ] && [ "$ms" -le $((IDLE * 1000 + 1500)) ] ||
	fail "pdrip: aborted after $ms ms of dripping, idle_timeout is ${IDLE}s"
logged pdrip "idle_timeout seconds=$IDLE"
logged pdrip 'closed .*outcome=idle-timeout'
ok "P-DATA-TF dripped a byte at a time -> A-ABORT after idle_timeout (${IDLE}s), slot freed"

# 3. A P-DATA-TF claiming 16 MiB (max_pdu is 64 KiB): A-ABORT 2/6 at once, no allocation.
rss0=$(rss_kb)
fg huge assoc pdata-len:16777216 wait-close
expect huge "AC pcs=1:0 max_pdu=65536 / ABORT source=2 reason=6 CLOSED"
[ "$(closed_ms huge)" -le $((ARTIM * 1000 + 1500)) ] || fail "huge: not closed promptly"
logged huge 'pdu_too_long type=0x04 length=16777216 limit=65536'
[ "$(rss_kb)" -le $((rss0 + 8192)) ] || fail "huge: RSS grew from $rss0 to $(rss_kb) kB"
ok "P-DATA-TF longer than max_pdu -> A-ABORT 2/6, nothing allocated"

# The held association is unaffected; the freed slots serve again.
grep -q 'event=closed .*outcome=' <(grep "assoc=$(cat "$T/hold.id") " "$T/daemon.log") &&
	fail "the held association was closed meanwhile"
touch "$T/go"
wait_bg hold
[ "$(grep -c '^STATUS 0x0000$' "$T/hold.out")" = 27 ] && [ "$(tail -n 1 "$T/hold.out")" = RELEASED ] ||
	fail "hold: $(cat "$T/hold.out")"
serves "slowloris"
audit_outcome "outcome='idle-timeout' and detail='no complete PDU for 3 s'" 1
audit_outcome "outcome='artim-timeout' and detail like 'ARTIM expired in Sta2%'" 1
audit_outcome "outcome='pdu-too-long' and detail like 'A-ABORT 2/6%'" 1
stop_daemon || fail "daemon did not exit 0"
ok "held association unaffected, aborts audited, orderly stop"
