#!/bin/bash
# test_linux_boot.sh: Debian's kernel boots under vmm-lite (256 MiB, 2
# vCPUs, our initramfs, no workload) to a shell on the serial console;
# commands typed there, through the control socket and through vmm-lite's
# standard input, answer; the kernel found both vCPUs and runs on
# kvm-clock; nothing in its log is a warning; `reboot -f` ends the VMM
# with status 0 (keyboard-controller reset).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/linux.sh"

# Standard input from a FIFO the test holds open, as a terminal would be.
mkfifo "$W/stdin"
exec 3<>"$W/stdin"
t0=$SECONDS
START_STDIN=$W/stdin start_linux vm 256M 2 ""
wait_for "$W/vm.serial" 'vmm-guest: init ready' 300
boot_s=$((SECONDS - t0))
type_and_check vm control
echo 'echo stdin-$((6*7))' >&3
wait_for "$W/vm.serial" 'stdin-42' 120
say "vm answered on its standard input"

ctl vm console 'echo cpus=$(grep -c ^processor /proc/cpuinfo) clock=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)' >/dev/null
wait_for "$W/vm.serial" '^cpus=[0-9]+ clock=' 120
line=$(grep -a '^cpus=' "$W/vm.serial" | tail -n 1 | tr -d '\r')
[ "$line" = "cpus=2 clock=kvm-clock" ] || fail "the guest says: $line (want cpus=2 clock=kvm-clock)"
say "guest: $line"
check_kernel_clean "$W/vm.serial"

ctl vm console 'reboot -f' >/dev/null
wait_exit "$vm_pid" 120
[ "$RC" = 0 ] || fail "vmm-lite exited with $RC after the guest rebooted"
grep -q 'the guest reset the machine' "$W/vm.log" || fail "no reset in the log"
say "ok: init ready ${boot_s} s after start; the guest's reboot ended the VMM"
