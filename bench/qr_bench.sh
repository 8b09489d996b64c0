#!/bin/bash
# qr_bench.sh: dicomaid's Query/Retrieve SCP against dcmtk's dcmqrscp (issue 6, "Benchmark").
#
# Usage (from the top of a built tree: `make && make tests/query/gen_index`):
#   bench/qr_bench.sh                 full run
#   SMALL=1 bench/qr_bench.sh         reduced sizes (see below) for a quick run
# Environment (defaults for the full run; SMALL=1 values in brackets):
#   BIG_STUDIES=10000 [10000]  studies in the generated index for dicomaid alone
#                              (tests/query/gen_index: 3 series, ~15 instances a study, no files)
#   FAIR_STUDIES=500 [200]     studies of one small (64x64) real file each, stored into BOTH
#                              servers for the side-by-side C-FIND comparison; at most 500,
#                              dcmqrscp's compiled-in limit of studies in one storage area
#   MOVE_INSTANCES=500 [100]   instances of IMAGE_SIZE^2 16-bit MR in the retrieved study
#   IMAGE_SIZE=256 [256]
#   RUNS=11 [5]                runs for each latency median (echo, selective C-FIND)
#   REPEAT=200                 queries on one association for the per-query latency
#   TPUT_RUNS=3 [2]            runs for each throughput median (universal C-FIND, C-MOVE, C-GET)
#   PDU=65536                  max PDU announced by every receiver (servers, storescp, getscu)
#   BUILDDIR=.                 where src/dicomaid and tests/query/gen_index were built
#   TMPDIR=/tmp                where the temporary work directory goes (removed on exit)
#   KEEP=1                     keep the work directory (logs, configs, data) and print its path
#   RESULTS=FILE               also write the results table to FILE
#
# What it measures, all on 127.0.0.1 with dcmtk's command-line SCUs (TCP_NODELAY=1 exported):
#   - echo: median wall time of a whole `echoscu` process (process start, association, C-ECHO,
#     release): the baseline subtracted from the C-FIND figures ("net").
#   - C-FIND, Study Root, STUDY level, the same return keys on both servers:
#       selective: PatientID=PIDnnnnnn (2 studies match), and PatientName=PATIENTn^* (wildcard,
#       2 studies match), a different patient each run; median wall time of the findscu process,
#       and that minus the echo baseline ("net");
#       in one association: the PatientID query REPEAT times on one association (findscu
#       --repeat); net = (wall - echo baseline) / REPEAT, and queries/s;
#       universal: no matching key, every study returned; matches/s = matches / net time.
#     On the generated index (dicomaid only) also the universal query with the derived keys
#     ModalitiesInStudy and NumberOfStudyRelatedInstances (dcmqrscp does not compute them).
#   - C-MOVE (movescu -> server -> storescp ARCHIVE) and C-GET (getscu) of the whole study of
#     MOVE_INSTANCES instances: instances/s and MB/s (bytes of the stored files / wall time of the
#     movescu or getscu process); the receiver writes every file and the count is checked.
#   The table gives the median and the best (minimum) wall time of the runs; the rates and the
#   "net" times are computed from the medians. "server CPU ms" is the user + system time the
#   server used (dicomaid: the process, all threads; dcmqrscp: the parent and its per-association
#   children), from /proc in clock ticks (10 ms), summed over all runs and divided by the runs
#   (x instances or queries): it is robust to load from other work, unlike wall time.
#   Runs alternate between the two servers, so that load from other work on the machine falls
#   on both alike. Every result count is checked (a wrong count stops the benchmark).
# Setup (not measured as the subject): dicomaid with fsync = no, max_matches = 1000000;
# dcmqrscp forking per association (its default), two AEs of 500 studies (its maximum), so that
# nothing is deleted, filled by storescu (the store times are printed for information).
# Limits: dcmqrscp and storescp cannot bind one address, they listen on every interface for the
# length of the run (dicomaid binds 127.0.0.1); all clients connect to 127.0.0.1.
# Needs: dcmtk (findscu movescu getscu echoscu storescu storescp dcmqrscp), /usr/bin/python3 with
# pydicom and numpy (bench/qr/gen_files.py), ss (iproute2) and pgrep (procps).
# Figures and caveats of a run: bench/qr/README.md.
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "${BUILDDIR:-.}" && pwd)
if [ "${SMALL:-0}" = 1 ]; then
	: "${FAIR_STUDIES:=200}" "${MOVE_INSTANCES:=100}" "${RUNS:=5}" "${TPUT_RUNS:=2}"
