#!/bin/bash
# A peer that never reads our responses (issue 8): the daemon's send queue is bounded by
# [server] max_send_queue. rawpeer, with a tiny receive buffer, sends C-ECHO-RQs without
# reading a single C-ECHO-RSP; once more than max_send_queue bytes wait, the daemon closes
# the connection, logs event=send_queue_full and audits it. Memory stays bounded; another
# association is served throughout; a peer that does read gets all its answers.
. "$(dirname "$0")/lib.sh"

IDLE=30 SERVER_EXTRA='max_send_queue = 64K' start_daemon
grep -q '^max_send_queue = 64K$' "$T/dicomaid.conf" || fail "config not written"

bg hold -t 60000 assoc echo waitfile:"$T/go" echo release
wait_statuses 1 "$T/hold.out"

# A reading peer is never cut off: 3000 C-ECHOs, each answered before the next.
steps=(assoc)
for _ in $(seq 1 3000); do steps+=(echo); done
fg reader "${steps[@]}" release
[ "$(grep -c '^STATUS 0x0000$' "$T/reader.out")" = 3000 ] && [ "$(tail -n 1 "$T/reader.out")" = RELEASED ] ||
	fail "reader: $(sort "$T/reader.out" | uniq -c)"
ok "a peer that reads gets 3000 C-ECHO-RSPs"

rss0=$(rss_kb)
fg deaf -t 20000 -rcvbuf 4096 assoc echo-flood:300000 wait-close
head -n 1 "$T/deaf.out" | grep -q '^AC pcs=1:0' || fail "deaf: $(head -c 300 "$T/deaf.out")"
grep -q '^FLOOD broken$' "$T/deaf.out" || fail "deaf: the daemon read 300000 C-ECHO-RQs without closing"
tail -n 1 "$T/deaf.out" | grep -q 'CLOSED ms=' || fail "deaf: not closed: $(tail -c 300 "$T/deaf.out")"
logged deaf 'send_queue_full peer=127.0.0.1 queued=[0-9]+ limit=65536 action=close'
logged deaf 'closed .*outcome=send-queue-full'
q=$(grep "assoc=$(cat "$T/deaf.id") event=send_queue_full" "$T/daemon.log" | sed 's/.*queued=\([0-9]*\).*/\1/')
[ "$q" -le $((65536 + 4096)) ] || fail "deaf: $q bytes were queued (limit 64 KiB + one write)"
# Unbounded, 300000 unread C-ECHO-RSPs cost about 80 MB (120 MB under ASan).
[ "$(rss_kb)" -le $((rss0 + 40960)) ] || fail "deaf: RSS grew from $rss0 to $(rss_kb) kB"
ok "peer that never reads -> closed once 64 KiB wait, logged, memory bounded"

touch "$T/go"
wait_bg hold
expect hold "AC pcs=1:0 max_pdu=65536 / STATUS 0x0000 / WAITED / STATUS 0x0000 / RELEASED"
serves "a peer that never reads"
audit_outcome "outcome='send-queue-full' and detail like 'peer does not read: % bytes queued'" 1
stop_daemon || fail "daemon did not exit 0"
ok "other association unaffected, audited, orderly stop"
