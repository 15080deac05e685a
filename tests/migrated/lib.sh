# lib.sh: two migrated daemons as two hosts, for the daemon's tests
# (sourced by bash scripts; run as root inside the KVM test VM or on a
# host with /dev/kvm: tests/kvm/kvm-run.sh does either).
#
# Each host is a network namespace with its own address on a veth pair
# (10.77.0.1 = A, 10.77.0.2 = B), its own state and run directories, and
# its own certificate from the test CA: A is source.test, B target.test
# (scripts/gen-test-certs.sh). The caller sets VMM_BIN (the build) and
# SRC (the source tree). A failing check calls fail, which prints the
# logs' tails and exits 1: nothing here skips.
set -eu

: "${VMM_BIN:?VMM_BIN: the build directory}"
: "${SRC:?SRC: the source tree}"
MIGRATED=$VMM_BIN/migrated/migrated
CTL=$VMM_BIN/migrated/migratectl
VMM=$VMM_BIN/vmm-lite/vmm-lite
GUESTS=$VMM_BIN/vmm-lite/guests

W=$(mktemp -d "${TMPDIR:-/tmp}/migdtest.XXXXXX")
NS_A=migd-a-$$
NS_B=migd-b-$$
IP_A=10.77.0.1
IP_B=10.77.0.2

say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

