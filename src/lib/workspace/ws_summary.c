/* workspace_summary: what happened since the last reset (or create). */
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "lib/contract/contract.h"
#include "lib/contract/params.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_schema.h"

#define WS_SUMMARY_RECENT 10

static int ws_summary_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = ws_open_op(ctx, args, &inst, NULL, err);
    if (r < 0)
        return r;
    json_auto_t *hist = ws_jsonl_load(&inst, "history.jsonl", WS_HISTORY_MAX_ENTRIES);
    json_auto_t *events = ws_jsonl_load(&inst, "events.jsonl", WS_EVENTS_MAX);
    json_t *failed = json_array(), *recent = json_array();
    size_t i, n = json_array_size(hist);
    json_t *h;
    json_array_foreach(hist, i, h) {
        json_t *brief = json_pack("{s:O, s:O, s:O, s:O}", "sequence", json_object_get(h, "sequence"), "command",
                                  json_object_get(h, "command"), "exit_code", json_object_get(h, "exit_code"),
                                  "finished_at", json_object_get(h, "finished_at"));
        if (json_get_int(h, "exit_code", 0) != 0 || json_get_bool(h, "timed_out", false))
            json_array_append(failed, brief);
        if (i + WS_SUMMARY_RECENT >= n)
            json_array_append(recent, brief);
        json_decref(brief);
    }
    json_t *exports = json_array(), *edits = json_array();
    json_t *e;
    json_array_foreach(events, i, e) {
        const char *k = json_get_str(e, "kind", "");
        if (!strcmp(k, "export"))
            json_array_append(exports, e);
        else if (!strcmp(k, "file_write") || !strcmp(k, "patch_apply") || !strcmp(k, "sync_push"))
            json_array_append(edits, e);
    }
    json_t *out = json_object();
    json_set(out, "workspace_id", json_string(inst.id));
    json_t *name = json_object_get(inst.rec, "name");
    json_set(out, "name", name ? json_copy(name) : json_null());
    json_t *labels = json_object_get(inst.rec, "labels");
    json_set(out, "labels", labels ? json_deep_copy(labels) : json_object());
    json_set(out, "state", json_string(ws_state(&inst)));
    json_t *lr = json_object_get(inst.rec, "last_reset_at");
    json_set(out, "since", json_string(lr ? json_string_value(lr) : json_get_str(inst.rec, "created_at", "")));
    json_set(out, "reset_count", json_integer(json_get_int(inst.rec, "reset_count", 0)));
    json_set(out, "commands",
             json_pack("{s:I, s:I, s:o, s:o}", "count", (json_int_t)json_get_int(inst.rec, "command_count", 0),
                       "failed_count", (json_int_t)json_array_size(failed), "failed", failed, "recent", recent));
    /* The changes need the running guest; a stopped workspace says so. */
    if (instance_monitor_alive(&inst)) {
        struct agent_conn *c = NULL;
        json_auto_t *diff = NULL;
        r = ws_agent(&inst, &c, err);
        if (r == 0) {
            r = ws_diff_compute(&inst, c, false, &diff, err);
            agent_conn_close(c);
        }
        if (r < 0) {
            json_decref(out);
            json_decref(exports);
            json_decref(edits);
            return r;
        }
        json_set(out, "changes",
                 json_pack("{s:b, s:O, s:O}", "available", 1, "summary", json_object_get(diff, "summary"), "files",
                           json_object_get(diff, "entries")));
    } else
        json_set(out, "changes",
                 json_pack("{s:b, s:s}", "available", 0, "reason",
                           "the workspace is not started: start it to compare with the baseline"));
    json_t *snaps = json_object_get(inst.rec, "snapshots");
    json_set(out, "snapshots", snaps ? json_deep_copy(snaps) : json_array());
    json_set(out, "exports", exports);
    json_set(out, "edits", edits);
    json_set(out, "events", json_incref(events));
    *result = out;
    return 0;
}

static const struct contract_param ws_id_params[] = {PARAM_WORKSPACE_ID, PARAM_END};

const struct contract_op op_workspace_summary = {
    .name = "workspace_summary",
    .cli = "workspace summary",
    .title = "Summarize a workspace",
    .summary = "Summarize the work since the last reset.",
    .description = "Summarize what happened since the last reset (or create): commands with their failures, "
                   "changed files and diff counts against the baseline, snapshots, exports, and the events "
                   "recorded for syncs, file writes and patches.",
    .params = ws_id_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"since\",\"commands\",\"changes\","
                     "\"snapshots\",\"exports\",\"events\"],\"properties\":{\"workspace_id\":" WS_STR
                     ",\"name\":" WS_STR_OR_NULL ",\"labels\":" WS_OBJ ",\"state\":" WS_STR ",\"since\":" WS_STR
                     ",\"reset_count\":" WS_INT ",\"commands\":" WS_OBJ ",\"changes\":" WS_OBJ
                     ",\"snapshots\":" WS_ARR_OBJ ",\"exports\":" WS_ARR_OBJ ",\"edits\":" WS_ARR_OBJ
                     ",\"events\":" WS_ARR_OBJ "}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = WS_FULL | WS_CORE | WS_REPRO | WS_INSPECT | WS_COLD | WS_REVIEW,
    .handler = ws_summary_run,
};
