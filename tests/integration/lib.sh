# Sourced by integration tests. Gives each test a private state dir and the
# shared environment cache, and small assertion helpers.
set -euo pipefail
: "${PYRO:?PYRO must point at the pyro binary}"
TEST_NAME=$(basename "$0" .sh)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pyro-${TEST_NAME}.XXXXXX")
export PYRO_HOME="$TEST_TMP/state"
export XDG_CACHE_HOME="${PYRO_TEST_CACHE:-$TEST_TMP/cache}"
mkdir -p "$PYRO_HOME" "$XDG_CACHE_HOME"
# A failed test must not leave sandboxes running (their state would be gone
# with TEST_TMP): delete whatever VMs and workspaces remain first.
cleanup_test_tmp() {
  local d
  for d in "$PYRO_HOME"/vms/*/; do [ -d "$d" ] && timeout 60 "$PYRO" vm delete "$(basename "$d")" >/dev/null 2>&1; done
  for d in "$PYRO_HOME"/workspaces/*/; do
    [ -d "$d" ] && timeout 60 "$PYRO" workspace delete "$(basename "$d")" >/dev/null 2>&1
  done
  rm -rf "$TEST_TMP"
}
trap cleanup_test_tmp EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
# The backend a suite runs on: $PYRO_TEST_BACKEND (ctest registers a ".vm"
# variant of the suites that pass on both), sandbox by default. It becomes
# the default of every pyro call through $PYRO_BACKEND; a suite checks
# what only one backend does under `on_vm` or `on_sandbox`.
BACKEND=${PYRO_TEST_BACKEND:-sandbox}
case "$BACKEND" in sandbox | vm) ;; *) fail "PYRO_TEST_BACKEND must be sandbox or vm, got '$BACKEND'" ;; esac
export PYRO_BACKEND=$BACKEND
on_vm() { [ "$BACKEND" = vm ]; }
on_sandbox() { [ "$BACKEND" = sandbox ]; }
if on_vm && ! command -v qemu-system-x86_64 >/dev/null; then
  skip "the vm backend needs qemu-system-x86_64 (scripts/deps.sh)"
fi
ok() { echo "ok - $*"; }
# ws_upper ID: the host path of workspace ID's writable /workspace: on its
# disk image mounted at sandbox/disk/ (root, docs/workspaces.md "Disk quota"), else
# the plain upper/ directory (an ordinary user, or a workspace from before).
ws_upper() {
  local d=$PYRO_HOME/workspaces/$1
  if [ -d "$d/sandbox/disk/upper" ]; then echo "$d/sandbox/disk/upper/workspace"; else echo "$d/upper/workspace"; fi
}
# JSON field access: jget PATH < JSON (tests/helpers/jget.c: keys and
# list indexes by dots; a string raw, other values as one line of JSON).
PYRO_JGET=$(dirname "$PYRO")/tests/pyro-jget
jget() { "$PYRO_JGET" "$1"; }
# expect_status N cmd...: runs cmd, fails unless it exits N; output in $OUT/$ERR.
expect_status() {
  local want=$1; shift
  set +e
  "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
  local got=$?
  set -e
  OUT=$(cat "$TEST_TMP/out"); ERR=$(cat "$TEST_TMP/err")
  [ "$got" = "$want" ] || fail "expected exit $want, got $got from: $* (stderr: $ERR)"
}
