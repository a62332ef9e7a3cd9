/* `pyro mcp serve`: the MCP server (docs/mcp.md). It is the server itself,
 * not an operation of the contract table, so it parses its own options;
 * everything it serves comes from the table. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "cli/cli.h"
#include "lib/contract/ctx.h"

static void mcp_help(FILE *out)
{
    fprintf(out, "usage: pyro mcp serve [--profile PROFILE | --mode MODE] [--transport stdio|http]\n"
                 "                      [--listen ADDR:PORT] [--auth-token-file FILE]\n"
                 "                      [--project-path PATH | --repo-url URL [--repo-ref REF]]\n"
                 "                      [--allow-host-path DIR]... [--backend auto|sandbox|vm]\n\n"
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
                 "  --allow-host-path DIR   let tool calls read and write host paths beneath DIR\n"
                 "                          (repeatable). Host paths they name (seed_path, source_path,\n"
                 "                          output_path) must lie, symlinks resolved, beneath one of\n"
                 "                          these, the project source (read only), the server's export\n"
                 "                          directory (<state>/mcp/exports/...) or the client's MCP roots.\n"
                 "  --backend B             the default backend of vm_run, vm_create and\n"
                 "                          workspace_create when a call names none: auto, sandbox or\n"
                 "                          vm (default: $PYRO_BACKEND, else auto; docs/vm.md).\n"
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

__attribute__((format(printf, 1, 2))) static int usage(const char *fmt, ...)
{
    char m[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof(m), fmt, ap);
    va_end(ap);
    fprintf(stderr, "pyro: error: %s (see 'pyro mcp serve --help')\n", m);
    return 2;
}

/* What a parser can check (values from a fixed set, options that exclude or
 * need each other) is a usage error, exit 2. What the server finds when it
 * starts (an address it cannot bind, a token file, a project path, a clone)
 * is a failure, exit 1. */
static int check_usage(const struct pyro_mcp_options *o)
{
    if (o->mode && o->profile)
        return usage("give --mode or --profile, not both: a mode is its own narrowed tool set");
    const char *name = o->mode ? o->mode : o->profile;
    if (name && contract_surface_find(name, o->mode != NULL) < 0) {
        char known[256] = "";
        for (int i = 0; i < SURFACE_COUNT; i++) {
            size_t l = strlen(known);
            if (contract_surfaces[i].is_mode == (o->mode != NULL))
                snprintf(known + l, sizeof(known) - l, "%s%s", l ? ", " : "", contract_surfaces[i].name);
        }
        return usage("unknown %s '%s' (expected one of: %s)", o->mode ? "mode" : "profile", name, known);
    }
    bool http = o->transport && !strcmp(o->transport, "http");
    if (o->transport && !http && strcmp(o->transport, "stdio"))
        return usage("unknown transport '%s' (expected stdio or http)", o->transport);
    if (!http && (o->listen || o->auth_token_file))
        return usage("--listen and --auth-token-file need --transport http");
    if (o->project_path && o->repo_url)
        return usage("give --project-path or --repo-url, not both");
    if (o->repo_ref && !o->repo_url)
        return usage("--repo-ref needs --repo-url");
    return 0;
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
    const char *backend = NULL;
    struct {
        const char *flag;
        const char **dst;
    } flags[] = {
        {"--profile", &o.profile},
        {"--mode", &o.mode},
        {"--transport", &o.transport},
        {"--listen", &o.listen},
        {"--auth-token-file", &o.auth_token_file},
        {"--project-path", &o.project_path},
        {"--repo-url", &o.repo_url},
        {"--repo-ref", &o.repo_ref},
        {"--backend", &backend},
    };
    _cleanup_free_ const char **allow = xcalloc((size_t)argc, sizeof(*allow));
    size_t nallow = 0;
    o.allow_host_paths = allow;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            mcp_help(stdout);
            return 0;
        }
        /* Repeatable: --allow-host-path DIR or --allow-host-path=DIR. */
        if (!strncmp(a, "--allow-host-path", 17) && (a[17] == '\0' || a[17] == '=')) {
            const char *v = a[17] == '=' ? a + 18 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || !*v) {
                fprintf(stderr, "pyro: error: --allow-host-path needs a directory (see 'pyro mcp serve --help')\n");
                return 2;
            }
            allow[nallow++] = v;
            continue;
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
    if (check_usage(&o))
        return 2;
    if (backend) {
        if (strcmp(backend, "auto") && strcmp(backend, "sandbox") && strcmp(backend, "vm"))
            return usage("--backend must be auto, sandbox or vm, got '%.32s'", backend);
        /* The default every instance create of this server falls back to. */
        setenv("PYRO_BACKEND", backend, 1);
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
        return 1;
    }
    return 0;
}
