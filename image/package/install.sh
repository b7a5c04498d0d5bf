#!/bin/sh
# Installs Tandem on this Debian host from the unpacked tarball (README.md): /opt/tandem,
# /usr/bin/tandem and the units, then the .deb's own postinst (maintainer/postinst): the
# user tandem, /var/lib/tandem, tandem.service enabled and started.
#   sh install.sh              install, or replace an installed copy (idempotent)
#   sh install.sh --uninstall  remove it; /var/lib/tandem and the user tandem are kept
# The Debian packages it needs (the .deb's Depends) are listed in README.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
if dpkg-query -W -f='${Status}' tandem 2>/dev/null | grep -q 'ok installed'; then
  echo "install.sh: the tandem .deb is installed: upgrade or remove it with dpkg/apt instead" >&2
  exit 1
fi
# The files of usr/ (the tree's, so that --uninstall removes exactly those).
usr_files() { (cd "$here" && find usr \( -type f -o -type l \) | sort); }

if [ "${1:-}" = --uninstall ]; then
  sh "$here/maintainer/prerm" remove
  usr_files | while read -r f; do rm -f "/$f"; done
  rmdir /usr/lib/systemd/system/tandem-firstboot.service.d 2>/dev/null || true
  rm -rf /opt/tandem
  sh "$here/maintainer/postrm" purge
  exit 0
fi

command -v qemu-system-x86_64 >/dev/null || echo "install.sh: qemu-system-x86_64 missing (apt-get install qemu-system-x86 qemu-utils ovmf)" >&2
if [ -d /run/systemd/system ]; then systemctl stop tandem.service 2>/dev/null || true; fi
# /opt/tandem replaced whole (no file of an older version stays), as root's.
# /opt may be missing (a minimal root; dpkg -P of the .deb removes it when it empties it).
mkdir -p /opt
rm -rf /opt/tandem.new
cp -R "$here/opt/tandem" /opt/tandem.new
chown -R 0:0 /opt/tandem.new
rm -rf /opt/tandem
mv /opt/tandem.new /opt/tandem
usr_files | while read -r f; do
  mkdir -p "/$(dirname "$f")"
  cp -P "$here/$f" "/$f.new" && chown -h 0:0 "/$f.new" && mv -f "/$f.new" "/$f"
done
sh "$here/maintainer/postinst" configure ""
