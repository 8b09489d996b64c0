#!/bin/bash
# nn_bench.sh: dicomaid's CNN engine vs PyTorch CPU vs OpenBLAS sgemm on the detector (issue 3).
#
# Usage (from the top of a built tree):
#   bench/nn_bench.sh [-s SECONDS] [-n TORCH_ITERS] [-m MODEL.onnx] [-B BUILDDIR]
#                     [-c "B:T B:T ..."] [-r REPEATS] [-w SLICES] [--no-nn] [--no-torch] [--no-sgemm]
#                     [--torch-mode eager|jit]
# Method, figures and verdict of the last full run: bench/README-nn.md.
#
#   -s SECONDS   time per configuration for dicomaid-nn bench and torch (default 5)
#   -n ITERS     fixed iteration count for torch instead of -s (quick runs)
#   -m MODEL     ONNX file (default bench/detector_bench.onnx, made by
#                `/usr/bin/python3 tools/detector_net.py --export bench/detector_bench.onnx`)
#   -B BUILDDIR  where src/dicomaid-nn was built (default: .)
#   -c CONFIGS   batch:threads pairs (default "1:1 1:2 16:1 16:2")
#   -r REPEATS   measure each side REPEATS times, alternating, and keep the best (default 1);
#                on a shared machine use -r 3 with a short -s
#   -w SLICES    whole-process mode (the one to quote on a shared machine, see bench/README-nn.md):
#                each side runs as separate processes doing a fixed amount of work,
#                ceil(SLICES / B) timed iterations (`dicomaid-nn bench --iters N`,
#                `torch_bench.py -n N --warmup 1`) and, to cancel start-up (Python, torch and
#                ONNX imports, model load, the warm-up run), the same with 1 iteration. The four
#                commands run in turn, REPEATS (-r, use >= 5) times; of each the median wall time
#                and the median CPU time (user + system, the kernel's accounting of the finished
#                process) are taken, and per-iteration time = (median(N) - median(1)) / (N - 1).
#                slices/s comes from wall time, slices/CPU-s from CPU time; the CPU-time ratio is
#                the one that survives other load on the machine (at 1 thread).
#                sgemm is timed the same way (sgemm_shapes -r N vs -r 1).
#
# For every configuration it runs, on the same ONNX file and in the same run:
#   dicomaid-nn bench MODEL --batch B --threads T --seconds S     (OPENBLAS_NUM_THREADS=T)
#   /usr/bin/python3 tools/torch_bench.py --model MODEL ...         (OMP_NUM_THREADS=T; the same
#       network from tools/detector_net.py with the weights read from MODEL)
#   bench/sgemm_shapes at the network's im2col GEMM shapes (M = out channels, K = in channels x
#       kh x kw, N = H x W x B), OPENBLAS_NUM_THREADS=T, and square sgemm (2048^3) for the peak
# and prints a table: slices/s of both, the ratio dicomaid / torch, dicomaid's GFLOP/s, sgemm's
# GFLOP/s at the same shapes, and dicomaid's share of the square-sgemm peak.
# Targets (issue 3): ratio >= 1.0 everywhere and >= 1.3 at batch 1; >= 65 % of peak at batch 16.
# Needs: cc, pkg-config openblas (libopenblas-dev), python3-torch, python3-onnx for the torch side.
# The machine is shared: keep -s short; nothing runs in parallel.
set -u

seconds=5
iters=0
model=bench/detector_bench.onnx
builddir=.
configs="1:1 1:2 16:1 16:2"
repeats=1
slices=0
do_nn=1 do_torch=1 do_sgemm=1 torch_mode=eager
py=/usr/bin/python3
srcdir=$(cd "$(dirname "$0")/.." && pwd)

while [ $# -gt 0 ]; do
	case $1 in
	-s) seconds=$2; shift 2 ;;
	-n) iters=$2; shift 2 ;;
	-m) model=$2; shift 2 ;;
	-B) builddir=$2; shift 2 ;;
	-c) configs=$2; shift 2 ;;
	-r) repeats=$2; shift 2 ;;
	-w) slices=$2; shift 2 ;;
	--no-nn) do_nn=0; shift ;;
	--no-torch) do_torch=0; shift ;;
	--no-sgemm) do_sgemm=0; shift ;;
	--torch-mode) torch_mode=$2; shift 2 ;;
	-h|--help) sed -n '2,40p' "$0"; exit 0 ;;
	*) echo "nn_bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done

