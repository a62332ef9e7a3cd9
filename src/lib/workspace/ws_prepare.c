/* `pyro prepare [ENV]` and `pyro demo` (docs/prepare.md): the first-run
 * path, built from the table's own operations. prepare pulls or builds the
 * environment, proves the daily loop with one throwaway workspace (create
 * on the default backend, which builds what that backend needs, such as the
 * VM's disk image and template; exec; reset; delete) and records the
 * daily-loop manifest that `pyro doctor --environment` reports. demo runs a
 * one-shot command and a workspace round trip, reporting each step. */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"
#include "lib/contract/params.h"
#include "lib/host/daily_loop.h"

/* Runs the table's operation name with args (validated, defaults filled). */
static int call_op(struct pyro_ctx *ctx, const char *name, json_t *args, json_t **result, pyro_error *err)
{
    json_auto_t *owned = args;
    const struct contract_op *op = contract_op_find(name);
    if (!op)
        return err_set(err, -PYRO_E_NOT_FOUND, "no operation %s", name);
    json_auto_t *valid = NULL;
    int r = contract_args_validate(op, owned, SURFACE_ALL, &valid, err);
    if (r < 0)
        return r;
    return op->handler(ctx, valid, result, err);
}

/* A step: reports it, times it, appends {step, ms, detail} to steps. */
struct step {
    struct pyro_ctx *ctx;
    const char *operation;
    json_t *steps;
    int64_t t0;
};

static void step_begin(struct step *s, const char *name, const char *what)
{
    ctx_progress(s->ctx, s->operation, name, -1, -1, what);
    s->t0 = time_mono_ms();
    json_array_append_new(s->steps, json_pack("{s:s, s:s}", "step", name, "detail", what));
}

static void step_end(struct step *s, const char *detail)
{
    json_t *last = json_array_get(s->steps, json_array_size(s->steps) - 1);
    json_object_set_new(last, "ms", json_integer(time_mono_ms() - s->t0));
    if (detail)
        json_object_set_new(last, "result", json_string(detail));
}

/* Deletes the throwaway workspace on every path out. */
static void ws_drop(struct pyro_ctx *ctx, const char *id)
{
    json_auto_t *res = NULL;
    pyro_error ignore = {0};
    call_op(ctx, "workspace_delete", json_pack("{s:s}", "workspace_id", id), &res, &ignore);
}

