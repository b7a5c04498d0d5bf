#!/usr/bin/env bash
# Installs the Debian packages whose tools Tandem's tests and benchmarks run.
# The table of tool -> package is scripts/system-packages.txt (the tests read the
# same table to name the package of a missing tool).
#
# Contract:
#   - idempotent: checks every tool first and installs only the packages of the
#     missing ones; when nothing is missing it installs nothing and runs no apt;
#   - runs apt-get as root, or through sudo when not root; without either it
#     fails, naming the packages to install by hand;
#   - prints the packages it installs, and which tool each one is for.
# Options: --check  only report what is missing (exit 1 if anything is);
#          --table FILE  read another table of the same format (image/build-tools.txt:
#          the tools that build the appliance image).
# `npm test` runs this first (the `pretest` script), so a fresh machine needs
# nothing by hand.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
table="$here/system-packages.txt"
check_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check_only=1 ;;
    --table) table=${2:?--table needs a file}; shift ;;
    *) echo "system packages: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
name=$(basename "$table")

# As spawn() finds a tool: an absolute path, or a name on PATH. An absolute path that
# is not executable is a data file a package brings (a firmware): it must exist.
present () {
  case "$1" in
    /*) [ -x "$1" ] || [ -f "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

packages=()
declare -A tools_of=()
while read -r tool package _; do
  case "$tool" in ''|'#'*) continue ;; esac
  present "$tool" && continue
  [ -n "${tools_of[$package]:-}" ] || packages+=("$package")
  tools_of[$package]="${tools_of[$package]:-}${tools_of[$package]:+ }$tool"
done < "$table"

if [ "${#packages[@]}" -eq 0 ]; then
  echo "system packages: every tool in $name is present"
  exit 0
fi
for p in "${packages[@]}"; do echo "system packages: $p (for ${tools_of[$p]})"; done
if [ "$check_only" -eq 1 ]; then
  echo "system packages: missing: ${packages[*]}"
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "system packages: not root and no sudo: run as root: apt-get install ${packages[*]}" >&2
  exit 1
fi
echo "system packages: installing ${packages[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
echo "system packages: installed ${packages[*]}"
