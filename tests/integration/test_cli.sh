#!/bin/bash
# The CLI's front door: --version agrees with the installed pkg-config
# file, help is derived from the contract table, and bad input (unknown
# commands and flags, missing values, out-of-range numbers) gives one line
# on stderr naming the problem and exit status 2. Errors the runtime
# reports (not_found, invalid_argument) exit 1; with --json every error is
# also one {"error": {"code", "message"}} object on stdout.
source "$(dirname "$0")/lib.sh"

V=$("$PYRO" --version)
[[ "$V" =~ ^pyro\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version: $V"
DEST=$TEST_TMP/prefix
cmake --install "$PYRO_BUILD_DIR" --prefix "$DEST" >/dev/null || fail "cmake --install"
PCV=$(PKG_CONFIG_PATH=$(dirname "$(find "$DEST" -name libpyro.pc)") pkg-config --modversion libpyro)
[ "pyro $PCV" = "$V" ] || fail "pkg-config says $PCV, pyro says $V"
[ -x "$DEST/bin/pyro" ] && [ -f "$DEST/include/pyro/pyro.h" ] && [ -f "$DEST/share/man/man1/pyro.1" ] ||
  fail "install is missing files: $(find "$DEST" -type f | head -20)"
# A C program builds against the installed library and calls it.
cat >"$TEST_TMP/hello.c" <<'C'
#include <pyro/pyro.h>
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
    pyro_ctx *ctx;
    pyro_error err;
    char *out;
    if (pyro_ctx_new(&ctx, &err) < 0 || pyro_call(ctx, "version", NULL, &out, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    puts(out);
    free(out);
    if (pyro_call(ctx, "vm_status", "{\"vm_id\":\"x\",\"nope\":1}", &out, &err) == 0 || !pyro_error_is_usage(err.code))
        return 1;
    fprintf(stderr, "%s: %s\n", pyro_error_name(err.code), err.message);
    pyro_ctx_free(ctx);
    return 0;
}
C
PKG=$(dirname "$(find "$DEST" -name libpyro.pc)")
cc -o "$TEST_TMP/hello" "$TEST_TMP/hello.c" $(PKG_CONFIG_PATH=$PKG pkg-config --cflags --libs libpyro) ||
  fail "a C program does not build against the installed libpyro"
OUT=$(LD_LIBRARY_PATH=$(dirname "$(find "$DEST" -name 'libpyro.so*' | head -1)") "$TEST_TMP/hello" 2>"$TEST_TMP/err")
grep -q "\"version\": *\"$PCV\"" <<<"$OUT" || fail "C API version call: $OUT"
grep -q "invalid_argument: vm_status: unknown parameter 'nope'" "$TEST_TMP/err" || fail "C API error: $(cat "$TEST_TMP/err")"
ok "--version $PCV matches the installed pkg-config file; a C program links and calls libpyro"

expect_status 0 "$PYRO" --help
for g in run doctor env vm workspace mcp; do grep -q "^  $g " <<<"$OUT" || fail "top-level help lacks $g"; done
expect_status 0 "$PYRO" vm create --help
grep -q -- "--mem-mib N .*(128..65536, default 1024)" <<<"$OUT" || fail "help lacks bounds: $OUT"
ok "help derived from the contract table"

check_usage() { # expected-message-regex, then the command
  local re=$1; shift
  expect_status 2 "$PYRO" "$@"
  [ "$(wc -l <<<"$ERR")" = 1 ] || fail "more than one line for '$*': $ERR"
  grep -Eq "^pyro: error: .*$re" <<<"$ERR" || fail "'$*' said: $ERR"
  [ -z "$OUT" ] || fail "'$*' wrote to stdout: $OUT"
}
check_usage "unknown command 'frobnicate'" frobnicate
check_usage "unknown command 'pyro vm frob'" vm frob
check_usage "unknown option '--bogus'" --bogus
check_usage "unknown option '--bogus' for 'pyro vm create'" vm create debian:12-base --bogus
check_usage "option '--mem-mib' needs a value" vm create debian:12-base --mem-mib
check_usage "--mem-mib must be between 128 and 65536, got 99999999" vm create debian:12-base --mem-mib 99999999
check_usage "--vcpu-count expects an integer, got 'many'" vm create debian:12-base --vcpu-count many
check_usage "missing argument ENVIRONMENT" vm create
check_usage "--log-level expects" --log-level loud version
[ -z "$(ls "$PYRO_HOME/vms" 2>/dev/null)" ] || fail "bad input created state"
ok "bad input: one line, exit 2, nothing created"

# A usage error under --json: the same line on stderr, and one error object on stdout.
expect_status 2 "$PYRO" vm create debian:12-base --bogus --json
[ "$(wc -l <<<"$ERR")" = 1 ] && grep -q "unknown option '--bogus'" <<<"$ERR" || fail "usage error: $ERR"
[ "$(jget error.code <<<"$OUT")" = invalid_argument ] || fail "usage error JSON: $OUT"
grep -q "unknown option '--bogus'" <<<"$(jget error.message <<<"$OUT")" || fail "usage error JSON message: $OUT"
expect_status 2 "$PYRO" frobnicate --json
[ "$(jget error.code <<<"$OUT")" = invalid_argument ] || fail "unknown command JSON: $OUT"
# A required option and its CLI-only alternative are named by their flags.
expect_status 2 "$PYRO" workspace file write abcdef012345 f.txt
grep -q "missing option --text (or --text-file)" <<<"$ERR" || fail "missing --text: $ERR"
expect_status 2 "$PYRO" workspace patch apply abcdef012345 --patch x --patch-file y
grep -q "give --patch or --patch-file, not both" <<<"$ERR" || fail "both --patch and --patch-file: $ERR"
# `mcp serve`: option values and combinations are usage errors too.
expect_status 2 "$PYRO" mcp serve --profile nope </dev/null
grep -q "unknown profile 'nope'" <<<"$ERR" || fail "mcp serve --profile nope: $ERR"
ok "usage errors exit 2, also with --json (one error object on stdout)"

# Runtime failures exit 1, whatever their code: not_found ...
expect_status 1 "$PYRO" vm status abcdef012345 --json
[ "$(/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted(d), sorted(d["error"]))' <<<"$OUT")" = \
  "['error'] ['code', 'message']" ] || fail "not one error object: $OUT"
[ "$(jget error.code <<<"$OUT")" = not_found ] || fail "not_found JSON: $OUT"
[ "$(jget error.message <<<"$OUT")" = "no VM with id 'abcdef012345'" ] || fail "not_found message: $OUT"
[ "$ERR" = "pyro: error: no VM with id 'abcdef012345'" ] || fail "not_found on stderr: $ERR"
expect_status 1 "$PYRO" vm status abcdef012345
[ -z "$OUT" ] || fail "a human error wrote to stdout: $OUT"
[ "$ERR" = "pyro: error: no VM with id 'abcdef012345'" ] || fail "not_found: $ERR"
expect_status 1 "$PYRO" workspace file read abcdef012345 README --json
[ "$(jget error.code <<<"$OUT")" = not_found ] || fail "workspace not_found JSON: $OUT"
# ... invalid_argument found by the runtime rather than by the parser ...
expect_status 1 "$PYRO" vm status '../etc' --json
[ "$(jget error.code <<<"$OUT")" = invalid_argument ] || fail "runtime invalid_argument: $OUT"
# ... and a server that cannot start (the project path is checked when it starts).
expect_status 1 "$PYRO" mcp serve --project-path "$TEST_TMP/missing" </dev/null
grep -q "is not a directory" <<<"$ERR" || fail "mcp serve --project-path: $ERR"
ok "runtime failures exit 1; --json errors are one object on stdout"
