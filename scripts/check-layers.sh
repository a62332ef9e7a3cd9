#!/usr/bin/env bash
# Layer check (docs/design/layout.md): every #include "..." names its folder,
# points at a header that exists under src/, and, in src/, points down the
# layer order:
#
#   base < proto < {agent, backend} < lib < {cli, mcp}
#   within lib: contract < host < env < vm < workspace
#
# Siblings (agent and backend; cli and mcp) may not include each other. A
# file may include headers of its own folder (of its own module, in lib).
# <pyro/...> is the public API: allowed anywhere, but it must exist.
# tests/, tools/ and bench/ may include any layer; their includes must still
# be written with their folder and resolve, except a helper header that sits
# beside the file that includes it (tests/unit/agent_fixture.h).
#
# Usage: scripts/check-layers.sh [source root]
# Exit 1 listing every violation as file:line: message.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

dirs=(src)
for d in tests/unit tests/fuzz tests/helpers tools bench; do
    [[ -d $d ]] && dirs+=("$d")
done

# Known headers first (one per line, "H src/base/err.h"), then the files to
# check; one awk does the rest.
{
    find src include -type f \( -name '*.h' -o -name '*.h.in' \) | sed 's/^/H /'
    find "${dirs[@]:1}" -type f -name '*.h' | sed 's/^/L /'
    find "${dirs[@]}" -type f \( -name '*.c' -o -name '*.h' \) | sort | sed 's/^/F /'
} | awk '
function rank(l) {
    if (l == "base") return 0
    if (l == "proto") return 1
    if (l == "agent" || l == "backend") return 2
    if (l == "lib/contract") return 3
    if (l == "lib/host") return 4
    if (l == "lib/env") return 5
    if (l == "lib/vm") return 6
    if (l == "lib/workspace") return 7
    if (l == "cli" || l == "mcp") return 8
    return -1
}
# The layer of a path relative to src/: its first folder, or lib/<module>.
function layer(p,   n, a) {
    n = split(p, a, "/")
    if (n < 2) return ""
    if (a[1] == "lib" && n >= 3) return "lib/" a[2]
    return a[1]
}
function dir(p) { sub(/\/[^\/]*$/, "", p); return p }
function report(where, msg) { print where ": " msg > "/dev/stderr"; bad++ }
$1 == "H" { sub(/\.in$/, "", $2); have[$2] = 1; next }
$1 == "L" { local[$2] = 1; next }
$1 == "F" {
    file = $2; n = 0
    while ((getline ln < file) > 0) {
        n++
        if (ln !~ /^[ \t]*#[ \t]*include[ \t]*["<]/) continue
        public = (ln ~ /^[ \t]*#[ \t]*include[ \t]*</)
        t = ln
        if (public) {
            sub(/^[^<]*</, "", t); sub(/>.*$/, "", t)
            if (t !~ /^pyro\//) continue          # system header
            if (!(("include/" t) in have))
                report(file ":" n ": #include <" t ">", "no such public header include/" t)
            continue
        }
        sub(/^[^"]*"/, "", t); sub(/".*$/, "", t)
        where = file ":" n ": #include \"" t "\""
        if (t ~ /(^|\/)\.\.?\//) { report(where, "relative include (write it with its folder, e.g. \"base/err.h\")"); continue }
        if (t !~ /\// && file !~ /^src\// && ((dir(file) "/" t) in local)) continue
        if (t !~ /\//) { report(where, "include without its folder (write \"<folder>/" t "\")"); continue }
        if (!(("src/" t) in have)) { report(where, "no such header src/" t); continue }
        if (file !~ /^src\//) continue            # tests, tools, bench: any layer
        from = layer(substr(file, 5)); to = layer(t)
        if (from == to) continue
        rf = rank(from); rt = rank(to)
        if (rf < 0) report(where, "file outside any layer: add \"" from "\" to scripts/check-layers.sh and docs/design/layout.md")
        else if (rt < 0) report(where, "header outside any layer (" to ")")
        else if (rt == rf) report(where, from " may not include its sibling " to)
        else if (rt > rf) report(where, from " may not include " to " (upward: " to " is above " from ")")
    }
    close(file)
}
END {
    if (bad) { print "check-layers: FAILED, " bad " violation(s); rules in docs/design/layout.md" > "/dev/stderr"; exit 1 }
    print "check-layers: ok"
}'