fi
BIG_STUDIES=${BIG_STUDIES:-10000}
FAIR_STUDIES=${FAIR_STUDIES:-500}
MOVE_INSTANCES=${MOVE_INSTANCES:-500}
IMAGE_SIZE=${IMAGE_SIZE:-256}
RUNS=${RUNS:-11}
TPUT_RUNS=${TPUT_RUNS:-3}
REPEAT=${REPEAT:-200}
PDU=${PDU:-65536}
DICOMAID="$builddir/src/dicomaid"
GEN_INDEX="$builddir/tests/query/gen_index"
GEN_FILES="$srcdir/bench/qr/gen_files.py"
export TCP_NODELAY=1

for c in findscu movescu getscu echoscu storescu storescp dcmqrscp; do
	command -v "$c" >/dev/null || { echo "qr_bench: $c not found (dcmtk)" >&2; exit 2; }
done
for f in "$DICOMAID" "$GEN_INDEX"; do
	[ -x "$f" ] || { echo "qr_bench: $f not built (make && make tests/query/gen_index)" >&2; exit 2; }
done
[ "$FAIR_STUDIES" -le 500 ] && [ "$FAIR_STUDIES" -ge 2 ] && [ "$BIG_STUDIES" -ge 2 ] ||
	{ echo "qr_bench: FAIR_STUDIES must be 2..500 (dcmqrscp's limit), BIG_STUDIES >= 2" >&2; exit 2; }
/usr/bin/python3 -c 'import pydicom, numpy' 2>/dev/null ||
	{ echo "qr_bench: /usr/bin/python3 needs pydicom and numpy" >&2; exit 2; }

W=$(mktemp -d "${TMPDIR:-/tmp}/qr_bench.XXXXXX")
PIDS=()
cleanup() {
	local rc=$? p c
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do
		# dcmqrscp forks a child per association: end those children too, by their ids
		for c in $(pgrep -P "$p" 2>/dev/null || true); do kill -TERM "$c" 2>/dev/null || true; done
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ $rc -ne 0 ]; then
		for f in "$W"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f (last 30 lines)" >&2; tail -n 30 "$f" >&2
		done
	fi
	if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $W" >&2; else rm -rf "$W"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "qr_bench: $*" >&2; exit 1; }
say() { echo "# $*" >&2; }

# ---- ports and processes
USED_PORTS=" "
listening() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
# free_port VAR: sets VAR to a port nothing listens on and this run has not used yet.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		case "$USED_PORTS" in *" $p "*) continue ;; esac
		listening "$p" && continue
		USED_PORTS="$USED_PORTS$p "
		printf -v "$1" '%s' "$p"
		return
	done
}
# wait_ready AE PORT PID LOG: waits until AE on PORT answers a C-ECHO while PID lives.
wait_ready() {
	for _ in $(seq 1 100); do
		echoscu -aet PACS -aec "$1" 127.0.0.1 "$2" >/dev/null 2>&1 && return 0
		kill -0 "$3" 2>/dev/null || { cat "$4" >&2; die "$1 on port $2 exited"; }
		sleep 0.1
	done
	cat "$4" >&2
	die "$1 does not answer on port $2"
}
stop_pid() {
	local p=$1 c rest=()
	for c in $(pgrep -P "$p" 2>/dev/null || true); do kill -TERM "$c" 2>/dev/null || true; done
	kill -TERM "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	for c in "${PIDS[@]}"; do [ "$c" = "$p" ] || rest+=("$c"); done
	PIDS=("${rest[@]}")
}

free_port ARCH_PORT

