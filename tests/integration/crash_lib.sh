# Helpers shared by the SIGKILL crash-consistency tests (tests/integration/crash_*.sh):
# which instances storescu saw acknowledged, and the store invariants that must hold after
# every restart. Sourced after lib.sh. The caller defines two functions that map one of the
# files it sent to the instance: uid_of FILE (its SOP Instance UID) and stored_of FILE (the
# path the daemon must have stored it under, DESIGN.md Storage).
DSBYTES="$top_builddir/tests/integration/dsbytes"
command -v storescu >/dev/null || fail "storescu (dcmtk) missing"

# restart: start_daemon on the same storage root, keeping the previous run's log (the killed
# daemon's) as daemon.prev.log for a failure's post-mortem.
restart() {
	[ -f "$T/daemon.log" ] && mv "$T/daemon.log" "$T/daemon.prev.log"
	start_daemon
}

# acked_from OUT LOG...: appends to OUT the files that each storescu -v LOG shows answered
# with Success ("Sending file: F" ... "Received Store Response (Success)" for that file).
acked_from() {
	local out=$1
	shift
	awk '/Sending file: /{f=$NF} /Received Store Response \(Success\)/{if (f!="") print f; f=""}' \
		"$@" >> "$out"
}

# check_acked LIST: each sent file in LIST is stored byte-identically (its data set; the meta
# header is ours) and indexed. Uses $round in messages.
check_acked() {
	local f st uids
	while read -r f; do
		[ -n "$f" ] || continue
		st=$(stored_of "$f")
		[ -f "$st" ] || fail "round $round: acknowledged $(uid_of "$f") missing ($st)"
		cmp -s <("$DSBYTES" "$f") <("$DSBYTES" "$st") || fail "round $round: $(uid_of "$f") differs"
	done < "$1"
	uids=$(sort -u "$1" | while read -r f; do [ -n "$f" ] && echo "'$(uid_of "$f")'"; done | paste -sd,)
	[ -z "$uids" ] && return 0
	[ "$(sql "select count(*) from instances where sop_instance_uid in ($uids)")" = "$(sort -u "$1" | grep -c .)" ] ||
		fail "round $round: acknowledged instances not indexed"
}

# check_store WHEN: no .part file of an earlier (killed) process is left (start-up removes
# them; the running daemon's own carry its pid first in the name, see store_part_create), and
# no index row points at a missing file.
check_store() {
	local p
	p=$(find "$T/data/incoming" -name '*.part' ! -name "${DAEMON_PID:-none}-*" 2>/dev/null)
	[ -z "$p" ] || fail "round $round ($1): .part files after restart: $(ls -l $p)"
	sql "select file_path from instances" | while read -r p; do
		[ -f "$T/data/$p" ] || { echo "row without file: $p"; exit 1; }
	done || fail "round $round ($1): index row without a file"
}
