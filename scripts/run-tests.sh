#!/bin/sh
# The README's test command: installs what is missing, then builds and runs
# the whole suite three ways:
#   1. gcc, -Werror: unit and end-to-end tests; the test guests under QEMU;
#      the KVM tests (natively where /dev/kvm works, otherwise inside the
#      KVM test VM: tests/kvm/kvm-run.sh)
#   2. gcc with ASan + UBSan: unit and end-to-end tests again, and the KVM
#      tests of the state codec, the trackers and vmm-lite's basics
#   3. clang with libFuzzer: each decoder fuzzed for a bounded time
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/setup-deps.sh

step() { printf '\n==== %s ====\n' "$*"; }

step "release build (gcc, -Werror)"
scripts/build.sh release
step "unit and end-to-end tests"
(cd build && ctest --output-on-failure -L 'unit|e2e' --timeout 900)
step "test guests under QEMU, and the KVM tests"
(cd build && ctest --output-on-failure -L 'guests|kvm' --timeout 1800)

step "sanitizer build (ASan + UBSan)"
scripts/build.sh asan
step "unit and end-to-end tests under ASan + UBSan"
(cd build-asan &&
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --output-on-failure -L 'unit|e2e' --timeout 1800)
step "KVM tests under ASan + UBSan"
(cd build-asan &&
	ctest --output-on-failure -L kvm -R 'kvm\.(dirty|vmm_state|vmm\.basic|vmm\.save|vmm\.linux_boot)$' \
		--timeout 1800)

step "fuzz build (clang, libFuzzer)"
scripts/build.sh fuzz
step "fuzzing the decoders"
(cd build-fuzz && ctest --output-on-failure -L fuzz)
