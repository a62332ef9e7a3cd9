#include <string.h>

#include "base/cleanup.h"
#include "lib/vm/instance_call.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "lib/vm/vm.h"

/* Extra time the host waits beyond the command's own timeout: the agent
 * kills the command at its deadline and must still report. */
#define VM_EXEC_SLACK_MS 15000

int instance_exec(struct instance *inst, const char *command, const char *cwd, int timeout_seconds, json_t *out,
                  pyro_error *err)
{
    json_auto_t *args = json_pack("{s:s, s:s, s:I, s:i, s:i}", "command", command, "cwd", cwd, "timeout_ms",
                                  (json_int_t)timeout_seconds * 1000, "stdout_max", VM_EXEC_CAPTURE_MAX,
                                  "stderr_max", VM_EXEC_CAPTURE_MAX);
    json_t *res = NULL;
    int r = instance_call(inst, "exec", args, timeout_seconds * 1000 + VM_EXEC_SLACK_MS, &res, err);
    if (r < 0) {
        /* Say why the sandbox went away when its monitor knows. */
        instance_reload_monitor(inst);
        const char *state = instance_state(inst);
        if (!strcmp(state, "expired"))
            return err_set(err, -PYRO_E_TIMEOUT,
                                "%s expired (ttl_seconds=%lld) while the command ran; the sandbox was stopped",
                                inst->id, json_get_int(inst->rec, "ttl_seconds", 0));
        if (strcmp(state, "running") != 0)
            return err_prefix(err, "%s is %s", inst->id, state);
        return r;
    }
    const char *keys[] = {"exit_code", "stdout", "stderr", "stdout_truncated", "stderr_truncated",
                          "stdout_dropped_bytes", "stderr_dropped_bytes", "stdout_replaced", "stderr_replaced",
                          "timed_out", "signal", "duration_ms"};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        json_t *v = json_object_get(res, keys[i]);
        if (v)
            json_set(out, keys[i], json_incref(v));
    }
    json_decref(res);
    return 0;
}

int vm_exec_command(struct pyro_ctx *ctx, struct instance *inst, const char *command, int timeout_seconds,
                    json_t **result, pyro_error *err)
{
    char started[PYRO_TIME_ISO_LEN];
    time_iso(started, time_wall_ms());
    json_t *out = json_object();
    json_set(out, "vm_id", json_string(inst->id));
    json_set(out, "environment", json_string(json_get_str(inst->rec, "environment", "")));
    json_set(out, "command", json_string(command));
    int r = instance_exec(inst, command, "/", timeout_seconds, out, err);
    if (r < 0) {
        json_decref(out);
        return r;
    }
    json_set(out, "started_at", json_string(started));
    json_set(out, "execution_mode", json_string(json_get_str(inst->mon, "execution_mode", "sandbox")));
    *result = out;
    return 0;
}
