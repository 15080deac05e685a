# linux.sh: helpers for the Linux-guest tests (sourced after lib.sh).
#
# The guest is Debian's kernel (linux-image-amd64, the one the KVM test VM
# boots) with the project's initramfs (vmm-lite/guests/linux): busybox, a
# shell on the serial console, and, when the command line asks, the
# workload printing "hb SEQ MONO_NS PASSES VERIFIED BAD BACKWARDS"
# heartbeats (vmm-lite/guests/README.md).

INITRAMFS=$VMM_BIN/vmm-lite/guests/linux/linux-initramfs.cpio.gz
KERNEL=${VMM_LINUX_KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)}
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] ||
	fail "no Linux kernel in /boot: install linux-image-amd64 (scripts/setup-deps.sh does)"
[ -r "$INITRAMFS" ] || fail "$INITRAMFS is missing: build first"

# The guest's command line. In the KVM test VM, QEMU's TCG does not
# intercept XSETBV for a nested guest, so KVM never learns the guest's
# XCR0 and restores a stale one on every exit (the kernel warns at boot
# that CPUID's XSAVE size is wrong, with or without vmm-lite: QEMU
# -accel kvm inside the VM does the same). Without XSAVE the guest uses
# FXSAVE and nothing is lost; on a real KVM host XSAVE stays on.
linux_cmdline() {
	local c="console=ttyS0 reboot=k panic=-1 loglevel=6"
	[ -z "${KVM_VM_GUEST:-}" ] || c="$c noxsave"
	printf '%s %s' "$c" "$*"
}

# start_linux NAME MEM CPUS CMDLINE_EXTRA [vmm-lite options]: boots the
# guest in the background (as `start`).
start_linux() {
	local name=$1 mem=$2 cpus=$3 extra=$4
	shift 4
	start "$name" -m "$mem" -c "$cpus" --kernel "$KERNEL" --initrd "$INITRAMFS" \
		--append "$(linux_cmdline "$extra")" "$@"
}

# type_and_check NAME TOKEN: types `echo TOKEN-$((6*7))` on NAME's
# console and waits for TOKEN-42 to come back (the echo of the command
# line itself shows the unexpanded text, not the answer).
type_and_check() {
	ctl "$1" console "echo $2-\$((6*7))" >/dev/null || fail "$1: console command refused"
	wait_for "$W/$1.serial" "$2-42" 120
	say "$1 answered on its console ($2-42)"
}

# heartbeats FILE: "SEQ MONO_NS" per complete heartbeat line, in order. A
# line cut by a migration (its start on one host, its end on the next)
# matches on neither side.
heartbeats() {
	hb_lines "$1" | cut -d' ' -f2,3
}

# hb_lines FILE: the complete heartbeat lines, without carriage returns;
# one may follow the shell's prompt on its line ("vmm# hb 12 ...").
hb_lines() {
	complete_lines "$1" | tr -d '\r' | grep -oE '(^|[^0-9a-z])hb( [0-9]+){6}$' |
		sed 's/^.*hb /hb /'
}

# hb_last FILE FIELD: FIELD (3 = MONO_NS ... 7 = BACKWARDS) of the last
# heartbeat.
hb_last() {
	hb_lines "$1" | tail -n 1 | cut -d' ' -f"$2"
}

# wait_heartbeats FILE N SECONDS: until FILE has N more heartbeats than now.
wait_heartbeats() {
	local n0 i=0
	n0=$(heartbeats "$1" | wc -l)
	while [ "$(heartbeats "$1" | wc -l)" -lt $((n0 + $2)) ]; do
		i=$((i + 1))
		[ $i -le $(($3 * 10)) ] || fail "$(basename "$1"): fewer than $2 new heartbeats in $3 s"
		sleep 0.1
	done
}

# check_heartbeats FILE: SEQ strictly increasing, MONO_NS never
# decreasing, within one host's log. (SEQ may skip one: a console echo
# can land inside a heartbeat line and spoil it.)
check_heartbeats() {
	heartbeats "$1" | awk -v f="$(basename "$1")" '
		NR > 1 && ($1 <= pseq || $1 > pseq + 2) { printf "%s: heartbeat %d after %d\n", f, $1, pseq; bad = 1 }
		NR > 1 && $2 < pmono { printf "%s: monotonic time %d after %d\n", f, $2, pmono; bad = 1 }
		{ pseq = $1; pmono = $2 } END { exit bad }' >&2 ||
		fail "heartbeats out of order in $(basename "$1")"
}

# check_handover FROM TO REPORT: the heartbeat goes on across the
# migration: the first on TO follows the last on FROM (at most the line
# cut in the middle and one spoilt line are missing), and the guest's monotonic clock moved
# forward, by less than the migration's total time plus two seconds (it
# does not count the guest's pause, and must not jump by the hosts'
# clock difference).
check_handover() {
	local a b total max
	a=$(heartbeats "$1" | tail -n 1)
	b=$(heartbeats "$2" | head -n 1)
	[ -n "$a" ] || fail "no heartbeat on $(basename "$1")"
	[ -n "$b" ] || fail "no heartbeat on $(basename "$2")"
	set -- "$1" "$2" "$3" $a $b
	[ "$6" -gt "$4" ] && [ "$6" -le $(($4 + 3)) ] ||
		fail "heartbeat $4 on $(basename "$1"), then $6 on $(basename "$2"): the guest restarted or lost lines"
	[ "$7" -ge "$5" ] ||
		fail "the guest's monotonic clock went backwards across the migration: $5 -> $7 ns"
	total=$(sed 's/"rounds":\[[^]]*\]//' "$3" | grep -o '"total_us":[0-9]*' | cut -d: -f2)
	max=$(((${total:-0} + 2000000) * 1000))
	[ $(($7 - $5)) -le "$max" ] ||
		fail "the guest's monotonic clock jumped $(($7 - $5)) ns across the migration (at most $max)"
	say "heartbeat continues: $4 -> $6, monotonic +$((($7 - $5) / 1000000)) ms"
}

# check_kernel_clean FILE...: no warning, oops, BUG, panic, lockup or RCU
# stall in the guest's console logs, and the workload saw neither a
# corrupt page nor its clock going backwards (its own lines, and the
# counts in its last heartbeat on each host).
check_kernel_clean() {
	local bad f
	bad=$(grep -ahE 'WARNING:|Oops|BUG:|Kernel panic|Call Trace|soft lockup|hard LOCKUP|rcu.*stall|hung_task|^BAD page|^BACKWARDS' "$@" | head -n 5)
	[ -z "$bad" ] || fail "the guest reported: $bad"
	for f in "$@"; do
		[ -z "$(hb_lines "$f")" ] ||
			[ "$(hb_last "$f" 6) $(hb_last "$f" 7)" = "0 0" ] ||
			fail "$(basename "$f"): the workload counted corrupt pages or backward clocks: $(hb_lines "$f" | tail -n 1)"
	done
}
