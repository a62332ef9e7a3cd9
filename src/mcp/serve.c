/* pyro_mcp_serve(): the server object behind `pyro mcp serve` and the C
 * API (the seed's create_server). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "mcp/mcp.h"

static int surface_pick(const struct pyro_mcp_options *o, enum contract_surface *out, pyro_error *err)
{
    if (o->mode && o->profile)
        return err_set(err, -PYRO_E_INVALID, "give --mode or --profile, not both: a mode is its own narrowed tool set");
    const char *name = o->mode ? o->mode : o->profile ? o->profile : "workspace-core";
    int s = contract_surface_find(name, o->mode != NULL);
    if (s < 0) {
        char known[256] = "";
        for (int i = 0; i < SURFACE_COUNT; i++) {
            if (contract_surfaces[i].is_mode != (o->mode != NULL))
                continue;
            size_t l = strlen(known);
            snprintf(known + l, sizeof(known) - l, "%s%s", l ? ", " : "", contract_surfaces[i].name);
        }
        return err_set(err, -PYRO_E_INVALID, "unknown %s '%s' (expected one of: %s)", o->mode ? "mode" : "profile",
                       name, known);
    }
    *out = (enum contract_surface)s;
    return 0;
}

static char *build_instructions(const struct mcp_server *srv)
{
    const char *base =
        srv->surface == SURFACE_VM_RUN
            ? "pyro runs commands in disposable, isolated Linux sandboxes. vm_run creates one, runs the command "
              "as root with /bin/sh -c, returns exit_code, stdout and stderr, and deletes it."
            : "pyro gives you disposable, isolated Linux sandboxes. Results are JSON objects; a command's "
              "non-zero exit_code is a normal result, not an error.";
    const char *mode = mcp_mode_instructions(srv->surface);
    _cleanup_free_ char *proj =
        srv->project_source ? xasprintf(" Project source (%s): %s; workspace_create seeds from it when seed_path "
                                        "is omitted.",
                                        srv->project_origin, srv->project_source)
                            : xstrdup("");
    _cleanup_free_ char *roots = srv->surface == SURFACE_VM_RUN ? xstrdup("") : mcp_roots_instructions(srv);
    return xasprintf("%s%s%s%s%s", base, mode ? " " : "", mode ? mode : "", proj, roots);
}

static void on_signal(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct mcp_server *srv = data;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
            mcp_server_reap(srv, false);
        else
            ae_stop(loop);
    }
}

int pyro_mcp_serve(pyro_ctx *ctx, const struct pyro_mcp_options *o, pyro_error *err)
{
    struct pyro_mcp_options none = {0};
    if (!o)
        o = &none;
    enum contract_surface surface = SURFACE_WORKSPACE_CORE;
    int r = surface_pick(o, &surface, err);
    if (r < 0)
        return r;
    const char *transport = o->transport ? o->transport : "stdio";
    bool http = !strcmp(transport, "http");
    if (!http && strcmp(transport, "stdio"))
        return err_set(err, -PYRO_E_INVALID, "unknown transport '%s' (expected stdio or http)", transport);
    if (!http && (o->listen || o->auth_token_file))
        return err_set(err, -PYRO_E_INVALID, "--listen and --auth-token-file need --transport http");

    struct mcp_server srv;
    mcp_server_init(&srv, ctx, surface);
    struct mcp_project_opts po = {.project_path = o->project_path, .repo_url = o->repo_url, .repo_ref = o->repo_ref};
    r = mcp_project_resolve(&srv, &po, err);
    if (r < 0) {
        mcp_server_fini(&srv);
        return r;
    }
    free(ctx->default_seed_path);
    ctx->default_seed_path = srv.project_source ? xstrdup(srv.project_source) : NULL;
    r = mcp_roots_setup(&srv, o->allow_host_paths, err);
    if (r < 0) {
        mcp_roots_teardown(&srv);
        mcp_project_release(&srv);
        mcp_server_fini(&srv);
        return r;
    }
    srv.instructions = build_instructions(&srv);

    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &old);
    struct sigaction ign = {.sa_handler = SIG_IGN}, oldpipe;
    sigaction(SIGPIPE, &ign, &oldpipe);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    srv.loop = ae_new(err);
    if (sfd < 0)
        r = err_errno(err, errno, "signalfd");
    else if (!srv.loop)
        r = err->code;
    else
        r = ae_file_add(srv.loop, sfd, AE_READABLE, on_signal, &srv, err);

    if (r == 0 && http) {
        struct mcp_http_config hc = {.listen = o->listen ? o->listen : "127.0.0.1:8765",
                                     .token_file = o->auth_token_file,
                                     .state_dir = pyro_ctx_state_dir(ctx),
                                     .on_listen = o->on_listen,
                                     .on_token_file = o->on_auth_token_file,
                                     .on_listen_data = o->userdata};
        r = mcp_http_serve(&srv, &hc, err);
    } else if (r == 0) {
        int in = o->stdin_fd, out = o->stdout_fd;
        if (in == 0 && out == 0)
            out = 1;
        r = mcp_stdio_serve(&srv, in, out, err);
    }

    mcp_project_release(&srv);
    mcp_server_fini(&srv); /* cancels what is still in flight */
    mcp_server_reap(&srv, true);
    mcp_roots_teardown(&srv);
    if (srv.loop) {
        if (sfd >= 0)
            ae_file_del(srv.loop, sfd, AE_READABLE);
        ae_free(srv.loop);
    }
    if (sfd >= 0)
        close(sfd);
    sigaction(SIGPIPE, &oldpipe, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return r;
}
