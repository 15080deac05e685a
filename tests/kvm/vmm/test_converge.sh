#!/bin/bash
# test_converge.sh: a guest that dirties memory faster than the link
# carries (an unbounded dirtier against a bandwidth limit). The migration
# must end as the policy says, and say which:
#  1. on_limit=cancel: it gives up ("did not converge"), the guest keeps
#     running on the source, the target discards what it got;
#  2. on_limit=switchover: it switches over anyway, the report says
#     forced_switchover, and the guest runs on the target, memory intact.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

certs
guest checker "$W/guest.img" --ws-mib 64 --pattern random --rate-mib 0 --period-ms 10 --cpus 2
start src -m 256M -c 2 --boot "$W/guest.img" $(tls_src) --report "$W/src.json"
wait_for "$W/src.serial" '^c [0-9]+' 60

say "1: limit reached, policy cancel"
start dst --incoming tcp:127.0.0.1:0 $(tls_tgt)
addr=$(incoming_address dst)
ctl src migrate "$addr" bandwidth=$((16 << 20)) max_rounds=3 downtime_ms=50 \
	on_limit=cancel >/dev/null || fail "migrate refused"
wait_for "$W/src.log" 'migration to .* failed' 300
grep -q 'did not converge' "$W/src.log" || fail "the failure does not say it did not converge"
wait_state src running 30
grep -q '"forced_switchover":false' "$W/src.json" || fail "report: $(cat "$W/src.json")"
wait_exit "$dst_pid" 60
[ "$RC" = 124 ] || fail "target exited with $RC, expected 124"
before=$(last_counter "$W/src.serial")
sleep 1
[ "$(last_counter "$W/src.serial")" -gt "$before" ] || fail "guest stopped on the source"
say "policy cancel: $(grep 'did not converge' "$W/src.log" | head -n 1)"

say "2: limit reached, policy switchover"
start dst2 --incoming tcp:127.0.0.1:0 $(tls_tgt)
addr=$(incoming_address dst2)
ctl src migrate "$addr" bandwidth=$((16 << 20)) max_rounds=3 downtime_ms=50 \
	on_limit=switchover >/dev/null || fail "migrate refused"
wait_exit "$src_pid" 600
[ "$RC" = 0 ] || fail "source exited with $RC"
grep -q '"forced_switchover":true' "$W/src.json" || fail "report: $(cat "$W/src.json")"
wait_state dst2 running 30
sleep 2
no_bad "$W/dst2.serial"
check_counter_continues "$W/src.serial" "$W/dst2.serial" "$W/src.json"
ctl dst2 quit >/dev/null
say "ok: switched over past the limit: $(grep 'migration done' "$W/src.log" | sed 's/.*migration done: //')"
