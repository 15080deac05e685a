#!/bin/sh
# The README's main command: installs what is missing, builds, and runs a
# live migration of the built-in demo guest over mutually authenticated
# TLS on loopback, printing each phase and the final report.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/setup-deps.sh
scripts/build.sh release
exec scripts/demo.sh "$top/build" "$@"
