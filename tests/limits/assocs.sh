#!/bin/bash
# Association limits (issue 8, "Limits and hostile peers"): a flood of connections beyond
# [server] max_associations and beyond [server] max_associations_per_peer gets the transient
# reject PS3.8 Table 9-21 prescribes (A-ASSOCIATE-RJ result 2 "rejected-transient", source 3
# "service-provider (presentation)", reason 2 "local-limit-exceeded"), each is logged and
# audited, and the associations already open keep working.
. "$(dirname "$0")/lib.sh"

# Per peer address: at most 2; in all at most 3.
MAX_ASSOC=3 SERVER_EXTRA='max_associations_per_peer = 2' start_daemon
grep -q '^max_associations_per_peer = 2$' "$T/dicomaid.conf" || fail "config not written"

# Two held from 127.0.0.1: the per-peer limit is reached.
bg hold1 -t 30000 assoc echo waitfile:"$T/go" echo release
bg hold2 -t 30000 assoc echo waitfile:"$T/go" echo release
wait_statuses 2 "$T/hold1.out" "$T/hold2.out"

fg peer3 assoc
expect peer3 "RJ result=2 source=3 reason=2"
logged peer3 'rejected peer=127.0.0.1 .*result=2 source=3 reason=2 why="max_associations_per_peer reached"'
ok "third association from 127.0.0.1 -> RJ 2/3/2 (max_associations_per_peer = 2)"

# Another peer address is not affected: 127.0.0.2 gets its association and is served.
bg other -b 127.0.0.2 -t 30000 assoc echo waitfile:"$T/go" echo release
wait_statuses 3 "$T/hold1.out" "$T/hold2.out" "$T/other.out"
logged other 'accepted peer=127.0.0.2'
ok "an association from 127.0.0.2 is accepted meanwhile"

# Now 3 are open = max_associations: a flood of 20 from 127.0.0.3 is refused, each alike.
for i in $(seq 1 20); do
	peer -b 127.0.0.3 assoc >"$T/flood$i.out" 2>&1 &
	echo $! >"$T/flood$i.pid"
done
for i in $(seq 1 20); do
	wait_bg "flood$i"
	expect "flood$i" "RJ result=2 source=3 reason=2"
done
n=$(grep -c 'rejected peer=127.0.0.3 .*result=2 source=3 reason=2 why="max_associations reached"' "$T/daemon.log")
[ "$n" = 20 ] || fail "expected 20 max_associations rejects logged, got $n"
ok "flood of 20 beyond max_associations = 3 -> 20 x RJ 2/3/2, logged"

# The three held ones are unaffected.
touch "$T/go"
for h in hold1 hold2 other; do
	wait_bg $h
	expect $h "AC pcs=1:0 max_pdu=65536 / STATUS 0x0000 / WAITED / STATUS 0x0000 / RELEASED"
done
ok "the held associations still work after the flood"

# Audit: every reject is a row with its reason; the released ones are rows too.
audit_outcome "peer='127.0.0.3' and outcome='rejected' and detail='RJ 2/3/2 max_associations reached' and ended_at is not null" 20
audit_outcome "peer='127.0.0.1' and outcome='rejected' and detail='RJ 2/3/2 max_associations_per_peer reached'" 1
audit_outcome "outcome='released' and detail is null and failures=0" 3
ok "rejects audited with their reason (associations.detail)"

# Slots are free again, for 127.0.0.1 too.
fg again assoc echo release
expect again "AC pcs=1:0 max_pdu=65536 / STATUS 0x0000 / RELEASED"
serves "the flood"
stop_daemon || fail "daemon did not exit 0"
ok "slots freed; orderly stop"
