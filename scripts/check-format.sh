#!/usr/bin/env bash
# Formatting check: every C file of src/, tests/unit, tests/fuzz,
# tests/helpers, tools and bench is as clang-format 14 with .clang-format
# leaves it. Lists the files that differ (with clang-format's diagnostics)
# and exits 1.
#
# Usage: scripts/check-format.sh          check (make check-format)
#        scripts/check-format.sh --fix    reformat those files in place
#        scripts/check-format.sh FILE...  check only these files
# CLANG_FORMAT names the binary (default clang-format-14, else clang-format).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

fix=0
if [[ ${1:-} == --fix ]]; then
    fix=1
    shift
fi
cf=${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}
if [[ -z $cf ]]; then
    echo "check-format: clang-format 14 not found (apt-get install clang-format; make deps)" >&2
    exit 77
fi
ver=$("$cf" --version | sed -n 's/.*version \([0-9]*\).*/\1/p')
if [[ $ver != 14 ]]; then
    echo "check-format: $cf is version $ver; .clang-format is tuned for 14 (set CLANG_FORMAT)" >&2
fi

if (($#)); then
    files=("$@")
else
    mapfile -t files < <(find src tests/unit tests/fuzz tests/helpers tools bench -type f \
        \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)
fi

if ((fix)); then
    "$cf" -i --style=file "${files[@]}"
    echo "check-format: reformatted ${#files[@]} file(s)"
    exit 0
fi

# One clang-format run over every file; it names each offending line as
# "file:line:col: error: code should be clang-formatted".
out=$("$cf" --dry-run -Werror --style=file "${files[@]}" 2>&1) && rc=0 || rc=$?
mapfile -t bad < <(sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' <<<"$out" |
    uniq -c | awk '{ print $2 ": not formatted (" $1 " place(s))" }')
if ((rc != 0 || ${#bad[@]})); then
    if ((${#bad[@]})); then
        printf '%s\n' "${bad[@]}" >&2
    else
        echo "$out" >&2
    fi
    echo "check-format: FAILED, ${#bad[@]} of ${#files[@]} file(s); inspect with 'clang-format --dry-run FILE'," \
        "fix with scripts/check-format.sh --fix" >&2
    exit 1
fi
echo "check-format: ok (${#files[@]} files)"