nn="$builddir/src/dicomaid-nn"
if [ $do_nn -eq 1 ] && [ ! -x "$nn" ]; then
	echo "nn_bench.sh: $nn not built; use -B BUILDDIR or --no-nn" >&2
	exit 2
fi
if [ ! -f "$model" ]; then
	echo "nn_bench.sh: $model missing; make it with $py tools/detector_net.py --export $model" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nn-bench.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

# last "slices_per_s=X gflops=Y" line of a log -> "X Y"
parse() { sed -n 's/^.*slices_per_s=\([0-9.eE+-]*\) gflops=\([0-9.eE+-]*\).*$/\1 \2/p' "$1" | tail -n 1; }
# best "X Y" pair of the lines on stdin (highest X), or nothing
best() { sort -g -r -k1,1 | head -n 1; }

if [ $do_sgemm -eq 1 ]; then
	if ! cc -std=c11 -O2 -o "$tmp/sgemm_shapes" "$srcdir/bench/sgemm_shapes.c" \
		$(pkg-config --cflags --libs openblas) -lm; then
		echo "nn_bench.sh: cannot build sgemm_shapes (libopenblas-dev, pkg-config?)" >&2
		exit 2
	fi
fi

echo "# nn_bench $(date -u +%Y-%m-%dT%H:%M:%SZ) host=$(hostname) cpus=$(nproc) model=$model"
grep -m1 'model name' /proc/cpuinfo | sed 's/^/# /'
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v n="$(nproc)" '$1 > 0.5 * n { print "# WARNING: the machine is busy (load " $1 " on " n " CPUs): figures are unreliable" }' /proc/loadavg

