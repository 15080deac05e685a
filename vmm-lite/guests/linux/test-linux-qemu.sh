#!/bin/bash
# Boots the Linux test guest (a Debian kernel and linux-initramfs.cpio.gz)
# under QEMU/TCG, no KVM needed, and checks what it promises:
#
#  1. with vmm.workload on the command line, 2 vCPUs, 256 MiB: init's
#     marker, the workload's start line, heartbeats with strictly
#     increasing SEQ and MONO_NS at the 100 ms period, every page verified
#     at least once with no BAD and no BACKWARDS, a shell on the console
#     with job control that answers typed commands on both vCPUs, and
#     `poweroff -f` ending QEMU;
#  2. the idle guest the way vmm-lite boots it (acpi=off pci=off: an MP
#     table, no ACPI, no PCI): no workload, a working shell, the workload's
#     self-test run by hand reporting its BAD page, and `reboot -f`
#     (reboot=k: the keyboard controller) ending QEMU.
#
# Both logs must be free of Oops, BUG:, WARNING:, Call Trace and Kernel
# panic.
#
#   test-linux-qemu.sh KERNEL INITRAMFS
#
# KERNEL empty or missing fails the test (install linux-image-amd64).
# QEMU (default qemu-system-x86_64) and QEMU_ACCEL (default tcg) override;
# LOG_DIR, if set, receives the console logs (wl.log, idle.log), each line
# stamped with the host time.
#
# Typed commands are single-quoted on purpose (the guest's shell expands
# them); pass/fail only print, so A && pass || fail is safe.
# shellcheck disable=SC2016,SC2015
set -u

KERNEL=${1-}
INITRD=${2:?usage: test-linux-qemu.sh KERNEL INITRAMFS}
QEMU=${QEMU:-qemu-system-x86_64}
ACCEL=${QEMU_ACCEL:-tcg}
BASE_APPEND="console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1"
WORKLOAD_ARGS="--mib 32 --rate 4 --threads 2"
PERIOD_MS=100

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok:   $*"; }
die() {
	echo "FAIL: $*"
	exit 1
}

[ -n "$KERNEL" ] && [ -f "$KERNEL" ] ||
	die "no guest kernel (${KERNEL:-none found as /boot/vmlinuz-*}): install the Debian package linux-image-amd64 and re-run cmake"
[ -r "$KERNEL" ] || die "$KERNEL is not readable by $(id -un)"
[ -r "$INITRD" ] || die "$INITRD missing: build target vmm-linux-initramfs"
command -v "$QEMU" >/dev/null ||
	die "$QEMU not found: install the Debian package qemu-system-x86"

