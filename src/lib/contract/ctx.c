/* The library context (pyro_ctx_*) and progress reports. Dispatch of
 * operations by name is in call.c. */
#include "lib/contract/ctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/redact.h"
#include "lib/contract/params.h"

/* An integer setting from the environment: unset or empty leaves *out. */
static int env_setting(const char *name, int64_t min, int64_t max, int64_t *out, bool *set, pyro_error *err)
{
    const char *m = getenv(name);
    if (!m || !m[0])
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(m, &end, 10);
    if (*end || errno || v < min || v > max)
        return err_set(err, -PYRO_E_INVALID, "%s must be an integer from %lld to %lld, got '%s'", name, (long long)min,
                       (long long)max, m);
    *out = v;
    if (set)
        *set = true;
    return 0;
}

/* MemTotal in MiB, or 0 when /proc/meminfo cannot be read. */
static int64_t host_mem_total_mib(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long long kib;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %lld kB", &kib) == 1 && kib > 0)
            return kib / 1024;
    return 0;
}

/* The host-wide caps: defaults derived from the host, then the overrides. */
static int ctx_caps(struct pyro_ctx *ctx, pyro_error *err)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    ctx->host_cpus = cpus > 0 ? (int)cpus : 1;
    ctx->host_mem_mib = host_mem_total_mib();
    /* Without MemTotal (no /proc), the cap is the largest single request. */
    int64_t mem = ctx->host_mem_mib ? ctx->host_mem_mib * PYRO_DEFAULT_TOTAL_MEM_PERCENT / 100 : PYRO_MAX_MEM_MIB;
    if (mem < PYRO_MAX_TOTAL_MEM_MIB_MIN)
        mem = PYRO_MAX_TOTAL_MEM_MIB_MIN;
    int64_t vcpus = (int64_t)ctx->host_cpus * PYRO_DEFAULT_VCPUS_PER_CPU;
    int64_t active = PYRO_DEFAULT_MAX_ACTIVE_VMS;
    int r = env_setting("PYRO_MAX_ACTIVE_VMS", 1, 1024, &active, NULL, err);
    if (r == 0)
        r = env_setting("PYRO_MAX_TOTAL_MEM_MIB", PYRO_MAX_TOTAL_MEM_MIB_MIN, PYRO_MAX_TOTAL_MEM_MIB_MAX, &mem,
                        &ctx->max_total_mem_from_env, err);
    if (r == 0)
        r = env_setting("PYRO_MAX_TOTAL_VCPUS", 1, PYRO_MAX_TOTAL_VCPUS_MAX, &vcpus, &ctx->max_total_vcpus_from_env,
                        err);
    int64_t allow_host = 0;
    if (r == 0)
        r = env_setting("PYRO_EGRESS_ALLOW_HOST", 0, 1, &allow_host, NULL, err);
    ctx->egress_allow_host = allow_host == 1;
    int64_t templates = 1;
    if (r == 0)
        r = env_setting("PYRO_VM_TEMPLATES", 0, 1, &templates, NULL, err);
    ctx->vm_templates = templates == 1;
    ctx->max_active_vms = (int)active;
    ctx->max_total_mem_mib = mem;
    ctx->max_total_vcpus = (int)vcpus;
    return r;
}

int pyro_ctx_new(pyro_ctx **out, pyro_error *err)
{
    struct pyro_ctx *ctx = xcalloc(1, sizeof(*ctx));
    int r = paths_state_dir_resolve(&ctx->state_dir, err);
    if (r == 0)
        r = paths_cache_dir_resolve(&ctx->cache_dir, err);
    if (r == 0)
        r = ctx_caps(ctx, err);
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
    ctx_redact_set(ctx, NULL);
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

void ctx_progress(struct pyro_ctx *ctx, const char *operation, const char *phase, int64_t current, int64_t total,
                  const char *message)
{
    if (!ctx || !ctx->progress)
        return;
    if (ctx->redact && message) {
        size_t n;
        _cleanup_free_ char *m = redact_text(ctx->redact, message, strlen(message), 0, &n);
        ctx->progress(ctx->progress_data, operation, phase, current, total, m);
        return;
    }
    ctx->progress(ctx->progress_data, operation, phase, current, total, message);
}

void ctx_redact_set(struct pyro_ctx *ctx, struct redact *r)
{
    log_set_redact(r);
    redact_free(ctx->redact);
    ctx->redact = r;
}

void ctx_redact_outcome(struct pyro_ctx *ctx, json_t **result, pyro_error *err)
{
    if (!ctx || !ctx->redact)
        return;
    if (result && *result) {
        json_t *safe = redact_json(ctx->redact, *result);
        json_decref(*result);
        *result = safe;
    }
    if (err)
        redact_message(ctx->redact, err->message, sizeof(err->message));
    ctx_redact_set(ctx, NULL);
}

const char *pyro_version(void)
{
    return PYRO_VERSION;
}
