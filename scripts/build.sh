#!/bin/sh
# Configures and builds one flavour of the tree into its own directory.
#   scripts/build.sh release   -> build/        (gcc, -Werror)
#   scripts/build.sh asan      -> build-asan/   (gcc, ASan + UBSan, -Werror)
#   scripts/build.sh fuzz      -> build-fuzz/   (clang, libFuzzer, -Werror)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
jobs=$(nproc 2>/dev/null || echo 2)

case "$flavour" in
release)
	dir="$top/build"
	set -- -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIG_WERROR=ON
	cc=${CC:-gcc}
	;;
asan)
	dir="$top/build-asan"
	set -- -DCMAKE_BUILD_TYPE=Debug -DMIG_WERROR=ON -DMIG_SANITIZE=ON
	cc=${CC:-gcc}
	;;
fuzz)
	dir="$top/build-fuzz"
	set -- -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIG_WERROR=ON -DMIG_FUZZ=ON
	cc=clang
	;;
*)
	echo "usage: $0 release|asan|fuzz" >&2
	exit 2
	;;
esac

echo "build: $flavour in $dir"
mkdir -p "$dir"
CC=$cc cmake -S "$top" -B "$dir" "$@" >"$dir/configure.log" 2>&1 || {
	cat "$dir/configure.log" >&2
	exit 1
}
cmake --build "$dir" -j "$jobs"
