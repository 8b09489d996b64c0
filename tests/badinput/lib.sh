# Helpers for the bad-input tests (sourced by tests/badinput/*.sh), on top of the integration
# harness: the daemon is started by tests/integration/lib.sh; rawpeer speaks raw PDUs to it.
. "$(dirname "$0")/../integration/lib.sh"
RAWPEER="$top_builddir/tests/badinput/rawpeer"
[ -x "$RAWPEER" ] || fail "missing $RAWPEER (make check builds it)"

# Small timeouts so that a peer that goes silent is dropped quickly.
ARTIM=${ARTIM:-2}
IDLE=${IDLE:-3}

MR=1.2.840.10008.5.1.4.1.1.4
CT=1.2.840.10008.5.1.4.1.1.2
VERIFICATION=1.2.840.10008.1.1
IMPLICIT=1.2.840.10008.1.2

# peer ARGS...: rawpeer against the test's daemon.
peer() { "$RAWPEER" -p "$PORT" "$@"; }

# n_connected: how many connections the daemon has logged so far.
n_connected() { grep -c 'event=connected' "$T/daemon.log" || true; }

# bg NAME ARGS...: runs rawpeer in the background (output in $T/NAME.out) and waits until the
# daemon has logged its connection, so that $T/NAME.id holds its association id.
bg() {
	local name=$1 before id
	shift
	before=$(n_connected)
	peer "$@" >"$T/$name.out" 2>&1 &
	echo $! >"$T/$name.pid"
	for _ in $(seq 1 250); do
		[ "$(n_connected)" -gt "$before" ] && break
		sleep 0.02
	done
	id=$(grep 'event=connected' "$T/daemon.log" | sed -n "$((before + 1))p" |
		sed 's/.*assoc=\([0-9]*\) .*/\1/')
	[ -n "$id" ] || fail "$name: the daemon logged no connection"
	echo "$id" >"$T/$name.id"
}

# fg NAME ARGS...: the same, in the foreground.
fg() {
	bg "$@"
	wait_bg "$1"
}

wait_bg() { wait "$(cat "$T/$1.pid")" || fail "$1: rawpeer exited $?: $(cat "$T/$1.out")"; }

# expect NAME EXPECTED: rawpeer's output for NAME, "CLOSED ms=N" shown as "CLOSED", must
# equal EXPECTED (lines separated by newlines or " / ").
expect() {
	local got want
	got=$(sed 's/CLOSED ms=[0-9]*/CLOSED/' "$T/$1.out")
	want=$(printf '%s\n' "$2" | sed 's| / |\n|g')
	[ "$got" = "$want" ] || fail "$1: expected [$want], got [$got]"
}

# closed_ms NAME: the milliseconds the close took in NAME's last wait-close step.
closed_ms() { sed -n 's/.*CLOSED ms=\([0-9]*\).*/\1/p' "$T/$1.out" | tail -n 1; }

# logged NAME REGEX: the daemon logged a line for NAME's association matching REGEX.
logged() {
	local id
	id=$(cat "$T/$1.id")
	grep -Eq "assoc=$id event=.*$2|assoc=$id .*$2" "$T/daemon.log" ||
		fail "$1: no log line 'assoc=$id ... $2'"
}

not_logged() {
	local id
	id=$(cat "$T/$1.id")
	! grep -Eq "assoc=$id .*$2" "$T/daemon.log" || fail "$1: log line 'assoc=$id ... $2'"
}

# serves: the daemon still answers a normal dcmtk C-ECHO.
serves() {
	echoscu -aet ECHOSCU -aec DICOMAID -to 5 127.0.0.1 "$PORT" ||
		fail "daemon no longer answers echoscu${1:+ after $1}"
}

# uid_of FILE TAG: a UID value as dcmdump prints it.
uid_of() { dcmdump -q +P "$2" "$1" | sed 's/.*\[\(.*\)\].*/\1/'; }

# rss_kb: the daemon's resident set size.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON_PID/status"; }

# soft CHECK ARGS...: runs a check that would fail the test, notes its failure and goes on,
# so that one run reports every deviation; soft_done fails the test if any was noted.
SOFT_FAILED=
soft() { ("$@") || SOFT_FAILED="$SOFT_FAILED [$*]"; }
soft_done() { [ -z "$SOFT_FAILED" ] || fail "deviations:$SOFT_FAILED"; }
