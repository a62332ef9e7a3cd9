#!/usr/bin/env bash
# lintian reports no error on the package (where installed); the package
# installed with `apt-get install ./pyro_*.deb` into a fresh Debian 12 root
# (mmdebstrap, from this host's apt sources; apt resolves its Depends), then
# `pyro doctor` and `pyro run` from that root, with the test cache's
# debian:12-base mounted as its environment cache.
source "$PYRO_SOURCE_DIR/tests/integration/lib.sh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is needed to make the throwaway root"
[ "$(id -u)" = 0 ] || skip "mounts and pivot_root need root"
deb=$("$PYRO_SOURCE_DIR/scripts/deb.sh" "$PYRO_BUILD_DIR" "$TEST_TMP")
name=$(basename "$deb")
if command -v lintian >/dev/null; then
  lintian --fail-on error "$deb" >"$TEST_TMP/lintian" 2>&1 || fail "lintian: $(cat "$TEST_TMP/lintian")"
  ok "lintian: no error ($(grep -c '^W:' "$TEST_TMP/lintian" || true) warnings)"
else
  echo "note: lintian is not installed (apt-get install lintian); its check is skipped"
fi
root="$TEST_TMP/root"
sources=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$sources" ] || sources=$(grep -h '^deb ' /etc/apt/sources.list)
mmdebstrap --quiet --variant=apt bookworm "$root" - <<<"$sources" || fail "mmdebstrap of a Debian 12 root"
cp "$deb" "$root/root/"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mkdir -p "$root/cache" "$root/state" "$root/.oldroot"

# What runs inside the new root. mmdebstrap leaves no package lists behind:
# they are fetched first, as on a fresh install.
printf '%s\n' 'set -eu' \
  'export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root XDG_CACHE_HOME=/cache PYRO_HOME=/state DEBIAN_FRONTEND=noninteractive' \
  'cd /root' \
  'if ! { apt-get update && apt-get install -y --no-install-recommends "./$1"; } >/root/apt.log 2>&1; then' \
  '  tail -30 /root/apt.log >&2; echo "apt-get install ./$1 failed" >&2; exit 1' \
  'fi' \
  'dpkg -s pyro >/root/dpkg.txt && grep -q "^Status: install ok installed" /root/dpkg.txt' \
  'echo "ok - apt-get install ./$1 in a fresh Debian 12 root, with its dependencies"' \
  'pyro doctor >/root/doctor.txt || { cat /root/doctor.txt; exit 1; }' \
  'out=$(pyro run debian:12-base --backend sandbox -- "echo packaged-run-ok; cat /etc/debian_version")' \
  'case "$out" in *packaged-run-ok*) ;; *) echo "pyro run: $out" >&2; exit 1 ;; esac' \
  'test -f /usr/share/man/man1/pyro.1.gz && test -f /usr/share/bash-completion/completions/pyro' \
  >"$root/root/check.sh"

# A chrooted process may not create user namespaces (the kernel refuses
# CLONE_NEWUSER there) and sandboxes need them: the root becomes / through
# pivot_root in a private mount namespace instead of chroot.
unshare --mount --propagation private bash -euc '
root=$1 cache=$2 name=$3
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
mount --bind "$cache" "$root/cache"
mount -t tmpfs tmpfs "$root/tmp"
cd "$root"
pivot_root . .oldroot
/.oldroot/usr/bin/umount -l /.oldroot 2>/dev/null || true # the new root may have no umount
exec /bin/bash /root/check.sh "$name"
' pkg "$root" "$XDG_CACHE_HOME" "$name" || fail "installing the package, or pyro doctor / pyro run from it"
ok "pyro doctor and pyro run work from the installed package"
