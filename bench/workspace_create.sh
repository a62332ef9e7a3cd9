#!/bin/bash
# workspace create with a 10,000-file seed directory (and an empty one for
# comparison), then delete. Usage: [N=5] [FILES=10000] bench/workspace_create.sh
source "$(dirname "$0")/ws_lib.bash"
N=${N:-5}
FILES=${FILES:-10000}
make_tree "$WORK/seed" "$FILES"
sync   # the seed's own writeback must not land in the timings
"$PYRO" workspace delete "$("$PYRO" workspace create "${ENV:-debian:12-base}" --id-only)" >/dev/null
create_delete() { # $@: extra create flags
  local w; w=$("$PYRO" workspace create "${ENV:-debian:12-base}" --id-only "$@")
  "$PYRO" workspace delete "$w" >/dev/null
}
export -f create_delete; export PYRO ENV
bench_times "create (empty) + delete" "$N" bash -c create_delete
bench_times "create ($FILES-file seed) + delete" "$N" bash -c "create_delete --seed-path $WORK/seed"
W=$("$PYRO" workspace create "${ENV:-debian:12-base}" --id-only)
bench_times "delete alone" 1 "$PYRO" workspace delete "$W"
t0=$(date +%s%N)
W=$("$PYRO" workspace create "${ENV:-debian:12-base}" --id-only --seed-path "$WORK/seed")
echo "create ($FILES-file seed) alone: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
"$PYRO" workspace delete "$W" >/dev/null
