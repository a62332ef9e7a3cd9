#!/bin/bash
# Service start-to-ready through the CLI: `pyro workspace service start W
# sN --ready-tcp 127.0.0.1:8080 -- <a trivial perl TCP server>`, timed from
# the CLI's start to its answer (the server listening and a probe
# connected), N times, each service stopped (untimed) before the next.
# With --ready-interval-ms 20 and with the default 500 ms (whose first
# probe, at once, comes before the server listens, so it pays one interval).
# Usage: [N=20] [ENV=debian:12-base] [PYRO_BACKEND=sandbox|vm] bench/service_ready.sh
source "$(dirname "$0")/ws_lib.bash"
N=${N:-20}
W=$("$PYRO" workspace create "${ENV:-debian:12-base}" --id-only)
SERVER='exec perl -MIO::Socket::INET -e '"'"'$s=IO::Socket::INET->new(LocalAddr=>"127.0.0.1",LocalPort=>8080,Listen=>5,ReuseAddr=>1) or die; while($c=$s->accept){close $c}'"'"
/usr/bin/python3 - "$PYRO" "$W" "$N" "$SERVER" <<'PY'
import statistics, subprocess, sys, time
pyro, w, n, server = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def run(interval, label):
    ts = []
    for i in range(n):
        name = f"s{interval}-{i}"
        cmd = [pyro, "workspace", "service", "start", w, name, "--ready-tcp", "127.0.0.1:8080"]
        if interval:
            cmd += ["--ready-interval-ms", str(interval)]
        t0 = time.perf_counter()
        subprocess.run(cmd + ["--", server], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        ts.append((time.perf_counter() - t0) * 1000)
        subprocess.run([pyro, "workspace", "service", "stop", w, name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    ts.sort()
    p90 = ts[min(len(ts) - 1, int(len(ts) * 0.9))]
    print(f"{label}: n={n} min={ts[0]:.1f} ms median={statistics.median(ts):.1f} ms p90={p90:.1f} ms max={ts[-1]:.1f} ms")
run(20, "service start to ready, tcp probe every 20 ms")
run(0, "service start to ready, tcp probe every 500 ms (default)")
PY
