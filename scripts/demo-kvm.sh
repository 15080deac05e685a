#!/bin/bash
# demo-kvm.sh BUILD_DIR: live-migrate the built-in demo guest between two
# vmm-lite processes on a real KVM (run it natively where /dev/kvm works,
# or through tests/kvm/kvm-run.sh; scripts/run-demo.sh does that).
#
# The demo guest is the checker (vmm-lite/guests): 256 MiB, 2 vCPUs, both
# writing a 24 MiB working set with random data at 2 MiB/s (sized so that
# the migration converges even inside the KVM test VM, where nested KVM
# under QEMU TCG moves only a few MiB/s of TLS), checking every page after
# each pass, and printing a counter every 10 ms. The
# migration runs over TLS 1.3 with mutual authentication on loopback; the
# script shows its progress, then a report: the figures of both sides, and
# the proof that the guest carried on (counter continues, memory verified).
set -eu
build=$(cd "${1:?usage: demo-kvm.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
vmm=$build/vmm-lite/vmm-lite
ctl=$build/vmm-lite/vmm-ctl
guests=$build/vmm-lite/guests
for f in "$vmm" "$ctl" "$guests/checker.img" "$guests/vmm-guest-config"; do
	[ -e "$f" ] || { echo "demo: $f missing; build first (scripts/build.sh release)" >&2; exit 2; }
done

w=$(mktemp -d "${TMPDIR:-/tmp}/vmm-demo.XXXXXX")
pids=
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$w"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() {
	echo "demo: $*" >&2
	for f in "$w"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done
	exit 1
}

"$root/scripts/gen-test-certs.sh" "$w/certs" >/dev/null
c=$w/certs
"$guests/vmm-guest-config" "$guests/checker.img" "$w/guest.img" --ws-mib 24 \
	--pattern random --rate-mib 2 --period-ms 10 --cpus 2 >/dev/null

echo "== source: vmm-lite running the checker guest (256 MiB, 2 vCPUs)"
"$vmm" -m 256M -c 2 --boot "$w/guest.img" --control "$w/src.sock" \
	--tls-ca "$c/ca.pem" --tls-cert "$c/source.pem" --tls-key "$c/source.key" \
	--tls-peer target.test --report "$w/src.json" -q \
	>"$w/src.serial" 2>"$w/src.log" &
src=$!
pids="$pids $src"
echo "== target: vmm-lite waiting for the guest"
"$vmm" --incoming tcp:127.0.0.1:0 --control "$w/dst.sock" \
	--tls-ca "$c/ca.pem" --tls-cert "$c/target.pem" --tls-key "$c/target.key" \
	--tls-peer source.test --report "$w/dst.json" -q \
	>"$w/dst.serial" 2>"$w/dst.log" &
dst=$!
pids="$pids $dst"

for i in $(seq 600); do
	grep -q 'waiting for a migration on' "$w/dst.log" 2>/dev/null &&
		grep -q '^c [0-9]' "$w/src.serial" 2>/dev/null && break
	kill -0 $src 2>/dev/null || die "the source stopped"
	kill -0 $dst 2>/dev/null || die "the target stopped"
	sleep 0.1
done
addr=$(sed -n 's/.*waiting for a migration on \([^ ]*\).*/\1/p' "$w/dst.log")
[ -n "$addr" ] || die "the target did not start listening"
sleep 1
echo "== guest counting on the source: $(grep -c '^c ' "$w/src.serial") lines so far"
echo "== migrating to $addr (downtime limit 300 ms)"
"$ctl" "$w/src.sock" migrate "$addr" downtime_ms=300 >/dev/null || die "migrate refused"

num() { printf '%s' "$1" | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2; }
bar() { # done total
	local n=$(($2 ? $1 * 30 / $2 : 0)) s=
	for ((k = 0; k < 30; k++)); do [ $k -lt $n ] && s="$s#" || s="$s."; done
	printf '%s' "$s"
}
tty=0
[ -t 1 ] && tty=1
last=
while kill -0 $src 2>/dev/null; do
	st=$("$ctl" "$w/src.sock" status 2>/dev/null) || break
	phase=$(printf '%s' "$st" | sed -n 's/.*"phase":"\([a-z]*\)".*/\1/p')
	guest=$(num "$st" guest_bytes)
	rem=$(num "$st" remaining_bytes)
	rounds=$(num "$st" round_count)
	line=$(printf '[%s] %-8s round %s, %s MiB left' "$(bar $((${guest:-0} - ${rem:-0})) ${guest:-0})" \
		"${phase:-setup}" "${rounds:-0}" $((${rem:-0} >> 20)))
	if [ $tty = 1 ]; then printf '\r%s   ' "$line"; elif [ "$line" != "$last" ]; then echo "$line"; fi
	last=$line
	sleep 0.2
done
[ $tty = 1 ] && echo
wait $src && rc=0 || rc=$?
[ $rc = 0 ] || die "the source exited with $rc"
echo "== the source exited after the target confirmed; the guest runs on the target"
sleep 3
kill -0 $dst 2>/dev/null || die "the target stopped"
! grep -q BAD "$w/dst.serial" || die "the checker found bad memory: $(grep BAD "$w/dst.serial")"
a=$(sed -n 's/^c \([0-9]*\) [0-9]*$/\1/p' "$w/src.serial" | tail -n 1)
b=$(sed -n 's/^c \([0-9]*\) [0-9]*$/\1/p' "$w/dst.serial" | head -n 1)
z=$(sed -n 's/^c \([0-9]*\) [0-9]*$/\1/p' "$w/dst.serial" | tail -n 1)
[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] || die "counter did not continue ($a, $b)"
"$ctl" "$w/dst.sock" quit >/dev/null
wait $dst || die "the target exited with $?"

# The totals: the report without its per-round array.
j=$(sed 's/"rounds":\[[^]]*\]//' "$w/src.json")
ms() { awk -v u="$(num "$j" "$1")" 'BEGIN { printf "%.1f ms", u / 1000 }'; }
mib() { awk -v b="$(num "$j" "$1")" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo
echo "== report"
printf '  %-28s %s\n' "total time" "$(ms total_us)" \
	"downtime (freeze to running)" "$(ms downtime_us)" \
	"expected downtime" "$(ms expected_downtime_us)" \
	"rounds" "$(num "$j" round_count)" \
	"guest memory" "$(mib guest_bytes)" \
	"bytes on the wire" "$(mib wire_bytes)" \
	"machine state" "$(num "$j" state_bytes) bytes" \
	"guest counter" "$a on the source, then $b..$z on the target" \
	"memory check" "every page verified by the guest after each pass: no error"
echo "== OK"
