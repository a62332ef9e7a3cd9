/* Named snapshots of /workspace and reset: snapshot_create, snapshot_list,
 * snapshot_delete, workspace_reset.
 *
 * A snapshot is a tar of /workspace written to an unnamed temporary file,
 * linked under a temporary name, renamed to snapshots/<name>.tar and only
 * then listed in the record: a crash at any point never lists a partial
 * one. A reset records {"pending": {"op": "reset"}} before it tears the
 * sandbox down; whoever opens the workspace next finishes it (ws_open). */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "lib/contract/contract.h"
#include "base/json.h"
#include "lib/contract/params.h"
#include "base/paths.h"
#include "base/timeutil.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_schema.h"

static int snapshot_name_check(const char *name, pyro_error *err)
{
    size_t n = strlen(name);
    if (!n || n > WS_SNAPSHOT_NAME_MAX || name[0] == '.' || n != strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"))
        return err_set(err, -PYRO_E_INVALID,
                            "snapshot name '%s' must be 1 to %d letters, digits, '.', '_' or '-', not starting "
                            "with '.'",
                            name, WS_SNAPSHOT_NAME_MAX);
    if (!strcmp(name, "baseline"))
        return err_set(err, -PYRO_E_INVALID, "'baseline' is reserved for the create-time baseline");
    return 0;
}

static json_t *snapshot_find(const struct instance *inst, const char *name, size_t *idx)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(inst->rec, "snapshots"), i, s) if (!strcmp(json_get_str(s, "name", ""), name))
    {
        if (idx)
            *idx = i;
        return s;
    }
    return NULL;
}

/* Leftovers of captures that a crash interrupted (never listed). */
static void remove_stale_temps(const struct instance *inst)
{
    _cleanup_closedir_ DIR *d = opendir(inst->dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (!strncmp(de->d_name, ".tmp-", 5))
            unlinkat(dirfd(d), de->d_name, 0);
}

static int snapshot_create_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    const char *name = json_get_str(args, "snapshot_name", "");
    int r = snapshot_name_check(name, err);
    if (r < 0)
        return r;
    struct instance inst;
    r = ws_open(ctx, json_get_str(args, "workspace_id", ""), &inst, err);
    if (r < 0)
        return r;
    if (snapshot_find(&inst, name, NULL)) {
        r = err_set(err, -PYRO_E_INVALID, "workspace %s already has a snapshot named '%s'", inst.id, name);
        instance_close(&inst);
        return r;
    }
    struct agent_conn *c = NULL;
    r = ws_agent(&inst, &c, err);
    json_auto_t *res = NULL;
    _cleanup_free_ char *sdir = xasprintf("%s/snapshots", inst.dir);
    _cleanup_free_ char *rel = xasprintf("snapshots/%s.tar", name);
    if (r == 0) {
        remove_stale_temps(&inst);
        r = mkdir_p(sdir, 0700, err);
        if (r == 0)
            r = ws_capture(&inst, c, rel, &res, err);
        agent_conn_close(c);
    }
    if (r == 0) {
        char ts[PYRO_TIME_ISO_LEN];
        time_iso(ts, time_wall_ms());
        json_t *snap = json_pack("{s:s, s:s, s:I, s:I}", "name", name, "created_at", ts, "bytes",
                                 (json_int_t)json_get_int(res, "bytes", 0), "entries",
                                 (json_int_t)json_get_int(res, "entries", 0));
        json_array_append_new(json_object_get(inst.rec, "snapshots"), snap);
        ws_event(&inst, "snapshot_create", json_pack("{s:s}", "name", name));
        r = ws_touch(&inst, err);
        if (r == 0)
            *result = json_pack("{s:s, s:O}", "workspace_id", inst.id, "snapshot", snap);
    }
    instance_close(&inst);
    return r;
}

static int snapshot_list_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    struct instance inst;
    int r = ws_open(ctx, json_get_str(args, "workspace_id", ""), &inst, err);
    if (r < 0)
        return r;
    json_t *arr = json_array();
    json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", "baseline", "kind", "baseline", "created_at",
                                         json_get_str(inst.rec, "created_at", "")));
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(inst.rec, "snapshots"), i, s) {
        json_t *o = json_deep_copy(s);
        json_set(o, "kind", json_string("named"));
        json_array_append_new(arr, o);
    }
    *result = json_pack("{s:s, s:I, s:o}", "workspace_id", inst.id, "count", (json_int_t)json_array_size(arr),
                        "snapshots", arr);
    instance_close(&inst);
    return 0;
}

static int snapshot_delete_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    const char *name = json_get_str(args, "snapshot_name", "");
    int r = snapshot_name_check(name, err);
    if (r < 0)
        return r;
    struct instance inst;
    r = ws_open(ctx, json_get_str(args, "workspace_id", ""), &inst, err);
    if (r < 0)
        return r;
    size_t idx;
    if (!snapshot_find(&inst, name, &idx)) {
        r = err_set(err, -PYRO_E_NOT_FOUND, "workspace %s has no snapshot named '%s'", inst.id, name);
        instance_close(&inst);
        return r;
    }
    /* Unlisted first, then removed: a crash in between leaves a file that
     * the next capture of that name replaces. */
    json_array_remove(json_object_get(inst.rec, "snapshots"), idx);
    ws_event(&inst, "snapshot_delete", json_pack("{s:s}", "name", name));
    r = ws_touch(&inst, err);
    if (r == 0) {
        _cleanup_free_ char *p = xasprintf("%s/snapshots/%s.tar", inst.dir, name);
        if (unlink(p) < 0 && errno != ENOENT)
            r = err_errno(err, errno, "remove %s", p);
    }
    if (r == 0)
        *result = json_pack("{s:s, s:s, s:b}", "workspace_id", inst.id, "snapshot_name", name, "deleted", 1);
    instance_close(&inst);
    return r;
}