# start_dicomaid NAME DATADIR: dicomaid on a fresh port; sets DA_PORT and DA_PID.
start_dicomaid() {
	local name=$1 data=$2
	free_port DA_PORT
	mkdir -p "$data"
	cat >"$W/$name.conf" <<CONF
[server]
ae_title = DICOMAID
bind = 127.0.0.1
port = $DA_PORT
max_associations = 16
max_pdu = $PDU
idle_timeout = 600

[storage]
path = $data
fsync = no
duplicates = overwrite

[index]
database = $data/index.sqlite

[query]
max_matches = 1000000

[peer archive]
ae_title = ARCHIVE
host = 127.0.0.1
port = $ARCH_PORT
CONF
	"$DICOMAID" -c "$W/$name.conf" >"$W/$name.log" 2>&1 &
	DA_PID=$!
	PIDS+=("$DA_PID")
	wait_ready DICOMAID "$DA_PORT" "$DA_PID" "$W/$name.log"
}

# start_dcmqrscp: dcmqrscp with two AEs: DCMQR (storage area $W/dcmqr) for the C-FIND studies,
# DCMQRM ($W/dcmqrm) for the retrieved study, because dcmtk caps an AE's storage area at 500
# studies (DB_UpperMaxStudies in dcmqrdbi.h) and deletes the oldest study past it. ARCHIVE is a
# known move destination. Sets QR_PORT and QR_PID.
start_dcmqrscp() {
	free_port QR_PORT
	mkdir -p "$W/dcmqr" "$W/dcmqrm"
	cat >"$W/dcmqrscp.cfg" <<CFG
NetworkTCPPort  = $QR_PORT
MaxPDUSize      = $PDU
MaxAssociations = 16
HostTable BEGIN
archive = (ARCHIVE, localhost, $ARCH_PORT)
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
DCMQR  $W/dcmqr  RW (500, 1024mb) ANY
DCMQRM $W/dcmqrm RW (500, 1024mb) ANY
AETable END
CFG
	dcmqrscp -c "$W/dcmqrscp.cfg" "$QR_PORT" >"$W/dcmqrscp.log" 2>&1 &
	QR_PID=$!
	PIDS+=("$QR_PID")
	wait_ready DCMQR "$QR_PORT" "$QR_PID" "$W/dcmqrscp.log"
}

# ---- timing
# timed CMD...: runs CMD (output to $W/cmd.log), prints its wall time in microseconds.
timed() {
	local t0 t1 rc=0
	t0=${EPOCHREALTIME/./}
	"$@" >>"$W/cmd.log" 2>&1 || rc=$?
	t1=${EPOCHREALTIME/./}
	[ $rc = 0 ] || { tail -n 20 "$W/cmd.log" >&2; die "failed ($rc): $*"; }
	echo $((t1 - t0))
}
minimum() { tr ' ' '\n' | grep . | sort -n | head -1; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {
	if (NR % 2) print v[(NR+1)/2]; else print int((v[NR/2]+v[NR/2+1])/2) }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }

# ---- the SCU invocations; AE DICOMAID or DCMQR, port
echo_once() { echoscu -q -aet PACS -aec "$1" 127.0.0.1 "$2"; }
RETURN_KEYS=(-k StudyInstanceUID -k PatientName -k PatientID -k StudyDate -k StudyTime
	-k AccessionNumber -k StudyID -k StudyDescription)
