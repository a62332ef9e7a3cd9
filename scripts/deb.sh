#!/usr/bin/env bash
# Builds the Debian binary package pyro_<version>_<arch>.deb from a CMake
# build directory (`make deb`: build-release): the CLI, libpyro (shared
# library, header, libpyro.pc), pyro-agent, the man page and the bash, zsh
# and fish completions, installed under /usr. Depends come from
# dpkg-shlibdeps plus what pyro loads at run time (libarchive and
# libmicrohttpd through dlopen) and the programs it runs.
#
# Usage: scripts/deb.sh [BUILD_DIR [OUT_DIR]]   (default: build-release, .)
# Prints the path of the package on stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build=$(cd "${1:-$root/build-release}" && pwd)
out=$(mkdir -p "${2:-$root}" && cd "${2:-$root}" && pwd)
for tool in dpkg-deb dpkg-shlibdeps fakeroot; do
  command -v "$tool" >/dev/null || { echo "deb: $tool is missing (apt-get install dpkg-dev fakeroot)" >&2; exit 1; }
done
[ -x "$build/pyro" ] || { echo "deb: $build/pyro not built" >&2; exit 1; }

version=$("$build/pyro" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/pyro"
DESTDIR="$stage" cmake --install "$build" --prefix /usr --strip >/dev/null
[ -x "$stage/usr/libexec/pyro/pyro-agent" ] || { echo "deb: pyro-agent missing from the install" >&2; exit 1; }
# A Debian package ships no static library or build-tree leftovers.
find "$stage" -name '*.a' -delete

doc="$stage/usr/share/doc/pyro"
mkdir -p "$doc"
maint="pyro maintainers <maintainers@users.noreply.r-seed-6e317199.example>"
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: pyro

Files: *
Copyright: the pyro authors
License: none-chosen
 No license has been chosen for pyro yet; the authors keep all rights.
EOF
{
  printf 'pyro (%s) unstable; urgency=medium\n\n  * Package built from the source tree by scripts/deb.sh.\n\n' "$version"
  printf ' -- %s  %s\n' "$maint" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n >"$doc/changelog.gz"
gzip -9nf "$stage"/usr/share/man/man1/*.1
# pyro-agent is static on purpose: it is PID 1 inside every sandbox and VM,
# whose root file system has no pyro libraries (docs/agent-protocol.md).
mkdir -p "$stage/usr/share/lintian/overrides"
echo "pyro: statically-linked-binary [usr/libexec/pyro/pyro-agent]" >"$stage/usr/share/lintian/overrides/pyro"

# Shared-library metadata: the shlibs file and ldconfig trigger Debian
# expects of a package that ships one.
mkdir -p "$stage/DEBIAN"
lib=$(find "$stage/usr" -name 'libpyro.so.*.*' -type f | head -1)
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
somajor=${soname##*.so.}
echo "libpyro $somajor pyro (>= $version)" >"$stage/DEBIAN/shlibs"
echo "activate-noawait ldconfig" >"$stage/DEBIAN/triggers"

# dpkg-shlibdeps wants a debian/control to read.
mkdir -p "$work/src/debian"
printf 'Source: pyro\n\nPackage: pyro\nArchitecture: any\n' >"$work/src/debian/control"
bins=$(find "$stage/usr/bin" "$stage/usr/libexec" "$stage/usr/lib" -type f \( -perm -u+x -o -name '*.so*' \))
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O -l"$stage/usr/lib" $bins 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: pyro
Version: $version
Architecture: $arch
Maintainer: $maint
Installed-Size: $size
Depends: $shlibs, libarchive13, libmicrohttpd12, mmdebstrap, e2fsprogs, iproute2, nftables, git
Recommends: qemu-system-x86, uidmap, passt | slirp4netns, bash-completion
Section: admin
Priority: optional
Description: disposable, isolated Linux machines for AI coding agents
 pyro runs one-shot commands and persistent workspaces in Linux-namespace
 sandboxes or QEMU microVMs, as a CLI, a C library (libpyro) and an MCP
 server that chat hosts such as Claude Code, Codex and OpenCode start.
EOF
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$stage"/DEBIAN/{control,shlibs,triggers,md5sums}
deb="$out/pyro_${version}_${arch}.deb"
fakeroot dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
