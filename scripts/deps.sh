#!/usr/bin/env bash
# Installs the Debian packages pyro needs to build, test and run. As root it
# runs apt-get; otherwise it prints the exact command and exits 1.
# The list is the single source of truth for dependencies (README, CI).
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build pkg-config gcc make libc6-dev
  clang-14 libclang-rt-14-dev clang-format
  # libraries
  libjansson-dev libmicrohttpd-dev libseccomp-dev libarchive-dev libcurl4-openssl-dev libzstd-dev
  # tests
  libcmocka-dev python3 bubblewrap hyperfine curl tmux
  # tests: a loopback OCI registry and an independent OCI client
  docker-registry skopeo
  # runtime: environments, sandbox networking, VM backend
  mmdebstrap e2fsprogs iproute2 nftables qemu-system-x86 zstd git
  # VM artifacts: apt-get download of the cloud kernel package, dpkg-deb -x
  # of it, mkfs.ext4 -d of the rootfs (e2fsprogs, above)
  apt dpkg
  # runtime as an ordinary user: newuidmap/newgidmap, user-mode networking
  uidmap passt slirp4netns
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "pyro: missing Debian packages: ${missing[*]}" >&2
  echo "pyro: run as root: apt-get update && $cmd" >&2
  exit 1
fi
echo "[deps] installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends "${missing[@]}"
