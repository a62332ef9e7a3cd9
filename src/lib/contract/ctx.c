/* The library context (pyro_ctx_*) and progress reports. Dispatch of
 * operations by name is in call.c. */
#include "lib/contract/ctx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/paths.h"

int pyro_ctx_new(pyro_ctx **out, pyro_error *err)
{
    struct pyro_ctx *ctx = xcalloc(1, sizeof(*ctx));
    int r = paths_state_dir_resolve(&ctx->state_dir, err);
    if (r == 0)
        r = paths_cache_dir_resolve(&ctx->cache_dir, err);
    ctx->max_active_vms = PYRO_DEFAULT_MAX_ACTIVE_VMS;
    const char *m = getenv("PYRO_MAX_ACTIVE_VMS");
    if (r == 0 && m && m[0]) {
        char *end;
        errno = 0;
        long v = strtol(m, &end, 10);
        if (*end || errno || v < 1 || v > 1024)
            r = err_set(err, -PYRO_E_INVALID, "PYRO_MAX_ACTIVE_VMS must be an integer from 1 to 1024, got '%s'",
                             m);
        else
            ctx->max_active_vms = (int)v;
    }
    if (r < 0) {
        pyro_ctx_free(ctx);
        return r;
    }
    *out = ctx;
    return 0;
}

void pyro_ctx_free(pyro_ctx *ctx)
{
    if (!ctx)
        return;
    free(ctx->state_dir);
    free(ctx->cache_dir);
    free(ctx->default_seed_path);
    free(ctx);
}

void pyro_ctx_set_progress(pyro_ctx *ctx, pyro_progress_fn fn, void *userdata)
{
    ctx->progress = fn;
    ctx->progress_data = userdata;
}

const char *pyro_ctx_state_dir(const pyro_ctx *ctx)
{
    return ctx->state_dir;
}

const char *pyro_ctx_cache_dir(const pyro_ctx *ctx)
{
    return ctx->cache_dir;
}

void ctx_progress(struct pyro_ctx *ctx, const char *operation, const char *phase, int64_t current,
                   int64_t total, const char *message)
{
    if (ctx && ctx->progress)
        ctx->progress(ctx->progress_data, operation, phase, current, total, message);
}

const char *pyro_version(void)
{
    return PYRO_VERSION;
}