fail() {
	say "FAIL: $*"
	for f in "$W"/*.log "$W"/*/state/vms/*/vmm.log "$W"/*/state/vms/*/serial.log; do
		[ -f "$f" ] || continue
		printf -- '--- %s (last 20 lines)\n' "${f#"$W"/}" >&2
		tail -n 20 "$f" >&2
	done
	exit 1
}

cleanup() {
	# Daemons first, then every VMM of this test (they are in their own
	# sessions: the daemons' deaths do not reach them).
	pkill -9 -f "migrated --config $W/" 2>/dev/null || true
	pkill -9 -f -- "--control $W/" 2>/dev/null || true
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

for f in "$MIGRATED" "$CTL" "$VMM"; do
	[ -x "$f" ] || fail "$f is missing: build first"
done
[ "$(id -u)" = 0 ] || fail "the daemon tests make network namespaces: run them as root (kvm-run.sh does in the KVM test VM)"
command -v ip >/dev/null || fail "ip(8) is missing: install iproute2"

"$SRC/scripts/gen-test-certs.sh" "$W/certs" >/dev/null
C=$W/certs

# Two namespaces joined by a veth pair.
ip netns add "$NS_A" || fail "ip netns add: network namespaces unavailable"
ip netns add "$NS_B"
ip link add "va$$" type veth peer name "vb$$" || fail "veth unavailable (modprobe veth?)"
ip link set "va$$" netns "$NS_A"
ip link set "vb$$" netns "$NS_B"
ip -n "$NS_A" addr add "$IP_A/24" dev "va$$"
ip -n "$NS_B" addr add "$IP_B/24" dev "vb$$"
for ns in "$NS_A" "$NS_B"; do
	ip -n "$ns" link set lo up
done
ip -n "$NS_A" link set "va$$" up
ip -n "$NS_B" link set "vb$$" up

# conf HOST NAME IP CERT PEER_NAME PEER_IP [extra lines]: HOST's config.
conf() {
	local host=$1 name=$2 ip=$3 cert=$4 peer=$5 peer_ip=$6
	shift 6
	mkdir -p "$W/$host"
	cat >"$W/$host.conf" <<CONF
[host]
name = $name
state_dir = $W/$host/state
run_dir = $W/$host/run
vmm = $VMM
max_memory = ${MAX_MEMORY:-2G}
[control]
socket = $W/$host/run/control.sock
[tls]
ca = $C/ca.pem
cert = $C/$cert.pem
key = $C/$cert.key
[peer]
listen = $ip:7710
migration_address = $ip
migration_ports = 7720-7729
accept = $peer
[peers]
$peer = $peer_ip:7710
[metrics]
listen = $ip:9464
[migration]
downtime_ms = 300
$(printf '%s\n' "$@")
CONF
}

# daemon HOST [VAR=VALUE...]: starts HOST's migrated in its namespace,
# with those variables in its environment (and its VMMs'); log in
# HOST.log; sets daemon_HOST to its pid.
daemon() {
	local host=$1 ns i=0
	shift
	ns=$([ "$host" = a ] && echo "$NS_A" || echo "$NS_B")
	env "$@" ip netns exec "$ns" "$MIGRATED" --config "$W/$host.conf" 2>>"$W/$host.log" &
	eval "daemon_$host=$!"
	i=$((SECONDS + 60))
	while ! "$CTL" --socket "$W/$host/run/control.sock" vm list >/dev/null 2>&1; do
		kill -0 "$!" 2>/dev/null || fail "migrated $host exited at start"
		[ $SECONDS -le $i ] || fail "migrated $host: no control socket after 60 s"
		sleep 0.1
	done
}

# ctl HOST ARGS...: migratectl against HOST's daemon.
ctl() {
	local host=$1
	shift
	"$CTL" --socket "$W/$host/run/control.sock" "$@"
}

# json_vm HOST NAME: NAME's object in HOST's `vm list` (flat: no
# nested objects), or nothing. Plain text tools: a python per poll costs
# seconds in the KVM test VM.
json_vm() {
	ctl "$1" --json vm list | grep -o "{\"name\":\"$2\"[^}]*}" | head -n 1
}

# field KEY: a string or number member of the JSON object on stdin.
field() {
	sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" | head -n 1
}

# vm_state HOST NAME: the VM's state on HOST, or "absent".
vm_state() {
	local o
	o=$(json_vm "$1" "$2")
	if [ -n "$o" ]; then printf '%s' "$o" | field state; else echo absent; fi
}

# wait_vm HOST NAME STATE SECONDS
wait_vm() {
	local end=$((SECONDS + $4)) s
	while :; do
		s=$(vm_state "$1" "$2")
		[ "$s" = "$3" ] && return 0
		[ $SECONDS -le $end ] || fail "$2 on $1 is $s, not $3, after $4 s"
		sleep 0.2
	done
}

# metric HOST LINE_PREFIX: the value of the first sample starting so.
metric() {
	local ip
	ip=$([ "$1" = a ] && echo "$IP_A" || echo "$IP_B")
	ip netns exec "$([ "$1" = a ] && echo "$NS_A" || echo "$NS_B")" python3 -c '
import sys, urllib.request
text = urllib.request.urlopen("http://%s:9464/metrics" % sys.argv[1], timeout=10).read().decode()
for line in text.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(line.split()[-1]); break
else:
    print("missing")' "$ip" "$2"
}

# guest_img OUT [VCPUS]: the checker guest (verifies its memory after
# every pass; each vCPU spins, so the tests that must stay quick give it
# one: the KVM test VM has one CPU for the guest, two daemons and checks).
guest_img() {
	"$GUESTS/vmm-guest-config" "$GUESTS/checker.img" "$1" --ws-mib 16 --rate-mib 2 \
		--period-ms 10 --cpus "${2:-1}" >/dev/null || fail "vmm-guest-config"
}

# serial HOST NAME: the VM's serial log on HOST.
serial() { echo "$W/$1/state/vms/$2/serial.log"; }

# last_counter FILE: the checker's last complete "c COUNT PASSES" line.
last_counter() {
	sed -n 's/^c \([0-9][0-9]*\) [0-9][0-9]*\r\{0,1\}$/\1/p' "$1" 2>/dev/null | tail -n 1
}

# kill_daemon HOST [SIGNAL]: ends HOST's daemon (its VMMs live on).
kill_daemon() {
	local pid
	eval "pid=\$daemon_$1"
	kill -"${2:-KILL}" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# vm_pid HOST NAME: the pid of the VM's VMM as HOST's daemon lists it.
vm_pid() {
	local o
	o=$(json_vm "$1" "$2")
	if [ -n "$o" ]; then printf '%s' "$o" | field pid; else echo 0; fi
}

# mig HOST ID FIELD: a field of migration ID's record on HOST (error:
# the sentence, up to its first quote or comma).
mig() {
	ctl "$1" --json status "$2" | field "$3"
}

# wait_mig HOST ID PHASE_REGEX SECONDS: until the record's phase matches.
wait_mig() {
	local end=$((SECONDS + $4)) p
	while :; do
		p=$(mig "$1" "$2" phase 2>/dev/null) || p=
		printf '%s' "$p" | grep -Eqx "$3" && return 0
		[ $SECONDS -le $end ] || fail "migration $2 on $1 is in phase '$p', not $3, after $4 s (error: $(ctl "$1" --json status "$2" | grep -o '"error":"[^"]*"'))"
		sleep 0.5
	done
}

# advancing FILE: the checker's counter moves (the guest runs there).
advancing() {
	local c0 c1
	c0=$(last_counter "$1")
	sleep 1.5
	c1=$(last_counter "$1")
	[ -n "$c1" ] && [ "$c1" -gt "${c0:-0}" ]
}

# start_g1 [SIZE]: the checker guest as g1 on A, running.
start_g1() {
	[ -f "$W/guest.img" ] || guest_img "$W/guest.img"
	ctl a vm start g1 --memory "${1:-64M}" --cpus 1 --boot "$W/guest.img" >/dev/null ||
		fail "vm start g1 refused"
	wait_vm a g1 running 30
	advancing "$(serial a g1)" || fail "g1 does not run on A"
}

# migrate_detached FROM VM TO [options]: starts a migration, prints its id.
migrate_detached() {
	local from=$1 vm=$2 to=$3 out
	shift 3
	out=$(ctl "$from" migrate "$vm" "$to" --detach "$@" 2>&1) || fail "migrate refused: $out"
	printf '%s\n' "$out" | grep -o 'm-[0-9a-f]*' | head -n 1
}

# in_rounds HOST ID: waits until the migration sends memory (perform, a
# round done), so a fault lands in the middle of it.
in_rounds() {
	local end=$((SECONDS + 180))
	wait_mig "$1" "$2" perform 120
	while [ "$(mig "$1" "$2" round)" -lt 1 ] 2>/dev/null; do
		[ $SECONDS -le $end ] || fail "migration $2 sent no round in 180 s ($(mig "$1" "$2" phase))"
		sleep 0.5
	done
}
