#!/bin/sh
# demo.sh [BUILD_DIR] - live-migrate a running synthetic guest over TLS on
# this machine, and prove it arrived intact.
#
# A target waits on a loopback port picked by the kernel; a 256 MiB guest
# (zero, text-like and random pages) whose two vCPU-like threads keep
# writing is migrated to it. The source prints each phase, the rounds and
# its totals; the target compares every page's hash with the source's at
# freeze, checks the machine state, runs the guest for a moment and prints
# its verdict. Exits non-zero if anything failed.
#
# BUILD_DIR (default build/) is where cmake built the project.
set -eu

build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
synth=$build/tests/synth/mig-synth

if [ ! -x "$synth" ]; then
	echo "demo: $synth not found; build first:" >&2
	echo "  cmake -S . -B $build && cmake --build $build -j2" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mig-demo.XXXXXX")
tpid=
cleanup() {
	if [ -n "$tpid" ]; then
		kill "$tpid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== test certificates (CA, source, target) in $work/certs"
"$root/scripts/gen-test-certs.sh" "$work/certs"

echo "== target: listening on a loopback port"
"$synth" target --listen tcp:127.0.0.1:0 --certs "$work/certs" \
	--port-file "$work/port" --hash-check "$work/source.hash" \
	--report-json "$work/target.json" --quiet \
	>"$work/target.log" 2>&1 &
tpid=$!

i=0
while [ ! -s "$work/port" ]; do
	if ! kill -0 "$tpid" 2>/dev/null || [ $i -ge 100 ]; then
		echo "demo: the target did not start:" >&2
		cat "$work/target.log" >&2
		exit 1
	fi
	sleep 0.1
	i=$((i + 1))
done
addr=$(cat "$work/port")

echo "== source: 256 MiB guest, 2 dirtier threads at 16 MiB/s, to $addr"
src=0
"$synth" source --address "$addr" --certs "$work/certs" --size 256M \
	--mix zero=30,text=40,random=30 --dirty-threads 2 --dirty-rate 16M \
	--warmup-ms 500 --hash-out "$work/source.hash" \
	--report-json "$work/source.json" || src=$?

tgt=0
wait "$tpid" || tgt=$?
tpid=

echo
echo "== target's side"
cat "$work/target.log"
echo

if [ "$src" -ne 0 ] || [ "$tgt" -ne 0 ]; then
	echo "demo: FAILED (source exit $src, target exit $tgt)" >&2
	exit 1
fi
echo "demo: the guest runs on the target; its memory arrived byte for" \
	"byte and its state exact"