static int prepare_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    const char *env = json_get_str(args, "environment", "debian:12");
    json_auto_t *before = daily_loop_verdict(ctx->cache_dir, env);
    const char *was = json_get_str(before, "status", "cold");
    if (!strcmp(was, "warm") && !json_get_bool(args, "force", false)) {
        json_t *res = json_pack("{s:s, s:s, s:s, s:b, s:[]}", "environment", env, "status", "warm", "previous_status",
                                was, "skipped", 1, "steps");
        json_object_set(res, "manifest_path", json_object_get(before, "manifest_path"));
        *result = res;
        return 0;
    }
    json_auto_t *steps = json_array();
    struct step s = {.ctx = ctx, .operation = "prepare", .steps = steps};
    json_auto_t *pulled = NULL;
    step_begin(&s, "pull", "pull or build the environment");
    int r = call_op(ctx, "env_pull", json_pack("{s:s}", "environment", env), &pulled, err);
    if (r < 0)
        return err_prefix(err, "prepare %s: pull", env);
    step_end(&s, json_get_str(pulled, "cache_path", ""));

    json_auto_t *created = NULL;
    step_begin(&s, "create", "a throwaway workspace on the default backend (builds what it needs)");
    json_t *cargs = json_pack("{s:s, s:s}", "environment", env, "name", "pyro-prepare");
    if (json_object_get(args, "backend"))
        json_object_set(cargs, "backend", json_object_get(args, "backend"));
    if (json_get_bool(args, "network", false))
        json_object_set_new(cargs, "network_policy", json_string("egress"));
    r = call_op(ctx, "workspace_create", cargs, &created, err);
    if (r < 0)
        return err_prefix(err, "prepare %s: workspace create", env);
    _cleanup_free_ char *id = xstrdup(json_get_str(created, "workspace_id", ""));
    const char *mode = json_get_str(created, "execution_mode", "");
    step_end(&s, mode);

    const char *const cmds[] = {"echo pyro-prepare-ok", "getent hosts deb.debian.org >/dev/null && echo network-ok"};
    for (int k = 0; k < (json_get_bool(args, "network", false) ? 2 : 1); k++) {
        json_auto_t *ran = NULL;
        step_begin(&s, "exec", cmds[k]);
        r = call_op(ctx, "workspace_exec", json_pack("{s:s, s:s}", "workspace_id", id, "command", cmds[k]), &ran, err);
        if (r == 0 && json_get_int(ran, "exit_code", -1) != 0)
            r = err_set(err, -PYRO_E_STATE, "the smoke command '%s' exited %lld: %s", cmds[k],
                        json_get_int(ran, "exit_code", -1), json_get_str(ran, "stderr", ""));
        if (r < 0) {
            ws_drop(ctx, id);
            return err_prefix(err, "prepare %s", env);
        }
        step_end(&s, "exit 0");
    }
    json_auto_t *reset = NULL;
    step_begin(&s, "reset", "reset the workspace to its baseline");
    r = call_op(ctx, "workspace_reset", json_pack("{s:s}", "workspace_id", id), &reset, err);
    if (r < 0) {
        ws_drop(ctx, id);
        return err_prefix(err, "prepare %s: reset", env);
    }
    step_end(&s, NULL);
    json_auto_t *deleted = NULL;
    step_begin(&s, "delete", "delete the workspace");
    r = call_op(ctx, "workspace_delete", json_pack("{s:s}", "workspace_id", id), &deleted, err);
    if (r < 0)
        return err_prefix(err, "prepare %s: delete", env);
    step_end(&s, NULL);

    json_auto_t *rec = json_pack("{s:s, s:s, s:O}", "install_path", json_get_str(pulled, "cache_path", ""),
                                 "execution_mode", mode, "steps", steps);
    r = daily_loop_record(ctx->cache_dir, env, rec, err);
    if (r < 0)
        return err_prefix(err, "prepare %s: manifest", env);
    json_auto_t *after = daily_loop_verdict(ctx->cache_dir, env);
    *result = json_pack("{s:s, s:O, s:s, s:b, s:s, s:O, s:O}", "environment", env, "status",
                        json_object_get(after, "status"), "previous_status", was, "skipped", 0, "execution_mode", mode,
                        "manifest_path", json_object_get(after, "manifest_path"), "steps", steps);
    return 0;
}

static int demo_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    const char *env = json_get_str(args, "environment", "debian:12");
    json_auto_t *steps = json_array();
    struct step s = {.ctx = ctx, .operation = "demo", .steps = steps};
    json_auto_t *ran = NULL;
    step_begin(&s, "run", "pyro run ENV -- uname -sr: a one-shot sandbox, deleted after");
    int r = call_op(ctx, "vm_run", json_pack("{s:s, s:s}", "environment", env, "command", "uname -sr"), &ran, err);
    if (r < 0)
        return err_prefix(err, "demo: run");
    step_end(&s, json_get_str(ran, "stdout", ""));

    json_auto_t *created = NULL;
    step_begin(&s, "create", "pyro workspace create ENV");
    r = call_op(ctx, "workspace_create", json_pack("{s:s, s:s}", "environment", env, "name", "pyro-demo"), &created,
                err);
    if (r < 0)
        return err_prefix(err, "demo: workspace create");
    _cleanup_free_ char *id = xstrdup(json_get_str(created, "workspace_id", ""));
    step_end(&s, id);

    static const struct {
        const char *op, *what, *k1, *v1, *k2, *v2;
    } flow[] = {
        {"workspace_file_write", "pyro workspace file write ID hello.txt --text 'hello from pyro'", "path", "hello.txt",
         "text", "hello from pyro\n"},
        {"workspace_exec", "pyro workspace exec ID -- 'cat hello.txt && wc -c hello.txt'", "command",
         "cat hello.txt && wc -c hello.txt", NULL, NULL},
        {"workspace_diff", "pyro workspace diff ID", NULL, NULL, NULL, NULL},
    };
    for (size_t k = 0; k < sizeof(flow) / sizeof(flow[0]); k++) {
        json_auto_t *res = NULL;
        step_begin(&s, flow[k].op + strlen("workspace_"), flow[k].what);
        json_t *a = json_pack("{s:s}", "workspace_id", id);
        if (flow[k].k1)
            json_object_set_new(a, flow[k].k1, json_string(flow[k].v1));
        if (flow[k].k2)
            json_object_set_new(a, flow[k].k2, json_string(flow[k].v2));
        r = call_op(ctx, flow[k].op, a, &res, err);
        if (r < 0) {
            ws_drop(ctx, id);
            return err_prefix(err, "demo: %s", flow[k].op);
        }
        const char *detail = json_get_str(res, "stdout", NULL);
        if (!detail && json_object_get(res, "summary"))
            detail = json_get_str(res, "patch", "");
        step_end(&s, detail);
    }
    json_auto_t *deleted = NULL;
    step_begin(&s, "delete", "pyro workspace delete ID");
    r = call_op(ctx, "workspace_delete", json_pack("{s:s}", "workspace_id", id), &deleted, err);
    if (r < 0)
        return err_prefix(err, "demo: workspace delete");
    step_end(&s, NULL);
    *result = json_pack("{s:s, s:s, s:s, s:O, s:b}", "environment", env, "execution_mode",
                        json_get_str(created, "execution_mode", ""), "workspace_id", id, "steps", steps, "ok", 1);
    return 0;
}

