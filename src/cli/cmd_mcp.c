/* `pyro mcp serve`: the MCP server (docs/mcp.md). It is the server itself,
 * not an operation of the contract table, so it parses its own options;
 * everything it serves comes from the table. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/contract/ctx.h"

static void mcp_help(FILE *out)
{
    fprintf(out,
            "usage: pyro mcp serve [--profile PROFILE | --mode MODE] [--transport stdio|http]\n"
            "                      [--listen ADDR:PORT] [--auth-token-file FILE]\n"
            "                      [--project-path PATH | --repo-url URL [--repo-ref REF]]\n\n"
            "Run the MCP server: chat hosts start it and the model calls its tools.\n\n"
            "options:\n"
            "  --profile PROFILE       vm-run, workspace-core (default) or workspace-full.\n"
            "  --mode MODE             repro-fix, inspect, cold-start or review-eval: a narrowed\n"
            "                          tool set with task-specific descriptions (replaces --profile).\n"
            "  --transport T           stdio (default): newline-delimited JSON on stdin/stdout;\n"
            "                          http: Streamable HTTP on http://ADDR:PORT/mcp.\n"
            "  --listen ADDR:PORT      http: address to bind (default 127.0.0.1:8765; port 0 picks\n"
            "                          a free one). The URL is printed on stderr when listening.\n"
            "  --auth-token-file FILE  http: the bearer token every request must carry\n"
            "                          ('Authorization: Bearer <token>'): the first line of FILE,\n"
            "                          16 to 4096 visible ASCII characters; FILE must be closed to\n"
            "                          other users (chmod 600). Without it a random token is written\n"
            "                          to a new 0600 file in the state directory, whose path is\n"
            "                          printed on stderr (removed at exit). Required for a\n"
            "                          non-loopback address.\n"
            "  --project-path PATH     project source: workspace_create seeds from PATH when it is\n"
            "                          given no seed_path (default: the git checkout around the\n"
            "                          working directory, if any).\n"
            "  --repo-url URL          project source: a clean clone of URL (removed at exit).\n"
            "  --repo-ref REF          branch, tag or commit of --repo-url to check out.\n"
            "  -h, --help              Show this help.\n\n"
            "HTTP limits (docs/mcp.md, \"HTTP transport security\"): every request needs the token\n"
            "(else 401), checked before any of its body is read; request headers must arrive within\n"
            "10 s of the connection (or of its previous request) and fit in 32 KiB; a body within\n"
            "30 s, at most 16 MiB (413), 64 MiB for all bodies in flight (503); 30 s without\n"
            "progress closes a connection; at most 1024 connections, 768 per client address, of\n"
            "which 256 (128 per address) may be without a token yet: beyond that the oldest of\n"
            "those (older than 1 s) are closed; at most 64 sessions.\n\n"
            "The server runs until stdin ends (stdio) or SIGTERM/SIGINT. See docs/mcp.md.\n");
}

static void on_listen(void *data, const char *url)
{
    fprintf(stderr, "pyro: mcp: listening on %s\n", url);
    fflush(stderr);
}

static void on_token_file(void *data, const char *path)
{
    fprintf(stderr, "pyro: mcp: bearer token in %s (generated; removed at exit)\n", path);
    fflush(stderr);
}

int cli_mcp_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        mcp_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "serve") != 0) {
        fprintf(stderr, "pyro: error: unknown command 'pyro mcp %s' (see 'pyro mcp --help')\n", argv[1]);
        return 2;
    }
    struct pyro_mcp_options o = {.on_listen = on_listen, .on_auth_token_file = on_token_file};
    struct {
        const char *flag;
        const char **dst;
    } flags[] = {
        {"--profile", &o.profile},         {"--mode", &o.mode},
        {"--transport", &o.transport},     {"--listen", &o.listen},
        {"--auth-token-file", &o.auth_token_file}, {"--project-path", &o.project_path},
        {"--repo-url", &o.repo_url},       {"--repo-ref", &o.repo_ref},
    };
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            mcp_help(stdout);
            return 0;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]) && !known; k++) {
            size_t fl = strlen(flags[k].flag);
            if (strncmp(a, flags[k].flag, fl) != 0 || (a[fl] != '\0' && a[fl] != '='))
                continue;
            known = true;
            const char *v = a[fl] == '=' ? a + fl + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                fprintf(stderr, "pyro: error: %s needs a value (see 'pyro mcp serve --help')\n", flags[k].flag);
                return 2;
            }
            if (*flags[k].dst) {
                fprintf(stderr, "pyro: error: %s given twice\n", flags[k].flag);
                return 2;
            }
            *flags[k].dst = v;
        }
        if (!known) {
            fprintf(stderr, "pyro: error: unknown option '%s' (see 'pyro mcp serve --help')\n", a);
            return 2;
        }
    }
    pyro_error err = {0};
    struct pyro_ctx *ctx = NULL;
    if (pyro_ctx_new(&ctx, &err) < 0) {
        fprintf(stderr, "pyro: error: %s\n", err.message);
        return 1;
    }
    int r = pyro_mcp_serve(ctx, &o, &err);
    pyro_ctx_free(ctx);
    if (r < 0) {
        fprintf(stderr, "pyro: error: %s\n", err.message);
        return pyro_error_is_usage(r) ? 2 : 1;
    }
    return 0;
}
