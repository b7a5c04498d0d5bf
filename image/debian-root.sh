#!/usr/bin/env bash
# The Debian part of the appliance image: a root file system as a tarball,
# built by mmdebstrap from image/debian-packages.txt. image/build.ts calls it
# only when the cached tarball's key (image/cache-key.ts: this file and the
# package list, hashed) has no tarball yet, so everything that decides the
# Debian root must be in this file or in the list.
#
# Usage: debian-root.sh OUT.tar.zst
# Environment: SOURCE_DATE_EPOCH (required: file times and the initramfs are
# reproducible as far as Debian allows); TANDEM_IMAGE_MIRROR (default the
# Debian mirror the build machine uses).
# Writes OUT.tar.zst.partial, then renames it: an interrupted build leaves no
# tarball that looks finished.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: debian-root.sh OUT.tar.zst}
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set}"
suite=trixie
mirror=${TANDEM_IMAGE_MIRROR:-http://deb.debian.org/debian}

packages=$(sed -e 's/#.*//' "$here/debian-packages.txt" | xargs | tr ' ' ',')

# The hooks: no host-specific files (mmdebstrap copies the host's resolv.conf
# and hostname), an empty machine-id so that each box makes its own at first
# boot, and no logs or caches of the build.
mmdebstrap \
  --variant=minbase \
  --components=main \
  --include="$packages" \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"' \
  --customize-hook=': > "$1/etc/machine-id"; rm -f "$1/var/lib/dbus/machine-id"' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' \
  "$suite" "$out.partial.tar.zst" "$mirror"
mv "$out.partial.tar.zst" "$out"
