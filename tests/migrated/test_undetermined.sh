#!/bin/bash
# test_undetermined.sh: the source committed and never heard that the
# target runs the guest. The source keeps g1 paused, never resumes it on
# a guess, and settles with the target daemon:
#   - the target's VMM died right after the commit: B says it discarded
#     the guest, and A runs it again;
#   - the target's VMM runs the guest but its confirmation is late, and
#     B's daemon is down meanwhile: A waits, paused, until B is back and
#     says the guest runs there; then A lets it go.
# VMM_LITE_TEST_FAULT (vmm-lite/src/migration.c) puts the fault in B's VMM.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

conf a source.test "$IP_A" source target.test "$IP_B"
conf b target.test "$IP_B" target source.test "$IP_A"
daemon a
daemon b VMM_LITE_TEST_FAULT=die-before-start
start_g1

id=$(migrate_detached a g1 target.test)
wait_mig a "$id" failed 300
mig a "$id" error | grep -q "discarded" || fail "not settled as discarded: $(mig a "$id" error)"
wait_vm a g1 running 30
advancing "$(serial a g1)" || fail "g1 does not run on A again"
grep -q "undetermined" "$W/a.log" || fail "A never said the migration was undetermined"
say "target died after the commit: settled, g1 runs on A again"
kill_daemon b

# The source's VMM waits 30 s for the confirmation; the target holds it 60 s.
daemon b VMM_LITE_TEST_FAULT=stall-after-start=60
id=$(migrate_detached a g1 target.test)
wait_vm a g1 undetermined 180
kill_daemon b
c0=$(last_counter "$(serial a g1)")
sleep 5
[ "$(vm_state a g1)" = undetermined ] || fail "g1 left the undetermined state without B: $(vm_state a g1)"
[ "$(last_counter "$(serial a g1)")" = "$c0" ] || fail "g1 ran on A while undetermined"
[ "$(metric a migrated_vms_undetermined)" = 1 ] || fail "A's metrics do not show the undetermined VM"
say "undetermined, B down: g1 stays paused on A"
daemon b
wait_mig a "$id" done 180
[ "$(vm_state a g1)" = absent ] || fail "g1 still on A after settling"
wait_vm b g1 running 60
advancing "$(serial b g1)" || fail "g1 does not run on B"
say "ok: settled with B when it came back: g1 runs on B only"
