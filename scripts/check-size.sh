#!/usr/bin/env bash
# Small files with one concern each: no C file under src/, tests/, tools/ or
# bench/ over 600 lines (docs/design/layout.md). PYRO_MAX_LINES overrides the
# limit.
#
# Usage: scripts/check-size.sh [source root]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
max=${PYRO_MAX_LINES:-600}
cd "$root"
find src tests tools bench -path tests/mcp/node_modules -prune -o -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z | xargs -0 wc -l |
    awk -v max="$max" '
    $2 != "total" && $1 > max { print $2 ": " $1 " lines (limit " max "): split it by concern" > "/dev/stderr"; bad++ }
    END {
        if (bad) { print "check-size: FAILED, " bad " file(s) over " max " lines" > "/dev/stderr"; exit 1 }
        print "check-size: ok"
    }'
