#!/bin/bash
# demo-daemons.sh [--tty | --no-tty] [--cols N] BUILD_DIR: the README's
# demo through two migrated daemons as two hosts. Run it as root where
# /dev/kvm works, natively or in the KVM test VM (scripts/run-demo.sh
# does that through tests/kvm/kvm-run.sh).
#
# Host A (source.test, 10.77.0.1) and host B (target.test, 10.77.0.2) are
# two network namespaces joined by a veth pair, each with its own daemon,
# state, control socket, metrics endpoint and certificate from a test CA
# (scripts/gen-test-certs.sh). The guest is the checker boot sector,
# started on A with migratectl: 256 MiB, 2 vCPUs writing a 24 MiB working
# set with random data at 2 MiB/s (sized so that the migration converges
# even inside the KVM test VM, where nested KVM under QEMU TCG moves only
# a few MiB/s of TLS), verifying every page after each pass and printing a
# counter every 10 ms. `migratectl migrate g1 target.test` moves it to B
# in the foreground; the two VMMs migrate directly over mutually
# authenticated TLS. Then a report: the daemon's record of the migration,
# and the checks (the VM runs on B and not on A, the counter carried on,
# no bad page, both daemons' metrics). Exit 0 only if every check passed.
#
# migratectl draws its live progress bar only on a terminal, and in the
# KVM test VM our stdout is a virtio port, not one: --tty gives it a
# pseudo-terminal (script(1)) so that the bar's redraws reach the
# operator's terminal; --no-tty leaves it a line per phase (for logs).
# The default is whether stdout is a terminal. --cols N: the width of the
# operator's terminal (default 80 under --tty).
set -eu

tty=auto
cols=
while [ $# -gt 1 ]; do
	case $1 in
	--tty) tty=1 ;;
	--no-tty) tty=0 ;;
	--cols) cols=$2; shift ;;
	*) break ;;
	esac
	shift
done
[ $# = 1 ] || {
	echo "usage: demo-daemons.sh [--tty | --no-tty] [--cols N] BUILD_DIR" >&2
	exit 2
}
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$tty" != auto ] || { [ -t 1 ] && tty=1 || tty=0; }
case $cols in '' | *[!0-9]*) cols= ;; esac

