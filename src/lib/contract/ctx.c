#include "lib/contract/ctx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "lib/contract/contract.h"
#include "base/err.h"
#include "base/json.h"
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

int pyro_call(pyro_ctx *ctx, const char *opname, const char *args_json, char **result_json, pyro_error *err)
{
    const struct contract_op *op = contract_op_find(opname);
    if (!op)
        return err_set(err, -PYRO_E_NOT_FOUND, "unknown operation '%s'", opname ? opname : "(null)");
    json_auto_t *args = NULL;
    if (args_json) {
        int r = json_parse(args_json, strlen(args_json), &args, err);
        if (r < 0)
            return err_prefix(err, "%s: arguments", op->name);
    }
    json_auto_t *valid = NULL;
    int r = contract_args_validate(op, args, SURFACE_ALL, &valid, err);
    if (r < 0)
        return r;
    json_auto_t *result = NULL;
    r = op->handler(ctx, valid, &result, err);
    if (r < 0)
        return r;
    *result_json = json_dump(result, 0);
    return 0;
}

static int schema_text(const char *opname, bool input, char **out, pyro_error *err)
{
    const struct contract_op *op = contract_op_find(opname);
    if (!op)
        return err_set(err, -PYRO_E_NOT_FOUND, "unknown operation '%s'", opname ? opname : "(null)");
    json_auto_t *s = input ? contract_input_schema_json(op, SURFACE_ALL) : contract_output_schema_json(op);
    *out = json_dump(s, 0);
    return 0;
}

int pyro_op_input_schema(const char *op, char **schema_json, pyro_error *err)
{
    return schema_text(op, true, schema_json, err);
}

int pyro_op_output_schema(const char *op, char **schema_json, pyro_error *err)
{
    return schema_text(op, false, schema_json, err);
}
