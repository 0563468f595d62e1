#!/usr/bin/env bash
# Installs the Debian packages qemu-jail and its tests use. Idempotent; needs root.
set -euo pipefail
pkgs=(
  qemu-system-x86 qemu-utils qemu-system-common   # QEMU, qemu-img, qemu-storage-daemon, virtiofsd
  busybox-static linux-image-amd64 cpio kmod      # the demo/test guest: kernel + busybox initramfs
  libseccomp-dev python3-seccomp                  # differential tests of the BPF compiler only
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross linux-libc-dev-arm64-cross  # aarch64 seccomp tables (scripts/gen-seccomp-tables.mjs)
  apparmor strace iproute2 gcc make libc6-dev     # profile checks, traces, taps/netns, native helper
  selinux-policy-default                          # SELinux policy + matchpathcon for the in-guest sVirt test
  xz-utils                                        # policy e2e tests: unpack the guest vmlinux from the bzImage
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
