#!/bin/bash
# crash_bench.sh: the SIGKILL crash-consistency tests for a long run (issue 8).
#
# Usage (from the top of a built tree):
#   bench/crash_bench.sh [-r ROUNDS] [-n SERIES] [-i INSTANCES]
#
#   -r ROUNDS     kill/restart rounds of each test (default 100; CI runs 20)
#   -n SERIES     crash_pipeline: series (storescu processes) per round, 4 slices each (default 4)
#   -i INSTANCES  crash_store: instances per storescu process per round (default 15)
#
# Runs tests/integration/crash_store.sh (kills during transfer and group commit, analysis off)
# and tests/integration/crash_pipeline.sh (kills in turn during transfer, group commit,
# analysis and delivery to a storescp playing the PACS), each ROUNDS rounds, and prints each
# one's summary line, its run time and the load average (the machine may be shared).
set -euo pipefail
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
ROUNDS=100 NSER=4 PERCLIENT=15
while getopts r:n:i: o; do
	case $o in
	r) ROUNDS=$OPTARG ;;
	n) NSER=$OPTARG ;;
	i) PERCLIENT=$OPTARG ;;
	*) sed -n '2,14p' "$0"; exit 2 ;;
	esac
done
export ROUNDS NSER PERCLIENT
[ -x "$top_builddir/tests/integration/dsbytes" ] || make -C "$top_builddir" tests/integration/dsbytes
rc=0
for t in crash_store crash_pipeline; do
	t0=$SECONDS
	if bash "$top_srcdir/tests/integration/$t.sh" > "/tmp/crash_bench.$t.log" 2>&1; then
		echo "$t: $(tail -n 1 "/tmp/crash_bench.$t.log") [$((SECONDS - t0)) s, load $(cut -d' ' -f1-3 /proc/loadavg)]"
	else
		rc=1
		echo "$t: FAILED after $((SECONDS - t0)) s; log: /tmp/crash_bench.$t.log"
		grep -m 3 'FAIL' "/tmp/crash_bench.$t.log" || true
	fi
done
exit $rc
