#!/bin/bash
# test_two_hosts.sh: two daemons as two hosts (network namespaces, veth,
# a certificate each). A VM started on A migrates to B with migratectl,
# runs on B and no longer on A, and migrates back; the guest (the
# checker: every page verified after every pass) never restarts and never
# finds a bad page; the way back runs at the same time as a second VM's
# migration the other way, each with its own id. The daemons' metrics
# and history count the migrations; the control socket refuses a user
# who is neither its owner nor in its group.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

conf a source.test "$IP_A" source target.test "$IP_B"
conf b target.test "$IP_B" target source.test "$IP_A"
daemon a
daemon b
guest_img "$W/guest.img" 2

ctl a vm start g1 --memory 256M --cpus 2 --boot "$W/guest.img" >/dev/null ||
	fail "vm start refused"
[ "$(vm_state a g1)" = running ] || fail "g1 is $(vm_state a g1) on A"
sleep 2
c0=$(last_counter "$(serial a g1)")
[ -n "$c0" ] || fail "the guest prints nothing on A"

# A -> B, followed to the end by migratectl.
ctl a migrate g1 target.test --downtime-ms 300 >"$W/migrate1.out" 2>&1 ||
	fail "migrate A -> B: $(tail -n 5 "$W/migrate1.out")"
grep -q 'done' "$W/migrate1.out" || fail "no report from migratectl: $(cat "$W/migrate1.out")"
wait_vm b g1 running 30
[ "$(vm_state a g1)" = absent ] || fail "g1 is still on A: $(vm_state a g1)"
pgrep -f -- "--control $W/a/run/vms/g1.sock" >/dev/null && fail "A's VMM of g1 still runs"
sleep 2
c_a=$(last_counter "$W/a/state/departed/"*/serial.log)
c_b=$(last_counter "$(serial b g1)")
[ -n "$c_b" ] && [ "$c_b" -gt "${c_a:-0}" ] || fail "the guest does not run on B (A ended at $c_a, B at $c_b)"
say "A -> B: the counter went on from $c_a to $c_b"
grep -q BAD "$(serial b g1)" && fail "the checker found corrupt memory on B"

# Metrics after one migration each way of A and B.
[ "$(metric a 'migrated_migrations_succeeded_total{direction="out"}')" = 1 ] ||
	fail "A's metrics: $(metric a 'migrated_migrations_succeeded_total{direction="out"}') outgoing successes"
[ "$(metric b 'migrated_migrations_succeeded_total{direction="in"}')" = 1 ] || fail "B's metrics: no incoming success"
[ "$(metric a migrated_migration_downtime_seconds_count)" = 1 ] || fail "A's downtime histogram is empty"
[ "$(metric b migrated_vms_running)" = 1 ] || fail "B's metrics do not count the VM"
[ "$(metric a migrated_vms_running)" = 0 ] || fail "A's metrics still count the VM"

# Two at once, one each way: g1 back to A while g2 goes from A to B.
guest_img "$W/guest2.img" 1
ctl a vm start g2 --memory 64M --cpus 1 --boot "$W/guest2.img" >/dev/null || fail "vm start g2"
wait_vm a g2 running 30
id1=$(migrate_detached b g1 source.test)
id2=$(migrate_detached a g2 target.test)
[ "$id1" != "$id2" ] || fail "two migrations share the id $id1"
wait_mig b "$id1" done 600
wait_mig a "$id2" done 600
wait_vm a g1 running 30
wait_vm b g2 running 30
[ "$(vm_state b g1)" = absent ] || fail "g1 is still on B"
[ "$(vm_state a g2)" = absent ] || fail "g2 is still on A"
advancing "$(serial b g2)" || fail "g2 does not run on B"
say "two migrations at once, one each way: $id1 (g1 to A), $id2 (g2 to B)"
sleep 2
c_back=$(last_counter "$(serial a g1)")
[ -n "$c_back" ] && [ "$c_back" -gt "$c_b" ] || fail "the guest does not run on A again ($c_b, then $c_back)"
grep -q BAD "$(serial a g1)" && fail "the checker found corrupt memory on A"
say "B -> A: the counter went on to $c_back"
[ "$(ctl a --json history | grep -o '"phase":"done"' | wc -l)" -ge 2 ] || fail "A's history: $(ctl a --json history)"

# A user who is neither the owner nor in the group.
if out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" --socket "$W/a/run/control.sock" vm list 2>&1); then
	fail "nobody could use A's control socket: $out"
fi
case $out in *ermission*) ;; *) fail "nobody was refused without saying why: $out" ;; esac
say "a user who is not the owner was refused: $out"

ctl a vm stop g1 >/dev/null || fail "vm stop"
ctl b vm stop g2 >/dev/null || fail "vm stop g2"
[ "$(vm_state a g1)" = absent ] || fail "g1 still listed after stop"
say "ok"
