#!/bin/bash
# Boots the vmm-lite test guests under QEMU/TCG (no KVM needed) and checks
# what they promise: the counter's period, the dirtier's memory contents
# (with vmm-guest-dumpcheck on a pmemsave dump), the rate bound, the
# checker's clean end and its BAD report (self-test flag, and a page
# corrupted from outside through QEMU's gdb stub when gdb is installed),
# each with 1 and 2 vCPUs; and vmm-guest-config's validation.
#
#   test-guests.sh IMG_DIR VMM_GUEST_CONFIG VMM_GUEST_DUMPCHECK
#
# Under QEMU's isa-debug-exit a guest exit code v becomes status 2v+1:
# 1 = run over (v 0), 21 = BAD (v 10). QEMU_ACCEL=kvm runs the same checks
# with KVM (e.g. inside tests/kvm/run-in-kvm-vm.sh).
set -u

IMG=${1:?IMG_DIR} CFG=${2:?vmm-guest-config} DCHK=${3:?vmm-guest-dumpcheck}
QEMU=${QEMU:-qemu-system-x86_64}
ACCEL=${QEMU_ACCEL:-tcg}
T=$(mktemp -d "${TMPDIR:-/tmp}/guests-test.XXXXXX") || exit 1
QPID=
cleanup() {
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok:   $*"; }

# Sets QARGS: the QEMU arguments for booting IMG.
qemu_args() { # IMG
	QARGS=(-accel "$ACCEL" -drive "format=raw,file=$1" -display none
		-device "isa-debug-exit,iobase=0x501,iosize=2" -smp 2 -m 512
		-no-reboot)
}

# Runs IMG to its end; serial lines, stamped with the host time, in OUT.
run_stamped() { # IMG OUT TIMEOUT_S -> QEMU's status
	local st
	qemu_args "$1"
	timeout "$3" "$QEMU" "${QARGS[@]}" -serial stdio -monitor none \
		</dev/null 2>"$2.err" |
		while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >"$2"
	st=${PIPESTATUS[0]}
	return "$st"
}

# Runs IMG until its counter line reports PASSES complete passes, stops it
# and saves SIZE bytes from 1 MiB in DUMP.
run_dump() { # IMG PASSES SIZE DUMP
	qemu_args "$1"
	{
		for _ in $(seq 1 600); do
			[ "$(last_field "$4.serial" 4)" -ge "$2" ] && break
			sleep 0.2
		done
		echo stop
		echo "pmemsave 0x100000 $3 \"$4\""
		sleep 2
		echo quit
	} | timeout 200 "$QEMU" "${QARGS[@]}" -serial "file:$4.serial" \
		-monitor stdio >"$4.mon" 2>&1
}

# The last counter line's field F (3: count, 4: passes) in FILE; 0 if none.
last_field() { # FILE F
	awk -v f="$2" '$1 == "c" || $2 == "c" { v = $(f - ($1 == "c")) }
		END { print v + 0 }' "$1" 2>/dev/null || echo 0
}

# ---- vmm-guest-config -------------------------------------------------------
cfg_checks() {
	local out
	out=$("$CFG" "$IMG/checker.img") || fail "config: print checker.img"
	grep -qx 'kind=checker' <<<"$out" && grep -qx 'verify=1' <<<"$out" &&
		pass "config: prints checker.img" || fail "config: checker.img: $out"
	"$CFG" "$IMG/dirtier.img" "$T/x.img" --ws-mib 32 --pattern text \
		--rate-mib 5 --period-ms 20 --cpus 3 --run-s 7 -q &&
		out=$("$CFG" "$T/x.img") &&
		grep -qx 'ws_mib=32' <<<"$out" && grep -qx 'pattern=text' <<<"$out" &&
		grep -qx 'rate_mib=5' <<<"$out" && grep -qx 'period_ms=20' <<<"$out" &&
		grep -qx 'cpus=3' <<<"$out" && grep -qx 'run_ms=7000' <<<"$out" &&
		cmp -s -n 476 "$IMG/dirtier.img" "$T/x.img" &&
		pass "config: patches every field, code untouched" ||
		fail "config: patch round trip"
	local before=$FAILS
	for bad in "--cpus 17" "--cpus 0" "--period-ms 0" "--ws-mib 3072" \
		"--pattern noise" "--run-ms 5 --period-ms 10" "--self-test-corrupt" \
		"--cpus -1" "--ws-mib 12x" "--bogus 1"; do
		# shellcheck disable=SC2086
		if "$CFG" "$IMG/dirtier.img" "$T/y.img" $bad -q 2>/dev/null; then
			fail "config: accepted $bad"
		fi
	done
	[ -e "$T/y.img" ] && fail "config: wrote OUT for bad options"
	[ "$FAILS" = "$before" ] && pass "config: refuses out-of-range options"
	before=$FAILS
	head -c 512 /dev/zero >"$T/zero.img"
	cp "$IMG/counter.img" "$T/nomagic.img"
	printf 'XXXX' | dd of="$T/nomagic.img" bs=1 seek=476 conv=notrunc 2>/dev/null
	head -c 511 "$IMG/counter.img" >"$T/short.img"
	for f in zero nomagic short; do
		"$CFG" "$T/$f.img" "$T/z.img" -q 2>/dev/null && fail "config: took $f.img"
	done
	[ "$FAILS" = "$before" ] &&
		pass "config: refuses images without the magic, signature or size"
}

# ---- counter ------------------------------------------------------------
counter_check() { # CPUS
	local st n last span
	"$CFG" "$IMG/counter.img" "$T/c.img" --period-ms 50 --run-s 3 --cpus "$1" -q
	run_stamped "$T/c.img" "$T/c.out" 60
	st=$?
	[ "$st" = 1 ] || { fail "counter cpus=$1: status $st, want 1"; return; }
	n=$(grep -c ' c ' "$T/c.out")
	last=$(last_field "$T/c.out" 3)
	# The count is guest time / period; the host clock must agree.
	span=$(awk '$2 == "c" { if (!t0) { t0 = $1; c0 = $3 } t1 = $1; c1 = $3 }
		END { if (c1 > c0) printf "%.3f", (t1 - t0) / ((c1 - c0) * 0.05) }' "$T/c.out")
	# A loaded host deschedules the BSP now and then: lines go missing,
	# the count may not.
	if [ "$last" -lt 60 ] || [ "$n" -lt 10 ]; then
		fail "counter cpus=$1: $n lines, last count $last"
	elif awk -v r="$span" 'BEGIN { exit !(r > 0.8 && r < 1.25) }'; then
		pass "counter cpus=$1: $n lines, count $last, host/guest time $span"
	else
		fail "counter cpus=$1: host/guest time ratio $span"
	fi
}

# ---- dirtier ------------------------------------------------------------
dirtier_check() { # CPUS PATTERN
	local res
	"$CFG" "$IMG/dirtier.img" "$T/d.img" --ws-mib 8 --pattern "$2" --cpus "$1" -q
	rm -f "$T/d.dump.serial"
	run_dump "$T/d.img" $((2 * $1)) 0x800000 "$T/d.dump"
	res=$("$DCHK" "$T/d.img" "$T/d.dump")
	local st=$?
	if [ "$st" != 0 ]; then
		fail "dirtier cpus=$1 $2: $res"
	elif [ "$2" != zero ] && ! grep -q 'pass_max=[1-9]' <<<"$res"; then
		fail "dirtier cpus=$1 $2: no second pass: $res"
	else
		pass "dirtier cpus=$1 $2: $res"
	fi
}

rate_check() { # CPUS
	local st p
	# 4 MiB at 8 MiB/s for 4.25 s: 8 working-set passes (each of the
	# vCPUs counts its own passes over its share).
	"$CFG" "$IMG/dirtier.img" "$T/r.img" --ws-mib 4 --rate-mib 8 \
		--run-ms 4250 --cpus "$1" -q
	run_stamped "$T/r.img" "$T/r.out" 60
	st=$?
	p=$(last_field "$T/r.out" 4)
	p=$((p / $1))
	if [ "$st" = 1 ] && [ "$p" -ge 7 ] && [ "$p" -le 9 ]; then
		pass "rate cpus=$1: $p working-set passes in 4.25 s at 8 MiB/s (want 8)"
	else
		fail "rate cpus=$1: status $st, $p working-set passes (want 8)"
	fi
}

# ---- checker ------------------------------------------------------------
checker_check() { # CPUS
	local st p
	"$CFG" "$IMG/checker.img" "$T/k.img" --ws-mib 8 --run-s 4 --cpus "$1" -q
	run_stamped "$T/k.img" "$T/k.out" 60
	st=$?
	p=$(last_field "$T/k.out" 4)
	if [ "$st" = 1 ] && [ "$p" -ge 2 ] && ! grep -q BAD "$T/k.out"; then
		pass "checker cpus=$1: clean end, $p verified passes"
	else
		fail "checker cpus=$1: status $st, passes $p, $(grep BAD "$T/k.out")"
	fi
	"$CFG" "$IMG/checker.img" "$T/k.img" --ws-mib 8 --run-s 20 --cpus "$1" \
		--self-test-corrupt -q
	run_stamped "$T/k.img" "$T/k.out" 60
	st=$?
	if [ "$st" = 21 ] && grep -Eq ' BAD 25[6-9] [0-9]+$' "$T/k.out"; then
		pass "checker cpus=$1 self-test: $(grep -o 'BAD.*' "$T/k.out"), status 21"
	else
		fail "checker cpus=$1 self-test: status $st, $(tail -1 "$T/k.out")"
	fi
}

# Corrupts one dword of pfn 768 through the gdb stub until the checker
# notices (a write lands before the page's verification about half the
# time); gdb may take seconds per attach in a nested VM.
corrupt_check() { # CPUS
	local st end
	command -v gdb >/dev/null || { echo "skip: corrupt cpus=$1 (no gdb)"; return; }
	"$CFG" "$IMG/checker.img" "$T/g.img" --ws-mib 8 --run-s 200 --cpus "$1" -q
	rm -f "$T/g.out" "$T/gdb.sock"
	qemu_args "$T/g.img"
	"$QEMU" "${QARGS[@]}" -serial "file:$T/g.out" -monitor none \
		-gdb "unix:$T/gdb.sock,server=on,wait=off" </dev/null 2>"$T/g.err" &
	QPID=$!
	end=$((SECONDS + 120))
	until grep -q BAD "$T/g.out" 2>/dev/null || [ $SECONDS -ge $end ] ||
		! kill -0 "$QPID" 2>/dev/null; do
		[ "$(last_field "$T/g.out" 4)" -ge 1 ] &&
			PYTHONDONTWRITEBYTECODE=1 timeout 60 gdb -q -batch -nx \
				-ex "set architecture i386:x86-64" \
				-ex "target remote $T/gdb.sock" \
				-ex "set {int}0x300010 = 0x12345678" -ex detach \
				>/dev/null 2>&1
		sleep 0.3
	done
	for _ in $(seq 1 50); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.2; done
	kill "$QPID" 2>/dev/null
	wait "$QPID"
	st=$?
	QPID=
	if [ "$st" = 21 ] && grep -Eq '^BAD 768 [0-9]+$' "$T/g.out"; then
		pass "checker cpus=$1 outside corruption: $(grep BAD "$T/g.out"), status 21"
	else
		fail "checker cpus=$1 outside corruption: status $st, $(tail -1 "$T/g.out")"
	fi
}

cfg_checks
for c in 1 2; do
	counter_check $c
	dirtier_check $c random
	dirtier_check $c text
	dirtier_check $c zero
	rate_check $c
	checker_check $c
	corrupt_check $c
done
[ "$FAILS" = 0 ] && echo "all guest checks passed" || echo "$FAILS check(s) failed"
[ "$FAILS" = 0 ]
