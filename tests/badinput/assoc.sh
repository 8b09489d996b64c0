#!/bin/bash
# Association negotiation refusals (PS3.8 9.3.4 / Table 9-21, 9.3.3.2): wrong called AE,
# unknown calling AE and a known AE from the wrong host with require_known_peers, a wrong
# application context, an unsupported abstract syntax next to an accepted Verification
# context, a command on a refused context, and more than max_associations (transient).
. "$(dirname "$0")/lib.sh"

MAX_ASSOC=2 EXTRA_CONFIG='
[access]
require_known_peers = yes

[peer echo]
ae_title = ECHOSCU
host = 127.0.0.1

[peer raw]
ae_title = RAWPEER

[peer far]
ae_title = FAR
host = 127.0.0.2
' start_daemon

fg called -aec NOPE assoc
expect called "RJ result=1 source=1 reason=7"
logged called 'rejected .*calling=RAWPEER called=NOPE result=1 source=1 reason=7'
ok "wrong called AE title -> RJ 1/1/7"

fg calling -aet STRANGER assoc
expect calling "RJ result=1 source=1 reason=3"
logged calling 'rejected .*calling=STRANGER .*result=1 source=1 reason=3'
ok "unknown calling AE with require_known_peers -> RJ 1/1/3"

fg wronghost -aet FAR assoc
expect wronghost "RJ result=1 source=1 reason=3"
logged wronghost 'rejected peer=127.0.0.1 calling=FAR .*result=1 source=1 reason=3'
fg righthost -b 127.0.0.2 -aet FAR assoc echo release
expect righthost "AC pcs=1:0 max_pdu=65536 / STATUS 0x0000 / RELEASED"
logged righthost 'accepted peer=127.0.0.2 calling=FAR'
ok "peer FAR (host 127.0.0.2) refused from 127.0.0.1 (RJ 1/1/3), accepted from 127.0.0.2"

# Offset 98 is the last character of the application context name "1.2.840.10008.3.1.1.1".
fg appctx rqpatch:98=32
expect appctx "RJ result=1 source=1 reason=2"
logged appctx 'rejected .*result=1 source=1 reason=2'
ok "unknown application context name -> RJ 1/1/2"

fg abstract -pc 1.2.3.4.5,$IMPLICIT -pc $VERIFICATION,$IMPLICIT assoc echo:3 release
expect abstract "AC pcs=1:3,3:0 max_pdu=65536 / STATUS 0x0000 / RELEASED"
logged abstract 'pc_rejected pc=1 abstract=1.2.3.4.5 result=3'
ok "unsupported abstract syntax -> context result 3, Verification accepted and used"

fg refusedpc -pc 1.2.3.4.5,$IMPLICIT -pc $VERIFICATION,$IMPLICIT assoc echo:1 wait-close
expect refusedpc "AC pcs=1:3,3:0 max_pdu=65536 / ABORT source=0 reason=0 / CLOSED"
logged refusedpc 'bad_message why="command on a presentation context that was not accepted" pc=1'
ok "C-ECHO on the refused context -> A-ABORT"

# max_associations = 2: two held open, the third refused (transient, provider presentation
# related, local limit exceeded), the two held ones keep working.
bg hold1 -t 20000 assoc echo waitfile:"$T/go" echo release
bg hold2 -t 20000 assoc echo waitfile:"$T/go" echo release
for _ in $(seq 1 100); do
	[ "$(grep -c '^STATUS' "$T/hold1.out" "$T/hold2.out" | awk -F: '{s += $2} END {print s}')" = 2 ] && break
	sleep 0.05
done
fg third assoc
expect third "RJ result=2 source=3 reason=2"
logged third 'rejected .*result=2 source=3 reason=2 why="max_associations reached"'
if echoscu -aet ECHOSCU -aec DICOMAID -to 5 127.0.0.1 "$PORT" 2>"$T/echo3.err"; then
	fail "echoscu accepted beyond max_associations"
fi
touch "$T/go"
wait_bg hold1
wait_bg hold2
for h in hold1 hold2; do
	expect $h "AC pcs=1:0 max_pdu=65536 / STATUS 0x0000 / WAITED / STATUS 0x0000 / RELEASED"
done
ok "max_associations=2: third association -> RJ 2/3/2; the two held ones still work"

# Once they are gone the slots are free again.
for _ in $(seq 1 50); do
	[ "$(grep -c 'outcome=released' "$T/daemon.log")" -ge 4 ] && break
	sleep 0.05
done
serves "max_associations"
stop_daemon || fail "daemon did not exit 0"
ok "still serving, orderly stop"
