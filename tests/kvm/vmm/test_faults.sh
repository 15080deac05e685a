#!/bin/bash
# test_faults.sh: one side of a live migration killed in the middle.
#  1. The target killed (SIGKILL) while pages flow: the migration fails,
#     the guest keeps running on the source and its counter never breaks.
#  2. The source killed while pages flow: the target gives up cleanly
#     (exit 124, a message saying so) and never runs a guest.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

certs
guest dirtier "$W/guest.img" --ws-mib 32 --pattern text --rate-mib 0 --period-ms 10 --cpus 2

# A bandwidth limit keeps the migration in its rounds long enough to aim.
migrate_slowly() {
	ctl "$1" migrate "$2" bandwidth=$((8 << 20)) >/dev/null || fail "migrate refused"
	local i=0
	until ctl "$1" status | grep -q '"phase":"iterate"'; do
		i=$((i + 1))
		[ $i -lt 600 ] || fail "migration never reached its rounds"
		sleep 0.1
	done
	sleep 1
}

say "1: target killed mid-migration"
start src -m 256M -c 2 --boot "$W/guest.img" $(tls_src)
wait_for "$W/src.serial" '^c [0-9]+' 60
start dst --incoming tcp:127.0.0.1:0 $(tls_tgt)
addr=$(incoming_address dst)
migrate_slowly src "$addr"
kill -9 "$dst_pid"
wait_for "$W/src.log" 'migration to .* failed' 60
wait_state src running 30
before=$(last_counter "$W/src.serial")
sleep 2
after=$(last_counter "$W/src.serial")
[ "$after" -gt "$before" ] || fail "the guest stopped counting on the source ($before, $after)"
check_monotonic "$W/src.serial"
say "the guest kept running on the source: counter $before -> $after, unbroken"

say "2: source killed mid-migration"
start dst2 --incoming tcp:127.0.0.1:0 $(tls_tgt)
addr=$(incoming_address dst2)
migrate_slowly src "$addr"
kill -9 "$src_pid"
wait_exit "$dst2_pid" 120
[ "$RC" = 124 ] || fail "target exited with $RC, expected 124"
grep -q 'incoming migration failed' "$W/dst2.log" || fail "target did not say why it stopped"
[ ! -s "$W/dst2.serial" ] || fail "the target ran the guest: $(head -c 200 "$W/dst2.serial")"
say "ok: target gave up cleanly: $(grep 'incoming migration failed' "$W/dst2.log")"
