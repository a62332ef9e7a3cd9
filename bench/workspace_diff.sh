#!/bin/bash
# workspace diff of a 10,000-file workspace with one change (target: 300 ms
# or less), and with none. Usage: [N=20] [FILES=10000] bench/workspace_diff.sh
source "$(dirname "$0")/ws_lib.bash"
N=${N:-20}
FILES=${FILES:-10000}
make_tree "$WORK/seed" "$FILES"
sync   # the seed's own writeback must not land in the timings
W=$("$PYRO" workspace create "${ENV:-debian:12-base}" --id-only --seed-path "$WORK/seed")
bench_times "diff, $FILES files, no change" "$N" "$PYRO" workspace diff "$W" --json
"$PYRO" workspace exec "$W" -- 'echo changed >> d042/f04242.txt' >/dev/null
"$PYRO" workspace diff "$W" --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["summary"]["modified"] == 1, d["summary"]; print("one change:", d["entries"][0]["path"])'
bench_times "diff, $FILES files, one change" "$N" "$PYRO" workspace diff "$W" --json
