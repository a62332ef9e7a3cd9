/* pyro: the command-line front end. Every command is an operation of the
 * contract table; this file finds it, parses its arguments from the table,
 * runs it through libpyro and prints the result (JSON with --json, else a
 * human rendering from print.c). Exit status: 0 success, 1 failure, 2 bad
 * usage; commands may map their result to another status (cli_exit_code). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "cli/cli.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"
#include "base/json.h"
#include "base/log.h"

static int usage_error(const char *msg)
{
    fprintf(stderr, "pyro: error: %s\n", msg);
    return 2;
}

static void print_error(const pyro_error *err, bool json)
{
    if (json) {
        json_auto_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", pyro_error_name(err->code), "message",
                                   err->message);
        _cleanup_free_ char *t = json_dump(e, 0);
        printf("%s\n", t);
        fflush(stdout);
    }
    fprintf(stderr, "pyro: error: %s\n", err->message);
}

int main(int argc, char **argv)
{
    int i = 1;
    /* Global options before the command. */
    while (i < argc && argv[i][0] == '-') {
        const char *a = argv[i];
        if (!strcmp(a, "--version")) {
            printf("pyro %s\n", PYRO_VERSION);
            return 0;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cli_help_top(stdout);
            return 0;
        }
        if (!strcmp(a, "--log-level") || !strncmp(a, "--log-level=", 12)) {
            const char *v = a[11] == '=' ? a + 12 : (i + 1 < argc ? argv[++i] : NULL);
            int lvl = v ? log_level_parse(v) : -1;
            if (lvl < 0) {
                char m[160];
                snprintf(m, sizeof(m), "--log-level expects error, warn, info, debug or trace, got '%s'",
                         v ? v : "");
                return usage_error(m);
            }
            log_set_level((enum log_level)lvl);
            i++;
            continue;
        }
        char m[256];
        snprintf(m, sizeof(m), "unknown option '%s' (see 'pyro --help')", a);
        return usage_error(m);
    }
    if (i >= argc) {
        cli_help_top(stderr);
        return 2;
    }

    /* `pyro mcp ...` is the server itself, not an operation of the table. */
    if (!strcmp(argv[i], "mcp"))
        return cli_mcp_main(argc - i, argv + i);

    int consumed = 0;
    const struct contract_group *group = NULL;
    const struct contract_op *op = cli_find(argc - i, argv + i, &consumed, &group);
    if (!op) {
        if (group) {
            bool want_help = i + 1 >= argc || !strcmp(argv[i + 1], "--help") || !strcmp(argv[i + 1], "-h");
            if (want_help) {
                cli_help_group(group, i + 1 >= argc ? stderr : stdout);
                return i + 1 >= argc ? 2 : 0;
            }
            char m[256];
            snprintf(m, sizeof(m), "unknown command 'pyro %s %s' (see 'pyro %s --help')", argv[i], argv[i + 1],
                     argv[i]);
            return usage_error(m);
        }
        char m[256];
        snprintf(m, sizeof(m), "unknown command '%s' (see 'pyro --help')", argv[i]);
        return usage_error(m);
    }

    struct cli_opts opts;
    pyro_error err = {0};
    json_auto_t *args = NULL;
    int r = cli_parse(op, argc - i - consumed, argv + i + consumed, &args, &opts, &err);
    if (opts.help) {
        cli_help_op(op, stdout);
        return 0;
    }
    if (r < 0)
        return usage_error(err.message);

    struct pyro_ctx *ctx = NULL;
    if (pyro_ctx_new(&ctx, &err) < 0) {
        print_error(&err, opts.json);
        return pyro_error_is_usage(err.code) ? 2 : 1;
    }
    struct cli_run run = {.op = op, .opts = &opts, .ctx = ctx, .tty = isatty(STDERR_FILENO)};
    cli_progress_attach(&run);

    json_auto_t *result = NULL;
    r = op->handler(ctx, args, &result, &err);
    cli_progress_detach(&run);
    if (r < 0) {
        print_error(&err, opts.json);
        pyro_ctx_free(ctx);
        return pyro_error_is_usage(err.code) ? 2 : 1;
    }
    int status = cli_print_result(&run, result);
    pyro_ctx_free(ctx);
    return status;
}
