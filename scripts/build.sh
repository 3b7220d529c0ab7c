#!/usr/bin/env bash
# build: install what is missing (scripts/setup.sh), configure build/ (or reconfigure it)
# and compile. Shared by the README's run and test commands.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if [ -d build ]; then
    meson setup --reconfigure build >/dev/null
else
    meson setup build >/dev/null
fi
ninja -C build "$@"
