#!/usr/bin/env bash
# The layer check: no part of the library reaches a part above it (docs/architecture.md).
#
#   scripts/layers.sh [BUILD_DIR]
#
# 1. Sources: a file of part P may include the private headers ("part/file.h") of P and of
#    the parts P is allowed to use, nothing else. Public headers (troupe/...) are the API
#    and may be included anywhere, for their types and constants.
# 2. Objects (when BUILD_DIR holds a build): an object of part P may reference only symbols
#    defined in P or in the parts P may use, read with nm from the library's object files.
#    This catches what includes cannot: a call to a public function of a higher part.
# Exits 1 and prints every violation when there is one.
set -euo pipefail
cd "$(dirname "$0")/.."

# What each part may use. Write each list whole (the check does not close it transitively),
# lowest parts first: base <- mailbox <- scheduler <- actors <- io <- timers, net <- ...
declare -A USES=(
  [base]=""
  [mailbox]="base"
  [scheduler]="base mailbox"
  [actors]="base mailbox scheduler"
  [io]="base mailbox scheduler actors"
  [timers]="base mailbox scheduler actors io"
  [net]="base mailbox scheduler actors io"
  [cluster]="base mailbox scheduler actors io timers net"
  [supervisor]="base mailbox scheduler actors io timers"
  [console]="base mailbox scheduler actors io timers net cluster"
  [metrics]="base mailbox scheduler actors io timers net cluster console"
  [runtime]="base mailbox scheduler actors io timers net"
)

may_use() { # part dep
  [[ "$1" == "$2" ]] && return 0
  local d
  for d in ${USES[$1]}; do [[ "$d" == "$2" ]] && return 0; done
  return 1
}

bad=0
complain() {
  echo "layers: $*" >&2
  bad=1
}

# ---- 1. includes ----
for part in "${!USES[@]}"; do
  [[ -d "$part" ]] || continue
  while IFS= read -r -d '' f; do
    while IFS=: read -r line dep; do
      [[ -n "${USES[$dep]+x}" ]] || continue # not a part (troupe/, a system header)
      may_use "$part" "$dep" || complain "$f:$line includes $dep/ (part $part may use: ${USES[$part]:-nothing})"
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z_]*/' "$f" |
      sed 's|^\([0-9]*\):[^"]*"\([a-z_]*\)/.*|\1:\2|')
  done < <(find "$part" -name '*.[ch]' -print0)
done

# ---- 2. symbols ----
build="${1:-}"
objdir="$build/CMakeFiles/troupe_obj.dir"
if [[ -n "$build" ]]; then
  [[ -d "$objdir" ]] || { echo "layers: no objects in $objdir (build first)" >&2; exit 1; }
  declare -A DEF=()
  # Only the objects of sources that exist: a build directory keeps those of removed files.
  objs=()
  while IFS= read -r o; do
    src="${o#"$objdir"/}"
    [[ -f "${src%.o}" ]] && objs+=("$o")
  done < <(find "$objdir" -name '*.c.o' | sort)
  for o in "${objs[@]}"; do
    part="${o#"$objdir"/}"
    part="${part%%/*}"
    while read -r sym; do DEF[$sym]="$part"; done < <(nm --defined-only -g "$o" | awk '{print $3}')
  done
  for o in "${objs[@]}"; do
    rel="${o#"$objdir"/}"
    part="${rel%%/*}"
    [[ -n "${USES[$part]+x}" ]] || { complain "$rel: part $part is not in the layer table"; continue; }
    while read -r sym; do
      dep="${DEF[$sym]:-}"
      [[ -z "$dep" ]] && continue # from a library outside troupe (libc, libuv, ...)
      may_use "$part" "$dep" || complain "${rel%.o} references $sym, defined in $dep/"
    done < <(nm -u "$o" | awk '{print $2}')
  done
fi

if [[ $bad -ne 0 ]]; then
  echo "layers: the tree breaks the layer order (docs/architecture.md)" >&2
  exit 1
fi
echo "layers: ok (${#USES[@]} parts${build:+, objects of $build})"
