# Sourced by the OCI suites after lib.sh: skips without the tools, a
# private cache, and a loopback docker-registry started (and stopped at
# exit) by start_registry NAME PORT [extra config yaml]
# ($REG_HTTP: lines for its http: section, e.g. tls; $REG_SCHEME: https then).
command -v docker-registry >/dev/null || skip "docker-registry (Debian package) is not installed (scripts/deps.sh)"
command -v skopeo >/dev/null || skip "skopeo is not installed (scripts/deps.sh)"
command -v zstd >/dev/null || skip "zstd is not installed (scripts/deps.sh)"
command -v gcc >/dev/null || skip "gcc is needed to build the test image's static program"
LAYOUT="$(dirname "$0")/oci_layout.py"
# A private cache: images, layers and failures here do not touch the shared one.
export XDG_CACHE_HOME="$TEST_TMP/cache"
ENVS="$XDG_CACHE_HOME/pyro/environments"
BLOBS="$ENVS/.oci-blobs/sha256"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REG_PIDS=()
start_registry() { # start_registry NAME PORT [auth yaml]
  local dir="$TEST_TMP/$1" port=$2
  mkdir -p "$dir/data"
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n%slog:\n  level: error\n%s\n' \
    "$dir/data" "$port" "${REG_HTTP:-}" "${3:-}" >"$dir/config.yml"
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  REG_PIDS+=($!)
  for _ in $(seq 100); do
    curl -sk -o /dev/null "${REG_SCHEME:-http}://127.0.0.1:$port/v2/" && return 0
    sleep 0.1
  done
  fail "registry $1 did not start: $(cat "$dir/log")"
}
# As a user, pulled trees are owned by the subordinate range (docs/rootless.md):
# removed in a user namespace that maps it.
stop_registries() {
  local p
  for p in "${REG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "$(id -u)" != 0 ] && [ -d "$TEST_TMP" ]; then
    unshare --map-auto --map-root-user rm -rf "$TEST_TMP" 2>/dev/null || true
  fi
  cleanup_test_tmp
}
trap stop_registries EXIT

