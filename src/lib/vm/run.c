/* vm_run / `pyro run`: create, start, exec, and always clean up. */
#include <string.h>

#include "base/json.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"
#include "lib/contract/params.h"
#include "lib/vm/instance.h"
#include "lib/vm/vm.h"

static int vm_run_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    const char *env = json_get_str(args, "environment", "");
    char msg[128];
    snprintf(msg, sizeof(msg), "environment=%s", env);
    ctx_progress(ctx, "run", "create", -1, -1, msg);
    json_auto_t *a = json_deep_copy(args);
    json_set(a, "ephemeral", json_true());
    int r = vm_record_new(ctx, a, &inst, err);
    if (r < 0)
        return r;
    snprintf(msg, sizeof(msg), "vm_id=%s", inst.id);
    ctx_progress(ctx, "run", "start", -1, -1, msg);
    r = instance_start(ctx, &inst, err);
    if (r == 0) {
        ctx_progress(ctx, "run", "exec", -1, -1, msg);
        r = vm_exec_command(ctx, &inst, json_get_str(args, "command", ""),
                            (int)json_get_int(args, "timeout_seconds", PYRO_DEFAULT_TIMEOUT_SECONDS), result, err);
    }
    ctx_progress(ctx, "run", "cleanup", -1, -1, msg);
    vm_delete_after(&inst, r == 0 ? *result : NULL);
    return r;
}

static const struct contract_param vm_run_params[] = {
    PARAM_ENVIRONMENT,     PARAM_VCPU_COUNT,     PARAM_MEM_MIB, PARAM_DISK_MIB,
    PARAM_TIMEOUT_SECONDS, PARAM_VM_TTL_SECONDS, PARAM_NETWORK, PARAM_ALLOW_HOST_COMPAT,
    PARAM_BACKEND,         PARAM_COMMAND,        PARAM_END,
};

const struct contract_op op_vm_run = {
    .name = "vm_run",
    .cli = "run",
    .title = "Run one command in a fresh VM",
    .summary = "Run one command inside an ephemeral VM.",
    .description = "Create, start, execute, and clean up an ephemeral VM: the command runs with /bin/sh -c as "
                   "root in the environment, and its exit code, stdout and stderr come back. The VM is always "
                   "deleted afterwards.",
    .params = vm_run_params,
    .output_schema = VM_EXEC_SCHEMA,
    .annotations = PA_DESTRUCTIVE,
    .exposure = EXPOSE(SURFACE_VM_RUN) | EXPOSE(SURFACE_WORKSPACE_FULL),
    .handler = vm_run_run,
};
