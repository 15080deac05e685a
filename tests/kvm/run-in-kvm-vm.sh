#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-in-kvm-vm.sh: run a command inside a throw-away VM that has a working
# /dev/kvm, on hosts that have none (CI and dev machines are VMs themselves).
#
# QEMU's TCG with "-cpu max" emulates AMD SVM with nested paging, so the
# host's own Debian kernel booted there can load kvm-amd. The VM's root is
# the host's root, shared read-only over virtio-9p, so host-built binaries
# run unchanged at the same paths. See tests/kvm/README.md.

set -euo pipefail
shopt -s extglob

# One compound command: bash parses it whole before running it, so editing
# this file while a run is in progress cannot derail that run.
{

readonly ME=run-in-kvm-vm
SCRIPT=${BASH_SOURCE[0]}
[[ $SCRIPT == /* ]] || SCRIPT=$PWD/$SCRIPT
readonly SCRIPT

usage() {
	cat <<EOF
usage: ${0##*/} [options] -- COMMAND [ARGS...]

Runs COMMAND as root inside a QEMU/TCG VM whose kernel exposes /dev/kvm,
in the current directory, and exits with COMMAND's exit status.
COMMAND's stdout and stderr come back on this script's stdout and stderr.

Inside the VM the host root is read-only; /tmp, /run and /dev/shm are empty
tmpfs. Share host directories read-write with -w.

options:
  -m SIZE     VM memory, QEMU syntax (default \$KVM_VM_MEM or 4G)
  -c N        vCPUs (default \$KVM_VM_CPUS or 2)
  -t SECONDS  kill the VM after this long (default \$KVM_VM_TIMEOUT or 900)
  -e NAME     pass environment variable NAME through (repeatable);
              PATH and HOME always pass, unset names are skipped
  -w DIR      share host DIR read-write at the same path (repeatable)
  -k FILE     kernel image (default \$KVM_VM_KERNEL or newest /boot/vmlinuz-*)
  -M DIR      kernel modules (default \$KVM_VM_MODULES or /lib/modules/VERSION)
  -C DIR      initramfs cache (default \$KVM_VM_CACHE or
              \${XDG_CACHE_HOME:-\$HOME/.cache}/libmigrate-kvm-vm)
  -r          rebuild the cached initramfs
  -v          verbose: stream the VM console to stderr, print timings
  -h          this help

exit status: COMMAND's, or 2 (missing prerequisite, bad usage),
124 (timeout), 125 (the VM failed before reporting COMMAND's status).
EOF
}

die() {
	echo "$ME: $*" >&2
	exit 2
}

# --- options -----------------------------------------------------------

mem=${KVM_VM_MEM:-4G}
cpus=${KVM_VM_CPUS:-2}
timeout_s=${KVM_VM_TIMEOUT:-900}
kernel=${KVM_VM_KERNEL:-}
moddir=${KVM_VM_MODULES:-}
cache_root=${KVM_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/libmigrate-kvm-vm}
rebuild=0
verbose=0
env_names=()
wdirs=()

while getopts ":m:c:t:e:w:k:M:C:rvh" opt; do
	case $opt in
	m) mem=$OPTARG ;;
	c) cpus=$OPTARG ;;
	t) timeout_s=$OPTARG ;;
	e) env_names+=("$OPTARG") ;;
	w) wdirs+=("$OPTARG") ;;
	k) kernel=$OPTARG ;;
	M) moddir=$OPTARG ;;
	C) cache_root=$OPTARG ;;
	r) rebuild=1 ;;
	v) verbose=1 ;;
	h) usage; exit 0 ;;
	:) die "option -$OPTARG needs an argument (see -h)" ;;
	*) die "unknown option -$OPTARG (see -h)" ;;
	esac
