#!/bin/sh
# The README's main command: installs what is missing, builds, and live-
# migrates the built-in demo guest between two vmm-lite processes on a real
# KVM over mutually authenticated TLS, showing progress and a report.
# Natively where /dev/kvm works; otherwise inside the KVM test VM
# (tests/kvm/run-in-kvm-vm.sh: QEMU TCG with nested SVM; one CPU, see
# tests/kvm/README.md "Limits").
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/setup-deps.sh
scripts/build.sh release
exec tests/kvm/kvm-run.sh -m 3G -c 1 -t 1200 -- scripts/demo-kvm.sh "$top/build" "$@"
