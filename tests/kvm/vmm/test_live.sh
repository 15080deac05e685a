#!/bin/bash
# test_live.sh TRACKER [VCPUS [RATE]]: live migration of the checker guest
# (256 MiB, VCPUS vCPUs (2), writing random data throughout, at RATE MiB/s
# (0: unbounded)) between two vmm-lite processes over TLS on loopback,
# with the source tracking dirty pages by TRACKER (bitmap or ring). Checks: the source exits 0 only after the target
# confirmed; the guest's counter continues on the target without a restart;
# the checker finds every page intact, pass after pass, on the target.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
tracker=${1:?usage: test_live.sh bitmap|ring [VCPUS [RATE]]}
cpus=${2:-2}
rate=${3:-0}

certs
guest checker "$W/guest.img" --ws-mib 96 --pattern random --rate-mib "$rate" \
	--period-ms 10 --cpus "$cpus"
start src -m 256M -c "$cpus" --boot "$W/guest.img" --dirty-tracker "$tracker" \
	$(tls_src) --report "$W/src.json"
grep -q "dirty tracking by the dirty $tracker" "$W/src.log" ||
	fail "source does not track by the dirty $tracker: $(grep 'guest running' "$W/src.log")"
wait_for "$W/src.serial" '^c [0-9]+' 60
start dst --incoming tcp:127.0.0.1:0 $(tls_tgt) --report "$W/dst.json"
addr=$(incoming_address dst)
sleep 1 # a few passes of the checker before the migration
ctl src migrate "$addr" downtime_ms=300 >/dev/null || fail "migrate refused"
wait_exit "$src_pid" 600
[ "$RC" = 0 ] || fail "source exited with $RC"
grep -q '"phase":"done"' "$W/src.json" || fail "source report: $(cat "$W/src.json")"
wait_state dst running 30
before=$(last_counter "$W/dst.serial")
p0=$(passes "$W/dst.serial")
# Two complete passes on the target, each verifying every page.
for i in $(seq 600); do
	p1=$(passes "$W/dst.serial")
	[ "${p1:-0}" -lt $((${p0:-0} + 2)) ] || break
	kill -0 "$dst_pid" || fail "target died"
	sleep 0.1
done
[ "${p1:-0}" -ge $((${p0:-0} + 2)) ] || fail "the checker completed too few passes on the target ($p0 -> $p1)"
after=$(last_counter "$W/dst.serial")
[ -n "$after" ] && [ "$after" -gt "${before:-0}" ] || fail "the guest does not run on the target"
kill -0 "$dst_pid" || fail "target died"
no_bad "$W/dst.serial"
check_counter_continues "$W/src.serial" "$W/dst.serial" "$W/src.json"
check_monotonic "$W/dst.serial"
ctl dst quit >/dev/null
wait_exit "$dst_pid" 60
[ "$RC" = 0 ] || fail "target exited with $RC after quit"
say "ok: $(grep 'migration done' "$W/src.log" | sed 's/.*migration done: //')"