migrated=$build/migrated/migrated
mctl=$build/migrated/migratectl
vmm=$build/vmm-lite/vmm-lite
guests=$build/vmm-lite/guests
for f in "$migrated" "$mctl" "$vmm" "$guests/checker.img" "$guests/vmm-guest-config"; do
	[ -e "$f" ] || { echo "demo: $f missing; build first (scripts/build.sh release)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "demo: the two hosts are network namespaces: run as root" >&2; exit 2; }
for t in ip awk; do
	command -v $t >/dev/null || { echo "demo: $t is missing (scripts/setup-deps.sh installs it)" >&2; exit 2; }
done

w=$(mktemp -d "${TMPDIR:-/tmp}/migd-demo.XXXXXX")
ns_a=migd-demo-a-$$
ns_b=migd-demo-b-$$
ip_a=10.77.0.1
ip_b=10.77.0.2
pids=
cleanup() {
	# The daemons, then their VMMs: those run in sessions of their own,
	# so a daemon's death does not end them. By pid first; then anything
	# still holding a socket under this run's directory (an incoming VMM
	# that never got listed), which no other run can share.
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	pkill -9 -f "migrated --config $w/" 2>/dev/null || true
	pkill -9 -f -- "--control $w/" 2>/dev/null || true
	ip netns del "$ns_a" 2>/dev/null || true
	ip netns del "$ns_b" 2>/dev/null || true
	rm -rf "$w"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() {
	echo "demo: FAILED: $*" >&2
	for f in "$w"/*.log "$w"/*/state/vms/*/*.log "$w"/*/state/departed/*/*.log; do
		[ -f "$f" ] || continue
		n=20
		case $f in */serial.log) n=5 ;; esac # the guest's counter
		echo "--- ${f#"$w"/} (last $n lines)" >&2
		tail -n $n "$f" >&2
	done
	exit 1
}

ctl() { # ctl a|b ARGS...: migratectl against that host's daemon
	local h=$1
	shift
	"$mctl" --socket "$w/$h/run/control.sock" "$@"
}
# The daemons' answers are one-line JSON objects of flat members, and the
# few read here are numbers or plain strings: grep and sed do (python3
# takes seconds a call in the KVM test VM, whose one CPU the guest keeps
# busy).
jget() { # jget KEY < JSON: KEY's first value, unquoted; "" if none or null
	grep -o "\"$1\": *\(\"[^\"]*\"\|[^,}]*\)" | head -n 1 |
		sed 's/^"[^"]*": *//; s/^"\(.*\)"$/\1/; s/^null$//'
}
objects() { # objects < JSON: the objects of its array, one a line
	sed 's/},{/}\n{/g'
}
vm_field() { # vm_field HOST NAME FIELD: "absent" when not listed
	local j
	j=$(ctl "$1" --json vm list) || { echo "unknown (no answer)"; return; }
	j=$(printf '%s\n' "$j" | objects | grep -F "\"name\":\"$2\"") || { echo absent; return; }
	printf '%s\n' "$j" | jget "$3"
}
record() { # record HOST DIRECTION: the newest finished migration of g1 so
	ctl "$1" --json history | objects | grep -F '"vm":"g1"' |
		grep -F "\"direction\":\"$2\"" | tail -n 1
}
field() { # field JSON KEY
	printf '%s\n' "$1" | jget "$2"
}
scrape() { # scrape a|b: that daemon's /metrics, fetched inside its host
	local ns ip
	if [ "$1" = a ]; then ns=$ns_a ip=$ip_a; else ns=$ns_b ip=$ip_b; fi
	# shellcheck disable=SC2016 # $0 is the inner shell's
	ip netns exec "$ns" timeout 10 bash -c 'exec 3<>"/dev/tcp/$0/9464" &&
		printf "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n" "$0" >&3 && cat <&3' "$ip"
}
sample() { # sample TEXT NAME: a sample's value in scraped metrics
	printf '%s\n' "$1" | awk -v k="$2" '$1 == k { print $2; f = 1; exit }
		END { if (!f) print "missing" }'
}
counters() { # counters FILE: every complete "c COUNT PASSES" line's count
	sed -n 's/^c \([0-9][0-9]*\) [0-9][0-9]*\r\{0,1\}$/\1/p' "$1" 2>/dev/null
}

"$root/scripts/gen-test-certs.sh" "$w/certs" >/dev/null || die "gen-test-certs.sh"
c=$w/certs

echo "== two hosts: network namespaces joined by a veth pair"
ip netns add "$ns_a" || die "ip netns add: network namespaces unavailable"
ip netns add "$ns_b" || die "ip netns add $ns_b"
ip link add "mdva$$" type veth peer name "mdvb$$" || die "veth unavailable (modprobe veth?)"
ip link set "mdva$$" netns "$ns_a"
ip link set "mdvb$$" netns "$ns_b"
ip -n "$ns_a" addr add "$ip_a/24" dev "mdva$$"
ip -n "$ns_b" addr add "$ip_b/24" dev "mdvb$$"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "mdva$$" up
ip -n "$ns_b" link set "mdvb$$" up
echo "   A = source.test $ip_a, B = target.test $ip_b, each with its certificate from the test CA"

conf() { # conf HOST NAME IP CERT PEER_NAME PEER_IP
	mkdir -p "$w/$1"
	cat >"$w/$1.conf" <<CONF
[host]
name = $2
state_dir = $w/$1/state
run_dir = $w/$1/run
vmm = $vmm
max_memory = 2G
[control]
socket = $w/$1/run/control.sock
[tls]
ca = $c/ca.pem
cert = $c/$4.pem
key = $c/$4.key
[peer]
listen = $3:7710
migration_address = $3
migration_ports = 7720-7729
accept = $5
[peers]
$5 = $6:7710
[metrics]
listen = $3:9464
[migration]
downtime_ms = 300
CONF
}
conf a source.test "$ip_a" source target.test "$ip_b"
conf b target.test "$ip_b" target source.test "$ip_a"

for h in a b; do
	ns=$([ $h = a ] && echo "$ns_a" || echo "$ns_b")
	ip netns exec "$ns" "$migrated" --config "$w/$h.conf" 2>>"$w/$h.log" &
	pids="$pids $!"
	# Not a job of this shell: its end by cleanup's kill goes unannounced.
	disown $!
	i=0
	while ! ctl $h vm list >/dev/null 2>&1; do
		kill -0 $! 2>/dev/null || die "migrated on $h exited at start"
		i=$((i + 1))
		[ "$i" -lt 300 ] || die "migrated on $h: no control socket after 30 s"
		sleep 0.1
	done
done
echo "== migrated runs on both hosts (peer TLS :7710, metrics :9464)"

"$guests/vmm-guest-config" "$guests/checker.img" "$w/guest.img" --ws-mib 24 \
	--pattern random --rate-mib 2 --period-ms 10 --cpus 2 >/dev/null || die "vmm-guest-config"
echo "== A: migratectl vm start g1 (the checker guest: 256 MiB, 2 vCPUs)"
out=$(ctl a vm start g1 --memory 256M --cpus 2 --boot "$w/guest.img" 2>&1) || die "vm start: $out"
echo "   $out"
serial_a=$w/a/state/vms/g1/serial.log
for i in $(seq 300); do
	[ "$(vm_field a g1 state)" = running ] && [ -n "$(counters "$serial_a" | tail -n 1)" ] && break
	[ "$i" -lt 300 ] || die "g1 is $(vm_field a g1 state) on A and prints no counter after 30 s"
	sleep 0.1
done
pid_a=$(vm_field a g1 pid)
pids="$pids $pid_a"
sleep 1
echo "== guest counting on A: $(counters "$serial_a" | wc -l) lines so far"
ctl a vm list | sed 's/^/   /'

echo "== A: migratectl migrate g1 target.test (downtime limit 300 ms)"
set -- "$mctl" --socket "$w/a/run/control.sock" migrate g1 target.test --downtime-ms 300
if [ "$tty" = 1 ] && script -qec true /dev/null </dev/null >/dev/null 2>&1; then
	# -onlcr: the pseudo-terminal passes "\n" as it is, not as "\r\n".
	cmd="stty -onlcr ${cols:+cols $cols} 2>/dev/null; exec $(printf '%q ' "$@")"
	SHELL=/bin/bash script -qefc "$cmd" /dev/null </dev/null && rc=0 || rc=$?
else
	[ "$tty" = 0 ] || echo "   (no pseudo-terminal here: a line per phase)"
	"$@" && rc=0 || rc=$?
fi
[ "$rc" = 0 ] || die "migratectl migrate exited with $rc"

# Where the guest is now: running on B, gone from A with its VMM.
echo "== where g1 runs now"
for i in $(seq 300); do
	[ "$(vm_field b g1 state)" = running ] && break
	[ "$i" -lt 300 ] || die "g1 is $(vm_field b g1 state) on B, not running, 30 s after the migration"
	sleep 0.1
done
echo "   B (target.test): migratectl vm list"
ctl b vm list | sed 's/^/     /'
echo "   A (source.test): migratectl vm list"
ctl a vm list | sed 's/^/     /'
[ "$(vm_field a g1 state)" = absent ] || die "g1 is still listed on A: $(vm_field a g1 state)"
for i in $(seq 100); do
	kill -0 "$pid_a" 2>/dev/null || break
	[ "$i" -lt 100 ] || die "A's VMM of g1 (pid $pid_a) still runs"
	sleep 0.1
done
pids=${pids% "$pid_a"} # gone: its number may be another process's soon
pid_b=$(vm_field b g1 pid)
pids="$pids $pid_b"

# The daemons' records of it: A's (outgoing) has the figures.
rec=$(record a out)
[ -n "$rec" ] || die "A's history has no migration of g1: $(ctl a --json history)"
id=$(field "$rec" id)
[ "$(field "$rec" phase)" = "done" ] || die "A's record of $id: $(field "$rec" phase): $(field "$rec" error)"
rec_b=$(record b in)
[ -n "$rec_b" ] && [ "$(field "$rec_b" phase)" = "done" ] ||
	die "B's history has no finished incoming migration of g1: $(ctl b --json history)"

# The guest carried on: its counter on B continues A's, no page was bad.
sleep 3
serial_a=$w/a/state/departed/$id/serial.log
serial_b=$w/b/state/vms/g1/serial.log
[ -f "$serial_a" ] || die "A kept no serial log of g1 under departed/$id"
a=$(counters "$serial_a" | tail -n 1)
b=$(counters "$serial_b" | head -n 1)
z=$(counters "$serial_b" | tail -n 1)
[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] && [ "$z" -gt "$b" ] ||
	die "the counter did not carry on: A ended at '$a', B went '$b'..'$z'"
if grep -q BAD "$serial_a" "$serial_b"; then
	die "the checker found bad memory: $(grep -h BAD "$serial_a" "$serial_b" | head -n 3)"
fi
[ "$(vm_field b g1 state)" = running ] || die "g1 stopped on B: $(vm_field b g1 state)"

# Both daemons' metrics, scraped from inside each host.
met_a=$(scrape a) || die "cannot scrape A's metrics on $ip_a:9464"
met_b=$(scrape b) || die "cannot scrape B's metrics on $ip_b:9464"
m_a_ok=$(sample "$met_a" 'migrated_migrations_succeeded_total{direction="out"}')
m_a_bad=$(sample "$met_a" 'migrated_migrations_failed_total{direction="out"}')
m_a_run=$(sample "$met_a" migrated_vms_running)
m_b_ok=$(sample "$met_b" 'migrated_migrations_succeeded_total{direction="in"}')
m_b_bad=$(sample "$met_b" 'migrated_migrations_failed_total{direction="in"}')
m_b_run=$(sample "$met_b" migrated_vms_running)
[ "$m_a_ok" = 1 ] && [ "$m_a_bad" = 0 ] && [ "$m_a_run" = 0 ] ||
	die "A's metrics: $m_a_ok succeeded out, $m_a_bad failed out, $m_a_run VMs running (want 1, 0, 0)"
[ "$m_b_ok" = 1 ] && [ "$m_b_bad" = 0 ] && [ "$m_b_run" = 1 ] ||
	die "B's metrics: $m_b_ok succeeded in, $m_b_bad failed in, $m_b_run VMs running (want 1, 0, 1)"

# The source VMM's own report, kept with the departed VM: the size of
# the machine state is there only.
state=$(jget state_bytes <"$w/a/state/departed/$id/report.json" 2>/dev/null) || state=

ms() { awk -v v="$(field "$rec" "$1")" 'BEGIN { if (v < 1000) printf "%.1f ms", v; else printf "%.2f s", v / 1000 }'; }
mib() { awk -v v="$(field "$rec" "$1")" 'BEGIN { printf "%.1f MiB", v / 1048576 }'; }
echo
echo "== report: migration $id of g1, A (source.test) -> B (target.test), from A's daemon"
printf '  %-28s %s\n' "total time" "$(ms total_ms)" \
	"downtime (freeze to running)" "$(ms downtime_ms)" \
	"expected downtime" "$(ms expected_downtime_ms) (limit $(field "$rec" downtime_limit_ms) ms)" \
	"rounds" "$(field "$rec" round)" \
	"guest memory" "$(mib guest_bytes)" \
	"bytes on the wire" "$(mib bytes_sent)"
[ -z "$state" ] || printf '  %-28s %s\n' "machine state" "$state bytes"
printf '  %-28s %s\n' "guest counter" "$a on A, then $b..$z on B" \
	"memory check" "every page verified by the guest after each pass: no error" \
	"where it runs" "B (pid $pid_b); not on A, whose VMM exited" \
	"metrics of A" "succeeded out $m_a_ok, failed out $m_a_bad, VMs running $m_a_run" \
	"metrics of B" "succeeded in $m_b_ok, failed in $m_b_bad, VMs running $m_b_run"
echo "== OK"