if [ "$slices" -gt 0 ]; then
	# ---- whole-process mode: fixed work per process, start-up cancelled, medians ----
	declare -A peak peakc
	# timeit FILE CMD...: appends "wall user sys" of CMD (bash's own accounting of the child)
	timeit() {
		local f=$1 TIMEFORMAT='%R %U %S'
		shift
		{ time "$@" >"$tmp/last.log" 2>&1; } 2>>"$f"
		grep -q 'slices_per_s=\|sgemm_gflops=' "$tmp/last.log" ||
			{ echo "# command failed: $*" >&2; tail -n 3 "$tmp/last.log" >&2; }
	}
	# med FILE COL(1 wall, 2 cpu): median over the lines
	med() {
		awk -v c="$2" '{ print (c == 1) ? $1 : $2 + $3 }' "$1" | sort -g |
			awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
				else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
	}
	# per FILE_HI FILE_LO N COL: seconds per iteration
	per() { awk -v h="$(med "$1" "$4")" -v l="$(med "$2" "$4")" -v n="$3" 'BEGIN { printf "%.6g", (h - l) / (n - 1) }'; }
	gf_slice=$("$nn" info "$model" 2>/dev/null | sed -n 's/.*[^0-9.]\([0-9.][0-9.]*\) GFLOP.*/\1/p' | head -n 1)
	[ -n "$gf_slice" ] || gf_slice=$("$py" "$srcdir/tools/detector_net.py" --info 2>/dev/null |
		sed -n 's/.*[^0-9.]\([0-9.][0-9.]*\) GFLOP.*/\1/p' | head -n 1)
	echo "# whole-process mode: $slices slices per timed process, $repeats interleaved repeats, medians; GFLOP/slice=$gf_slice"
	echo "# columns: slices/s (wall) of both and their ratio; slices per CPU-second of both and their"
	echo "# ratio; dicomaid's effective GFLOP/s (wall, and per CPU-second); sgemm GFLOP/s at the"
	echo "# network's shapes and square 2048^3 (wall / per CPU-second); dicomaid's share of the square"
	echo "# peak (wall / per CPU-second)"
	printf '\n%-7s %7s %7s %6s %8s %8s %6s %11s %11s %11s %9s\n' config "nn/s" "torch/s" "ratio" \
		"nn/cpus" "th/cpus" "cpurat" "nn_GF" "sg@shapes" "sg_square" "nn/peak"
	for cfg in $configs; do
		b=${cfg%:*} t=${cfg#*:}
		n=$(((slices + b - 1) / b))
		[ "$n" -ge 2 ] || n=2
		: >"$tmp/nh" ; : >"$tmp/nl" ; : >"$tmp/th" ; : >"$tmp/tl"
		for ((rep = 0; rep < repeats; rep++)); do
			for k in "$n h" "1 l"; do
				set -- $k
				OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t timeit "$tmp/n$2" \
					"$nn" bench "$model" --batch "$b" --threads "$t" --iters "$1"
				OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t timeit "$tmp/t$2" "$py" \
					"$srcdir/tools/torch_bench.py" --model "$model" --batch "$b" \
					--threads "$t" --mode "$torch_mode" -n "$1" --warmup 1
			done
		done
		nw=$(per "$tmp/nh" "$tmp/nl" "$n" 1) nc=$(per "$tmp/nh" "$tmp/nl" "$n" 2)
		tw=$(per "$tmp/th" "$tmp/tl" "$n" 1) tc=$(per "$tmp/th" "$tmp/tl" "$n" 2)
		sg=- pk=- sgc=- pkc=-
		if [ $do_sgemm -eq 1 ]; then
			"$py" "$srcdir/tools/detector_net.py" --gemm-shapes --batch "$b" >"$tmp/shapes" 2>/dev/null
			sgf=$(awk '{ f += 2 * $1 * $2 * $3 * $4 } END { print f / 1e9 }' "$tmp/shapes")
			rs=$(awk -v f="$sgf" 'BEGIN { r = int(4 * 90 / f); print (r < 2) ? 2 : r }')
			: >"$tmp/sh" ; : >"$tmp/sl" ; : >"$tmp/qh" ; : >"$tmp/ql"
			for ((rep = 0; rep < repeats; rep++)); do
				OPENBLAS_NUM_THREADS=$t timeit "$tmp/sh" sh -c "exec '$tmp/sgemm_shapes' -r $rs <'$tmp/shapes'"
				OPENBLAS_NUM_THREADS=$t timeit "$tmp/sl" sh -c "exec '$tmp/sgemm_shapes' -r 1 <'$tmp/shapes'"
				if [ -z "${peak[$t]:-}" ]; then
					OPENBLAS_NUM_THREADS=$t timeit "$tmp/qh" "$tmp/sgemm_shapes" -s 2048 -r 20
					OPENBLAS_NUM_THREADS=$t timeit "$tmp/ql" "$tmp/sgemm_shapes" -s 2048 -r 1
				fi
			done
			sg=$(awk -v f="$sgf" -v s="$(per "$tmp/sh" "$tmp/sl" "$rs" 1)" 'BEGIN { printf "%.1f", f / s }')
			sgc=$(awk -v f="$sgf" -v s="$(per "$tmp/sh" "$tmp/sl" "$rs" 2)" 'BEGIN { printf "%.1f", f / s }')
			if [ -z "${peak[$t]:-}" ]; then
				peak[$t]=$(awk -v s="$(per "$tmp/qh" "$tmp/ql" 20 1)" 'BEGIN { printf "%.1f", 2 * 2048 ^ 3 / 1e9 / s }')
				peakc[$t]=$(awk -v s="$(per "$tmp/qh" "$tmp/ql" 20 2)" 'BEGIN { printf "%.1f", 2 * 2048 ^ 3 / 1e9 / s }')
			fi
			pk=${peak[$t]} pkc=${peakc[$t]}
		fi
		awk -v b="$b" -v t="$t" -v nw="$nw" -v nc="$nc" -v tw="$tw" -v tc="$tc" -v g="$gf_slice" \
			-v sg="$sg" -v pk="$pk" -v sgc="$sgc" -v pkc="$pkc" 'BEGIN {
			ns = b / nw; ts = b / tw; ncs = b / nc; tcs = b / tc; gf = ns * g; gfc = ncs * g
			share = (pk + 0 > 0) ? sprintf("%.0f%%/%.0f%%", 100 * gf / pk, 100 * gfc / pkc) : "-"
			printf "%-7s %7.1f %7.1f %6.2f %8.1f %8.1f %6.2f %5.1f/%5.1f %5s/%5s %5s/%5s %9s\n", \
				"b" b "t" t, ns, ts, ns / ts, ncs, tcs, ncs / tcs, gf, gfc, sg, sgc, pk, pkc, share
		}'
	done
	echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
	exit 0
