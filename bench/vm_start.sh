#!/usr/bin/env bash
# The vm backend's start against raw QEMU, in one run: `pyro run --backend vm
# ENV -- true` (create, VM artifacts check, monitor, QEMU boot until the
# agent answers, exec, power-off, delete) against QEMU alone with the very
# same command line (read from a VM pyro started), the same kernel,
# initramfs and root image and a fresh writable disk made the same way,
# driven by a minimal client that waits for the agent's hello and asks it
# to power off. Rounds alternate which side goes first. Target: ratio <= 1.2.
# pyro's side boots (PYRO_VM_TEMPLATES=0) for that comparison; a third
# series starts from the setting's memory template (docs/vm.md "Memory
# templates"), made by a warm-up run before the rounds.
# Root. usage: bench/vm_start.sh [BUILD_DIR]   (ROUNDS=N, default 5)
set -euo pipefail
BUILD=${1:-build}
PYRO=$(readlink -f "$BUILD/pyro")
ROUNDS=${ROUNDS:-5}
ENV=${ENV:-debian:12-base}
export PYRO_HOME=${PYRO_HOME:-$(mktemp -d /tmp/pyro-bench.XXXXXX)}
export PYRO_AGENT=${PYRO_AGENT:-$(readlink -f "$BUILD/pyro-agent")}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$PYRO" env pull "$ENV" --vm >/dev/null
VMDIR=$("$PYRO" env inspect "$ENV" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["cache_path"])')/vm

# QEMU's command line as pyro runs it (from a started VM), one word a line.
ID=$("$PYRO" vm create --backend vm "$ENV" --id-only)
PYRO_VM_TEMPLATES=0 "$PYRO" vm start "$ID" >/dev/null
QPID=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sandbox_pid"])' "$PYRO_HOME/vms/$ID/monitor.json")
tr '\0' '\n' <"/proc/$QPID/cmdline" >"$OUT/argv"
"$PYRO" vm delete "$ID" >/dev/null

cat >"$OUT/raw.py" <<'PY'
# Raw QEMU: socketpair as the agent channel (fd 3), hello, shutdown, exit.
import fcntl, json, os, socket, struct, subprocess, sys, time
# QEMU opens no path of pyro's: its kernel, initramfs, root image and
# writable disk (read-write and read-only) are fds 6-10 (src/backend/vm/vm.h).
argv = open(sys.argv[1]).read().split("\n")[:-1]
disk = sys.argv[2]
vmdir = sys.argv[3]
def frame(h):
    b = json.dumps(h).encode()
    return b"PYA\x01" + struct.pack(">II", len(b), 0) + b
def read_frame(s):
    buf = b""
    while len(buf) < 12:
        d = s.recv(65536)
        if not d:
            raise SystemExit("agent hung up")
        buf += d
    hl, bl = struct.unpack(">II", buf[4:12])
    while len(buf) < 12 + hl + bl:
        buf += s.recv(65536)
    return json.loads(buf[12:12 + hl])
subprocess.run(["mkfs.ext4", "-q", "-F", "-t", "ext4", "-L", "pyro-rw", "-E",
                "lazy_itable_init=1,lazy_journal_init=1,discard", disk, "8192M"], check=True, stdout=subprocess.DEVNULL)
a, b = socket.socketpair()
files = [os.open(vmdir + "/vmlinuz", os.O_RDONLY), os.open(vmdir + "/initramfs.cpio", os.O_RDONLY),
         os.open(vmdir + "/rootfs.ext4", os.O_RDONLY), os.open(disk, os.O_RDWR), os.open(disk, os.O_RDONLY)]
def child():
    # Above every target first, so no dup2 overwrites a source.
    high = [fcntl.fcntl(f, fcntl.F_DUPFD, 20) for f in [b.fileno()] + files]
    os.dup2(high[0], 3)
    for i, f in enumerate(high[1:]):
        os.dup2(f, 6 + i)
p = subprocess.Popen(argv, pass_fds=(3, 6, 7, 8, 9, 10), preexec_fn=child, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
b.close()
for f in files:
    os.close(f)
a.sendall(frame({"t": "hello", "id": 0, "version": 1, "client": "bench"}))
h = read_frame(a)
assert h["t"] == "hello", h
a.sendall(frame({"t": "req", "id": 1, "op": "shutdown", "args": {"flush": False}}))
p.wait(timeout=60)
os.unlink(disk)
PY

pyro_once() {
  local t0 t1
  t0=$(date +%s.%N)
  PYRO_VM_TEMPLATES=0 "$PYRO" run --backend vm "$ENV" -- true >/dev/null 2>&1
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc >>"$OUT/pyro.txt"
}
tmpl_once() {
  local t0 t1 boot
  t0=$(date +%s.%N)
  boot=$("$PYRO" run --backend vm "$ENV" --json -- true 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get("vm_boot"))')
  t1=$(date +%s.%N)
  [ "$boot" = template ] || { echo "a run did not start from the template ($boot)" >&2; exit 1; }
  echo "$t1 - $t0" | bc >>"$OUT/tmpl.txt"
}
# Warm-up: saves the template of the default setting (when there is none).
"$PYRO" run --backend vm "$ENV" -- true >/dev/null 2>&1
raw_once() {
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/python3 "$OUT/raw.py" "$OUT/argv" "$OUT/disk.ext4" "$VMDIR"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc >>"$OUT/raw.txt"
}
for i in $(seq "$ROUNDS"); do
  if [ $((i % 2)) = 1 ]; then pyro_once; raw_once; tmpl_once; else tmpl_once; raw_once; pyro_once; fi
done
/usr/bin/python3 - "$OUT/pyro.txt" "$OUT/raw.txt" "$OUT/tmpl.txt" "$(grep -m1 -A1 '^-accel$' "$OUT/argv" | tail -1)" <<'PY'
import statistics, sys
p = [float(x) for x in open(sys.argv[1])]
r = [float(x) for x in open(sys.argv[2])]
t = [float(x) for x in open(sys.argv[3])]
mp, mr, mt = statistics.median(p), statistics.median(r), statistics.median(t)
print(f"accelerator {sys.argv[4]}, {len(p)} rounds")
print(f"pyro run --backend vm -- true, cold boot: median {mp:.2f} s (min {min(p):.2f}, max {max(p):.2f})")
print(f"raw QEMU, boot to the agent's hello and power-off: median {mr:.2f} s (min {min(r):.2f}, max {max(r):.2f})")
print(f"ratio cold pyro / raw QEMU {mp / mr:.2f}")
print(f"pyro run --backend vm -- true, from the template: median {mt:.2f} s (min {min(t):.2f}, max {max(t):.2f})")
print(f"ratio template / cold {mt / mp:.2f}")
PY
