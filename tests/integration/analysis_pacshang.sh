#!/bin/bash
# A destination that is down by hanging, not by refusing (issue 5, Delivery: "a down
# destination does not block others"): its host accepts the TCP connection but the DICOM
# application never answers (here a storescp frozen with SIGSTOP; a firewall dropping SYNs or
# a wedged PACS look the same). Five series are analysed; every result must reach the
# destination that is up within seconds, however many deliveries to the hung one are waiting
# for their association timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/analysis_lib.sh"
ANALYSIS=yes
N=5

start_pacs hung
start_pacs other
kill -STOP "$PACS_PID_hung"
EXTRA_CONFIG="
[analysis]
stable_seconds = 1
workers = 1
$(destination hung "$PACS_PORT_hung")
$(destination other "$PACS_PORT_other")
" start_daemon
wait_analysis_ready

files=("$FIX"/*.dcm)
for i in $(seq 2 $N); do
	copy_series "$T/s$i" "$i"
	files+=("$T"/s$i/*.dcm)
done
storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "${files[@]}" || fail "storescu"
wait_for 30 sql_is "select count(*) from analyses where state = 'done'" $N ||
	{ sql "select state, last_error from analyses"; fail "analyses not done"; }
t_done=$(sql "select max(updated_at) from analyses")
ok "$N series analysed"

wait_for 8 sql_is "select count(*) from deliveries where destination = 'other' and state = 'sent' and sop_class_uid = '1.2.840.10008.5.1.4.1.1.88.34'" $N ||
	{ sql "select id, destination, state, attempts, last_status from deliveries order by id";
	  fail "the destination that is up got $(pacs_count other "$SR_CLASS") of $N SRs within 8 s of the last analysis: deliveries to the hung destination hold every delivery slot"; }
[ "$(pacs_count other "$SR_CLASS")" = $N ] || fail "other: $(pacs_count other "$SR_CLASS") SRs, want $N"
last=$(sort -n "$T/other.times" | tail -n 1)
ms=$(awk -v a="$last" -v d="$t_done" 'BEGIN { printf "%d", a * 1000 - d }')
ok "the destination that is up got all $N SRs, the last ${ms} ms after the last analysis"
[ "$(sql "select count(*) from deliveries where destination = 'hung' and state = 'sent'")" = 0 ] ||
	fail "a delivery to the frozen destination reports success"

stop_daemon || fail "exit status"
stop_pacs hung
stop_pacs other
