/* Opening a workspace: the lock, the refusal of an unfinished create or
 * delete, the completion of an interrupted reset (ws_reset.c), and the
 * preamble every workspace operation shares. */
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_secrets.h"

int ws_open(struct pyro_ctx *ctx, const char *id, struct instance *out, pyro_error *err)
{
    int r = instance_open(ctx, WS_KIND, id, out, err);
    if (r < 0)
        return r;
    json_t *pending = json_object_get(out->rec, "pending");
    const char *op = json_get_str(pending, "op", "");
    const char *state = json_get_str(out->rec, "state", "");
    if (!strcmp(state, "creating") || !strcmp(state, "deleting")) {
        r = err_set(err, -PYRO_E_STATE,
                    !strcmp(state, "creating")
                        ? "workspace %s was not fully created (its creator stopped midway): delete it"
                        : "workspace %s was not fully deleted (its delete stopped midway): delete it again",
                    id);
        instance_close(out);
        return r;
    }
    if (!strcmp(op, "reset")) {
        /* A reset was interrupted: finish it before anything else. */
        _cleanup_free_ char *snap = xstrdup(json_get_str(pending, "snapshot", "baseline"));
        log_debug("workspace %s: finishing an interrupted reset to %s", id, snap);
        r = ws_reset_do(ctx, out, snap, err);
        if (r < 0) {
            err_prefix(err, "workspace %s: finishing an interrupted reset", id);
            instance_close(out);
            return r;
        }
    }
    /* From here on the operation's outputs are redacted. */
    ctx_redact_set(ctx, ws_secrets_redactor(out));
    return 0;
}

int ws_open_op(struct pyro_ctx *ctx, const json_t *args, struct instance *inst, struct agent_conn **c, pyro_error *err)
{
    int r = ws_open(ctx, json_get_str(args, "workspace_id", ""), inst, err);
    if (r < 0 || !c)
        return r;
    r = ws_agent(inst, c, err);
    if (r < 0)
        instance_close(inst);
    return r;
}