T=$(mktemp -d "${TMPDIR:-/tmp}/linux-guest-test.XXXXXX") || exit 1
QPID='' RPID=''
cleanup() {
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null
	[ -n "$RPID" ] && kill "$RPID" 2>/dev/null
	[ -n "${LOG_DIR-}" ] && mkdir -p "$LOG_DIR" && cp "$T"/*.log "$LOG_DIR"/
	rm -rf "$T"
}
trap cleanup EXIT

# Boots the guest named NAME with APPEND added to the command line. The
# console is a FIFO pair (QEMU's pipe chardev, NAME.in and NAME.out) held
# open read-write here, so neither side blocks opening it: fd 3 types into
# the guest, a reader stamps each console line with the host time into
# $LOG ("SECONDS.MICROS line", carriage returns dropped).
guest_start() { # NAME SMP APPEND
	local p=$T/$1
	LOG=$p.log
	mkfifo "$p.in" "$p.out" || die "mkfifo in $T"
	exec 3<>"$p.in" 4<>"$p.out"
	: >"$LOG"
	while IFS= read -r l <&4; do
		printf '%s %s\n' "$EPOCHREALTIME" "${l//$'\r'/}"
	done >"$LOG" &
	RPID=$!
	T0=$EPOCHREALTIME
	"$QEMU" -accel "$ACCEL" -m 256 -smp "$2" -kernel "$KERNEL" \
		-initrd "$INITRD" -append "$BASE_APPEND $3" \
		-display none -no-reboot -monitor none \
		-chardev "pipe,id=con,path=$p" -serial chardev:con \
		</dev/null >"$p.qemu" 2>&1 &
	QPID=$!
}

# Waits until QEMU exits (up to TIMEOUT_S, then kills it); its status.
guest_end() { # TIMEOUT_S
	local end=$((SECONDS + $1)) st
	while kill -0 "$QPID" 2>/dev/null && [ $SECONDS -lt "$end" ]; do
		sleep 0.2
	done
	kill "$QPID" 2>/dev/null
	wait "$QPID"
	st=$?
	QPID=
	sleep 0.3 # let the reader take the last lines
	kill "$RPID" 2>/dev/null
	wait "$RPID" 2>/dev/null
	RPID=
	exec 3>&- 4>&-
	return "$st"
}

# Waits up to TIMEOUT_S for a console line matching the extended REGEX
# (the host stamp and a space come first: anchor with ' ' not '^').
wait_for() { # REGEX TIMEOUT_S
	local end=$((SECONDS + $2))
	until grep -Eq -- "$1" "$LOG"; do
		if ! kill -0 "$QPID" 2>/dev/null || [ $SECONDS -ge "$end" ]; then
			return 1
		fi
		sleep 0.2
	done
}

type_line() { printf '%s\r' "$1" >&3; }

# The heartbeat lines of $LOG as "HOST_S SEQ MONO_NS PASSES VERIFIED BAD
# BACKWARDS". A line the kernel's console output broke into is skipped.
heartbeats() {
	awk 'match($0, /hb [0-9]+ [0-9]+ [0-9]+ [0-9]+ [0-9]+ [0-9]+$/) {
		print $1, substr($0, RSTART + 3)
	}' "$LOG"
}

# The newest heartbeat's field F (2 SEQ .. 7 BACKWARDS); 0 if none yet.
hb_field() { # F
	heartbeats | awk -v f="$1" '{ v = $f } END { print v + 0 }'
}

# Kernel trouble and the workload's alarms; with BAD_NOTE, BAD is allowed.
check_log_clean() { # WHAT [BAD_NOTE]
	local pat='Oops|BUG:|WARNING:|Call Trace|Kernel panic|general protection| BACKWARDS [0-9]'
	[ -n "${2-}" ] || pat="$pat| BAD page="
	if grep -Eq -- "$pat" "$LOG"; then
		fail "$1: console shows trouble:"
		grep -E -- "$pat" "$LOG" | head -5
	else
		pass "$1: no Oops, BUG, WARNING, panic, BACKWARDS${2:- or BAD}"
	fi
}

show_tail() {
	echo "--- last console lines ($LOG) ---"
	tail -n 25 "$LOG"
	cat "${LOG%.log}.qemu" 2>/dev/null
}

# ---- 1. the workload guest, 2 vCPUs, ACPI ----------------------------------
workload_guest() {
	local boot npages hb n st
	guest_start wl 2 "vmm.workload=\"$WORKLOAD_ARGS\""
	if ! wait_for ' vmm-guest: init ready$' 240; then
		fail "workload guest: no 'vmm-guest: init ready'"
		show_tail
		guest_end 1
		return
	fi
	boot=$(awk -v t0="$T0" '/ vmm-guest: init ready$/ {
		printf "%.1f", $1 - t0; exit }' "$LOG")
	pass "workload guest: init ready ${boot} s after QEMU started"

	# Not anchored at the start: the shell, started at the same moment,
	# may put its prompt ("vmm# ") in front of the line.
	if wait_for 'workload: start mib=32 rate=4 period=100 threads=2 pages=8192$' 30; then
		pass "workload guest: workload started with the command line's arguments"
	else
		fail "workload guest: no matching 'workload: start' line"
	fi
	# Every page verified once: the fill, then a whole paced pass (8 s at
	# 4 MiB/s over 32 MiB).
	npages=8192
	local end=$((SECONDS + 90))
	while [ "$(hb_field 5)" -lt "$npages" ] && [ $SECONDS -lt $end ] &&
		kill -0 "$QPID" 2>/dev/null; do
		sleep 0.5
	done
	[ "$(hb_field 5)" -ge "$npages" ] &&
		pass "workload guest: $(hb_field 5) pages verified (all $npages at least once)" ||
		fail "workload guest: only $(hb_field 5) pages verified"

	type_line 'echo answer-$((6*7))'
	wait_for ' answer-42$' 30 && pass "workload guest: the shell answers (answer-42)" ||
		fail "workload guest: no answer-42 from the console shell"
	type_line 'echo cpus-$(nproc) jc-$- $(tty)'
	if wait_for ' cpus-[0-9]+ jc-[a-zA-Z]* /dev/' 30; then
		local l
		l=$(grep -Eo 'cpus-[0-9]+ jc-[a-zA-Z]* /dev/[a-zA-Z0-9]+' "$LOG" | tail -1)
		[[ $l == "cpus-2 jc-"*m*" /dev/ttyS0" ]] &&
			pass "workload guest: 2 CPUs online, job control on /dev/ttyS0 ($l)" ||
			fail "workload guest: want 2 CPUs, job control (m) on /dev/ttyS0: $l"
	else
		fail "workload guest: no answer to nproc/tty"
	fi

	hb=$(heartbeats)
	n=$(wc -l <<<"$hb")
	# SEQ and MONO_NS strictly increase; MONO_NS goes up by at least a
	# period per SEQ on average (lines are phase-locked, never early) and
	# not far more (the guest was not starved of CPU).
	if awk -v p="$PERIOD_MS" '
		NR > 1 && ($2 <= s || $3 <= m) { print "not increasing at: " $0; bad = 1 }
		NR > 1 && $5 < v { print "VERIFIED went down at: " $0; bad = 1 }
		$6 != 0 || $7 != 0 { print "BAD/BACKWARDS counted: " $0; bad = 1 }
		NR == 1 { s0 = $2; m0 = $3; h0 = $1 }
		{ if (NR > 1 && $1 - h > gap) gap = $1 - h; s = $2; m = $3; v = $5; h = $1 }
		END {
			if (NR < 50) { print NR " heartbeats"; exit 1 }
			ms = (m - m0) / (s - s0) / 1e6
			printf "%d lines, SEQ %d..%d, %.1f ms guest time per SEQ, " \
				"largest host-side gap %.0f ms\n", NR, s0, s, ms, gap * 1000
			if (ms < p * 0.99 || ms > p * 3) { print "bad cadence"; exit 1 }
			exit bad
		}' <<<"$hb" >"$T/hb.txt"; then
		pass "workload guest: heartbeats: $(cat "$T/hb.txt")"
	else
		fail "workload guest: heartbeats ($n): $(tr '\n' ' ' <"$T/hb.txt")"
	fi

	type_line 'poweroff -f'
	guest_end 60
	st=$?
	[ "$st" = 0 ] && grep -q 'reboot: Power down' "$LOG" &&
		pass "workload guest: poweroff -f ended QEMU (status 0)" ||
		fail "workload guest: poweroff -f: QEMU status $st"
	check_log_clean "workload guest"
	[ "$FAILS" = 0 ] || show_tail
}

# ---- 2. the idle guest as vmm-lite boots it: no ACPI, no PCI -----------------
idle_guest() {
	local st before=$FAILS
	guest_start idle 1 "acpi=off pci=off"
	if ! wait_for ' vmm-guest: init ready$' 240; then
		fail "idle guest: no 'vmm-guest: init ready'"
		show_tail
		guest_end 1
		return
	fi
	pass "idle guest (acpi=off pci=off): init ready"
	wait_for ' vmm-guest: no workload \(idle\)$' 10 &&
		pass "idle guest: init reports no workload" ||
		fail "idle guest: no 'vmm-guest: no workload (idle)'"
	type_line 'echo answer-$((6*7))'
	wait_for ' answer-42$' 30 && pass "idle guest: the shell answers (answer-42)" ||
		fail "idle guest: no answer-42 from the console shell"
	grep -q ' workload: start' "$LOG" && fail "idle guest: a workload started"

	# The workload's own alarm, by hand: --self-test corrupts page 0.
	type_line 'vmm-workload --mib 4 --rate 0 --period 200 --duration 2 --self-test; echo rc-$?'
	if wait_for ' rc-[0-9]+$' 60; then
		grep -q ' BAD page=0 gen=1 off=96 prev=0$' "$LOG" &&
			grep -Eq ' workload: end hb=[0-9]+ passes=[0-9]+ verified=[0-9]+ bad=1 backwards=0$' "$LOG" &&
			grep -q ' rc-1$' "$LOG" &&
			pass "idle guest: vmm-workload --self-test reports BAD page=0 and exits 1" ||
			fail "idle guest: vmm-workload --self-test: $(grep -E 'BAD|workload: end|rc-' "$LOG" | tr '\n' ' ')"
	else
		fail "idle guest: vmm-workload --self-test did not end"
	fi

	type_line 'reboot -f'
	guest_end 60
	st=$?
	[ "$st" = 0 ] && grep -q 'reboot: machine restart' "$LOG" &&
		pass "idle guest: reboot -f (reboot=k) ended QEMU (status 0)" ||
		fail "idle guest: reboot -f: QEMU status $st"
	check_log_clean "idle guest" " (BAD expected)"
	[ "$FAILS" = "$before" ] || show_tail
}

echo "kernel $KERNEL, initramfs $INITRD, accel $ACCEL"
workload_guest
idle_guest
[ "$FAILS" = 0 ] && echo "all Linux guest checks passed" || echo "$FAILS check(s) failed"
[ "$FAILS" = 0 ]
