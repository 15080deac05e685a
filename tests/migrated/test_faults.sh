#!/bin/bash
# test_faults.sh: faults in the middle of a migration (perform), each
# with the guest safe:
#   - the target's VMM is killed: the guest keeps running on A;
#   - the link between the hosts goes down: the guest keeps running on A;
#   - the target's daemon is killed: the VMMs finish the migration between
#     themselves (no guest memory passes through the daemons), and B's
#     daemon, started again, finds the guest running there.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

conf a source.test "$IP_A" source target.test "$IP_B"
conf b target.test "$IP_B" target source.test "$IP_A"
daemon a
daemon b
start_g1

# after_failure ID: the migration failed, g1 runs on A, B dropped its copy.
after_failure() {
	wait_mig a "$1" failed 180
	wait_vm a g1 running 30
	advancing "$(serial a g1)" || fail "g1 does not run on A after migration $1 failed"
	wait_vm b g1 absent 90
	say "failed as it should: $(mig a "$1" error); g1 runs on A"
}

# 1 MiB/s against a guest dirtying 2 MiB/s: rounds go on until the fault.
id=$(migrate_detached a g1 target.test --bandwidth 1048576)
in_rounds a "$id"
pkill -9 -f -- "--control $W/b/run/vms/g1.sock" || fail "no VMM of g1 on B to kill"
after_failure "$id"

id=$(migrate_detached a g1 target.test --bandwidth 1048576)
in_rounds a "$id"
ip -n "$NS_A" link set "va$$" down
after_failure "$id"
ip -n "$NS_A" link set "va$$" up

id=$(migrate_detached a g1 target.test --bandwidth 8388608)
wait_mig a "$id" perform 120
kill_daemon b
wait_mig a "$id" done 300
[ "$(vm_state a g1)" = absent ] || fail "g1 still on A after its migration completed"
pgrep -f -- "--control $W/b/run/vms/g1.sock" >/dev/null || fail "B's VMM of g1 is gone"
daemon b
wait_vm b g1 running 60
advancing "$(serial b g1)" || fail "g1 does not run on B"
grep -q BAD "$(serial b g1)" && fail "the checker found corrupt memory on B"
# Once B's daemon has adopted the arrival, g1 migrates on as usual.
for i in $(seq 60); do
	[ -z "$(ctl b --json vm list | grep -o '"migration":"m-[0-9a-f]*"')" ] && break
	sleep 1
done
ctl b migrate g1 source.test >"$W/back.out" 2>&1 || fail "migrate back: $(tail -n 3 "$W/back.out")"
wait_vm a g1 running 30
say "ok: the target daemon's death did not stop the migration; g1 came back to A"
