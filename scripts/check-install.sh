#!/usr/bin/env bash
# The library as its users get it: installed with `cmake --install`, found with pkg-config and
# with find_package(troupe), linked shared and static; then as .deb packages installed with
# apt-get on this machine, and removed again.
#
#   scripts/check-install.sh BUILD_DIR     (a configured and built folder: build-test-plain)
#
# 1. Installs BUILD_DIR into a temporary prefix, checks what is there (soname, headers, .pc,
#    CMake files, programs, man pages), and builds tests/install/consumer out of tree four
#    ways: pkg-config (shared), pkg-config --static (libtroupe.a), find_package with
#    troupe::troupe and with troupe::troupe_static. Each binary runs (it talks to an actor and
#    compares tr_version() with TR_VERSION_STRING) and readelf/ldd say which library it uses.
# 2. Builds the packages with cpack in a Release folder of its own (prefix /usr, so Debian's
#    multiarch library directory; tests off), installs libtroupe0, libtroupe-dev and
#    troupe-tools with apt-get, builds and runs the consumer against the system's troupe the
#    same four ways, runs the servers' --help, one server for real, and finds the man pages.
#    Then it purges the packages, also when a step fails (a stamp file in /var/tmp makes a
#    later run purge what an interrupted one left; packages installed by anyone else make it
#    stop instead).
# Prints one line per step; the output of a step that fails, and exits 1.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -f "$1/CMakeCache.txt" ]; then
  echo "usage: $0 BUILD_DIR   (a configured and built build folder)" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
src=$PWD
consumer_src=$src/tests/install/consumer
packages=(libtroupe0 libtroupe-dev troupe-tools)
stamp=/var/tmp/troupe-check-install.installed
cc=${CC:-cc}
jobs=2

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || {
    echo "check-install: installing the .deb packages needs root or sudo" >&2
    exit 1
  }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

