#!/bin/bash
# Delivery when a destination is down (issue 5, Delivery): the result is ready while the PACS
# refuses connections; the delivery fails, stays pending with its last status and is retried
# with exponential backoff (5 s x 2^(attempts-1)); once the PACS is back the SR arrives at the
# next retry. Meanwhile a second destination that is up gets the result at once, without
# waiting for the one that is down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/analysis_lib.sh"
ANALYSIS=yes

start_pacs other
# The PACS's port: free now, nothing listening until we start it.
down_port=$(( PACS_PORT_other + 1 ))
while listening $down_port; do down_port=$((down_port + 1)); done
EXTRA_CONFIG="
[analysis]
stable_seconds = 1
workers = 1
$(destination pacs "$down_port")
$(destination other "$PACS_PORT_other")
" start_daemon
wait_analysis_ready

storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$FIX"/*.dcm || fail "storescu"
wait_for 20 sql_is "select count(*) from analyses where state = 'done'" 1 ||
	{ sql "select state, last_error from analyses"; fail "analysis not done"; }
sr_uid=$(sql "select sr_uid from analyses where state = 'done'")
t_done=$(sql "select updated_at from analyses where state = 'done'")

# The destination that is up: the SR arrives within a couple of delivery ticks.
wait_for 4 [ -s "$T/other.times" ] || fail "the destination that is up did not get the SR promptly"
[ "$(pacs_sops other "$SR_CLASS")" = "$sr_uid" ] || fail "other: wrong or duplicate SR"
t_other=$(head -n 1 "$T/other.times")
ms_other=$(awk -v a="$t_other" -v d="$t_done" 'BEGIN { printf "%d", a * 1000 - d }')
[ "$ms_other" -lt 3000 ] || fail "other destination got the SR only ${ms_other} ms after the analysis"
ok "destination up: SR received ${ms_other} ms after the analysis, while the PACS is down"

# The PACS: failed, pending, last status recorded, retried after 5 s, then after 10 s.
q="from deliveries where destination = 'pacs' and sop_instance_uid = '$sr_uid'"
wait_for 5 sql_ge "select attempts $q" 1 || fail "no delivery attempt to the PACS"
wait_for 3 sql_is "select state $q" pending || fail "PACS delivery: $(sql "select * $q")"
[ -n "$(sql "select last_status $q")" ] || fail "no last_status after a failed attempt"
gap1=$(sql "select next_attempt_at - updated_at $q")
[ "$gap1" -ge 4500 ] && [ "$gap1" -le 5500 ] || fail "first backoff is $gap1 ms, want 5000"
grep -q "event=delivery_failed destination=pacs sop_instance=$sr_uid attempt=1 retry=yes" \
	"$T/daemon.log" || fail "first failure not logged"
ok "PACS down: attempt 1 failed ($(sql "select last_status $q")), retry in $gap1 ms"

wait_for 9 sql_is "select attempts || state $q" 2pending ||
	fail "no second attempt within the backoff: $(sql "select * $q")"
gap2=$(sql "select next_attempt_at - updated_at $q")
[ "$gap2" -ge 9500 ] && [ "$gap2" -le 10500 ] || fail "second backoff is $gap2 ms, want 10000"
next=$(sql "select next_attempt_at $q")
[ -n "$(sql "select last_status $q")" ] || fail "no last_status after attempt 2"
ok "attempt 2 failed, pending with attempts = 2, next retry in $gap2 ms (exponential)"

# The PACS comes back: the SR arrives at the third attempt, at the scheduled time (the
# delivery timer ticks once a second), exactly once.
start_pacs pacs "$down_port"
wait_for 15 [ -s "$T/pacs.times" ] || fail "the SR did not arrive after the PACS came back"
t_pacs=$(head -n 1 "$T/pacs.times")
late=$(awk -v a="$t_pacs" -v n="$next" 'BEGIN { printf "%d", a * 1000 - n }')
[ "$late" -ge -100 ] || fail "retried $(( -late )) ms before the backoff expired"
[ "$late" -le 2500 ] || fail "SR arrived $late ms after the retry time"
wait_for 5 sql_is "select state || attempts $q" sent3 || fail "PACS delivery: $(sql "select * $q")"
sleep 1.5
[ "$(pacs_sops pacs "$SR_CLASS")" = "$sr_uid" ] || fail "PACS: wrong or duplicate SR"
[ "$(pacs_count other "$SR_CLASS")" = 1 ] || fail "other destination got the SR twice"
[ "$(sql "select count(*) from deliveries where state != 'sent'")" = 0 ] || fail "deliveries left"
ok "PACS back: SR arrived at attempt 3, $late ms after the scheduled retry, once"

stop_daemon || fail "exit status"
stop_pacs pacs
stop_pacs other
