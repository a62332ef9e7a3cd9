#!/usr/bin/env bash
# lintian reports no error on the package (where installed); the package
# installed with apt-get into a fresh Debian 12 root (mmdebstrap,
# from this host's apt sources; apt resolves its Depends), then `pyro
# doctor` and `pyro run` from that root, with the test cache's
# debian:12-base mounted as its environment cache.
source "$PYRO_SOURCE_DIR/tests/integration/lib.sh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is needed to make the throwaway root"
[ "$(id -u)" = 0 ] || skip "chroot and mounts need root"
deb=$("$PYRO_SOURCE_DIR/scripts/deb.sh" "$PYRO_BUILD_DIR" "$TEST_TMP")
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
mkdir -p "$root/cache" "$root/state"
unshare --mount --propagation private bash -euc '
root=$1 cache=$2 deb=$3
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
mount --bind "$cache" "$root/cache"
mount -t tmpfs tmpfs "$root/tmp"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
run() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root XDG_CACHE_HOME=/cache PYRO_HOME=/state \
  DEBIAN_FRONTEND=noninteractive "$@"; }
# mmdebstrap leaves no package lists behind: fetch them, as on a fresh install.
run sh -c "apt-get update && cd /root && apt-get install -y --no-install-recommends ./$deb" >"$root.apt.log" 2>&1 ||
  { tail -30 "$root.apt.log" >&2; echo "apt-get install ./$deb failed" >&2; exit 1; }
run dpkg -s pyro | grep -q "^Status: install ok installed" || { echo "dpkg does not list pyro" >&2; exit 1; }
echo "ok - apt-get install ./$deb in a fresh Debian 12 root, with its dependencies"
run pyro doctor >/dev/null || { run pyro doctor; exit 1; }
out=$(run pyro run debian:12-base --backend sandbox -- "echo packaged-run-ok; cat /etc/debian_version")
grep -q packaged-run-ok <<<"$out" || { echo "pyro run: $out" >&2; exit 1; }
test -f "$root/usr/share/man/man1/pyro.1.gz" && test -f "$root/usr/share/bash-completion/completions/pyro"
' pkg "$root" "$XDG_CACHE_HOME" "$(basename "$deb")" || fail "installing the package, or pyro doctor / pyro run from it"
ok "pyro doctor and pyro run work from the installed package"
