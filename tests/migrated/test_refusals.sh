#!/bin/bash
# test_refusals.sh: migrations that must fail before anything is paused,
# with the reason on the operator's screen, and a daemon restart that
# must not touch a running VM:
#   - the target daemon is not running;
#   - the target presents a certificate from another CA;
#   - the target has not enough memory for the VM;
#   - A's daemon stops and starts again while g1 runs: the VMM keeps
#     running (same process) and the new daemon lists it as running.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

conf a source.test "$IP_A" source target.test "$IP_B"
daemon a
start_g1

# refused TEXT: a migration of g1 to B fails saying TEXT; g1 runs on A.
refused() {
	local out
	if out=$(ctl a migrate g1 target.test 2>&1); then
		fail "the migration should have been refused ($1): $out"
	fi
	printf '%s' "$out" | grep -qi -- "$1" || fail "refused without saying '$1': $out"
	[ "$(vm_state a g1)" = running ] || fail "g1 is $(vm_state a g1) on A after a refusal"
	advancing "$(serial a g1)" || fail "g1 stopped running on A after a refusal"
	say "refused, g1 still runs on A: $(printf '%s' "$out" | grep -i -- "$1" | head -n 1)"
}

refused "cannot reach migrated on target.test"

conf b target.test "$IP_B" rogue source.test "$IP_A"
daemon b
refused "certif"
kill_daemon b

MAX_MEMORY=32M conf b target.test "$IP_B" target source.test "$IP_A"
daemon b
refused "not enough memory on target.test"
[ "$(vm_state b g1)" = absent ] || fail "B lists g1 after refusing it"
[ "$(metric a 'migrated_migrations_failed_total{direction="out"}')" = 3 ] ||
	fail "A's metrics count $(metric a 'migrated_migrations_failed_total{direction="out"}') failures, not 3"

# The daemon restarts; the VM does not.
pid=$(vm_pid a g1)
kill_daemon a TERM
kill -0 "$pid" 2>/dev/null || fail "stopping the daemon killed g1's VMM"
advancing "$(serial a g1)" || fail "g1 stopped running without its daemon"
daemon a
[ "$(vm_state a g1)" = running ] || fail "the restarted daemon sees g1 as $(vm_state a g1)"
[ "$(vm_pid a g1)" = "$pid" ] || fail "g1 has pid $(vm_pid a g1) after the restart, $pid before"
grep -q "vm g1 found again" "$W/a.log" || fail "the daemon did not say it found g1"
ctl a vm type g1 "x" >/dev/null || fail "the restarted daemon cannot reach g1's VMM"
say "ok: the daemon restarted, g1 ran on (pid $pid)"
