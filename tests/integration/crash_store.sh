#!/bin/bash
# Crash consistency of C-STORE (DESIGN.md: an acknowledged instance is never lost).
# ROUNDS times (default 20; ROUNDS=100 for a longer run): start dicomaid on the same storage
# root, send a random batch of small instances from several storescu processes at once, and
# SIGKILL the daemon at a random moment (before, during or after the transfers and their group
# commits). Then restart it and check, from the clients' view (storescu -v prints each file
# and the status of its C-STORE-RSP):
#  - every instance acknowledged with Success in any round is on disk, indexed, and its data set
#    is byte-identical to what was sent (checked for this round's acks; for all of them at the
#    end, after the last round);
#  - no incoming/*.part survives a restart, and no index row points at a missing file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
ROUNDS=${ROUNDS:-20}
NINST=${NINST:-300}    # instances in the pool
NCLIENT=${NCLIENT:-4}  # storescu processes per round
PERCLIENT=${PERCLIENT:-15}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3   # Debian's, which has python3-pydicom

# The pool: copies of MR_small with their own SOP Instance UIDs, in 10 series of 2 studies.
mkdir -p "$T/pool"
"$PY" - "$PYDICOM_FILES/MR_small.dcm" "$T/pool" "$NINST" <<'PY' || fail "making the pool"
import sys, pydicom
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ds = pydicom.dcmread(src)
if 0xFFFCFFFC in ds:  # storescu drops Data Set Trailing Padding: send none
    del ds[0xFFFCFFFC]
for i in range(n):
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.9.7777.50.{i}"
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.9.7777.51.{i % 2}"
    ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.9.7777.52.{i % 10}"
    ds.InstanceNumber = i
    ds.save_as(f"{out}/i{i}.dcm", write_like_original=False)
PY
uid_of() { local b=${1##*/i}; echo "1.2.826.0.1.3680043.9.7777.50.${b%.dcm}"; }
stored_of() { # pool file -> its path in the store
	local b=${1##*/i}; b=${b%.dcm}
	echo "$T/data/1.2.826.0.1.3680043.9.7777.51.$((b % 2))/1.2.826.0.1.3680043.9.7777.52.$((b % 10))/$(uid_of "$1").dcm"
}

: > "$T/acked.all"
kills=0
start=$SECONDS
for round in $(seq 1 "$ROUNDS"); do
	restart
	check_store "round start"
	pids=
	for c in $(seq 1 "$NCLIENT"); do
		files=$(for _ in $(seq 1 "$PERCLIENT"); do echo "$T/pool/i$((RANDOM % NINST)).dcm"; done | sort -u)
		storescu -v -aet CRASH$c -aec DICOMAID 127.0.0.1 "$PORT" $files >"$T/scu.$c.log" 2>&1 &
		pids="$pids $!"
	done
	# a random moment in the first ~1.2 s: before association, mid-transfer, mid-commit, idle
	sleep "0.$((RANDOM % 12))$((RANDOM % 10))"
	if kill -KILL "$DAEMON_PID" 2>/dev/null; then kills=$((kills + 1)); fi
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	for p in $pids; do wait "$p" || true; done
	: > "$T/acked.round"
	acked_from "$T/acked.round" "$T"/scu.*.log
	cat "$T/acked.round" >> "$T/acked.all"
	restart   # recovery happens at start-up
	check_store "restart after SIGKILL"
	check_acked "$T/acked.round"
	echo "ok - round $round: $(grep -c . "$T/acked.round") acknowledged, all present after SIGKILL and restart"
	stop_daemon || fail "round $round: daemon exit status after restart"
done
restart
round=final
check_store final
sort -u "$T/acked.all" > "$T/acked.uniq"
check_acked "$T/acked.uniq"
total=$(grep -c . "$T/acked.uniq")
[ "$total" -gt 0 ] || fail "no instance was ever acknowledged: the kills came too early"
stop_daemon || fail "final exit status"
ok "$ROUNDS rounds, $kills SIGKILLs, $total distinct instances acknowledged: all stored, identical, indexed ($((SECONDS - start)) s)"
