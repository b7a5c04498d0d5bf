#!/usr/bin/env bash
# Installs the Debian packages Tandem's tests and benchmarks need, idempotently:
# nothing is done when every command is already present.
#   b3sum, rsync: reference tools of `npm run bench:core`
#   openssh-server, openssh-client, openssl: rsync-over-ssh and TLS references of `npm run bench:p2p`
#     (the benchmark runs its own sshd on 127.0.0.1; the package's system service is not used)
#   qemu-utils (qemu-img, qemu-nbd, qemu-io, qemu-storage-daemon), qemu-system-x86:
#     the VM tests run real QEMU processes; libnbd-bin (nbdinfo) and nbdkit: reference NBD peers;
#   cpio, busybox-static: the small test guest's initramfs (test/helpers)
set -euo pipefail
need=()
command -v b3sum >/dev/null || need+=(b3sum)
command -v rsync >/dev/null || need+=(rsync)
command -v openssl >/dev/null || need+=(openssl)
command -v ssh >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v qemu-storage-daemon >/dev/null || need+=(qemu-utils)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v nbdinfo >/dev/null || need+=(libnbd-bin)
command -v nbdkit >/dev/null || need+=(nbdkit)
command -v cpio >/dev/null || need+=(cpio)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
