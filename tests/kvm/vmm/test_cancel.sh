#!/bin/bash
# test_cancel.sh: an operator's cancel, in each phase it can meet.
#  1. setup: the peer accepted the connection but never answers TLS;
#  2. the rounds (iterate), with pages flowing to a real target, which
#     then discards what it got and exits;
#  3. after the end: nothing to cancel, and the guest runs on the target.
# After 1 and 2 the guest keeps running on the source, counter unbroken.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

certs
guest dirtier "$W/guest.img" --ws-mib 32 --pattern random --rate-mib 0 --period-ms 10 --cpus 1
start src -m 256M -c 1 --boot "$W/guest.img" $(tls_src)
wait_for "$W/src.serial" '^c [0-9]+' 60

phase_of() { ctl "$1" status | sed -n 's/.*"phase":"\([a-z]*\)".*/\1/p'; }

cancel_in() { # NAME PHASE
	local i=0
	until [ "$(phase_of "$1")" = "$2" ]; do
		i=$((i + 1))
		[ $i -lt 600 ] || fail "migration never reached $2 (now $(phase_of "$1"))"
		sleep 0.1
	done
	ctl "$1" cancel >/dev/null || fail "cancel refused in $2"
	wait_state "$1" running 60
	local before after
	before=$(last_counter "$W/$1.serial")
	sleep 1
	after=$(last_counter "$W/$1.serial")
	[ "$after" -gt "$before" ] || fail "guest not running after a cancel in $2"
	check_monotonic "$W/$1.serial"
	say "cancel in $2: the guest runs on, counter $before -> $after"
}

say "1: cancel during setup"
port=$((20000 + RANDOM % 20000))
busybox nc -l -p "$port" -s 127.0.0.1 >/dev/null 2>&1 </dev/null &
PIDS="$PIDS $!"
sleep 0.5
ctl src migrate "tcp:127.0.0.1:$port" >/dev/null || fail "migrate refused"
cancel_in src setup

say "2: cancel during the rounds"
start dst --incoming tcp:127.0.0.1:0 $(tls_tgt)
addr=$(incoming_address dst)
ctl src migrate "$addr" bandwidth=$((4 << 20)) >/dev/null || fail "migrate refused"
cancel_in src iterate
wait_exit "$dst_pid" 60
[ "$RC" = 124 ] || fail "target exited with $RC after the cancel, expected 124"
[ ! -s "$W/dst.serial" ] || fail "the target ran the guest after a cancel"

say "3: cancel after the migration ended"
start dst2 --incoming tcp:127.0.0.1:0 $(tls_tgt)
addr=$(incoming_address dst2)
ctl src migrate "$addr" >/dev/null || fail "migrate refused"
wait_exit "$src_pid" 300
[ "$RC" = 0 ] || fail "source exited with $RC"
wait_state dst2 running 30
if ctl dst2 cancel >"$W/cancel.out"; then
	fail "cancel accepted with no migration running"
fi
grep -q 'no migration is running' "$W/cancel.out" || fail "cancel answer: $(cat "$W/cancel.out")"
wait_for "$W/dst2.serial" '^c [0-9]+' 30
ctl dst2 quit >/dev/null
say "ok"
