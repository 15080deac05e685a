#!/bin/bash
# test_linux_migrate.sh [TRACKER]: a running Linux guest (256 MiB, 2
# vCPUs, the workload rewriting and verifying its working set on both
# vCPUs) migrates live from host A to host B and back to A, over TLS on
# loopback. On each arrival: the heartbeat goes on without a restart, the
# guest's monotonic clock never went backwards (checked by the workload
# between its own reads, and here between the hosts' logs), a command
# typed on the console answers, and the workload verified pages there.
# Finally nothing in any console log is a kernel warning, oops, panic,
# lockup, corrupt page or backwards clock.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/linux.sh"
tracker=${1:-auto}

# The working set and rate suit the KVM test VM, whose TLS moves a few
# MiB/s: the migration must converge there too.
WORKLOAD='vmm.workload="--mib 24 --rate 1 --threads 2 --period 200"'

certs
start_linux a 256M 2 "$WORKLOAD" --dirty-tracker "$tracker" $(tls_src) \
	--report "$W/a.json"
wait_for "$W/a.serial" 'vmm-guest: init ready' 300
wait_heartbeats "$W/a.serial" 5 120
type_and_check a on-a

# migrate FROM TO TO_TLS PEER: FROM's guest to a new target TO.
migrate() {
	local from=$1 to=$2 tls=$3 peer=$4 addr pid
	start "$to" --incoming tcp:127.0.0.1:0 $tls --report "$W/$to.json"
	addr=$(incoming_address "$to")
	ctl "$from" migrate "$addr" downtime_ms=300 peer="$peer" >/dev/null ||
		fail "$from: migrate refused"
	eval "pid=\$${from}_pid"
	wait_exit "$pid" 900
	[ "$RC" = 0 ] || fail "$from exited with $RC"
	grep -q '"phase":"done"' "$W/$from.json" || fail "$from report: $(cat "$W/$from.json")"
	wait_state "$to" running 60
	wait_heartbeats "$W/$to.serial" 5 120
	check_heartbeats "$W/$to.serial"
	check_handover "$W/$from.serial" "$W/$to.serial" "$W/$from.json"
	type_and_check "$to" "on-$to"
	say "$from -> $to: $(grep '^vmm-lite: info: migration done' "$W/$from.log" | tail -n 1 | sed 's/.*migration done: //')"
}

check_heartbeats "$W/a.serial"
migrate a b "$(tls_tgt)" target.test
# Back to host A: a new vmm-lite there, with A's identity.
migrate b a2 "$(tls_src)" source.test

# The workload verified pages on the final host (its PAGES column grows).
v0=$(heartbeats "$W/a2.serial" | head -n 1 | cut -d' ' -f1)
p0=$(hb_last "$W/a2.serial" 5)
wait_heartbeats "$W/a2.serial" 10 120
p1=$(hb_last "$W/a2.serial" 5)
[ "${p1:-0}" -gt "${p0:-0}" ] || fail "the workload verified no page on the way back ($p0 -> $p1, from heartbeat $v0)"
check_kernel_clean "$W/a.serial" "$W/b.serial" "$W/a2.serial"

ctl a2 console 'reboot -f' >/dev/null
wait_exit "$a2_pid" 120
[ "$RC" = 0 ] || fail "vmm-lite exited with $RC after the guest rebooted"
say "ok: A -> B -> A, heartbeat $(hb_last "$W/a2.serial" 2), pages verified $p1"
