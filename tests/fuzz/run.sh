#!/bin/bash
# tests/fuzz/run.sh SECONDS [TARGET...]: runs each libFuzzer target (built by `make fuzz`) for
# SECONDS on a scratch copy of its committed seed corpus (tests/fuzz/corpus/<target>), one after
# the other. Fails on any crash, leak, timeout, out-of-memory or sanitizer report; the
# reproducer is kept in $FUZZ_ARTIFACTS (default tests/fuzz/artifacts in the build tree).
# Prints one summary line per target with the number of executions.
# Environment: FUZZ_BIN (directory of the targets; default: the build tree's tests/fuzz),
# FUZZ_JOBS (targets run at once, default 1), FUZZ_KEEP_CORPUS=1 to keep the grown corpus.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:?usage: run.sh SECONDS [TARGET...]}
shift
targets=${*:-pdu dimse dataset query config onnx}
bin=${FUZZ_BIN:-${top_builddir:-$(pwd)}/tests/fuzz}
art=${FUZZ_ARTIFACTS:-$bin/artifacts}
mkdir -p "$art"
work=$(mktemp -d /tmp/dicomaid-fuzz.XXXXXX)
[ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

run_one() {
	local t=$1 exe="$bin/fuzz_$1" log="$work/$1.log"
	if [ ! -x "$exe" ]; then
		echo "fuzz_$t: not built (make fuzz)" >&2
		return 1
	fi
	mkdir -p "$work/$t"
	cp "$here/corpus/$t"/* "$work/$t/"
	# -timeout: one input taking this long is a hang; -rss_limit_mb/-malloc_limit_mb: an input
	# that makes the parser allocate this much is a finding (every parser bounds its memory)
	"$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
		-print_final_stats=1 -artifact_prefix="$art/${t}-" "$work/$t" >"$log" 2>&1
	local rc=$?
	local execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	local cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ $rc -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
		echo "FAIL fuzz_$t rc=$rc execs=${execs:-?} (log below; reproducer in $art)"
		grep -v '^#[0-9]' "$log" | tail -n 60
		return 1
	fi
	echo "ok   fuzz_$t ${secs}s execs=${execs:-?} ${cov:-} corpus=$(ls "$work/$t" | wc -l)"
}

status=0
jobs_max=${FUZZ_JOBS:-1}
if [ "$jobs_max" -le 1 ]; then
	for t in $targets; do run_one "$t" || status=1; done
else
	pids=()
	for t in $targets; do
		run_one "$t" > "$work/$t.summary" 2>&1 &
		pids+=($!)
		while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do sleep 1; done
	done
	for p in "${pids[@]}"; do wait "$p" || status=1; done
	for t in $targets; do cat "$work/$t.summary"; done
fi
exit $status
