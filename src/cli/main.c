/* pyro: the command-line front end. Every command is an operation of the
 * contract table; this file finds it, parses its arguments from the table,
 * runs it through libpyro and prints the result (JSON with --json, else a
 * human rendering from print.c).
 *
 * Exit status (docs/contract.md): 0 success; 2 for a usage error, which only
 * parsing the command line finds (unknown command or option, missing or
 * malformed argument, a value outside its declared type, bounds or choices);
 * 1 for every failure the runtime reports, whatever its code (not_found,
 * invalid_argument, limit_exceeded, ...). Commands may map their result to
 * another status (cli_printer.exit_status). An error is one line on stderr;
 * with --json it is also one object {"error": {"code", "message"}} on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "cli/cli.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"

enum { CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2 };

static void print_error(int code, const char *message, bool json)
{
    if (json) {
        json_auto_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", pyro_error_name(code), "message", message);
        _cleanup_free_ char *t = json_dump(e, 0);
        printf("%s\n", t);
        fflush(stdout);
    }
    fprintf(stderr, "pyro: error: %s\n", message);
}

/* Whether --json is among the words before any `--`: for errors found
 * before the command's own parser runs. */
static bool words_want_json(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--json"))
            return true;
    return false;
}

static int usage_error(const char *msg, bool json)
{
    print_error(-PYRO_E_INVALID, msg, json);
    return CLI_EXIT_USAGE;
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
                snprintf(m, sizeof(m), "--log-level expects error, warn, info, debug or trace, got '%s'", v ? v : "");
                return usage_error(m, words_want_json(argc, argv));
            }
            log_set_level((enum log_level)lvl);
            i++;
            continue;
        }
        char m[256];
        snprintf(m, sizeof(m), "unknown option '%s' (see 'pyro --help')", a);
        return usage_error(m, words_want_json(argc, argv));
    }
    if (i >= argc) {
        cli_help_top(stderr);
        return CLI_EXIT_USAGE;
    }

    /* `pyro mcp ...` is the server itself, not an operation of the table. */
    if (!strcmp(argv[i], "mcp"))
        return cli_mcp_main(argc - i, argv + i);
    if (!strcmp(argv[i], "completion"))
        return cli_completion_main(argc - i, argv + i);

    int consumed = 0;
    const struct contract_group *group = NULL;
    const struct contract_op *op = cli_find(argc - i, argv + i, &consumed, &group);
    if (!op) {
        if (group) {
            bool want_help = i + 1 >= argc || !strcmp(argv[i + 1], "--help") || !strcmp(argv[i + 1], "-h");
            if (want_help) {
                cli_help_group(group, i + 1 >= argc ? stderr : stdout);
                return i + 1 >= argc ? CLI_EXIT_USAGE : 0;
            }
            char m[256];
            snprintf(m, sizeof(m), "unknown command 'pyro %s %s' (see 'pyro %s --help')", argv[i], argv[i + 1],
                     argv[i]);
            return usage_error(m, words_want_json(argc - i, argv + i));
        }
        char m[256];
        snprintf(m, sizeof(m), "unknown command '%s' (see 'pyro --help')", argv[i]);
        return usage_error(m, words_want_json(argc - i, argv + i));
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
        return usage_error(err.message, opts.json);

    /* From here on, every error is the runtime's: exit 1, whatever its code. */
    struct pyro_ctx *ctx = NULL;
    if (pyro_ctx_new(&ctx, &err) < 0) {
        print_error(err.code, err.message, opts.json);
        return CLI_EXIT_FAILURE;
    }
    struct cli_run run = {.op = op, .opts = &opts, .ctx = ctx, .tty = isatty(STDERR_FILENO)};
    cli_progress_attach(&run);

    json_auto_t *result = NULL;
    r = op->handler(ctx, args, &result, &err);
    ctx_redact_outcome(ctx, &result, &err);
    cli_progress_detach(&run);
    if (r < 0) {
        print_error(err.code, err.message, opts.json);
        pyro_ctx_free(ctx);
        return CLI_EXIT_FAILURE;
    }
    int status = cli_print_result(&run, result);
    pyro_ctx_free(ctx);
    return status;
}
