#!/usr/bin/env bash
# Installs the Debian packages Tandem's tests and benchmarks need, idempotently:
# nothing is done when every command is already present.
#   b3sum, rsync: reference tools of `npm run bench:core`
set -euo pipefail
need=()
command -v b3sum >/dev/null || need+=(b3sum)
command -v rsync >/dev/null || need+=(rsync)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
