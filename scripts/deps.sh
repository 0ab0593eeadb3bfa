#!/usr/bin/env bash
# Install what troupe needs to build and test, from Debian's packages, when it is missing.
# Uses sudo when not root. Safe to run again: installs nothing when everything is there.
set -euo pipefail

packages=(build-essential cmake pkg-config libuv1-dev libmsgpack-dev libcmocka-dev libjansson-dev
  libedit-dev libsodium-dev redis-tools redis-server clang-format netcat-openbsd python3 ngircd irssi tmux
  doxygen clang)
# cpack's .deb dependencies (scripts/check-install.sh): dpkg-shlibdeps, and file(1), with which
# cpack finds the ELF files.
packages+=(dpkg-dev file)
# Node.js and npm run the client-library tests; a machine that has them (from anywhere) keeps
# them, one without gets Debian's.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
# The cluster's fault tests (tests/cluster/chaos.sh): network namespaces and iptables.
packages+=(iproute2 iptables)
# promtool checks /metrics (tests/metrics/metrics_prom.py); the web view's test drives Chromium
# (tests/clients/web_view.js).
packages+=(prometheus chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the redis-server, ngircd and prometheus it installs; the tests start their
  # own servers (and need only promtool of prometheus).
  $sudo service redis-server stop >/dev/null 2>&1 || true
  $sudo service ngircd stop >/dev/null 2>&1 || true
  $sudo service prometheus stop >/dev/null 2>&1 || true
fi

# The npm packages of the client-library tests, as package-lock.json pins them; installed
# again only when the lock file changed.
cd "$(dirname "$0")/../tests/clients"
stamp=node_modules/.troupe-lock
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  echo "deps: npm ci (tests/clients)" >&2
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json "$stamp"
fi
