#!/bin/bash
# Runs vmm-workload on the host (it is an ordinary static Linux program)
# and checks its promises: the start line, heartbeats at the period with
# strictly increasing SEQ and MONO_NS, the rate bound, verification of
# every page with no false alarm on 1 and 3 threads, the BAD report of
# --self-test, the end line and exit status, and option validation.
#
#   test-workload.sh VMM_WORKLOAD
# shellcheck disable=SC2015 # pass/fail only print: A && pass || fail is safe
set -u

WL=${1:?usage: test-workload.sh VMM_WORKLOAD}
T=$(mktemp -d "${TMPDIR:-/tmp}/workload-test.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok:   $*"; }

# Checks the heartbeats of OUT: at least MIN lines, SEQ from 1 and MONO_NS
# strictly increasing, on average one period of MONO_NS per SEQ, PASSES
# and VERIFIED never decreasing, BAD and BACKWARDS 0.
hb_check() { # OUT MIN PERIOD_MS
	awk -v min="$2" -v p="$3" '
		$1 != "hb" { next }
		NF != 7 { print "malformed: " $0; bad = 1; next }
		{ n++ }
		n == 1 && $2 != 1 { print "first SEQ " $2; bad = 1 }
		n > 1 && ($2 <= s || $3 <= m) { print "not increasing: " $0; bad = 1 }
		n > 1 && ($4 < ps || $5 < v) { print "counter went down: " $0; bad = 1 }
		$6 != 0 || $7 != 0 { print "BAD/BACKWARDS: " $0; bad = 1 }
		n == 1 { m0 = $3; s0 = $2 }
		{ s = $2; m = $3; ps = $4; v = $5 }
		END {
			if (n < min) { print n " heartbeats, want " min; exit 1 }
			ms = (m - m0) / (s - s0) / 1e6
			if (ms < p * 0.99 || ms > p * 1.5) { print "period " ms " ms"; exit 1 }
			printf "%d heartbeats, %.1f ms apart", n, ms
			exit bad
		}' "$1"
}

# The end line's field NAME (passes, verified, bad, ...).
end_field() { # OUT NAME
	sed -n "s/^workload: end .*$2=\([0-9]*\).*/\1/p" "$1"
}

# ---- unbounded rate, 3 threads ---------------------------------------
"$WL" --mib 8 --rate 0 --threads 3 --period 50 --duration 2 >"$T/a.out"
st=$?
if [ "$st" = 0 ] &&
	grep -qx 'workload: start mib=8 rate=0 period=50 threads=3 pages=2048' "$T/a.out" &&
	r=$(hb_check "$T/a.out" 30 50) && [ "$(end_field "$T/a.out" passes)" -ge 2 ] &&
	[ "$(end_field "$T/a.out" bad)" = 0 ]; then
	pass "rate 0, 3 threads: $r, $(end_field "$T/a.out" passes) passes, $(end_field "$T/a.out" verified) pages verified, exit 0"
else
	fail "rate 0, 3 threads: status $st, ${r-}"
	cat "$T/a.out"
fi

# ---- bounded rate: 4 MiB/s for 3 s after the fill = ~3072 pages ------
"$WL" --mib 2 --rate 4 --threads 2 --period 100 --duration 3 >"$T/b.out"
st=$?
v=$(end_field "$T/b.out" verified)
# Only the paced rewrites verify (the fill has nothing to check).
if [ "$st" = 0 ] && r=$(hb_check "$T/b.out" 25 100) &&
	[ "${v:-0}" -ge 2700 ] && [ "${v:-0}" -le 3200 ]; then
	pass "rate 4 MiB/s, 2 threads: $r, $v pages verified in 3 s (want ~3072)"
else
	fail "rate 4 MiB/s, 2 threads: status $st, verified ${v:-?} (want ~3072), ${r-}"
	cat "$T/b.out"
fi

# ---- --self-test: one corrupted byte in page 0 -----------------------
"$WL" --mib 1 --rate 0 --period 100 --duration 1 --self-test >"$T/c.out"
st=$?
if [ "$st" = 1 ] && [ "$(grep -c '^BAD ' "$T/c.out")" = 1 ] &&
	grep -qx 'BAD page=0 gen=1 off=96 prev=0' "$T/c.out" &&
	[ "$(end_field "$T/c.out" bad)" = 1 ] &&
	grep -Eq '^hb [0-9]+ [0-9]+ [0-9]+ [0-9]+ 1 0$' "$T/c.out"; then
	pass "self-test: $(grep '^BAD' "$T/c.out"), counted in hb and end lines, exit 1"
else
	fail "self-test: status $st"
	cat "$T/c.out"
fi

# ---- SIGTERM ends a run like --duration ---------------------------------
"$WL" --mib 1 --period 100 >"$T/d.out" &
pid=$!
sleep 1
kill -TERM "$pid"
wait "$pid"
st=$?
[ "$st" = 0 ] && grep -q '^workload: end hb=' "$T/d.out" &&
	pass "SIGTERM: clean end line, exit 0" || fail "SIGTERM: status $st"

# ---- option validation -----------------------------------------------
before=$FAILS
for bad in "--mib 0" "--mib 65537" "--mib -1" "--mib 1x" "--mib ''" \
	"--rate 1048577" "--period 9" "--period 60001" "--threads 0" \
	"--threads 65" "--duration -1" "--bogus" "extra"; do
	eval "set -- $bad"
	out=$("$WL" "$@" --duration 1 2>&1)
	st=$?
	if [ "$st" != 2 ] || grep -q "^hb " <<<"$out"; then
		fail "accepted '$bad' (status $st)"
	fi
done
[ "$FAILS" = "$before" ] && pass "refuses out-of-range, malformed and unknown options (exit 2)"
"$WL" --help | grep -q '^usage: vmm-workload' && pass "--help prints the usage" ||
	fail "--help"

[ "$FAILS" = 0 ] && echo "all vmm-workload checks passed" || echo "$FAILS check(s) failed"
[ "$FAILS" = 0 ]
