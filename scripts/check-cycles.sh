#!/bin/sh
# Fails when source files call each other, directly or around a loop
# (DESIGN.md: no file-to-file call cycles). File A depends on file B when
# A's object file uses a symbol (function or data) that B's object defines;
# tsort(1) then finds the loops of that graph.
#
# Usage: check-cycles.sh [-l LIST] [OBJECT...]
#   LIST: a file naming object files, one per line (ctest passes the
#   objects of src/backend and src/lib this way).
set -eu

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/objects"
while [ $# -gt 0 ]; do
    case $1 in
    -l) tr ';' '\n' <"$2" | sed '/^$/d' >>"$tmp/objects"; shift 2 ;;
    *) printf '%s\n' "$1" >>"$tmp/objects"; shift ;;
    esac
done
[ -s "$tmp/objects" ] || { echo "usage: $0 [-l LIST] [OBJECT...]" >&2; exit 2; }

# nm -A prefixes each line with "OBJECT:"; a file is named by its source
# path: ".../pyro_libcore.dir/./lib/vm/run.c.o" -> "lib/vm/run.c".
name='{ sub(/:[^:]*$/, "", $1); sub(/.*\.dir\//, "", $1); sub(/^\.\//, "", $1); sub(/\.o$/, "", $1) }'
xargs nm -A --defined-only -g <"$tmp/objects" | awk "$name"' NF == 3 { print $3, $1 }' >"$tmp/defs"
xargs nm -A -u <"$tmp/objects" | awk "$name"' { print $1, $NF }' >"$tmp/uses"
sed -e 's#.*\.dir/##' -e 's#^\./##' -e 's#\.o$##' "$tmp/objects" >"$tmp/names"

# "user definer symbol" for every use of a symbol another file defines.
awk 'NR == FNR { def[$1] = $2; next } ($2 in def) && def[$2] != $1 { print $1, def[$2], $2 }' \
    "$tmp/defs" "$tmp/uses" | sort -u >"$tmp/edges"
files=$(wc -l <"$tmp/objects")
count=$(cut -d' ' -f1,2 "$tmp/edges" | sort -u | wc -l)

# Every file is a node (a file alone is fine); tsort names loop members.
{ awk '{ print $1, $2 }' "$tmp/edges"; awk '{ print $1, $1 }' "$tmp/names"; } |
    tsort >/dev/null 2>"$tmp/loops" || true
if [ -s "$tmp/loops" ]; then
    echo "file-to-file call cycles among $files files:"
    sed -n 's/^tsort: //p' "$tmp/loops" | grep -v 'input contains a loop' | sort -u >"$tmp/members"
    echo "files on a loop:"
    sed 's/^/  /' "$tmp/members"
    echo "calls between them (caller -> callee: symbol):"
    awk 'NR == FNR { m[$1] = 1; next } ($1 in m) && ($2 in m) { print "  " $1 " -> " $2 ": " $3 }' \
        "$tmp/members" "$tmp/edges"
    exit 1
fi
echo "no call cycles among $files files ($count file-to-file dependencies)"
