# lib.sh: helpers for vmm-lite's KVM tests (sourced by bash scripts).
#
# The caller sets VMM_BIN (build dir holding vmm-lite/vmm-lite,
# vmm-lite/vmm-ctl and the guest images) and SRC (the source tree). Every
# check that fails calls fail, which prints the tails of every log and
# exits 1: a test never skips.
set -eu

: "${VMM_BIN:?VMM_BIN: the build directory}"
: "${SRC:?SRC: the source tree}"
VMM=$VMM_BIN/vmm-lite/vmm-lite
CTL=$VMM_BIN/vmm-lite/vmm-ctl
GUESTS=$VMM_BIN/vmm-lite/guests
GUEST_CONFIG=$GUESTS/vmm-guest-config

W=$(mktemp -d "${TMPDIR:-/tmp}/vmmtest.XXXXXX")
PIDS=
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
	[ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

fail() {
	say "FAIL: $*"
	for f in "$W"/*.log "$W"/*.serial; do
		[ -f "$f" ] || continue
		printf -- '--- %s (last 25 lines)\n' "$(basename "$f")" >&2
		tail -n 25 "$f" >&2
	done
	exit 1
}

for f in "$VMM" "$CTL" "$GUEST_CONFIG"; do
	[ -x "$f" ] || fail "$f is missing: build first"
done

certs() {
	"$SRC/scripts/gen-test-certs.sh" "$W/certs" >/dev/null
	C=$W/certs
}

# tls_src / tls_tgt: the TLS options of each side.
tls_src() { echo "--tls-ca $C/ca.pem --tls-cert $C/source.pem --tls-key $C/source.key --tls-peer target.test"; }
tls_tgt() { echo "--tls-ca $C/ca.pem --tls-cert $C/target.pem --tls-key $C/target.key --tls-peer source.test"; }

# guest KIND OUT [vmm-guest-config options]: a configured copy of an image.
guest() {
	local kind=$1 out=$2
	shift 2
	"$GUEST_CONFIG" "$GUESTS/$kind.img" "$out" "$@" >/dev/null ||
		fail "vmm-guest-config $kind $*"
}

# start NAME ARGS...: vmm-lite in the background; serial in NAME.serial,
# log in NAME.log, control socket NAME.sock, standard input from
# $START_STDIN (/dev/null); sets NAME_pid.
start() {
	local name=$1
	shift
	"$VMM" --control "$W/$name.sock" "$@" <"${START_STDIN:-/dev/null}" \
		>"$W/$name.serial" 2>"$W/$name.log" &
	eval "${name}_pid=$!"
	PIDS="$PIDS $!"
	# The socket appears once the process is up.
	local i=0
	while [ ! -S "$W/$name.sock" ]; do
		kill -0 "$!" 2>/dev/null || fail "$name exited at start"
		i=$((i + 1))
		[ $i -lt 600 ] || fail "$name: no control socket after 60 s"
		sleep 0.1
	done
}

# ctl NAME CMD ARGS...: one control request; prints the answer.
ctl() {
	local name=$1
	shift
	"$CTL" "$W/$name.sock" "$@"
}

# json_get JSON KEY: a top-level or migration.KEY member (number/string).
json_get() {
	printf '%s' "$1" | tr ',{}' '\n\n\n' | sed -n "s/^ *\"$2\": *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" | head -n 1
}

# wait_for FILE REGEX SECONDS: until a line of FILE matches.
wait_for() {
	local i=0 n=$(($3 * 10))
	while ! grep -Eq "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $n ] || fail "no line matching /$2/ in $(basename "$1") after $3 s"
		sleep 0.1
	done
}

# wait_state NAME STATE SECONDS: until status says vm=STATE.
wait_state() {
	local i=0 n=$(($3 * 10)) s
	while :; do
		s=$(ctl "$1" status 2>/dev/null) || s=
		case $s in *"\"vm\":\"$2\""*) return 0 ;; esac
		i=$((i + 1))
		[ $i -le $n ] || fail "$1 not $2 after $3 s (last status: $s)"
		sleep 0.1
	done
}

# wait_exit PID SECONDS: sets RC to the process's exit status (fails on
# timeout). Not in a $(...) subshell: only this shell may wait for it.
wait_exit() {
	local i=0 n=$(($2 * 10))
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $n ] || fail "process $1 still running after $2 s"
		sleep 0.1
	done
	RC=0
	wait "$1" || RC=$?
}

# complete_lines FILE: FILE's lines up to its last newline. The guest may
# be writing one right now, and "c 16" is not yet "c 16917 13".
complete_lines() {
	local d
	d=$(cat "$1" 2>/dev/null; printf x)
	d=${d%x}
	case $d in
	*$'\n') ;;
	*$'\n'*) d=${d%$'\n'*}$'\n' ;;
	*) d= ;;
	esac
	printf '%s' "$d"
}
# counters FILE: the guest's counter values, one per line, in order. The
# guest prints "c COUNT PASSES": COUNT is guest time in print periods
# (it advances by more than one when the vCPU was descheduled), PASSES
# the working-set passes completed (vmm-lite/guests/README.md).
counters() { complete_lines "$1" | sed -n 's/^c \([0-9][0-9]*\)\( [0-9][0-9]*\)\{0,1\}\r\{0,1\}$/\1/p'; }
passes() { complete_lines "$1" | sed -n 's/^c [0-9][0-9]* \([0-9][0-9]*\)\r\{0,1\}$/\1/p' | tail -n 1; }
last_counter() { counters "$1" | tail -n 1; }

# check_counter_continues SRC_SERIAL DST_SERIAL [REPORT]: the target's
# first counter follows the source's last one: no restart. The counter is
# guest time in 10 ms periods; a vCPU starved of CPU before the freeze
# (common in the KVM test VM) prints nothing while its TSC runs on, so the
# jump may reach the migration's total time, never more (REPORT: the
# source's statistics, for total_us).
check_counter_continues() {
	local a b max=50 total
	a=$(last_counter "$1")
	b=$(counters "$2" | head -n 1)
	[ -n "$a" ] || fail "no counter on $(basename "$1")"
	[ -n "$b" ] || fail "no counter on $(basename "$2")"
	[ "$b" -gt "$a" ] || fail "counter restarted: source ended at $a, target began at $b"
	if [ -n "${3:-}" ]; then
		total=$(sed 's/"rounds":\[[^]]*\]//' "$3" | grep -o '"total_us":[0-9]*' | cut -d: -f2)
		max=$((max + ${total:-0} / 10000))
	fi
	[ "$b" -le $((a + max)) ] || fail "counter jumped: source ended at $a, target began at $b (at most $max)"
	say "counter continues: source ended at $a, target began at $b"
}

# check_monotonic FILE: counters strictly increase (never restart).
check_monotonic() {
	counters "$1" | awk -v f="$(basename "$1")" '
		NR > 1 && $1 <= prev { printf "%s: counter %d after %d\n", f, $1, prev; bad = 1 }
		{ prev = $1 } END { exit bad }' >&2 || fail "counter went backwards in $(basename "$1")"
}

no_bad() {
	! grep -q BAD "$1" || fail "the checker found corrupt memory: $(grep BAD "$1" | head -n 3)"
}


# incoming_address NAME: the address a `--incoming tcp:127.0.0.1:0` target
# bound, from its log.
incoming_address() {
	wait_for "$W/$1.log" 'waiting for a migration on ' 60
	sed -n 's/.*waiting for a migration on \([^ ]*\).*/\1/p' "$W/$1.log" | head -n 1
}
