#!/usr/bin/env bash
# setup: install the Debian 12 packages ledger-node builds and tests with. Idempotent and
# silent when everything is present; uses sudo when not run as root.
set -euo pipefail

packages=(
    build-essential
    pkg-config
    meson
    ninja-build
    libuv1-dev
    libraft-dev
    libmsgpack-dev
    libssl-dev
    libcriterion-dev
    python3
    python3-yaml
)
# Extra packages a caller asks for (e.g. scripts/bench.sh wants fio).
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
