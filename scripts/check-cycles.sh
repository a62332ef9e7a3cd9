#!/usr/bin/env bash
# No file-to-file call cycles (docs/design/layout.md): after a build, read
# every object file's defined and undefined global symbols (nm), draw an
# edge a.c -> b.c when a.c uses a function b.c defines (a call, or taking its
# address), and fail listing every strongly connected component of more than
# one file. References to data (the contract table, a backend's ops struct)
# are not calls and draw no edge: a table may point up at the handlers of
# the files that read it.
#
# Two link units are checked, as they are linked: libpyro with the CLI
# (base, proto, backend, lib, mcp, cli) and pyro-agent (agent, base, proto).
#
# Usage: scripts/check-cycles.sh [build dir]   (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
objs=$build/src/CMakeFiles

unit() {  # unit <name> <target>... : object files of those OBJECT/STATIC targets
    local name=$1 t files=()
    shift
    for t in "$@"; do
        if [[ ! -d $objs/$t.dir ]]; then
            echo "check-cycles: $objs/$t.dir missing; build first (cmake --build $build)" >&2
            exit 2
        fi
        while IFS= read -r -d '' f; do files+=("$f"); done \
            < <(find "$objs/$t.dir" -name '*.c.o' -print0 | sort -z)
    done
    ((${#files[@]})) || return 0
    # "unit object symbol type", global symbols only.
    nm -A -P -g "${files[@]}" | sed "s|^|$name |"
}

{
    unit libpyro pyro_base pyro_proto pyro_backend pyro_libcore pyro_mcp pyro_cli_lib
    unit agent pyro_base pyro_proto pyro_agent_obj
} | awk -v objs="$objs/" '
# Object path -> source path: .../CMakeFiles/<target>.dir/lib/vm/run.c.o -> src/lib/vm/run.c
function src(o) { sub("^" objs "[^/]*\\.dir/", "", o); sub(/\.o:$/, "", o); return "src/" o }
{
    u = $1; f = u SUBSEP src($2); sym = $3; type = $4
    if (!(f in node)) { node[f] = 1; order[++nodes] = f }
    if (type == "U") { use[f, sym] = 1; uses[f] = uses[f] " " sym }
    else if (type == "T" || type == "W" || type == "i") def[u, sym] = f   # functions only
}
# Tarjan: strongly connected components of the file graph.
function visit(v,   i, n, s, w, p, comp, size) {
    idx[v] = low[v] = ++counter
    stack[++sp] = v; on[v] = 1
    split(v, p, SUBSEP)
    n = split(uses[v], s, " ")
    for (i = 1; i <= n; i++) {
        if (!((p[1], s[i]) in def)) continue
        w = def[p[1], s[i]]
        if (w == v) continue
        if (!((v, w) in via)) via[v, w] = s[i]
        if (!(w in idx)) { visit(w); if (low[w] < low[v]) low[v] = low[w] }
        else if (on[w] && idx[w] < low[v]) low[v] = idx[w]
    }
    if (low[v] == idx[v]) {
        size = 0
        do { w = stack[sp--]; on[w] = 0; member[++size] = w } while (w != v)
        if (size > 1) report(size)
    }
}
# One line per cycle (its files, sorted, so the same cycle seen in both link
# units prints once), then the calls that close it.
function report(size,   i, j, t, p, key, edges) {
    for (i = 2; i <= size; i++) { t = member[i]; for (j = i - 1; j >= 1 && member[j] > t; j--) member[j + 1] = member[j]; member[j + 1] = t }
    key = ""; edges = ""
    for (i = 1; i <= size; i++) {
        split(member[i], p, SUBSEP); key = key " " p[2]
        for (j = 1; j <= size; j++)
            if ((member[i], member[j]) in via) {
                split(member[j], t2, SUBSEP)
                edges = edges "\n    " p[2] " -> " t2[2] " (" via[member[i], member[j]] ")"
            }
    }
    if (key in seen) return
    seen[key] = 1; bad++
    print "cycle:" key edges > "/dev/stderr"
}
END {
    for (k = 1; k <= nodes; k++) if (!(order[k] in idx)) visit(order[k])
    if (bad) { print "check-cycles: FAILED, " bad " file cycle(s); no two files may call each other (docs/design/layout.md)" > "/dev/stderr"; exit 1 }
    print "check-cycles: ok"
}'
