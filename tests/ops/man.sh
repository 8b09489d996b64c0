#!/bin/bash
# The man pages are lint-clean (mandoc -T lint -W warning), and every configuration key
# the parser accepts (config_known_keys) is documented in dicomaid.conf(5) under its own
# section, as ".It Cm KEY" (or ".It Cm KEY1 , KEY2").
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
fail() { echo "FAIL: $*" >&2; exit 1; }

pages=("$top_srcdir"/man/*.[0-9])
[ ${#pages[@]} -ge 3 ] || fail "expected at least 3 man pages, found ${#pages[@]}"
for p in "${pages[@]}"; do
	out=$(mandoc -T lint -W warning "$p" 2>&1) || fail "mandoc lint: $out"
	[ -z "$out" ] || fail "mandoc lint: $out"
	echo "ok - $(basename "$p") lint-clean"
done

conf5="$top_srcdir/man/dicomaid.conf.5"
keys=$("$top_builddir/tests/ops/known_keys")
[ "$(echo "$keys" | wc -l)" -ge 20 ] || fail "known_keys printed too few keys"
missing=0
for k in $keys; do
	sec=${k%%.*} key=${k#*.}
	# Lines of the ".Ss [SECTION" subsection up to the next .Ss or .Sh.
	if ! awk -v sec="[$sec" -v key="$key" '
		/^\.S[sh] / { inside = index($0, ".Ss " sec) == 1 && (substr($0, length(".Ss " sec) + 1, 1) ~ /[] ]/) }
		# ".It Cm KEY No (...)" or several keys: ".It Cm a , b , c No (...)"
		inside && index($0, ".It Cm ") == 1 {
			names = substr($0, 8); sub(/ No .*/, "", names)
			n = split(names, k, / , /)
			for (i = 1; i <= n; i++) if (k[i] == key) found = 1
		}
		END { exit !found }' "$conf5"; then
		echo "not documented in dicomaid.conf(5): [$sec] $key" >&2
		missing=$((missing + 1))
	fi
done
[ $missing -eq 0 ] || fail "$missing configuration keys undocumented"
echo "ok - all $(echo "$keys" | wc -l) configuration keys documented in dicomaid.conf(5)"