fi

declare -A peak
results=()
for cfg in $configs; do
	b=${cfg%:*} t=${cfg#*:}
	nn_sps=- nn_gf=- th_sps=- th_gf=- sg=-
	: >"$tmp/nn.best"
	: >"$tmp/torch.best"
	for ((rep = 0; rep < repeats; rep++)); do
		if [ $do_nn -eq 1 ]; then
			OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t \
				"$nn" bench "$model" --batch "$b" --threads "$t" --seconds "$seconds" >"$tmp/nn.log" 2>&1
			parse "$tmp/nn.log" >>"$tmp/nn.best"
			[ -n "$(parse "$tmp/nn.log")" ] || sed 's/^/#   nn: /' "$tmp/nn.log" | tail -n 3
		fi
		if [ $do_torch -eq 1 ]; then
			targs=(--seconds "$seconds")
			[ "$iters" -gt 0 ] && targs=(-n "$iters")
			OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$py" "$srcdir/tools/torch_bench.py" \
				--model "$model" --batch "$b" --threads "$t" --mode "$torch_mode" "${targs[@]}" \
				>"$tmp/torch.log" 2>&1
			parse "$tmp/torch.log" >>"$tmp/torch.best"
			[ -n "$(parse "$tmp/torch.log")" ] || sed 's/^/#   torch: /' "$tmp/torch.log" | tail -n 3
			grep '^torch ' "$tmp/torch.log" | sed 's/^/# /'
		fi
	done
	if [ $do_nn -eq 1 ]; then
		read -r nn_sps nn_gf < <(best <"$tmp/nn.best")
		[ -n "${nn_sps:-}" ] || { nn_sps=FAIL nn_gf=-; }
	fi
	if [ $do_torch -eq 1 ]; then
		read -r th_sps th_gf < <(best <"$tmp/torch.best")
		[ -n "${th_sps:-}" ] || { th_sps=FAIL th_gf=-; }
	fi
	if [ $do_sgemm -eq 1 ]; then
		"$py" "$srcdir/tools/detector_net.py" --gemm-shapes --batch "$b" >"$tmp/shapes" 2>/dev/null
		OPENBLAS_NUM_THREADS=$t "$tmp/sgemm_shapes" -t 0.1 <"$tmp/shapes" >"$tmp/sg.log" 2>&1
		sg=$(sed -n 's/^sgemm_gflops=//p' "$tmp/sg.log")
		if [ -z "${peak[$t]:-}" ]; then
			OPENBLAS_NUM_THREADS=$t "$tmp/sgemm_shapes" -t 1 -s 2048 >"$tmp/peak.log" 2>&1
			peak[$t]=$(sed -n 's/^sgemm_gflops=//p' "$tmp/peak.log")
		fi
	fi
	results+=("$b $t $nn_sps $th_sps $nn_gf $th_gf ${sg:--} ${peak[$t]:--}")
done

echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n%-14s %12s %12s %7s %10s %10s %12s %12s %8s\n' config "dicomaid/s" "torch/s" ratio \
	"nn_GF/s" "torch_GF/s" "sgemm@shapes" "sgemm_peak" "nn/peak"
for r in "${results[@]}"; do
	read -r b t ns ts ng tg sg pk <<<"$r"
	awk -v b="$b" -v t="$t" -v ns="$ns" -v ts="$ts" -v ng="$ng" -v tg="$tg" -v sg="$sg" -v pk="$pk" '
		function num(x) { return x ~ /^[0-9.eE+-]+$/ && x ~ /[0-9]/ }
		BEGIN {
			ratio = (num(ns) && num(ts) && ts > 0) ? sprintf("%.2f", ns / ts) : "-"
			share = (num(ng) && num(pk) && pk > 0) ? sprintf("%.0f%%", 100 * ng / pk) : "-"
			printf "%-14s %12s %12s %7s %10s %10s %12s %12s %8s\n", "batch" b " thr" t, ns, ts, ratio,
				ng, tg, sg, pk, share
		}'
done
