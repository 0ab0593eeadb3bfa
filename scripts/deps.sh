#!/usr/bin/env bash
# Install what troupe needs to build and test, from Debian's packages, when it is missing.
# Uses sudo when not root. Safe to run again: installs nothing when everything is there.
set -euo pipefail

packages=(build-essential cmake pkg-config libuv1-dev libmsgpack-dev libcmocka-dev libjansson-dev libedit-dev redis-tools clang-format netcat-openbsd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