# find AEC PORT KEY...: a Study Root STUDY-level C-FIND with the common return keys.
find_q() {
	local aec=$1 port=$2; shift 2
	findscu -q -aet PACS -aec "$aec" -S -pdu "$PDU" ${XOPT:-} 127.0.0.1 "$port" \
		-k QueryRetrieveLevel=STUDY "${RETURN_KEYS[@]}" "$@"
}
# find_count AEC PORT KEY...: the same query writing the responses; prints their count.
find_count() {
	local d="$W/find.$$"
	rm -rf "$d"; mkdir -p "$d"
	(cd "$d" && XOPT=-X find_q "$@" >>"$W/cmd.log" 2>&1) || die "findscu $*"
	find "$d" -name 'rsp*' | wc -l
	rm -rf "$d"
}
move_once() { movescu -q -aet PACS -aec "$1" -aem ARCHIVE -S 127.0.0.1 "$2" \
	-k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$3"; }
get_once() { getscu -q -aet PACS -aec "$1" -S -pdu "$PDU" -od "$W/get" 127.0.0.1 "$2" \
	-k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$3"; }

# ---- server CPU time: robust where wall time is not (a shared, loaded machine)
CLK=$(getconf CLK_TCK)
# server_cpu PID: CPU ms (user + system) used so far by PID (all its threads), its reaped
# children and its live (or not yet reaped) children: dcmqrscp works in a child per association.
server_cpu() {
	local p f t=0
	for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
		f=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
		read -ra F <<<"$f"
		# after "(comm)": F[0] is field 3 (state), so utime..cstime (fields 14-17) are F[11..14]
		t=$((t + F[11] + F[12] + F[13] + F[14]))
	done
	echo $((t * 1000 / CLK))
}

# ---- results
declare -A TS CPU MED
# measure KEY PID CMD...: runs CMD (timed); appends its wall time (us) to TS[KEY] and the server
# PID's CPU time (ms) over it to CPU[KEY].
measure() {
	local key=$1 pid=$2 c0 c1 t
	shift 2
	c0=$(server_cpu "$pid")
	t=$(timed "$@")
	c1=$(server_cpu "$pid")
	TS[$key]+=" $t"
	CPU[$key]+=" $((c1 - c0))"
}
# cpu_per KEY DIVISOR: the server CPU of all runs of KEY over (runs x DIVISOR), in ms.
cpu_per() {
	echo "${CPU[$1]}" | tr ' ' '\n' | grep . |
		awk -v d="$2" '{ s += $1; n++ } END { printf "%.2f", n ? s / (n * d) : 0 }'
}
RESULTS_TXT="$W/results.txt"
: >"$RESULTS_TXT"
row() { printf '%-44s %-9s %9s %9s %9s %10s %-10s %s\n' "$@" >>"$RESULTS_TXT"; }
HEADER=("measure" "server" "median ms" "best ms" "net ms" "rate" "unit" "server CPU ms")
row "${HEADER[@]}"
rate() { awk -v n="$1" -v u="$2" 'BEGIN { if (u <= 0) print "n/a"; else printf "%.0f", n / (u / 1e6) }'; }

# ---- the C-FIND measurements: find_suite STUDIES "LABEL AE PORT PID" ... (one or more servers)
# Per run and server: an echoscu (the baseline), a PatientID query and a wildcard PatientName
# query, so that the baseline sees the same machine load; then, TPUT_RUNS times, the universal
# query and the PatientID query repeated REPEAT times on one association (findscu --repeat),
# which gives the time of one query with process start and association setup amortised:
# (t(findscu with REPEAT queries) - t(echoscu)) / REPEAT. Servers alternate within each run.
find_suite() {
	local n=$1 pats=$(($1 / 2)) i p c s label aec port pid k
	shift
	local servers=("$@")
	for s in "${servers[@]}"; do
		set -- $s; label=$1 aec=$2 port=$3
		c=$(find_count "$aec" "$port" -k PatientID=PID000001)
		[ "$c" = 2 ] || die "$label: PatientID=PID000001 matched $c studies, expected 2"
		c=$(find_count "$aec" "$port" "-k" "PatientName=PATIENT1^*")
		[ "$c" = 2 ] || die "$label: PatientName=PATIENT1^* matched $c studies, expected 2"
		c=$(find_count "$aec" "$port")
		[ "$c" = "$n" ] || die "$label: universal query returned $c studies, expected $n"
		for k in echo sel wild uni rep; do TS[$label.$k]="" CPU[$label.$k]=""; done
	done
	for i in $(seq 1 "$RUNS"); do
		p=$(((i * 7919) % pats))
		for s in "${servers[@]}"; do
			set -- $s; label=$1 aec=$2 port=$3 pid=$4
			measure "$label.echo" "$pid" echo_once "$aec" "$port"
			measure "$label.sel" "$pid" find_q "$aec" "$port" -k "$(printf 'PatientID=PID%06d' "$p")"
			measure "$label.wild" "$pid" find_q "$aec" "$port" -k "PatientName=PATIENT$p^*"
		done
	done
	for i in $(seq 1 "$TPUT_RUNS"); do
		for s in "${servers[@]}"; do
			set -- $s; label=$1 aec=$2 port=$3 pid=$4
			measure "$label.uni" "$pid" find_q "$aec" "$port"
			XOPT="--repeat $REPEAT" measure "$label.rep" "$pid" find_q "$aec" "$port" -k PatientID=PID000001
		done
	done
	local mecho msel mwild muni mrep
	for s in "${servers[@]}"; do
		set -- $s; label=$1
		mecho=$(echo "${TS[$label.echo]}" | median)
		msel=$(echo "${TS[$label.sel]}" | median); mwild=$(echo "${TS[$label.wild]}" | median)
		muni=$(echo "${TS[$label.uni]}" | median); mrep=$(echo "${TS[$label.rep]}" | median)
		best() { ms "$(echo "${TS[$label.$1]}" | minimum)"; }
		row "C-ECHO (echoscu process: the baseline)" "$label" "$(ms "$mecho")" "$(best echo)" "-" "-" "" \
			"$(cpu_per "$label.echo" 1)/assoc"
		row "C-FIND PatientID= (2 of $n)" "$label" "$(ms "$msel")" "$(best sel)" "$(ms $((msel - mecho)))" "-" "" \
			"$(cpu_per "$label.sel" 1)/assoc"
		row "C-FIND PatientName=PATIENTn^* (2 of $n)" "$label" "$(ms "$mwild")" "$(best wild)" \
			"$(ms $((mwild - mecho)))" "-" "" "$(cpu_per "$label.wild" 1)/assoc"
		row "C-FIND PatientID=, in one assoc. (x$REPEAT)" "$label" "$(ms "$mrep")" "$(best rep)" \
			"$(ms $(((mrep - mecho) / REPEAT)))" "$(rate "$REPEAT" $((mrep - mecho)))" "queries/s" \
			"$(cpu_per "$label.rep" "$REPEAT")/query"
		row "C-FIND universal ($n of $n)" "$label" "$(ms "$muni")" "$(best uni)" "$(ms $((muni - mecho)))" \
			"$(rate "$n" $((muni - mecho)))" "matches/s" "$(cpu_per "$label.uni" 1)/query"
		ECHO_US=$mecho
		MED[$label.sel]=$msel MED[$label.uni]=$muni MED[$label.rep]=$(((mrep - mecho) / REPEAT))
	done
}

# server_problems LOG: prints dicomaid's error and warning lines (but the expected fsync one).
server_problems() {
	grep -E '^<[0-4]>' "$1" | grep -v 'event=fsync_disabled' | sed "s|^|$(basename "$1"): |" >&2 || true
}

say "work directory $W"
say "sizes: BIG_STUDIES=$BIG_STUDIES FAIR_STUDIES=$FAIR_STUDIES MOVE_INSTANCES=$MOVE_INSTANCES" \
	"IMAGE_SIZE=$IMAGE_SIZE RUNS=$RUNS TPUT_RUNS=$TPUT_RUNS REPEAT=$REPEAT PDU=$PDU"

# ==== 1. dicomaid alone on a generated index of BIG_STUDIES studies
say "generating an index of $BIG_STUDIES studies"
mkdir -p "$W/big"
"$GEN_INDEX" "$W/big/index.sqlite" "$BIG_STUDIES" >"$W/gen_index.log" 2>&1 || die "gen_index"
start_dicomaid big "$W/big"
say "dicomaid (generated index) on port $DA_PORT"
find_suite "$BIG_STUDIES" "dicomaid DICOMAID $DA_PORT $DA_PID"
c=$(find_count DICOMAID "$DA_PORT" -k ModalitiesInStudy -k NumberOfStudyRelatedInstances)
[ "$c" = "$BIG_STUDIES" ] || die "universal query with derived keys returned $c"
for i in $(seq 1 "$TPUT_RUNS"); do
	measure derived "$DA_PID" find_q DICOMAID "$DA_PORT" -k ModalitiesInStudy -k NumberOfStudyRelatedInstances
done
m=$(echo "${TS[derived]}" | median)
row "  + ModalitiesInStudy, NumberOfStudyRel.Inst." "dicomaid" "$(ms "$m")" \
	"$(ms "$(echo "${TS[derived]}" | minimum)")" "$(ms $((m - ECHO_US)))" \
	"$(rate "$BIG_STUDIES" $((m - ECHO_US)))" "matches/s" "$(cpu_per derived 1)/query"
stop_pid "$DA_PID"
server_problems "$W/big.log"
echo >>"$RESULTS_TXT"
mv "$RESULTS_TXT" "$W/results.big"; : >"$RESULTS_TXT"
row "${HEADER[@]}"

# ==== 2. both servers on the same FAIR_STUDIES real files
say "writing $FAIR_STUDIES one-instance studies and a study of $MOVE_INSTANCES ${IMAGE_SIZE}x$IMAGE_SIZE instances"
/usr/bin/python3 "$GEN_FILES" studies "$W/files/studies" "$FAIR_STUDIES" || die "gen_files studies"
MOVE_UID=$(/usr/bin/python3 "$GEN_FILES" study "$W/files/study" "$MOVE_INSTANCES" "$IMAGE_SIZE") ||
	die "gen_files study"
MOVE_BYTES=$(du -cb "$W"/files/study/*.dcm | tail -1 | cut -f1)
[ "$MOVE_BYTES" -lt 1073741824 ] || die "the retrieved study is over dcmqrscp's limit of 1 GB a study"

start_dicomaid fair "$W/fair"
start_dcmqrscp
say "dicomaid on port $DA_PORT, dcmqrscp on port $QR_PORT, ARCHIVE (storescp) on port $ARCH_PORT"
store_dir() { storescu -aet MODALITY -aec "$1" -pdu "$PDU" +sd 127.0.0.1 "$2" "$3"; }
for s in "dicomaid DICOMAID $DA_PORT $DA_PID" "dcmqrscp DCMQR $QR_PORT $QR_PID"; do
	set -- $s
	measure "$1.store1" "$4" store_dir "$2" "$3" "$W/files/studies"
	u=${TS[$1.store1]# }
	row "(setup) C-STORE $FAIR_STUDIES small files, 1 assoc." "$1" "$(ms "$u")" "-" "-" \
		"$(rate "$FAIR_STUDIES" "$u")" "inst/s" "$(cpu_per "$1.store1" "$FAIR_STUDIES")/inst"
done

find_suite "$FAIR_STUDIES" "dicomaid DICOMAID $DA_PORT $DA_PID" "dcmqrscp DCMQR $QR_PORT $QR_PID"

# ==== 3. C-MOVE and C-GET of one study of MOVE_INSTANCES instances
RETRIEVERS=("dicomaid DICOMAID $DA_PORT $DA_PID" "dcmqrscp DCMQRM $QR_PORT $QR_PID")
for s in "${RETRIEVERS[@]}"; do
	set -- $s
	measure "$1.store2" "$4" store_dir "$2" "$3" "$W/files/study"
	u=${TS[$1.store2]# }
	row "(setup) C-STORE $MOVE_INSTANCES ${IMAGE_SIZE}^2 files, 1 assoc." "$1" "$(ms "$u")" "-" "-" \
		"$(rate "$MOVE_INSTANCES" "$u")" "inst/s" "$(cpu_per "$1.store2" "$MOVE_INSTANCES")/inst"
done
mkdir -p "$W/archive" "$W/get"
storescp -aet ARCHIVE -pdu "$PDU" -od "$W/archive" "$ARCH_PORT" >"$W/storescp.log" 2>&1 &
SCP_PID=$!
PIDS+=("$SCP_PID")
wait_ready ARCHIVE "$ARCH_PORT" "$SCP_PID" "$W/storescp.log"

for i in $(seq 1 "$TPUT_RUNS"); do
	for s in "${RETRIEVERS[@]}"; do
		set -- $s
		rm -rf "$W/archive"/* "$W/get"/*
		measure "$1.move" "$4" move_once "$2" "$3" "$MOVE_UID"
		n=$(find "$W/archive" -type f | wc -l)
		[ "$n" = "$MOVE_INSTANCES" ] || die "$1: C-MOVE delivered $n of $MOVE_INSTANCES instances"
		measure "$1.get" "$4" get_once "$2" "$3" "$MOVE_UID"
		n=$(find "$W/get" -type f | wc -l)
		[ "$n" = "$MOVE_INSTANCES" ] || die "$1: C-GET returned $n of $MOVE_INSTANCES instances"
	done
done
for op in move get; do
	for k in dicomaid dcmqrscp; do
		m=$(echo "${TS[$k.$op]}" | median)
		MED[$k.$op]=$m
		if [ $op = move ]; then l="C-MOVE study of $MOVE_INSTANCES to storescp"
		else l="C-GET study of $MOVE_INSTANCES (getscu)"; fi
		row "$l" "$k" "$(ms "$m")" "$(ms "$(echo "${TS[$k.$op]}" | minimum)")" "-" \
			"$(rate "$MOVE_INSTANCES" "$m")" "inst/s" "$(cpu_per "$k.$op" "$MOVE_INSTANCES")/inst"
		row "" "" "" "" "" \
			"$(awk -v b="$MOVE_BYTES" -v u="$m" 'BEGIN { printf "%.1f", b / 1e6 / (u / 1e6) }')" "MB/s" ""
	done
done
stop_pid "$SCP_PID"
server_problems "$W/fair.log"

# ==== report
ratio() { awk -v a="${MED[dicomaid.$1]}" -v b="${MED[dcmqrscp.$1]}" \
	'BEGIN { if (a <= 0) print "n/a"; else printf "%.2f", b / a }'; }
cpu_ratio() { awk -v a="$(cpu_per "dicomaid.$1" 1)" -v b="$(cpu_per "dcmqrscp.$1" 1)" \
	'BEGIN { if (a <= 0) print "n/a"; else printf "%.2f", b / a }'; }
{
	echo "== qr_bench: dicomaid $(git -C "$srcdir" describe --always --dirty 2>/dev/null || echo '?')," \
		"dcmtk $(dcmqrscp --version | sed -n 's/.*dcmqrscp v\([^ ]*\).*/\1/p'), $(nproc) CPUs," \
		"load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
	echo "== sizes: BIG_STUDIES=$BIG_STUDIES FAIR_STUDIES=$FAIR_STUDIES MOVE_INSTANCES=$MOVE_INSTANCES" \
		"IMAGE_SIZE=$IMAGE_SIZE ($MOVE_BYTES bytes) RUNS=$RUNS TPUT_RUNS=$TPUT_RUNS REPEAT=$REPEAT PDU=$PDU"
	echo
	echo "-- dicomaid alone, generated index of $BIG_STUDIES studies (gen_index: 3 series each)"
	cat "$W/results.big"
	echo "-- both servers, the same $FAIR_STUDIES one-instance studies and one $MOVE_INSTANCES-instance study"
	cat "$RESULTS_TXT"
	echo
	echo "-- ratios dicomaid/dcmqrscp (> 1 = dicomaid better)    wall (medians)  server CPU"
	printf '%-50s %8s %10s\n' "C-FIND selective (PatientID), own association" \
		"$(ratio sel)" "$(cpu_ratio sel)"
	printf '%-50s %8s %10s\n' "C-FIND selective, $REPEAT in one association" \
		"$(ratio rep)" "$(cpu_ratio rep)"
	printf '%-50s %8s %10s\n' "C-FIND universal" \
		"$(ratio uni)" "$(cpu_ratio uni)"
	printf '%-50s %8s %10s\n' "C-MOVE $MOVE_INSTANCES instances" \
		"$(ratio move)" "$(cpu_ratio move)"
	printf '%-50s %8s %10s\n' "C-GET $MOVE_INSTANCES instances" \
		"$(ratio get)" "$(cpu_ratio get)"
} >"$W/report.txt"
cat "$W/report.txt"
[ -z "${RESULTS:-}" ] || cp "$W/report.txt" "$RESULTS"
