#!/bin/bash
# Golden test of the CNN engine through its command-line contract (issue 3):
#
#   dicomaid-nn run MODEL.onnx INPUT.npy -o OUTDIR   -> OUTDIR/<output name>.npy (float32)
#
# 1. For every tests/nn/fixtures/<name>.onnx (made by tools/nn_fixtures.py with PyTorch and
#    committed), run the engine on <name>.input.npy and compare each OUTDIR/<output>.npy with
#    PyTorch's <name>.<output>.npy using tests/nn/npycmp:
#        rel_err = max|actual - expected| / max(max|expected|, 1e-3)  must be <= 1e-4
#    (shapes identical, no NaN/Inf).  OUTDIR must hold exactly the expected outputs.
# 2. Malformed models must fail cleanly: exit status 1..125 (no crash, no signal), exactly one
#    line on stderr, naming the model file.  Cases: truncated fixtures (0 bytes, 20 bytes, half,
#    all but the last byte), a non-ONNX file, a missing file, an input of the wrong shape, and the
#    hand-built bad models in tests/nn/fixtures/bad/ (unknown op, unsupported attribute, wrong
#    initializer size, cycle, shape mismatch, absurd dimensions, ...).  For those, each line of
#    bad/<case>.expect is a string the error line must contain (the node's name and op type).
#
# Environment: top_srcdir, top_builddir (set by `make check`); NN_TOL overrides the tolerance.
set -u

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
nn="$builddir/src/dicomaid-nn"
cmp="$builddir/tests/nn/npycmp"
fx="$srcdir/tests/nn/fixtures"
tol=${NN_TOL:-1e-4}

for f in "$nn" "$cmp"; do
	if [ ! -x "$f" ]; then
		echo "golden.sh: $f is not built" >&2
		exit 99  # hard error: the harness reports ERROR, not a skip
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nn-golden.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

fail=0
nfix=0
nout=0

# ---------------------------------------------------------------------------------------------
# 1. golden outputs
for model in "$fx"/*.onnx; do
	[ -e "$model" ] || { echo "golden.sh: no fixtures in $fx" >&2; exit 99; }
	name=$(basename "$model" .onnx)
	input="$fx/$name.input.npy"
	out="$tmp/out-$name"
	mkdir -p "$out"
	nfix=$((nfix + 1))
	if ! "$nn" run "$model" "$input" -o "$out" >"$tmp/run.log" 2>&1; then
		echo "FAIL $name: dicomaid-nn run exited non-zero:"
		sed 's/^/    /' "$tmp/run.log"
		fail=1
		continue
	fi
	expected=()
	for exp in "$fx/$name".*.npy; do
		oname=${exp#"$fx/$name."}
		oname=${oname%.npy}
		[ "$oname" = input ] && continue
		expected+=("$oname")
		nout=$((nout + 1))
		if [ ! -f "$out/$oname.npy" ]; then
			echo "FAIL $name: output $oname.npy not written"
			fail=1
			continue
		fi
		if "$cmp" -t "$tol" "$out/$oname.npy" "$exp" >"$tmp/cmp.log" 2>&1; then
			echo "ok   $name.$oname: $(sed 's/^[^:]*: ok //' "$tmp/cmp.log")"
		else
			echo "FAIL $name.$oname: $(cat "$tmp/cmp.log")"
			fail=1
		fi
	done
	if [ ${#expected[@]} -eq 0 ]; then
		echo "FAIL $name: fixture has no expected outputs"
		fail=1
	fi
	for got in "$out"/*; do
		[ -e "$got" ] || continue
		g=$(basename "$got" .npy)
		case " ${expected[*]} " in
		*" $g "*) ;;
		*) echo "FAIL $name: unexpected file $(basename "$got") in the output directory"; fail=1 ;;
		esac
	done
done

# ---------------------------------------------------------------------------------------------
# 2. malformed models: clean, one-line failures
# expect_clean_failure LABEL MODEL INPUT [SUBSTRING...]
expect_clean_failure() {
	local label=$1 model=$2 input=$3
	shift 3
	local rc lines
	mkdir -p "$tmp/bad-out"
	"$nn" run "$model" "$input" -o "$tmp/bad-out" >"$tmp/bad.stdout" 2>"$tmp/bad.stderr"
	rc=$?
	lines=$(wc -l <"$tmp/bad.stderr")
	if [ $rc -eq 0 ]; then
		echo "FAIL bad/$label: exit status 0 on a malformed model"
		fail=1
	elif [ $rc -gt 125 ]; then
		echo "FAIL bad/$label: exit status $rc (crash or signal): $(head -c 300 "$tmp/bad.stderr")"
		fail=1
	elif [ "$lines" -ne 1 ] || [ ! -s "$tmp/bad.stderr" ]; then
		echo "FAIL bad/$label: expected exactly one line on stderr, got $lines:"
		head -n 5 "$tmp/bad.stderr" | sed 's/^/    /'
		fail=1
	else
		local msg rest want ok=1 file
		msg=$(cat "$tmp/bad.stderr")
		file=$(basename "$model")
		case "$msg" in
		*"$file"*) ;;
		*) echo "FAIL bad/$label: error line does not name $file: $msg"; ok=0; fail=1 ;;
		esac
		rest=${msg//"$file"/}  # the expected names must appear outside the file name
		for want in "$@"; do
			case "$rest" in
			*"$want"*) ;;
			*) echo "FAIL bad/$label: error line lacks \"$want\": $msg"; ok=0; fail=1 ;;
			esac
		done
		[ $ok -eq 1 ] && echo "ok   bad/$label: rc=$rc: $msg"
	fi
}

base="$fx/conv_zoo.onnx"
base_in="$fx/conv_zoo.input.npy"
size=$(wc -c <"$base")
for cut in 0 20 $((size / 2)) $((size - 1)); do
	head -c "$cut" "$base" >"$tmp/truncated-$cut.onnx"
	expect_clean_failure "truncated-$cut" "$tmp/truncated-$cut.onnx" "$base_in"
done
cp "$base_in" "$tmp/not-onnx.onnx"
expect_clean_failure not-onnx "$tmp/not-onnx.onnx" "$base_in"
expect_clean_failure missing-file "$tmp/no-such-model.onnx" "$base_in"
# conv_zoo takes N x 3 x H x W; unet_mini's input has 2 channels
cp "$base" "$tmp/wrong-input.onnx"
expect_clean_failure wrong-input-shape "$tmp/wrong-input.onnx" "$fx/unet_mini.input.npy"

nbad=0
for model in "$fx"/bad/*.onnx; do
	[ -e "$model" ] || { echo "golden.sh: no bad models in $fx/bad" >&2; exit 99; }
	name=$(basename "$model" .onnx)
	want=()
	if [ -f "$fx/bad/$name.expect" ]; then
		while IFS= read -r line; do
			[ -n "$line" ] && want+=("$line")
		done <"$fx/bad/$name.expect"
	fi
	expect_clean_failure "$name" "$model" "$fx/bad/input.npy" "${want[@]}"
	nbad=$((nbad + 1))
done

echo "golden.sh: $nfix fixtures, $nout outputs, $nbad hand-built bad models, tolerance $tol"
exit $fail