tmp=$(mktemp -d /tmp/troupe-check-install.XXXXXX)
chmod 755 "$tmp" # apt-get's _apt user reads the .deb files from here
log=$tmp/step.log
pkgbuild=$tmp/pkg-build # the Release build of the packages

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | has 'install ok installed'; }
purge() {
  local p present=()
  for p in "${packages[@]}"; do
    if installed "$p"; then present+=("$p"); fi
  done
  if [ ${#present[@]} -gt 0 ]; then
    $sudo apt-get remove -y -qq --purge "${present[@]}" || return 1
  fi
  $sudo rm -f "$stamp"
}
step_pid=""
cleanup() {
  local rc=$?
  # Interrupted in a step: let it end first (apt-get and dpkg must not be cut off, nor hold
  # dpkg's lock when the purge runs), then stop it if it has not after a minute.
  if [ -n "$step_pid" ]; then
    for _ in $(seq 600); do
      kill -0 "$step_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -TERM "$step_pid" 2>/dev/null || true
    wait "$step_pid" 2>/dev/null || true
  fi
  if [ -e "$stamp" ] && ! purge >/dev/null 2>&1; then
    echo "check-install: could not remove ${packages[*]}" >&2
    rc=1
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

fail() {
  echo "check-install: $*" >&2
  exit 1
}
# step NAME COMMAND...: run it quietly, printing its output only when it fails. It runs as a
# job of its own, where set -e holds (in an `if` or before `||` bash would ignore it), so
# the first command that fails ends the step; what it exports stays in it.
step() {
  local name=$1 rc=0
  shift
  "$@" >"$log" 2>&1 &
  step_pid=$!
  wait "$step_pid" || rc=$?
  step_pid=""
  if [ $rc -eq 0 ]; then
    echo "check-install: ok   $name"
  else
    echo "check-install: FAIL $name" >&2
    sed 's/^/  | /' "$log" >&2
    exit 1
  fi
}
# has PATTERN...: grep that reads its whole input (grep -q stops early, and under pipefail
# the writer's SIGPIPE would fail the pipeline).
has() { grep "$@" >/dev/null; }
# same_file A B: both name one file (/lib is /usr/lib on Debian 12).
same_file() { [ -e "$1" ] && [ -e "$2" ] && [ "$(realpath "$1")" = "$(realpath "$2")" ]; }

# ---- what the folder's configuration says it installs ----
cache_bool() { grep -qE "^$1:BOOL=(ON|TRUE|1|YES)$" "$build/CMakeCache.txt"; }
want_tools=0
want_examples=0
cache_bool TROUPE_BUILD_TOOLS && want_tools=1
cache_bool TROUPE_BUILD_EXAMPLES && cache_bool TROUPE_INSTALL_EXAMPLES && want_examples=1

# ---- the machine as found ----
check_clean() {
  if [ -e "$stamp" ]; then purge; fi
  local p
  for p in "${packages[@]}"; do
    if installed "$p"; then
      fail "$p is installed, not by this script: remove it first (apt-get remove --purge ${packages[*]})"
    fi
  done
}
if [ -e "$stamp" ]; then
  step "purge the packages that an interrupted run left" check_clean
else
  step "no troupe package installed before" check_clean
fi

# ---- 1. cmake --install into a temporary prefix ----
prefix=$tmp/prefix
step "cmake --install $(basename "$build") --prefix TMP" cmake --install "$build" --prefix "$prefix"
pc=$(find "$prefix" -name troupe.pc -path '*/pkgconfig/*' | head -n 1)
libdir=${pc%/pkgconfig/troupe.pc}

check_tree() { # ROOT LIBDIR: what an install of troupe must hold
  local root=$1 lib=$2 f version so
  [ -f "$lib/pkgconfig/troupe.pc" ] || fail "no troupe.pc in $lib/pkgconfig"
  version=$(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --modversion troupe)
  grep -q "TR_VERSION_STRING" "$root/include/troupe/version.h" || fail "no version.h"
  for f in troupe.h troupe/version.h troupe/actor.h troupe/msg.h troupe/cluster.h; do
    [ -f "$root/include/$f" ] || fail "no include/$f"
  done
  # libuv, jansson and libsodium are private: no installed header may need theirs.
  if grep -lE '#[[:space:]]*include[[:space:]]*<(uv|sodium|jansson)\.h>' -r "$root/include/troupe.h" \
    "$root/include/troupe"; then
    fail "an installed header includes a private dependency's header"
  fi
  so=$lib/libtroupe.so.$version
  { [ -f "$so" ] && [ ! -L "$so" ]; } || fail "no $so"
  [ "$(readlink "$lib/libtroupe.so.0")" = "libtroupe.so.$version" ] ||
    fail "libtroupe.so.0 does not point to libtroupe.so.$version"
  [ "$(readlink "$lib/libtroupe.so")" = "libtroupe.so.0" ] || fail "libtroupe.so is not a link to libtroupe.so.0"
  readelf -d "$so" | has 'SONAME.*\[libtroupe\.so\.0\]' || fail "the soname is not libtroupe.so.0"
  [ -f "$lib/libtroupe.a" ] || fail "no libtroupe.a"
  for f in troupeConfig.cmake troupeConfigVersion.cmake troupeTargets.cmake; do
    [ -f "$lib/cmake/troupe/$f" ] || fail "no $lib/cmake/troupe/$f"
  done
  # Nothing of the build trees (their paths, the imported targets' locations, the test switch).
  if grep -lE "$src|$build|$pkgbuild|SMALL_QUEUES" -r "$lib/cmake/troupe" "$lib/pkgconfig/troupe.pc"; then
    fail "the installed CMake or pkg-config files name the build tree"
  fi
  [ "$(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --print-requires troupe | awk '{print $1}')" = msgpack ] ||
    fail "troupe.pc should require msgpack (the headers include msgpack.h), and only that"
}
step "installed tree: headers, libtroupe.so.0 (soname), libtroupe.a, .pc, CMake files" \
  check_tree "$prefix" "$libdir"

check_programs() { # ROOT
  local root=$1 p
  if [ $want_examples = 1 ]; then
    for p in troupe-chat troupe-pubsub troupe-echo; do
      [ -x "$root/bin/$p" ] || fail "no bin/$p"
    done
    for p in troupe-chat troupe-pubsub; do
      gzip -t "$root/share/man/man1/$p.1.gz" || fail "no man1/$p.1.gz"
    done
  fi
  if [ $want_tools = 1 ]; then
    [ -x "$root/bin/troupe-console" ] || fail "no bin/troupe-console"
    gzip -t "$root/share/man/man1/troupe-console.1.gz" || fail "no man1/troupe-console.1.gz"
  fi
  for p in troupe-chat-load troupe-pubsub-load troupe-hello; do
    [ ! -e "$root/bin/$p" ] || fail "bin/$p is installed"
  done
}
step "installed programs and gzipped man pages" check_programs "$prefix"

# ---- the consumer, four ways ----
# run_consumer BINARY shared|static [LIBDIR]: it must print its line, and link what it says.
run_consumer() {
  local bin=$1 kind=$2 lib=${3:-} out resolved
  out=$("$bin") || fail "$bin failed: $out"
  echo "$out"
  [[ "$out" == "consumer: ok, troupe $expect_version,"* ]] || fail "unexpected output: $out"
  if [ "$kind" = shared ]; then
    readelf -d "$bin" | has 'NEEDED.*\[libtroupe\.so\.0\]' || fail "$bin does not need libtroupe.so.0"
    resolved=$(ldd "$bin" | awk '$1 == "libtroupe.so.0" {print $3}')
    same_file "$resolved" "$lib/libtroupe.so.0" ||
      fail "$bin loads libtroupe.so.0 from '${resolved:-nowhere}', not $lib"
  else
    if readelf -d "$bin" | has 'NEEDED.*libtroupe'; then
      fail "$bin is linked statically but needs libtroupe.so"
    fi
    nm "$bin" | has ' T tr_version$' || fail "$bin does not hold tr_version"
  fi
}
# consumer_pkgconfig OUT shared|static [PKG_CONFIG_PATH]
consumer_pkgconfig() {
  local out=$1 kind=$2 libs lib
  export PKG_CONFIG_PATH=${3:-}
  lib=$(pkg-config --variable=libdir troupe)
  if [ "$kind" = shared ]; then
    libs="$(pkg-config --libs troupe) -Wl,-rpath,$lib"
  else
    # With both installed, -ltroupe finds libtroupe.so: name the archive (GNU ld's -l:).
    libs=" $(pkg-config --static --libs troupe) "
    libs=${libs/ -ltroupe / -l:libtroupe.a }
  fi
  # shellcheck disable=SC2046,SC2086 # pkg-config's words are flags
  $cc -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$out" "$consumer_src/main.c" \
    $(pkg-config --cflags troupe) $libs
  run_consumer "$out" "$kind" "$lib"
}
# consumer_cmake OUT shared|static [PREFIX] LIBDIR
consumer_cmake() {
  local out=$1 kind=$2 pfx=$3 lib=$4 static=OFF args=() found
  if [ "$kind" = static ]; then static=ON; fi
  if [ -n "$pfx" ]; then args+=("-DCMAKE_PREFIX_PATH=$pfx"); fi
  cmake -S "$consumer_src" -B "$out" -DCONSUMER_STATIC=$static \
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON "${args[@]}" | tee "$out.configure"
  found=$(sed -n "s/^-- troupe $expect_version from //p" "$out.configure")
  same_file "$found" "$lib/cmake/troupe" ||
    fail "find_package(troupe) found '${found:-nothing}', not $lib/cmake/troupe"
  cmake --build "$out"
  run_consumer "$out/consumer" "$kind" "$lib"
}

expect_version=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --modversion troupe)
step "pkg-config: consumer linked with libtroupe.so.0 from the prefix" \
  consumer_pkgconfig "$tmp/pc-shared" shared "$libdir/pkgconfig"
step "pkg-config --static: consumer linked with libtroupe.a" \
  consumer_pkgconfig "$tmp/pc-static" static "$libdir/pkgconfig"
step "find_package: consumer linked with troupe::troupe" \
  consumer_cmake "$tmp/cm-shared" shared "$prefix" "$libdir"
step "find_package: consumer linked with troupe::troupe_static" \
  consumer_cmake "$tmp/cm-static" static "$prefix" "$libdir"

# ---- 2. the .deb packages ----
configure_pkg() {
  cmake -S "$src" -B "$pkgbuild" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DTROUPE_BUILD_TESTS=OFF -DTROUPE_BUILD_BENCH=OFF -DTROUPE_BUILD_EXAMPLES=ON \
    -DTROUPE_BUILD_TOOLS=ON -DTROUPE_INSTALL_EXAMPLES=ON
}
step "configure a Release build for the packages (prefix /usr)" configure_pkg
step "build it" cmake --build "$pkgbuild" -j"$jobs"
make_debs() {
  (cd "$pkgbuild" && cpack -G DEB)
  local p d
  for p in "${packages[@]}"; do
    d=$(ls "$pkgbuild/${p}_"*.deb) || fail "no $p .deb"
    dpkg-deb -f "$d" Package Version Depends
    [ -n "$(dpkg-deb -f "$d" Depends)" ] || fail "$p declares no dependencies"
  done
  dpkg-deb -c "$pkgbuild"/libtroupe0_*.deb | has '/libtroupe\.so\.0 -> ' || fail "libtroupe0 lacks libtroupe.so.0"
  dpkg-deb -f "$pkgbuild"/libtroupe-dev_*.deb Depends | has "libtroupe0 (= $expect_version)" ||
    fail "libtroupe-dev does not depend on libtroupe0 of its version"
  dpkg-deb -c "$pkgbuild"/troupe-tools_*.deb | has 'man1/troupe-chat\.1\.gz' || fail "troupe-tools lacks the man pages"
}
step "cpack -G DEB: ${packages[*]}" make_debs

install_debs() {
  echo "${packages[*]}" | $sudo tee "$stamp" >/dev/null
  (cd "$pkgbuild" && $sudo apt-get install -y -qq ./libtroupe0_*.deb ./libtroupe-dev_*.deb \
    ./troupe-tools_*.deb)
  local p
  for p in "${packages[@]}"; do installed "$p" || fail "$p is not installed"; done
}
step "apt-get install ./libtroupe0_*.deb ./libtroupe-dev_*.deb ./troupe-tools_*.deb" install_debs

syslib=$(dpkg -L libtroupe0 | grep '/libtroupe\.so\.0$') || fail "libtroupe0 has no libtroupe.so.0"
syslib=$(dirname "$syslib")
step "installed by dpkg: headers, libtroupe.so.0 (soname), libtroupe.a, .pc, CMake files" \
  check_tree /usr "$syslib"
step "pkg-config: consumer linked with the system's libtroupe.so.0" \
  consumer_pkgconfig "$tmp/sys-pc-shared" shared ""
step "pkg-config --static: consumer linked with the system's libtroupe.a" \
  consumer_pkgconfig "$tmp/sys-pc-static" static ""
step "find_package: consumer linked with the system's troupe::troupe" \
  consumer_cmake "$tmp/sys-cm-shared" shared "" "$syslib"
step "find_package: consumer linked with the system's troupe::troupe_static" \
  consumer_cmake "$tmp/sys-cm-static" static "" "$syslib"

check_tools() {
  local p page nodoc=0
  # A system whose dpkg leaves out man pages (path-exclude, as in slim Docker images) still
  # has them in the package.
  if grep -qs '^path-exclude=/usr/share/man' /etc/dpkg/dpkg.cfg /etc/dpkg/dpkg.cfg.d/*; then
    nodoc=1
  fi
  for p in troupe-chat troupe-pubsub troupe-console; do
    [ "$(command -v "$p")" = "/usr/bin/$p" ] || fail "$p is not /usr/bin/$p"
    "$p" --help | has -- '--help' || fail "$p --help does not list --help"
    page=/usr/share/man/man1/$p.1.gz
    if [ $nodoc = 1 ]; then
      dpkg -L troupe-tools | has -x "$page" || fail "troupe-tools has no $page"
    elif command -v man >/dev/null; then
      same_file "$(man -w "$p")" "$page" || fail "man -w $p does not find $page"
    else
      gzip -t "$page" || fail "no $page"
    fi
  done
  # One server for real: it says where it listens, and a SIGTERM stops it with status 0.
  local out=$tmp/chat.out pid rc=0
  troupe-chat --port 0 >"$out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    if grep -q listening "$out"; then break; fi
    sleep 0.1
  done
  cat "$out"
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || rc=$?
  grep -q '^troupe-chat listening on 127\.0\.0\.1:[1-9]' "$out" || fail "troupe-chat did not start"
  [ $rc -eq 0 ] || fail "troupe-chat exited with status $rc after SIGTERM"
}
step "troupe-tools: --help, man -w, troupe-chat runs and stops" check_tools

step "apt-get remove --purge ${packages[*]}" purge
