#!/bin/sh
# Installs the Debian packages the build and the tests need, and only
# those that are missing. Needs root (or sudo) when something is missing.
set -eu

PACKAGES="
build-essential cmake pkg-config git
libuv1-dev liblz4-dev libssl-dev openssl
libprotobuf-c-dev protobuf-c-compiler
libjson-c-dev libxxhash-dev libcmocka-dev libinih-dev libmicrohttpd-dev
clang libclang-rt-14-dev
qemu-system-x86 linux-image-amd64 busybox-static cpio iproute2 python3
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "setup: all build and test packages are installed"
	exit 0
fi

echo "setup: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "setup: these packages are missing and this is not root:" \
			"$missing" >&2
		echo "setup: run as root, or install them with apt-get" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is wanted
$SUDO apt-get install -y -q --no-install-recommends $missing
