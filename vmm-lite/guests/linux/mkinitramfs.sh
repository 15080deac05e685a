#!/bin/bash
# Builds the Linux test guest's initramfs: Debian's static busybox with its
# applet links, /init (the init script next to this file) and
# /bin/vmm-workload, packed as a gzip'ed newc cpio archive owned by root.
#
#   mkinitramfs.sh OUT.cpio.gz WORKLOAD_BINARY
#
# BUSYBOX (default /bin/busybox) names another static busybox. The output
# is reproducible: sorted entries, renumbered inodes, every mtime set to
# SOURCE_DATE_EPOCH (default 0), gzip without name or time. No root
# needed: /dev/console, which the kernel opens for /init before anything
# is mounted, is written as a raw archive entry instead of with mknod.
set -euo pipefail

ME=${0##*/}
die() {
	echo "$ME: $*" >&2
	exit 1
}

[ $# -eq 2 ] || die "usage: $ME OUT.cpio.gz WORKLOAD_BINARY"
OUT=$1
WORKLOAD=$2
HERE=$(cd "$(dirname "$0")" && pwd)
BUSYBOX=${BUSYBOX:-/bin/busybox}
EPOCH=${SOURCE_DATE_EPOCH:-0}

command -v cpio >/dev/null || die "cpio not found: install the Debian package cpio"
command -v gzip >/dev/null || die "gzip not found: install the Debian package gzip"
command -v readelf >/dev/null ||
	die "readelf not found: install the Debian package binutils"

# Fails unless FILE is an ELF executable without a program interpreter:
# the initramfs has no dynamic loader and no libraries.
need_static() { # FILE WHAT
	local hdr
	hdr=$(readelf -lW "$1" 2>/dev/null) || die "$2 ($1) is not an ELF executable"
	if grep -q 'Requesting program interpreter' <<<"$hdr"; then
		return 1
	fi
}

[ -x "$BUSYBOX" ] ||
	die "$BUSYBOX not found: install the Debian package busybox-static"
need_static "$BUSYBOX" busybox ||
	die "$BUSYBOX is dynamically linked: install the Debian package busybox-static (not busybox)"
[ -x "$WORKLOAD" ] || die "$WORKLOAD: no such executable"
need_static "$WORKLOAD" vmm-workload ||
	die "$WORKLOAD is dynamically linked; build it with -static"
[ -f "$HERE/init" ] || die "$HERE/init is missing"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/vmm-initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

R=$STAGE/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,tmp,root,etc}
cp "$BUSYBOX" "$R/bin/busybox"
# Applet links where busybox itself would put them (bin/sh, sbin/poweroff,
# usr/bin/awk, ...), absolute so they work from any directory.
"$BUSYBOX" --list-full | LC_ALL=C sort | while IFS= read -r app; do
	case $app in
	# Only plain relative paths; linuxrc is for the old initrd scheme.
	"" | /* | *..* | bin/busybox | linuxrc) continue ;;
	esac
	mkdir -p "$R/$(dirname "$app")"
	[ -e "$R/$app" ] || ln -s /bin/busybox "$R/$app"
done
# What init and the tests use.
applets=$("$BUSYBOX" --list)
for app in sh cat mount mkdir hostname sed tr setsid cttyhack sleep poweroff; do
	grep -qx "$app" <<<"$applets" || die "$BUSYBOX has no $app applet"
done
cp "$HERE/init" "$R/init"
cp "$WORKLOAD" "$R/bin/vmm-workload"
echo vmm-guest >"$R/etc/hostname"
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"

chmod -R u=rwX,go=rX "$R"
chmod 0755 "$R/init" "$R/bin/busybox" "$R/bin/vmm-workload"
chmod 1777 "$R/tmp"
find "$R" -exec touch -h -d "@$EPOCH" {} +

# A newc entry (header, name, padding) for a file without data: the dev
# directory and the console node. Inode numbers stay clear of the ones
# cpio --renumber-inodes hands out.
newc_entry() { # INO MODE NLINK RDEVMAJOR RDEVMINOR NAME
	local namesize=$((${#6} + 1)) pad
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$1" "$2" 0 0 "$3" "$EPOCH" 0 0 0 "$4" "$5" "$namesize" 0
	printf '%s\0' "$6"
	pad=$(((4 - (110 + namesize) % 4) % 4))
	head -c "$pad" /dev/zero
}

{
	newc_entry $((0x7fff0001)) $((0040755)) 2 0 0 dev
	newc_entry $((0x7fff0002)) $((0020600)) 1 5 1 dev/console
	(cd "$R" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet)
} | gzip -9 -n >"$STAGE/out.cpio.gz"

# rename(2): a reader never sees a half-written image.
mkdir -p "$(dirname "$OUT")"
cp "$STAGE/out.cpio.gz" "$OUT.tmp.$$"
mv -f "$OUT.tmp.$$" "$OUT"
