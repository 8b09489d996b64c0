# Helpers shared by the analysis integration tests (tests/integration/analysis_*.sh) and the
# analysis benchmark: storescp peers playing the PACS, copies of the simulated fixture series
# under new UIDs, and counts of what a PACS received. Sourced after lib.sh.
FIX="$top_srcdir/tests/analysis/fixtures/sim"
SR_CLASS=1.2.840.10008.5.1.4.1.1.88.34
GSPS_CLASS=1.2.840.10008.5.1.4.1.1.11.1

# tag FILE TAG: the value of one attribute as dcmdump prints it, brackets removed.
# (Strings print in brackets, binary numbers such as US bare.)
tag() {
	dcmdump -q -Un +P "$2" "$1" 2>/dev/null | head -n 1 |
		sed -e 's/^[^[]*\[\(.*\)\].*$/\1/' -e 's/^([0-9a-f,]*) [A-Z][A-Z] \([^ ]*\) .*/\1/'
}

# listening PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
listening() { (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_pacs NAME [PORT]: a storescp (AE title PACS) writing every object it receives to
# $T/NAME under a unique file name (so a duplicate shows as a second file) and appending the
# reception time (epoch seconds) to $T/NAME.times. Sets PACS_PID_<NAME> and PACS_PORT_<NAME>.
start_pacs() {
	local name=$1 port=${2:-} tries=0 pid
	mkdir -p "$T/$name"
	while :; do
		[ -n "${2:-}" ] || port=$(( $(pick_port) + 3 + tries ))
		storescp -aet PACS +uf -od "$T/$name" \
			-xcr "date +%s.%N >> $T/$name.times" "$port" >>"$T/$name.log" 2>&1 &
		pid=$!
		for _ in $(seq 1 50); do
			listening "$port" && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if listening "$port"; then
			eval "PACS_PID_$name=$pid PACS_PORT_$name=$port"
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		tries=$((tries + 1))
		[ $tries -lt 5 ] && [ -z "${2:-}" ] || fail "storescp $name did not start"
	done
}

# stop_pacs NAME
stop_pacs() {
	local pid
	eval "pid=\${PACS_PID_$1:-}"
	[ -n "$pid" ] || return 0
	kill -CONT "$pid" 2>/dev/null || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	eval "PACS_PID_$1="
}

# destination NAME PORT: a [destination] section for the daemon's configuration.
destination() {
	printf '\n[destination %s]\nae_title = PACS\nhost = 127.0.0.1\nport = %s\n' "$1" "$2"
}

# copy_series OUTDIR SUFFIX [FILES...]: the fixture series (or FILES) as a new series: Series
# and SOP Instance UIDs get SUFFIX appended, everything else (study, geometry) unchanged.
copy_series() {
	local out=$1 sfx=$2 f b
	shift 2
	[ $# -gt 0 ] || set -- "$FIX"/*.dcm
	mkdir -p "$out"
	for f in "$@"; do
		b=$(basename "$f")
		cp "$f" "$out/$b"
		dcmodify -nb -m "(0020,000E)=$(tag "$f" 0020,000E).$sfx" \
			-m "(0008,0018)=$(tag "$f" 0008,0018).$sfx" "$out/$b" >/dev/null 2>&1 ||
			fail "dcmodify $out/$b"
	done
}

# pacs_sops NAME CLASS: the SOP Instance UIDs of the CLASS objects the PACS NAME received,
# one line per received file (a duplicate delivery shows as a repeated line).
pacs_sops() {
	local f
	for f in "$T/$1"/*; do
		[ -f "$f" ] && [ "$(tag "$f" 0008,0016)" = "$2" ] || continue
		tag "$f" 0008,0018
	done
}

# pacs_count NAME CLASS: how many CLASS objects the PACS NAME received.
pacs_count() { pacs_sops "$1" "$2" | grep -c . || true; }

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds; false on timeout.
wait_for() {
	local n=$(( $1 * 5 ))
	shift
	for _ in $(seq 1 "$n"); do
		"$@" && return 0
		sleep 0.2
	done
	"$@"
}

# sql_is QUERY VALUE: the query's result equals VALUE (for wait_for).
sql_is() { [ "$(sql "$1" 2>/dev/null)" = "$2" ]; }
sql_ge() { local v; v=$(sql "$1" 2>/dev/null); [ -n "$v" ] && [ "$v" -ge "$2" ]; }

# wait_analysis_ready: the daemon loaded the model.
wait_analysis_ready() {
	wait_for 20 grep -q 'event=analysis_ready' "$T/daemon.log" || fail "analysis not ready"
}

# no_parts: no partial file (*.part) is left in the storage.
no_parts() { [ -z "$(find "$T/data" -name '*.part' -print -quit)" ]; }

# stack_series OUTDIR SUFFIX K: a series of 4*K slices made of K copies of the fixture's four
# slices, copy k moved along the slice normal by k stack heights (positions keep the fixture's
# spacing, so it stays one regular axial stack); new Series and SOP Instance UIDs (SUFFIX) and
# instance numbers. The pixels repeat; it is a longer job for a worker, nothing more.
stack_series() {
	local out=$1 sfx=$2 k=$3 i j f b p0 p3 pos suid
	local -a fb fpos fsop fnum
	mkdir -p "$out"
	p0=$(tag "$FIX/IM0028.dcm" 0020,0032)
	p3=$(tag "$FIX/IM0031.dcm" 0020,0032)
	suid="$(tag "$FIX/IM0028.dcm" 0020,000E).$sfx"
	j=0
	for f in "$FIX"/*.dcm; do
		fb[j]=$(basename "$f" .dcm)
		fpos[j]=$(tag "$f" 0020,0032)
		fsop[j]=$(tag "$f" 0008,0018)
		fnum[j]=$(tag "$f" 0020,0013)
		j=$((j + 1))
	done
	for i in $(seq 0 $((k - 1))); do
		for j in "${!fb[@]}"; do
			pos=$(A="${fpos[j]}" P0="$p0" P3="$p3" awk -v i="$i" 'BEGIN {
				split(ENVIRON["A"], x, "\\"); split(ENVIRON["P0"], u, "\\")
				split(ENVIRON["P3"], v, "\\")
				# four slices span three spacings: one stack height is 4/3 of p3 - p0
				for (n = 1; n <= 3; n++)
					y[n] = x[n] + i * (v[n] - u[n]) * 4 / 3
				printf "%.4f\\%.4f\\%.4f", y[1], y[2], y[3] }')
			b="$out/${fb[j]}.$i.dcm"
			cp "$FIX/${fb[j]}.dcm" "$b"
			dcmodify -nb -m "(0020,000E)=$suid" -m "(0008,0018)=${fsop[j]}.$sfx.$i" \
				-m "(0020,0032)=$pos" -m "(0020,0013)=$(( fnum[j] + 4 * i ))" \
				"$b" >/dev/null 2>&1 || fail "dcmodify $b"
		done
	done
}

# start_analysis_daemon [WORKERS]: a storescp "pacs" and the daemon (analysis on,
# stable_seconds 1, WORKERS workers, default 1) sending its results there; returns once the
# model is loaded. EXTRA_CONFIG keeps the configuration for later restarts.
start_analysis_daemon() {
	start_pacs pacs
	EXTRA_CONFIG="
[analysis]
stable_seconds = 1
workers = ${1:-1}
$(destination pacs "$PACS_PORT_pacs")
"
	start_daemon
	wait_analysis_ready
}
