#!/usr/bin/env bash
# The unprivileged user the test suites also run as (tests/README.md,
# "Tests as an ordinary user"). Run as root.
#
#   test-user.sh setup PATH...    create the system user pyro-test (idempotent),
#                                 give it 65536 subordinate uids and gids, and
#                                 let it read and run PATH... (the tests, the
#                                 scripts and the built binaries): o+rX is added
#                                 on PATH and below where missing; a parent it
#                                 cannot enter is an error naming it (nothing
#                                 else is opened up: state dirs hold 0600 files)
#   test-user.sh run -- CMD...    run CMD as pyro-test with a clean environment:
#                                 HOME, USER, LOGNAME, PATH, LANG, TMPDIR, and
#                                 PYRO and every PYRO_* variable of the caller
#                                 (where /dev/net/tun is closed to users, in a
#                                 private mount namespace with a 0666 tun node)
#   test-user.sh seed ENV SRC DST copy the installed environment ENV (e.g. debian:12)
#                                 from root's cache SRC into the user's cache DST
#                                 (both XDG_CACHE_HOME style: .../pyro/environments),
#                                 its root tree shifted into the user's subordinate
#                                 range; then checks as the user that pyro accepts it.
#                                 With PYRO set, `$PYRO env pull ENV` into SRC first
#   test-user.sh info             print the user, its home and its subordinate ranges
#
# Exit 77 (skip) names what the host lacks: not root, no runuser, no
# newuidmap/newgidmap, unprivileged user namespaces disabled.
#
# The ranges: 65536 ids at the first multiple of 65536 from 0x60000000
# (1610612736) that overlaps no range in /etc/subuid or /etc/subgid and
# not pyro's root pool (1879048192..+65535, or PYRO_IDMAP_BASE..+65535).
set -euo pipefail

USER_NAME=${PYRO_TEST_USER:-pyro-test}
USER_HOME=${PYRO_TEST_USER_HOME:-/var/lib/pyro-test}
COUNT=65536
FIRST=1610612736             # 0x60000000
POOL=${PYRO_IDMAP_BASE:-1879048192} # 0x70000000, src/base/idmap.h

