#!/bin/bash
# The systemd units: generated from the templates with the build tree's binary (so that
# systemd-analyze verify can check ExecStart), they must verify cleanly, and the service's
# exposure (systemd-analyze security, offline) must be at most 2.0; the score is printed.
# Both run without a running systemd (as in a container). --man=no: the Documentation=
# pages are not installed when testing from the build tree.
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
fail() { echo "FAIL: $*" >&2; exit 1; }
T=$(mktemp -d /tmp/dicomaid-units.XXXXXX)
trap 'rm -rf "$T"' EXIT

for u in service socket; do
	sed -e "s|@bindir@|$top_builddir/src|g" -e "s|@sysconfdir@|/etc|g" \
	    -e "s|@SERVICE_RUNDIR@|/run/dicomaid|g" -e "s|@SERVICE_STATEDIR@|/var/lib/dicomaid|g" \
	    "$top_srcdir/systemd/dicomaid.$u.in" > "$T/dicomaid.$u"
	! grep -n '@[A-Za-z_]*@' "$T/dicomaid.$u" || fail "unsubstituted path in dicomaid.$u"
done
# The units make generates for installation have every path substituted too.
for f in systemd/dicomaid.service systemd/dicomaid.socket systemd/sysusers.d/dicomaid.conf \
	systemd/etc/dicomaid.conf; do
	[ -f "$top_builddir/$f" ] || fail "$f was not generated"
	! grep -n '@[A-Za-z_]*@' "$top_builddir/$f" || fail "unsubstituted path in $f"
done
grep -q "^ExecStart=/.*/dicomaid -c /.*/dicomaid/dicomaid.conf$" "$top_builddir/systemd/dicomaid.service" \
	|| fail "ExecStart does not use the configured paths"
# The installed configuration loads and sets the service's paths.
conf="$top_builddir/systemd/etc/dicomaid.conf"
"$top_builddir/src/dicomaid" --check-config -c "$conf" >/dev/null || fail "$conf does not load"
[ "$(grep -c '^\(path\|database\|socket\) = /' "$conf")" = 3 ] || fail "$conf: paths not set"
grep -qx 'socket = /run/dicomaid/dicomaid.sock' "$conf" || fail "$conf: control socket not in RuntimeDirectory"
grep -qx 'path = /var/lib/dicomaid' "$conf" || fail "$conf: storage not in StateDirectory"

out=$(cd "$T" && systemd-analyze verify --man=no ./dicomaid.service ./dicomaid.socket 2>&1) \
	|| fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
echo "ok - systemd-analyze verify: dicomaid.service and dicomaid.socket clean"

sec=$(cd "$T" && systemd-analyze security --offline=true ./dicomaid.service 2>&1) || true
score=$(echo "$sec" | sed -n 's/.*Overall exposure level for dicomaid.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || { echo "$sec"; fail "no exposure score"; }
echo "$sec" | grep '✗' || true
echo "exposure score: $score (target <= 2.0)"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score is above 2.0"
# The threshold option agrees.
(cd "$T" && systemd-analyze security --offline=true --threshold=20 ./dicomaid.service >/dev/null 2>&1) \
	|| fail "systemd-analyze security --threshold=20 failed"
echo "ok - exposure $score <= 2.0"
