#!/bin/bash
# test_basic.sh: vmm-lite on its own.
#  - a guest that ends itself through the debug-exit port sets the exit
#    status (the checker after its run time: 0);
#  - pause and resume over the control socket stop and restart the guest;
#  - an image without a boot signature is refused with a clear error.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

guest checker "$W/run2.img" --ws-mib 8 --pattern random --rate-mib 0 --period-ms 10 --cpus 2 --run-s 2
start exit -m 64M -c 2 --boot "$W/run2.img"
wait_exit "$exit_pid" 120
[ "$RC" = 0 ] || fail "guest's own exit: status $RC, expected 0"
grep -q 'debug-exit port' "$W/exit.log" || fail "exit reason not logged"
check_monotonic "$W/exit.serial"
say "guest exit: status 0 after $(counters "$W/exit.serial" | wc -l) counter lines"

guest counter "$W/counter.img" --period-ms 10
start pr -m 16M --boot "$W/counter.img"
wait_for "$W/pr.serial" '^c [0-9]+' 60
ctl pr pause >/dev/null || fail "pause refused"
wait_state pr paused 5
a=$(last_counter "$W/pr.serial")
sleep 1
b=$(last_counter "$W/pr.serial")
[ "$a" = "$b" ] || fail "the guest ran while paused ($a -> $b)"
ctl pr resume >/dev/null || fail "resume refused"
sleep 1
c=$(last_counter "$W/pr.serial")
[ "$c" -gt "$b" ] || fail "the guest did not resume ($b -> $c)"
check_monotonic "$W/pr.serial"
ctl pr quit >/dev/null
wait_exit "$pr_pid" 30
[ "$RC" = 0 ] || fail "quit: status $RC"
say "pause/resume: counter held at $b while paused, then went on to $c"

head -c 512 /dev/zero >"$W/blank.img"
rc=0
"$VMM" -m 16M --boot "$W/blank.img" >/dev/null 2>"$W/blank.log" || rc=$?
[ "$rc" = 125 ] || fail "an image without 55 AA: status $rc, expected 125"
grep -q 'no boot signature' "$W/blank.log" || fail "unclear error: $(cat "$W/blank.log")"
say "ok"
