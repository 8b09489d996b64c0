# Shared helpers for dicomaid's integration tests (sourced by tests/integration/*.sh).
# Each test gets its own temporary directory, config and port on 127.0.0.1, starts the
# daemon from the build tree and stops it on exit.
set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
DICOMAID="$top_builddir/src/dicomaid"
PYDICOM_FILES="${PYDICOM_FILES:-/usr/lib/python3/dist-packages/pydicom/data/test_files}"
export TCP_NODELAY=1

T=$(mktemp -d /tmp/dicomaid-test.XXXXXX)
DAEMON_PID=
cleanup() {
	local rc=$?
	if [ -n "$DAEMON_PID" ] && jobs -p | grep -qx "$DAEMON_PID"; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	if [ $rc -ne 0 ] && [ -f "$T/daemon.log" ]; then
		echo "--- daemon log (last 60 lines)"; tail -n 60 "$T/daemon.log"
	fi
	for m in $(grep " $T" /proc/mounts | awk '{print $2}'); do umount "$m" 2>/dev/null || true; done
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

# A free TCP port on 127.0.0.1 (bind-tested by the daemon; retried by start_daemon).
pick_port() { echo $((20000 + (RANDOM * 7 + $$) % 30000)); }

# write_config EXTRA_SECTIONS: the test's config file ($T/dicomaid.conf).
write_config() {
	cat > "$T/dicomaid.conf" <<CONF
[server]
ae_title = DICOMAID
bind = 127.0.0.1
port = $PORT
artim_timeout = ${ARTIM:-5}
idle_timeout = ${IDLE:-30}
max_associations = ${MAX_ASSOC:-16}
shutdown_timeout = 10

[storage]
path = $T/data
fsync = ${FSYNC:-yes}
duplicates = ${DUPLICATES:-overwrite}

[index]
database = $T/data/index.sqlite
${EXTRA_CONFIG:-}
CONF
	# Tests that are not about analysis run without it (no model load, no worker threads).
	if [ "${ANALYSIS:-no}" != yes ]; then
		printf '\n[analysis]\nenabled = no\n' >> "$T/dicomaid.conf"
	fi
}

# start_daemon: writes the config (unless WRITE_CONFIG=no) and waits until it listens.
start_daemon() {
	local tries=0
	while :; do
		PORT=${PORT_FIXED:-$(pick_port)}
		[ "${WRITE_CONFIG:-yes}" = yes ] && write_config
		# Empty the log here, not only in the child's redirection: on a restart the loop
		# below would otherwise find the previous run's 'event=listening' and return before
		# the new daemon is up (and before its start-up recovery ran).
		: > "$T/daemon.log"
		"$DICOMAID" -c "$T/dicomaid.conf" ${DAEMON_ARGS:-} >"$T/daemon.log" 2>&1 &
		DAEMON_PID=$!
		for _ in $(seq 1 100); do
			grep -q 'event=listening' "$T/daemon.log" && return 0
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.05
		done
		wait "$DAEMON_PID" 2>/dev/null || true
		DAEMON_PID=
		tries=$((tries + 1))
		if [ $tries -ge 5 ] || ! grep -q 'listen_failed' "$T/daemon.log"; then
			cat "$T/daemon.log"; fail "daemon did not start"
		fi
	done
}

stop_daemon() {
	kill -TERM "$DAEMON_PID"
	local rc=0
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	return $rc
}

# sql QUERY: runs a read-only query on the test's index.
sql() { sqlite3 -readonly "$T/data/index.sqlite" "$1"; }

# The data set of a DICOM file as dcmdump prints it, without the meta header, so that two
# encodings of the same data set compare equal.
dump_dataset() {
	dcmdump -q +L +Fs "$1" 2>&1 | sed -n '/^# Dicom-Data-Set/,$p' | grep -v '^# Used TransferSyntax'
}
