# Helpers for the limits tests (sourced by tests/limits/*.sh): the bad-input harness
# (daemon, rawpeer, expect/logged/serves) plus audit queries.
. "$(dirname "$0")/../badinput/lib.sh"

# Some tests bound the daemon's memory (RSS); under AddressSanitizer freed blocks stay
# resident in its quarantine, so keep that small (no effect on other builds).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"

# SERVER_EXTRA / STORAGE_EXTRA: lines added to the [server] / [storage] section of the
# config tests/integration/lib.sh writes.
eval "base_$(declare -f write_config)"
write_config() {
	base_write_config
	awk -v srv="${SERVER_EXTRA:-}" -v sto="${STORAGE_EXTRA:-}" '
		{ print }
		/^\[server\]$/ && srv != "" { print srv }
		/^\[storage\]$/ && sto != "" { print sto }' "$T/dicomaid.conf" >"$T/dicomaid.conf.new"
	mv "$T/dicomaid.conf.new" "$T/dicomaid.conf"
}

# audit_outcome WHERE N: waits until N rows of the associations table match WHERE.
audit_outcome() {
	local want=$2 got=
	for _ in $(seq 1 300); do
		got=$(sql "select count(*) from associations where $1") || true
		[ "$got" = "$want" ] && return 0
		sleep 0.05
	done
	fail "associations where $1: $got rows, expected $want"
}

# wait_log REGEX [TRIES]: waits until the daemon log matches REGEX.
wait_log() {
	for _ in $(seq 1 "${2:-200}"); do
		grep -Eq "$1" "$T/daemon.log" && return 0
		sleep 0.05
	done
	fail "no log line matching '$1'"
}

# n_established: associations accepted minus those closed after acceptance, from the log.
n_accepted() { grep -c 'event=accepted' "$T/daemon.log" || true; }

# wait_statuses N FILES...: waits until N "STATUS" lines appear in the given outputs.
wait_statuses() {
	local n=$1
	shift
	for _ in $(seq 1 200); do
		[ "$(cat "$@" 2>/dev/null | grep -c '^STATUS')" -ge "$n" ] && return 0
		sleep 0.05
	done
	fail "expected $n STATUS lines in $*"
}
