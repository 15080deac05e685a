#!/bin/sh
# kvm-run.sh [run-in-kvm-vm options] -- COMMAND [ARGS...]
#
# Runs a test that needs KVM: natively when this host has a usable
# /dev/kvm, otherwise inside the KVM test VM (run-in-kvm-vm.sh, which
# gets the options before --). Never skips: if neither works, it fails
# and says why (run-in-kvm-vm.sh names what is missing, exit 2).
#
# KVM_TEST_MODE=native|vm forces one way (default: auto).
set -eu
here=$(cd "$(dirname "$0")" && pwd)

vm_opts=
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	vm_opts="$vm_opts $1"
	shift
done
[ "${1:-}" = "--" ] || {
	echo "usage: kvm-run.sh [VM options] -- COMMAND [ARGS...]" >&2
	exit 2
}
shift

mode=${KVM_TEST_MODE:-auto}
if [ "$mode" = auto ]; then
	if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		mode=native
	else
		mode=vm
	fi
fi
case $mode in
native)
	echo "kvm-run: running natively on /dev/kvm" >&2
	exec "$@"
	;;
vm)
	echo "kvm-run: no usable /dev/kvm here; running inside the KVM test VM" >&2
	# The VM's /tmp, /run and /dev/shm are its own: a tree or working
	# directory there (a CI checkout in /tmp) is shared in explicitly.
	repo=$(cd "$here/../.." && pwd)
	hidden() { case $1 in /tmp/* | /run/* | /dev/shm/*) return 0 ;; esac; return 1; }
	if hidden "$repo"; then
		vm_opts="$vm_opts -w $repo"
	fi
	case $PWD/ in
	"$repo"/*) ;;
	*) if hidden "$PWD"; then vm_opts="$vm_opts -w $PWD"; fi ;;
	esac
	# shellcheck disable=SC2086 # the options are words
	exec "$here/run-in-kvm-vm.sh" $vm_opts -- "$@"
	;;
*)
	echo "kvm-run: KVM_TEST_MODE must be native, vm or auto" >&2
	exit 2
	;;
esac
