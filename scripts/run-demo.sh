#!/bin/sh
# The README's main command: installs what is missing, builds, and runs
# the demo through two migrated daemons as two hosts (network namespaces,
# scripts/demo-daemons.sh): a guest started on A with migratectl migrates
# live to B, with migratectl's progress bar, then a report and its checks.
# Natively where /dev/kvm works; otherwise inside the KVM test VM
# (tests/kvm/run-in-kvm-vm.sh: QEMU TCG with nested SVM; one CPU, see
# tests/kvm/README.md "Limits").
#
#   run-demo.sh            the demo through the daemons
#   run-demo.sh --direct   the earlier demo: two vmm-lite processes driven
#                          directly over their control sockets (demo-kvm.sh)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

demo=daemons
if [ "${1:-}" = --direct ]; then
	demo=direct
	shift
fi
[ $# = 0 ] || {
	echo "usage: run-demo.sh [--direct]" >&2
	exit 2
}

scripts/setup-deps.sh
scripts/build.sh release
if [ $demo = direct ]; then
	exec tests/kvm/kvm-run.sh -m 3G -c 1 -t 1200 -- scripts/demo-kvm.sh "$top/build"
fi
# In the KVM test VM the demo's stdout is a virtio port, not a terminal:
# tell it whether ours is one (and how wide) so that migratectl draws its
# live bar on a pseudo-terminal there, and a line per phase for a log.
if [ -t 1 ]; then
	set -- --tty --cols "$(stty size 2>/dev/null </dev/tty | cut -d' ' -f2)"
else
	set -- --no-tty
fi
exec tests/kvm/kvm-run.sh -m 3G -c 1 -t 1200 -- scripts/demo-daemons.sh "$@" "$top/build"
