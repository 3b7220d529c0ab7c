#!/usr/bin/env bash
# test: the README's test command. Installs what is missing, builds in build/, runs every
# test suite (unit, cluster, fault, fuzz corpus replay). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh
meson test -C build --print-errorlogs "$@"