die() { echo "test-user: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

need_root() {
  [ "$(id -u)" = 0 ] || skip "running the tests as $USER_NAME needs root (to create the user and switch to it)"
  command -v runuser >/dev/null || skip "runuser is missing (util-linux)"
}

# The first range of at least COUNT ids of the user in FILE: "start count".
subid_of() {
  local file=$1 uid
  uid=$(id -u "$USER_NAME")
  awk -F: -v n="$USER_NAME" -v u="$uid" -v c=$COUNT \
    '($1 == n || $1 == u) && $3 >= c { print $2, $3; exit }' "$file" 2>/dev/null || true
}

# Does [s, s+COUNT) overlap a range in /etc/subuid, /etc/subgid or the pool?
overlaps() {
  local s=$1
  [ $((s + COUNT)) -le "$POOL" ] || [ "$s" -ge $((POOL + COUNT)) ] || return 0
  cat /etc/subuid /etc/subgid 2>/dev/null |
    awk -F: -v s="$s" -v c=$COUNT 'NF == 3 && $2 < s + c && s < $2 + $3 { hit = 1 } END { exit !hit }'
}

free_range() {
  local s=$FIRST
  while overlaps "$s"; do
    s=$((s + COUNT))
    [ "$s" -lt 4294901760 ] || die "no free range of $COUNT subordinate ids"
  done
  echo "$s"
}

# o+rX on PATH and below where missing; every parent of PATH must already
# let others through (we do not open up someone's home directory).
open_path() {
  local path p
  path=$(realpath "$1")
  p=$path
  while [ "$p" != / ]; do
    p=$(dirname "$p")
    runuser -u "$USER_NAME" -- test -x "$p" ||
      die "$USER_NAME cannot enter $p (a parent of $path): move the checkout, or: setfacl -m u:$USER_NAME:x $p"
  done
  find "$path" \( -type d ! -perm -o=rx -o ! -type d ! -type l ! -perm -o=r \) -exec chmod o+rX {} +
  runuser -u "$USER_NAME" -- test -r "$path" || die "$USER_NAME cannot read $path"
}

setup() {
  need_root
  command -v useradd >/dev/null && command -v usermod >/dev/null || die "useradd/usermod are missing (passwd)"
  if ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$USER_HOME" --shell /usr/sbin/nologin \
      --comment "pyro tests as an ordinary user" "$USER_NAME"
    echo "test-user: created system user $USER_NAME (uid $(id -u "$USER_NAME"))" >&2
  fi
  install -d -m 0755 -o "$USER_NAME" -g "$USER_NAME" "$USER_HOME"
  # One start for both files (free in both), chosen before either changes.
  local start
  touch /etc/subuid /etc/subgid
  start=$(free_range)
  if [ -z "$(subid_of /etc/subuid)" ]; then
    usermod --add-subuids "$start-$((start + COUNT - 1))" "$USER_NAME"
    echo "test-user: subordinate uids $start..+$((COUNT - 1)) for $USER_NAME" >&2
  fi
  if [ -z "$(subid_of /etc/subgid)" ]; then
    usermod --add-subgids "$start-$((start + COUNT - 1))" "$USER_NAME"
    echo "test-user: subordinate gids $start..+$((COUNT - 1)) for $USER_NAME" >&2
  fi
  local p
  for p in "$@"; do open_path "$p"; done
  info
}

info() {
  id "$USER_NAME" >/dev/null 2>&1 || die "no user $USER_NAME: run test-user.sh setup first"
  echo "user $USER_NAME uid $(id -u "$USER_NAME") gid $(id -g "$USER_NAME") home $USER_HOME"
  echo "subuid $(subid_of /etc/subuid)"
  echo "subgid $(subid_of /etc/subgid)"
}

run() {
  need_root
  id "$USER_NAME" >/dev/null 2>&1 || die "no user $USER_NAME: the fixture user.setup (test-user.sh setup) did not run"
  command -v newuidmap >/dev/null && command -v newgidmap >/dev/null ||
    skip "newuidmap/newgidmap are missing (apt-get install uidmap)"
  [ -n "$(subid_of /etc/subuid)" ] && [ -n "$(subid_of /etc/subgid)" ] ||
    die "$USER_NAME has no subordinate ids: run test-user.sh setup"
  runuser -u "$USER_NAME" -- unshare --user true 2>/dev/null ||
    skip "unprivileged user namespaces are disabled on this host (sysctl user.max_user_namespaces," \
      "kernel.unprivileged_userns_clone or an AppArmor userns restriction)"
  # /dev/net/tun closed to users (a host without udev; Debian's rule makes
  # it 0666): the user gets a 0666 node in a private mount namespace, as on
  # a stock host; the host's node stays as it is.
  if [ -c /dev/net/tun ] && [ -z "${TEST_USER_TUN_NS:-}" ] &&
    ! runuser -u "$USER_NAME" -- test -r /dev/net/tun -a -w /dev/net/tun; then
    echo "test-user: /dev/net/tun is closed to $USER_NAME here; it gets a 0666 node in a private mount namespace" >&2
    exec env TEST_USER_TUN_NS=1 unshare --mount --propagation private -- "$0" tun-run "$@"
  fi
  user_env
  exec runuser -u "$USER_NAME" -- env -i "${ENVV[@]}" "$@"
}

# In the private mount namespace: a 0666 tun node over /dev/net/tun, then CMD.
tun_run() {
  local d
  d=$(mktemp -d)
  mount -t tmpfs -o mode=0755,size=64k pyro-test-tun "$d"
  mknod -m 0666 "$d/tun" c 10 200
  mount --bind "$d/tun" /dev/net/tun
  umount "$d" && rmdir "$d"
  user_env
  exec runuser -u "$USER_NAME" -- env -i "${ENVV[@]}" "$@"
}

# The user's clean environment, in ENVV.
user_env() {
  ENVV=(HOME="$USER_HOME" USER="$USER_NAME" LOGNAME="$USER_NAME" LANG=C.UTF-8
        PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin TMPDIR=/tmp)
  local v
  while IFS= read -r v; do ENVV+=("$v=${!v}"); done < <(compgen -e | grep -E '^PYRO(_|$)' || true)
}

# CMD as the user, with that environment (no checks).
run_as() {
  user_env
  runuser -u "$USER_NAME" -- env -i "${ENVV[@]}" "$@"
}

# The tree at $1: ids in [from, from+COUNT) move to the same offset from
# `to` ($2..$5: from_uid from_gid to_uid to_gid), others stay; setuid and
# setgid bits (which chown clears) are put back; the top last. A file
# capability is refused (this copy does not rewrite them for the new root).
shift_tree() {
  python3 - "$@" "$COUNT" <<'PY'
import errno, os, stat, sys
top = sys.argv[1]
fu, fg, tu, tg, n = map(int, sys.argv[2:7])
def shift(path):
    st = os.lstat(path)
    u = st.st_uid - fu + tu if fu <= st.st_uid < fu + n else st.st_uid
    g = st.st_gid - fg + tg if fg <= st.st_gid < fg + n else st.st_gid
    if (u, g) == (st.st_uid, st.st_gid):
        return
    if stat.S_ISREG(st.st_mode):
        try:
            os.getxattr(path, "security.capability", follow_symlinks=False)
            sys.exit(f"test-user: {path} has a file capability, which this copy cannot shift")
        except OSError as e:
            if e.errno not in (errno.ENODATA, errno.ENOTSUP):
                raise
    os.lchown(path, u, g)
    if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o6000:
        os.chmod(path, stat.S_IMODE(st.st_mode))
for d, dirs, files in os.walk(top, topdown=False):
    for name in dirs + files:
        shift(os.path.join(d, name))
shift(top)
PY
}

seed() {
  need_root
  local name=$1 src=$2 dst=$3 dir ver from_u from_g to_u to_g
  dir=${name//:/_}
  if [ -n "${PYRO:-}" ]; then
    local state
    state=$(mktemp -d)
    XDG_CACHE_HOME=$src PYRO_HOME=$state "$PYRO" env pull "$name" >&2 || die "could not pull $name as root"
    rm -rf "$state"
  fi
  to_u=$(subid_of /etc/subuid | cut -d' ' -f1)
  to_g=$(subid_of /etc/subgid | cut -d' ' -f1)
  [ -n "$to_u" ] && [ -n "$to_g" ] || die "$USER_NAME has no subordinate ids: run test-user.sh setup"
  local sdir=$src/pyro/environments/$dir ddir=$dst/pyro/environments/$dir n=0
  [ -d "$sdir" ] || die "$name is not installed in $src"
  install -d -m 0755 -o "$USER_NAME" -g "$USER_NAME" "$dst" "$dst/pyro" "$dst/pyro/environments" "$ddir"
  # One seed at a time (test runs of several checkouts share the user's cache).
  exec 9>"$ddir/.seed.lock"
  flock 9
  rm -rf "$ddir"/.tmp-seed-*
  for ver in "$sdir"/*/; do
    ver=$(basename "$ver")
    [ -f "$sdir/$ver/manifest.json" ] || continue
    n=$((n + 1))
    [ -f "$ddir/$ver/manifest.json" ] && continue
    # The root tree's owner is sandbox root: host 0 (unshifted) or the pool.
    from_u=$(stat -c %u "$sdir/$ver/rootfs"); from_g=$(stat -c %g "$sdir/$ver/rootfs")
    [ "$from_u" = 0 ] || [ "$from_u" = "$POOL" ] || die "$sdir/$ver/rootfs is owned by $from_u, neither 0 nor the pool $POOL"
    local tmp=$ddir/.tmp-seed-$$
    echo "test-user: seeding $name $ver into $ddir (ids $from_u.. -> $to_u..)" >&2
    cp -a "$sdir/$ver" "$tmp"
    shift_tree "$tmp/rootfs" "$from_u" "$from_g" "$to_u" "$to_g"
    # The rest of the install (manifest, log, VM artifacts) is the user's.
    chown "$USER_NAME:$USER_NAME" "$tmp"
    find "$tmp" -mindepth 1 -maxdepth 1 ! -name rootfs -exec chown -R "$USER_NAME:$USER_NAME" {} +
    rm -rf "${ddir:?}/$ver"
    mv -T "$tmp" "$ddir/$ver"
  done
  [ "$n" -gt 0 ] || die "$name is not installed in $src"
  # pyro as the user must accept it as it is (no rebuild behind our back).
  [ -n "${PYRO:-}" ] || return 0
  local out
  out=$(run_as env XDG_CACHE_HOME="$dst" "$PYRO" env inspect "$name" --json) || die "env inspect $name as $USER_NAME failed"
  grep -q '"status": "installed"' <<<"$out" || die "pyro as $USER_NAME does not accept the seeded $name: $out"
  echo "test-user: $name in $dst is installed for $USER_NAME" >&2
}

cmd=${1:-}
shift || true
case "$cmd" in
  setup) setup "$@" ;;
  info) info ;;
  seed)
    [ $# = 3 ] || die "usage: test-user.sh seed ENV SRC_CACHE DST_CACHE"
    seed "$@"
    ;;
  tun-run) tun_run "$@" ;;
  run)
    [ "${1:-}" = -- ] && shift
    [ $# -gt 0 ] || die "usage: test-user.sh run -- CMD..."
    run "$@"
    ;;
  *) die "usage: test-user.sh setup DIR... | run -- CMD... | info" ;;
esac
