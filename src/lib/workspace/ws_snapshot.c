/* Named snapshots of /workspace and reset: snapshot_create, snapshot_list,
 * snapshot_delete, workspace_reset (the reset itself is ws_reset.c).
 *
 * A snapshot is a tar of /workspace written to an unnamed temporary file,
 * linked under a temporary name, renamed to snapshots/<name>.tar and only
 * then listed in the record: a crash at any point never lists a partial
 * one. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/timeutil.h"
#include "lib/contract/contract.h"
#include "lib/contract/params.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_schema.h"

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
    int r = ws_snapshot_name_check(name, err);
    if (r < 0)
        return r;
    _cleanup_instance_ struct instance inst = {0};
    r = ws_open_op(ctx, args, &inst, NULL, err);
    if (r < 0)
        return r;
    if (ws_snapshot_find(&inst, name, NULL))
        return err_set(err, -PYRO_E_INVALID, "workspace %s already has a snapshot named '%s'", inst.id, name);
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
    return r;
}

static int snapshot_list_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = ws_open_op(ctx, args, &inst, NULL, err);
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
    return 0;
}

static int snapshot_delete_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    const char *name = json_get_str(args, "snapshot_name", "");
    int r = ws_snapshot_name_check(name, err);
    if (r < 0)
        return r;
    _cleanup_instance_ struct instance inst = {0};
    r = ws_open_op(ctx, args, &inst, NULL, err);
    if (r < 0)
        return r;
    size_t idx;
    if (!ws_snapshot_find(&inst, name, &idx))
        return err_set(err, -PYRO_E_NOT_FOUND, "workspace %s has no snapshot named '%s'", inst.id, name);
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
    return r;
}

static int ws_reset_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = ws_open_op(ctx, args, &inst, NULL, err);
    if (r < 0)
        return r;
    const char *snap = json_get_str(args, "snapshot", "baseline");
    /* A snapshot that does not exist fails before anything is stopped. */
    if (strcmp(snap, "baseline") && !ws_snapshot_find(&inst, snap, NULL))
        return ws_reset_do(ctx, &inst, snap, err);
    /* The services end with the sandbox; stopped first, with the reason. */
    json_auto_t *stopped = ws_services_stop_all(&inst, "reset");
    int shells = ws_shells_close_all(&inst);
    r = ws_reset_do(ctx, &inst, snap, err);
    if (r == 0) {
        *result = ws_describe(&inst);
        json_set(*result, "restored_from", json_string(snap));
        json_set(*result, "stopped_services", json_incref(stopped));
        json_set(*result, "closed_shells", json_integer(shells));
    }
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

#define SNAP_SCHEMA                                                                                     \
    "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":" WS_STR ",\"kind\":" WS_STR \
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
                     "\"workspace_id\":" WS_STR ",\"count\":" WS_INT
                     ",\"snapshots\":{\"type\":\"array\",\"items\":" SNAP_SCHEMA "}}}",
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
    .output_schema = "{\"type\":\"object\",\"required\":[" WS_RECORD_REQUIRED
                     ",\"restored_from\"],\"properties\":{" WS_RECORD_PROPS ",\"restored_from\":" WS_STR "}}",
    .annotations = PA_DESTRUCTIVE,
    .exposure = WS_FULL | WS_CORE | WS_REPRO | WS_COLD,
    .handler = ws_reset_run,
};