done
shift $((OPTIND - 1))
[[ ${1:-} == -- ]] && shift
[[ $# -gt 0 ]] || die "no COMMAND given (see -h)"
[[ $cpus =~ ^[1-9][0-9]*$ ]] || die "-c: not a CPU count: $cpus"
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "-t: not a number of seconds: $timeout_s"
[[ $mem =~ ^[1-9][0-9]*[MGT]?$ ]] || die "-m: not a memory size: $mem"
for n in "${env_names[@]}"; do
	[[ $n =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "-e: not a variable name: $n"
done

# --- prerequisites -----------------------------------------------------

missing=()
need_tool() { # tool package
	command -v "$1" >/dev/null 2>&1 ||
		missing+=("$1 (not in PATH; Debian package: $2)")
}

need_tool qemu-system-x86_64 qemu-system-x86
need_tool cpio cpio
need_tool gzip gzip
for t in timeout sha256sum mktemp readlink stat sort tail cat cut tee \
	mkfifo date; do
	need_tool "$t" coreutils
done
need_tool find findutils
need_tool awk mawk
need_tool ldd libc-bin

busybox=${KVM_VM_BUSYBOX:-}
if [[ -z $busybox ]]; then
	for b in /bin/busybox /usr/bin/busybox; do
		[[ -x $b ]] && { busybox=$b; break; }
	done
fi
if [[ -z $busybox || ! -x $busybox ]]; then
	missing+=("static busybox (${busybox:-/bin/busybox} not found; Debian package: busybox-static)")
elif command -v ldd >/dev/null 2>&1 &&
	[[ $(LC_ALL=C ldd "$busybox" 2>&1 || true) != *@(not a dynamic|statically linked)* ]]; then
	missing+=("static busybox ($busybox is dynamically linked; Debian package: busybox-static)")
fi

if [[ -z $kernel ]]; then
	kernels=(/boot/vmlinuz-*)
	if [[ -e ${kernels[0]} ]]; then
		kernel=$(printf '%s\n' "${kernels[@]}" | sort -V 2>/dev/null | tail -n 1 2>/dev/null) ||
			kernel=${kernels[-1]}
	fi
fi
kver=
if [[ -z $kernel ]]; then
	missing+=("kernel image (no /boot/vmlinuz-*; Debian package: linux-image-amd64)")
elif [[ ! -f $kernel ]]; then
	missing+=("kernel image ($kernel does not exist; Debian package: linux-image-amd64)")
elif [[ ! -r $kernel ]]; then
	missing+=("kernel image ($kernel is not readable by $(id -un))")
else
	kver=${kernel##*/vmlinuz-}
	[[ $kver == "$kernel" ]] && kver=
fi
if [[ -z $moddir && -n $kver ]]; then
	moddir=/lib/modules/$kver
fi
if [[ -n $kernel && -f $kernel ]]; then
	if [[ -z $moddir ]]; then
		missing+=("kernel modules (cannot tell the version of $kernel; give -M DIR)")
	elif [[ ! -f $moddir/modules.dep ]]; then
		missing+=("kernel modules ($moddir/modules.dep missing; Debian package: linux-image-${kver:-amd64})")
	fi
fi

# Modules the VM needs, resolved through modules.dep so that the load order
# and any new dependency come from the kernel itself. A module built into
# the kernel (modules.builtin) needs no file.
# veth: the daemon tests join two network namespaces with a veth pair.
want_modules=(virtio_pci virtio_console 9pnet_virtio 9p kvm_amd kvm_intel veth)
declare -A mod_path=() mod_deps=() builtin=() seen=()
mod_order=()

modname() { # path -> $REPLY: module name with '-' as '_'
	REPLY=${1##*/}
	REPLY=${REPLY%%.ko*}
	REPLY=${REPLY//-/_}
}

add_module() { # name: depth-first, dependencies first
	local m=$1 d
	[[ -n ${seen[$m]:-} ]] && return 0
	seen[$m]=1
	[[ -n ${builtin[$m]:-} ]] && return 0
	if [[ -z ${mod_path[$m]:-} ]]; then
		missing+=("kernel module $m (not in $moddir and not built in; Debian package: linux-image-${kver:-amd64})")
		return 0
	fi
	for d in ${mod_deps[$m]}; do
		modname "$d"
		add_module "$REPLY"
	done
	mod_order+=("$m")
}

if [[ -n $moddir && -f $moddir/modules.dep ]]; then
	while read -r p; do
		modname "$p"
		builtin[$REPLY]=1
	done < <([[ -f $moddir/modules.builtin ]] && echo "$(<"$moddir/modules.builtin")")
	while IFS=: read -r p deps; do
		modname "$p"
		mod_path[$REPLY]=$p
		mod_deps[$REPLY]=$deps
	done <"$moddir/modules.dep"
	for m in "${want_modules[@]}"; do
		# One of kvm_amd / kvm_intel is enough; the VM's CPU is AMD.
		if [[ $m == kvm_intel && -z ${mod_path[$m]:-} ]]; then
			continue
		fi
		add_module "$m"
	done
	for m in "${mod_order[@]}"; do
		case ${mod_path[$m]} in
		*.ko.xz) need_tool xz xz-utils ;;
		*.ko.zst) need_tool zstd zstd ;;
		esac
	done
fi

if ((${#missing[@]})); then
	echo "$ME: cannot start the KVM VM; missing:" >&2
	printf '  - %s\n' "${missing[@]}" >&2
	exit 2
fi

# Paths that the VM hides behind its own tmpfs/devtmpfs/proc/sysfs.
shadowed() { # path -> 0 if hidden inside the VM and not shared with -w
	local p=$1 w
	for w in "${wdirs_real[@]}"; do
		[[ $p == "$w" || $p == "$w"/* ]] && return 1
	done
	case $p in
	/tmp | /tmp/* | /run | /run/* | /dev | /dev/* | /proc | /proc/* | \
		/sys | /sys/*) return 0 ;;
	esac
	return 1
}

wdirs_real=()
for w in "${wdirs[@]}"; do
	[[ -d $w ]] || die "-w: not a directory: $w"
	wdirs_real+=("$(readlink -f "$w")")
done
# Parents before children, so that nested shares stay visible.
if ((${#wdirs_real[@]})); then
	mapfile -t wdirs_real < <(printf '%s\n' "${wdirs_real[@]}" |
		awk '{ print gsub("/", "/") "\t" $0 }' | sort -n -s -k1,1 |
		cut -f2-)
fi

cwd=$(pwd)
if shadowed "$(pwd -P)"; then
	die "the current directory $cwd is hidden inside the VM (its /tmp, /run, /dev are fresh); share it with -w $cwd or run from elsewhere"
fi
if [[ $1 == */* ]]; then
	cmd_real=$(readlink -f "$1" 2>/dev/null || echo "$1")
	if shadowed "$cmd_real"; then
		die "COMMAND $1 is hidden inside the VM (its /tmp, /run, /dev are fresh); share its directory with -w"
	fi
fi

# --- initramfs (cached) ------------------------------------------------

# The init below runs before switching into the host userland: it loads
# the modules listed in /modules.list, mounts the shares described by
# /results/config, runs /results/cmd.sh chrooted, and stores the status.
write_init() {
	cat <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
	echo "kvm-vm: $*"
	if [ -d /results/.ok ]; then
		echo "$*" >/results/vm-error
	fi
	sync
	poweroff -f
	reboot -f
}

mount -t proc proc /proc
mount -t sysfs sys /sys
while read -r m; do
	case $m in
	kvm_amd.ko) grep -qw svm /proc/cpuinfo || continue ;;
	kvm_intel.ko) grep -qw vmx /proc/cpuinfo || continue ;;
	esac
	insmod /lib/modules/$m || echo "kvm-vm: insmod $m failed"
done </modules.list

P9='trans=virtio,version=9p2000.L,msize=512000'
mkdir -p /results /newroot
mount -t 9p -o "$P9,cache=none" results /results ||
	fail "cannot mount the results share"
mkdir /results/.ok
. /results/config
[ -c /dev/kvm ] || fail "/dev/kvm is missing in the VM (kvm module did not load; see the console log)"

mount -t 9p -o "$P9,ro,cache=$ROOT_CACHE" hostroot /newroot ||
	fail "cannot mount the host root share"
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
mount -t tmpfs -o mode=1777 tmp /newroot/tmp
mount -t tmpfs -o mode=0755 run /newroot/run
mkdir -p "/newroot$RESDIR"
mount --bind /results "/newroot$RESDIR"
i=0
while [ "$i" -lt "$NWDIRS" ]; do
	eval "d=\$WDIR_$i"
	mkdir -p "/newroot$d" && mount -t 9p -o "$P9,cache=mmap" "w$i" "/newroot$d" ||
		fail "cannot mount the shared directory $d"
	i=$((i + 1))
done
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
hostname kvm-vm

out=/dev/console
err=/dev/console
for p in /sys/class/virtio-ports/*; do
	[ -e "$p/name" ] || continue
	case $(cat "$p/name") in
	stdout) out=/dev/${p##*/} ;;
	stderr) err=/dev/${p##*/} ;;
	esac
done

# See pin_static_keys on the host side for why.
if [ "$PIN_KEYS" = 1 ]; then
	if [ -x /newroot/usr/bin/perl ]; then
		env -i /bin/chroot /newroot /usr/bin/perl -e "$(cat /pin.pl)" \
			"$RESDIR/pinned" </dev/null >/dev/console 2>&1 &
		pin=$!
		i=0
		while [ ! -e /results/pinned ] && [ $i -lt 300 ] &&
			kill -0 $pin 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	[ -e /results/pinned ] ||
		echo "kvm-vm: warning: KVM static keys not pinned (no perl, or see above)"
fi

cut -d' ' -f1 /proc/uptime >/results/boot-seconds
env -i /bin/chroot /newroot /bin/sh "$RESDIR/cmd.sh" </dev/null >"$out" 2>"$err"
echo $? >/results/rc.tmp
mv /results/rc.tmp /results/rc
sync
poweroff -f
reboot -f
INIT
}

# QEMU 7.2's multi-threaded TCG sometimes keeps running a stale
# translation of the INT3 that the kernel writes while patching its own
# code (text_poke_bp); the VM then livelocks in exc_int3 (seen once every
# 50-100 kvm-probe runs, at __schedule, on preempt_notifier_key). KVM flips
# such static keys whenever the first VM, vCPU without in-kernel APIC, or
# disabled APIC comes or goes; this Perl holder (perl-base is essential in
# Debian) keeps one of each alive, so the keys never flip back. Round-robin
# TCG (KVM_VM_TCG_THREAD=single) avoids the livelock too, but makes
# interrupts of nested guests unreliable (see README.md).
pin_static_keys() {
	cat <<'PIN'
use strict;
sub kio {
	my ($fh, $req, $arg, $what) = @_;
	my $r = ioctl($fh, $req, $arg);
	defined $r or die "kvm-vm: pin: $what: $!\n";
	return $r + 0;
}
sub fh {
	open(my $h, "+<&=", $_[0]) or die "kvm-vm: pin: fd $_[0]: $!\n";
	return $h;
}
open(my $kvm, "+<", "/dev/kvm") or die "kvm-vm: pin: /dev/kvm: $!\n";
# KVM_CREATE_VM, KVM_CREATE_VCPU: preempt_notifier_key, kvm_has_noapic_vcpu
my $vm1 = fh(kio($kvm, 0xAE01, 0, "KVM_CREATE_VM"));
kio($vm1, 0xAE41, 0, "KVM_CREATE_VCPU");
# KVM_CREATE_IRQCHIP, a vCPU (apic_sw_disabled), APIC base disabled by
# KVM_SET_MSRS (apic_hw_disabled)
my $vm2 = fh(kio($kvm, 0xAE01, 0, "KVM_CREATE_VM"));
kio($vm2, 0xAE60, 0, "KVM_CREATE_IRQCHIP");
my $cpu = fh(kio($vm2, 0xAE41, 0, "KVM_CREATE_VCPU"));
kio($cpu, 0x4008AE89, pack("LLLLQ", 1, 0, 0x1b, 0, 0xfee00000),
    "KVM_SET_MSRS");
open(my $done, ">", $ARGV[0]) or die "kvm-vm: pin: $ARGV[0]: $!\n";
close($done);
sleep;
PIN
}

cache_dir=$cache_root/${kver:-custom}
initrd=$cache_dir/initramfs.cpio.gz
stamp_of() {
	{
		sha256sum "$SCRIPT" "$busybox" "$moddir/modules.dep"
		stat -L -c '%n %s %Y' "$kernel"
		for m in "${mod_order[@]}"; do
			stat -L -c '%n %s %Y' "$moddir/${mod_path[$m]}"
		done
	} | sha256sum | cut -d' ' -f1
}
stamp=$(stamp_of)

build_initramfs() {
	local stage m src
	mkdir -p "$cache_dir"
	stage=$(mktemp -d "$cache_dir/stage.XXXXXX")
	mkdir -p "$stage"/{bin,dev,proc,sys,lib/modules,newroot,results}
	cp "$busybox" "$stage/bin/busybox"
	ln -s busybox "$stage/bin/sh"
	write_init >"$stage/init"
	pin_static_keys >"$stage/pin.pl"
	chmod 0755 "$stage/init"
	: >"$stage/modules.list"
	for m in "${mod_order[@]}"; do
		src=$moddir/${mod_path[$m]}
		case $src in
		*.ko.xz) xz -dc "$src" ;;
		*.ko.zst) zstd -qdc "$src" ;;
		*.ko.gz) gzip -dc "$src" ;;
		*) cat "$src" ;;
		esac >"$stage/lib/modules/$m.ko"
		echo "$m.ko" >>"$stage/modules.list"
	done
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$stage.cpio.gz"
	echo "$stamp" >"$stage.stamp"
	# rename(2) keeps concurrent runs from seeing a half-written image.
	mv -f "$stage.cpio.gz" "$initrd"
	mv -f "$stage.stamp" "$initrd.stamp"
	rm -rf "$stage"
}

if ((rebuild)) || [[ ! -f $initrd || "$(cat "$initrd.stamp" 2>/dev/null)" != "$stamp" ]]; then
	((verbose)) && echo "$ME: building $initrd" >&2
	build_initramfs || die "cannot build the initramfs in $cache_dir"
fi

# --- run ---------------------------------------------------------------

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/kvm-vm.XXXXXX")
res=$run_dir/results
mkdir "$res"
qpid=
relay_pids=()
cleanup() {
	[[ -n $qpid ]] && kill "$qpid" 2>/dev/null
	[[ -n $qpid ]] && wait "$qpid" 2>/dev/null
	rm -rf "$run_dir"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sq() { # POSIX shell single-quoting
	printf "'%s'" "${1//\'/\'\\\'\'}"
}

{
	echo "RESDIR=$(sq "$res")"
	echo "ROOT_CACHE=${KVM_VM_ROOT_CACHE:-loose}"
	echo "PIN_KEYS=${KVM_VM_PIN_KEYS:-1}"
	echo "NWDIRS=${#wdirs_real[@]}"
	for i in "${!wdirs_real[@]}"; do
		echo "WDIR_$i=$(sq "${wdirs_real[$i]}")"
	done
} >"$res/config"

{
	printf 'export PATH=%s HOME=%s KVM_VM_GUEST=1\n' "$(sq "${PATH:-/usr/bin:/bin}")" \
		"$(sq "${HOME:-/root}")"
	for n in "${env_names[@]}"; do
		[[ -v $n ]] && printf 'export %s=%s\n' "$n" "$(sq "${!n}")"
	done
	printf 'cd %s || exit 125\n' "$(sq "$cwd")"
	printf 'exec'
	for a in "$@"; do
		printf ' %s' "$(sq "$a")"
	done
	printf '\n'
} >"$res/cmd.sh"

# Commas are option separators for QEMU; a literal one is doubled.
qpath() {
	echo "${1//,/,,}"
}

mkfifo "$run_dir/stdout" "$run_dir/stderr"
cat "$run_dir/stdout" &
relay_pids+=($!)
cat "$run_dir/stderr" >&2 &
relay_pids+=($!)
console=$run_dir/console.log
if ((verbose)); then
	mkfifo "$run_dir/console"
	tee "$console" <"$run_dir/console" >&2 &
	relay_pids+=($!)
	console_dev=$run_dir/console
else
	console_dev=$console
fi

# Multi-threaded TCG: see pin_static_keys for its one known trap.
# shellcheck disable=SC2054 # the commas are QEMU's
qemu_args=(
	-nodefaults -no-user-config -display none -no-reboot
	-machine pc -accel "tcg,thread=${KVM_VM_TCG_THREAD:-multi}" -cpu "${KVM_VM_QEMU_CPU:-max}"
	-smp "$cpus" -m "$mem"
	-kernel "$kernel" -initrd "$initrd"
	-append "console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off rdinit=/init ${KVM_VM_APPEND:-}"
	-chardev "file,id=con,path=$(qpath "$console_dev")"
	-serial chardev:con
	-device virtio-serial-pci
	-chardev "file,id=out,path=$(qpath "$run_dir/stdout")"
	-device virtserialport,chardev=out,name=stdout
	-chardev "file,id=err,path=$(qpath "$run_dir/stderr")"
	-device virtserialport,chardev=err,name=stderr
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$(qpath "$res"),mount_tag=results,security_model=none,multidevs=remap"
)
# Debugging aid (e.g. a -monitor socket); split on whitespace.
# shellcheck disable=SC2206
qemu_args+=(${KVM_VM_QEMU_ARGS:-})
for i in "${!wdirs_real[@]}"; do
	qemu_args+=(-virtfs "local,path=$(qpath "${wdirs_real[$i]}"),mount_tag=w$i,security_model=none,multidevs=remap")
done

t_start=$(date +%s.%N)
timeout -k 5 "$timeout_s" qemu-system-x86_64 "${qemu_args[@]}" \
	</dev/null >"$run_dir/qemu.log" 2>&1 &
qpid=$!
qstatus=0
wait "$qpid" || qstatus=$?
qpid=
t_end=$(date +%s.%N)
# A relay still blocked in open(2) (QEMU never opened its FIFO) is
# released by a writer that appears and goes; O_RDWR does not block.
for f in "$run_dir"/stdout "$run_dir"/stderr "$run_dir"/console; do
	[[ -p $f ]] || continue
	exec {fd}<>"$f"
	exec {fd}>&-
done
wait "${relay_pids[@]}" 2>/dev/null || true

if ((verbose)); then
	awk -v s="$t_start" -v e="$t_end" -v b="$(cat "$res/boot-seconds" 2>/dev/null || echo '?')" \
		'BEGIN { printf "'"$ME"': kernel boot to command %s s (guest clock), total %.1f s\n", b, e - s }' >&2
fi

console_tail() {
	echo "--- last lines of the VM console ($kernel) ---" >&2
	tail -n 40 "$console" >&2 2>/dev/null || true
	if [[ -s $run_dir/qemu.log ]]; then
		echo "--- qemu-system-x86_64 output ---" >&2
		tail -n 20 "$run_dir/qemu.log" >&2
	fi
	echo "---" >&2
}

if [[ -f $res/rc ]]; then
	rc=$(cat "$res/rc")
	[[ $rc =~ ^[0-9]+$ ]] || { echo "$ME: bad status '$rc' from the VM" >&2; exit 125; }
	exit "$rc"
fi
if [[ -f $res/vm-error ]]; then
	echo "$ME: VM setup failed: $(cat "$res/vm-error")" >&2
	console_tail
	exit 125
fi
if ((qstatus == 124 || qstatus == 137)); then
	echo "$ME: timed out after $timeout_s s; QEMU killed, no exit status from COMMAND" >&2
	console_tail
	exit 124
fi
echo "$ME: the VM stopped (qemu status $qstatus) without reporting COMMAND's exit status" >&2
console_tail
exit 125
}
