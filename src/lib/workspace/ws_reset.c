/* Reset: recreate the sandbox with a fresh writable layer and restore
 * /workspace from the baseline or a named snapshot. The reset records
 * {"pending": {"op": "reset"}} before it tears the sandbox down; whoever
 * opens the workspace next finishes it (ws_open). Also the names and the
 * look-up of named snapshots, which reset and the snapshot operations
 * share. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/idmap.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/timeutil.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_secrets.h"

int ws_snapshot_name_check(const char *name, pyro_error *err)
{
    size_t n = strlen(name);
    if (!n || n > WS_SNAPSHOT_NAME_MAX || name[0] == '.' ||
        n != strspn(name, "abcdefghijklmnopqrstuvwxyz"
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"))
        return err_set(err, -PYRO_E_INVALID,
                       "snapshot name '%s' must be 1 to %d letters, digits, '.', '_' or '-', not starting "
                       "with '.'",
                       name, WS_SNAPSHOT_NAME_MAX);
    if (!strcmp(name, "baseline"))
        return err_set(err, -PYRO_E_INVALID, "'baseline' is reserved for the create-time baseline");
    return 0;
}

json_t *ws_snapshot_find(const struct instance *inst, const char *name, size_t *idx)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(inst->rec, "snapshots"), i, s)
        if (!strcmp(json_get_str(s, "name", ""), name)) {
            if (idx)
                *idx = i;
            return s;
        }
    return NULL;
}

int ws_reset_do(struct pyro_ctx *ctx, struct instance *inst, const char *snapshot, pyro_error *err)
{
    _cleanup_free_ char *tar = NULL;
    if (!strcmp(snapshot, "baseline"))
        tar = xasprintf("%s/baseline.tar", inst->dir);
    else {
        int r = ws_snapshot_name_check(snapshot, err);
        if (r < 0)
            return r;
        if (!ws_snapshot_find(inst, snapshot, NULL))
            return err_set(err, -PYRO_E_NOT_FOUND, "workspace %s has no snapshot named '%s'", inst->id, snapshot);
        tar = xasprintf("%s/snapshots/%s.tar", inst->dir, snapshot);
    }
    if (access(tar, R_OK) < 0)
        return err_errno(err, errno, "%s", tar);
    json_set(inst->rec, "pending", json_pack("{s:s, s:s}", "op", "reset", "snapshot", snapshot));
    int r = instance_save(inst, err);
    if (r < 0)
        return r;
    ctx_progress(ctx, "reset", "stop", -1, -1, inst->id);
    r = instance_stop(inst, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *upper = xasprintf("%s/upper", inst->dir);
    r = idmap_rm_rf(upper, err);
    if (r < 0)
        return r;
    ctx_progress(ctx, "reset", "start", -1, -1, inst->id);
    r = instance_start(ctx, inst, err);
    if (r < 0)
        return r;
    struct agent_conn *c = NULL;
    r = ws_agent(inst, &c, err);
    if (r < 0)
        return r;
    ctx_progress(ctx, "reset", "restore", -1, -1, snapshot);
    r = ws_restore(c, tar, err);
    agent_conn_close(c);
    if (r == 0)
        r = ws_secrets_materialize(inst, err);
    if (r < 0)
        return r;
    r = ws_journals_clear(inst, err);
    if (r < 0)
        return r;
    char ts[PYRO_TIME_ISO_LEN];
    time_iso(ts, time_wall_ms());
    json_set(inst->rec, "reset_count", json_integer(json_get_int(inst->rec, "reset_count", 0) + 1));
    json_set(inst->rec, "last_reset_at", json_string(ts));
    json_set(inst->rec, "last_reset_snapshot", json_string(snapshot));
    json_set(inst->rec, "command_count", json_integer(0));
    json_set(inst->rec, "next_sequence", json_integer(1));
    json_object_del(inst->rec, "last_command");
    json_object_del(inst->rec, "stopped_at");
    json_object_del(inst->rec, "pending");
    ws_event(inst, "reset", json_pack("{s:s}", "snapshot", snapshot));
    return ws_touch(inst, err);
}