#define STEPS_SCHEMA                                                                                    \
    "\"steps\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"step\",\"detail\"],"  \
    "\"properties\":{\"step\":{\"type\":\"string\"},\"detail\":{\"type\":\"string\"},\"ms\":{\"type\":" \
    "\"integer\"},\"result\":{\"type\":\"string\"}}}}"

static const struct contract_param prepare_params[] = {
    PARAM_STR("environment", "Environment to prepare (see 'pyro env list').", .flags = PF_POSITIONAL,
              .has_default = true, .def_str = "debian:12", .max = 128),
    PARAM_BOOL("network", "Also prove guest networking (egress) with a DNS lookup.", .def_bool = false),
    PARAM_BOOL("force", "Redo the work even when the environment is already warm.", .def_bool = false),
    PARAM_STR("backend", "Backend to prove: auto, sandbox or vm (default: $PYRO_BACKEND, else auto).",
              .choices = contract_backend_choices, .max = 16),
    PARAM_END,
};

static const struct contract_param demo_params[] = {
    PARAM_STR("environment", "Environment of the demo.", .flags = PF_POSITIONAL, .has_default = true,
              .def_str = "debian:12", .max = 128),
    PARAM_END,
};

const struct contract_op op_prepare = {
    .name = "prepare",
    .cli = "prepare",
    .title = "Prepare an environment for the daily loop",
    .summary = "Warm an environment: pull or build it, build what the backend needs, prove it once.",
    .description = "Pull or build the environment, then prove the daily loop with one throwaway workspace on the "
                   "default backend (its creation builds what that backend needs: for the vm backend the disk "
                   "image, kernel artifacts and template), a smoke exec, a reset and a delete; record the "
                   "daily-loop manifest that 'pyro doctor --environment ENV' reports as warm, cold or stale. "
                   "Already warm: nothing is done unless --force.",
    .params = prepare_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"environment\",\"status\",\"previous_status\",\"skipped\","
                     "\"steps\",\"manifest_path\"],\"properties\":{\"environment\":{\"type\":\"string\"},\"status\":{"
                     "\"type\":\"string\",\"enum\":[\"warm\",\"cold\",\"stale\"]},\"previous_status\":{\"type\":"
                     "\"string\"},\"skipped\":{\"type\":\"boolean\"},\"execution_mode\":{\"type\":\"string\"},"
                     "\"manifest_path\":{\"type\":\"string\"}," STEPS_SCHEMA "}}",
    .handler = prepare_run,
};

const struct contract_op op_demo = {
    .name = "demo",
    .cli = "demo",
    .title = "Run the built-in demo",
    .summary = "Run a one-shot command and a workspace round trip, showing each step.",
    .description = "The shortest path from nothing to a real run: a one-shot 'pyro run' (pulling or building the "
                   "environment first if needed), then a workspace round trip: create, write a file, exec, diff, "
                   "delete. Each step is printed as it happens (stderr) and listed in the result.",
    .params = demo_params,
    .output_schema =
        "{\"type\":\"object\",\"required\":[\"environment\",\"execution_mode\",\"workspace_id\","
        "\"steps\",\"ok\"],\"properties\":{\"environment\":{\"type\":\"string\"},\"execution_mode\":{"
        "\"type\":\"string\"},\"workspace_id\":{\"type\":\"string\"},\"ok\":{\"type\":\"boolean\"}," STEPS_SCHEMA "}}",
    .handler = demo_run,
};