int ws_reset_do(struct pyro_ctx *ctx, struct instance *inst, const char *snapshot, pyro_error *err)
{
    _cleanup_free_ char *tar = NULL;
    if (!strcmp(snapshot, "baseline"))
        tar = xasprintf("%s/baseline.tar", inst->dir);
    else {
        int r = snapshot_name_check(snapshot, err);
        if (r < 0)
            return r;
        if (!snapshot_find(inst, snapshot, NULL))
            return err_set(err, -PYRO_E_NOT_FOUND, "workspace %s has no snapshot named '%s'", inst->id,
                                snapshot);
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
    r = rm_rf(upper, err);
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

static int ws_reset_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    struct instance inst;
    int r = ws_open(ctx, json_get_str(args, "workspace_id", ""), &inst, err);
    if (r < 0)
        return r;
    const char *snap = json_get_str(args, "snapshot", "baseline");
    r = ws_reset_do(ctx, &inst, snap, err);
    if (r == 0) {
        *result = ws_describe(&inst);
        json_set(*result, "restored_from", json_string(snap));
    }
    instance_close(&inst);
    return r;
}

static const struct contract_param snap_params[] = {PARAM_WORKSPACE_ID, PARAM_SNAPSHOT_NAME, PARAM_END};
static const struct contract_param ws_id_params[] = {PARAM_WORKSPACE_ID, PARAM_END};
static const struct contract_param reset_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("snapshot", "Restore this named snapshot instead of the create-time baseline.", .has_default = true,
              .def_str = "baseline", .max = 64, .metavar = "NAME"),
    PARAM_END,
};

#define SNAP_SCHEMA                                                                                         \
    "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":" WS_STR ",\"kind\":" WS_STR        \
    ",\"created_at\":" WS_STR ",\"bytes\":" WS_INT ",\"entries\":" WS_INT "}}"

const struct contract_op op_snapshot_create = {
    .name = "snapshot_create",
    .cli = "workspace snapshot create",
    .title = "Create a snapshot",
    .summary = "Save /workspace as a named snapshot.",
    .description = "Save the current /workspace of a started workspace as a named snapshot (a tar archive kept "
                   "next to the baseline) that workspace_reset can restore.",
    .params = snap_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"snapshot\"],\"properties\":{"
                     "\"workspace_id\":" WS_STR ",\"snapshot\":" SNAP_SCHEMA "}}",
    .exposure = WS_FULL,
    .handler = snapshot_create_run,
};

const struct contract_op op_snapshot_list = {
    .name = "snapshot_list",
    .cli = "workspace snapshot list",
    .title = "List snapshots",
    .summary = "List the baseline and the named snapshots.",
    .description = "List the create-time baseline and the named snapshots of a workspace.",
    .params = ws_id_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"count\",\"snapshots\"],\"properties\":{"
                     "\"workspace_id\":" WS_STR ",\"count\":" WS_INT ",\"snapshots\":{\"type\":\"array\",\"items\":"
                     SNAP_SCHEMA "}}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = WS_FULL,
    .handler = snapshot_list_run,
};

const struct contract_op op_snapshot_delete = {
    .name = "snapshot_delete",
    .cli = "workspace snapshot delete",
    .title = "Delete a snapshot",
    .summary = "Delete a named snapshot.",
    .description = "Delete one named snapshot of a workspace (the baseline cannot be deleted).",
    .params = snap_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"snapshot_name\",\"deleted\"],"
                     "\"properties\":{\"workspace_id\":" WS_STR ",\"snapshot_name\":" WS_STR ",\"deleted\":" WS_BOOL
                     "}}",
    .annotations = PA_DESTRUCTIVE | PA_IDEMPOTENT,
    .exposure = WS_FULL,
    .handler = snapshot_delete_run,
};

const struct contract_op op_workspace_reset = {
    .name = "workspace_reset",
    .cli = "workspace reset",
    .title = "Reset a workspace",
    .summary = "Recreate the sandbox and restore /workspace from the baseline or a snapshot.",
    .description = "Recreate the workspace's sandbox with a fresh writable layer and restore /workspace from the "
                   "create-time baseline or a named snapshot. Clears the command history and events; keeps the "
                   "id, the snapshots and the diff baseline; counts reset_count and sets last_reset_at.",
    .params = reset_params,
    .output_schema = "{\"type\":\"object\",\"required\":[" WS_RECORD_REQUIRED ",\"restored_from\"],\"properties\":{"
                     WS_RECORD_PROPS ",\"restored_from\":" WS_STR "}}",
    .annotations = PA_DESTRUCTIVE,
    .exposure = WS_FULL | WS_CORE | WS_REPRO | WS_COLD,
    .handler = ws_reset_run,
};
