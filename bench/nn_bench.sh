#!/bin/bash
# nn_bench.sh: dicomaid's CNN engine vs PyTorch CPU vs OpenBLAS sgemm on the detector (issue 3).
#
# Usage (from the top of a built tree):
#   bench/nn_bench.sh [-s SECONDS] [-n TORCH_ITERS] [-m MODEL.onnx] [-B BUILDDIR]
#                     [-c "B:T B:T ..."] [--no-nn] [--no-torch] [--no-sgemm] [--torch-mode eager|jit]
#
#   -s SECONDS   time per configuration for dicomaid-nn bench and torch (default 5)
#   -n ITERS     fixed iteration count for torch instead of -s (quick runs)
#   -m MODEL     ONNX file (default bench/detector_bench.onnx, made by
#                `/usr/bin/python3 tools/detector_net.py --export bench/detector_bench.onnx`)
#   -B BUILDDIR  where src/dicomaid-nn was built (default: .)
#   -c CONFIGS   batch:threads pairs (default "1:1 1:2 16:1 16:2")
#   -r REPEATS   measure each side REPEATS times, alternating, and keep the best (default 1);
#                on a shared machine use -r 3 with a short -s
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
	--no-nn) do_nn=0; shift ;;
	--no-torch) do_torch=0; shift ;;
	--no-sgemm) do_sgemm=0; shift ;;
	--torch-mode) torch_mode=$2; shift 2 ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
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
