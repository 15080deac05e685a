#!/bin/bash
# test_save.sh: stop and restart. The running guest is saved to a file
# (the VMM pauses it, writes memory and machine state, and exits), then a
# new vmm-lite process starts from the file: the guest carries on as if
# nothing happened (counter continues, the checker finds memory intact).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

guest checker "$W/guest.img" --ws-mib 32 --pattern text --rate-mib 0 --period-ms 10 --cpus 2
start src -m 128M -c 2 --boot "$W/guest.img" --report "$W/src.json"
wait_for "$W/src.serial" '^c [0-9]+' 60
sleep 1
ctl src migrate "file:$W/vm.img" >/dev/null || fail "save refused"
wait_exit "$src_pid" 300
[ "$RC" = 0 ] || fail "vmm-lite exited with $RC after saving"
[ -s "$W/vm.img" ] || fail "no image written"
say "saved: $(du -h "$W/vm.img" | cut -f1) for a 128 MiB guest"

start dst --incoming "file:$W/vm.img" --report "$W/dst.json"
wait_state dst running 120
sleep 2
no_bad "$W/dst.serial"
check_counter_continues "$W/src.serial" "$W/dst.serial" "$W/src.json"
check_monotonic "$W/dst.serial"
ctl dst quit >/dev/null
wait_exit "$dst_pid" 60
[ "$RC" = 0 ] || fail "restored vmm-lite exited with $RC"
say "ok"
