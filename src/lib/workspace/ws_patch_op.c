/* workspace_patch_apply: a unified diff checked on the host against the
 * files read through the agent, written only when every hunk of every file
 * applies. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/record.h"
#include "lib/contract/contract.h"
#include "lib/contract/params.h"
#include "lib/workspace/patch.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_schema.h"

#define WS_PATCH_TEXT_MAX (4 * 1024 * 1024)

struct target {
    char *rel;
    bool exists;
    int mode;
    char *out;
    size_t out_len;
};

/* Reads one target file whole (text files up to WS_TEXT_MAX). */
static int read_target(struct agent_conn *c, struct target *t, char **data, size_t *len, pyro_error *err)
{
    json_auto_t *sa = json_pack("{s:s}", "path", t->rel);
    json_auto_t *st = NULL;
    pyro_error serr = {0};
    int r = ws_call(c, "file_stat", sa, &st, NULL, &serr);
    if (r == -ENOENT) {
        t->exists = false;
        return 0;
    }
    if (r < 0) {
        *err = serr;
        return r;
    }
    if (strcmp(json_get_str(st, "type", ""), "file"))
        return err_set(err, -PYRO_E_INVALID, "%s is a %s, not a regular file", t->rel, json_get_str(st, "type", ""));
    t->exists = true;
    t->mode = (int)json_get_int(st, "mode", 0644);
    if (json_get_int(st, "size", 0) > WS_TEXT_MAX)
        return err_set(err, -PYRO_E_LIMIT, "%s is larger than 1 MiB: not patched", t->rel);
    json_auto_t *ra = json_pack("{s:s, s:i}", "path", t->rel, "max_bytes", WS_TEXT_MAX);
    json_auto_t *res = NULL;
    struct agent_body body = {0};
    r = ws_call(c, "file_read", ra, &res, &body, err);
    if (r < 0)
        return r;
    *data = (char *)body.data;
    *len = body.len;
    return 0;
}

static int ws_patch_apply_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    json_t *text = json_object_get(args, "patch");
    /* Exactly one of the two: the contract's validation saw to it. */
    const char *pfile = json_get_str(args, "patch_file", NULL);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r;
    if (pfile) {
        r = read_file_at(AT_FDCWD, pfile, WS_PATCH_TEXT_MAX, &buf, &len, err);
        if (r < 0)
            return r;
    } else {
        len = json_string_length(text);
        buf = xstrndup(json_string_value(text), len);
    }
    struct patch_set ps;
    r = patch_parse(buf, len, &ps, err);
    if (r < 0)
        return r;
    struct target *ts = xcalloc(ps.nfiles, sizeof(*ts));
    for (size_t i = 0; r == 0 && i < ps.nfiles; i++) {
        r = ws_guest_rel(patch_file_path(&ps.files[i]), &ts[i].rel, err);
        if (r == 0 && !*ts[i].rel)
            r = err_set(err, -PYRO_E_INVALID, "patch names %s itself", WS_ROOT);
        for (size_t j = 0; r == 0 && j < i; j++)
            if (!strcmp(ts[i].rel, ts[j].rel))
                r = err_set(err, -PYRO_E_INVALID, "patch changes %s twice", ts[i].rel);
    }
    _cleanup_instance_ struct instance inst = {0};
    struct agent_conn *c = NULL;
    if (r == 0)
        r = ws_open_op(ctx, args, &inst, &c, err);
    /* Preflight: every file read, every hunk checked, nothing written. */
    for (size_t i = 0; r == 0 && i < ps.nfiles; i++) {
        char *data = NULL;
        size_t dlen = 0;
        ts[i].mode = 0644;
        r = read_target(c, &ts[i], &data, &dlen, err);
        if (r == 0)
            r = patch_apply_file(&ps.files[i], ts[i].exists, data ? data : "", dlen, &ts[i].out, &ts[i].out_len, err);
        free(data);
    }
    /* Then the writes and deletions. */
    json_t *files = json_array();
    for (size_t i = 0; r == 0 && i < ps.nfiles; i++) {
        const struct patch_file *pf = &ps.files[i];
        json_auto_t *res = NULL;
        const char *status;
        if (!pf->new_path) {
            json_auto_t *a = json_pack("{s:s}", "path", ts[i].rel);
            r = ws_call(c, "file_delete", a, &res, NULL, err);
            status = "deleted";
        } else {
            json_auto_t *req = json_pack("{s:s, s:{s:s, s:s, s:i, s:b}}", "op", "file_write", "args", "root", WS_ROOT,
                                         "path", ts[i].rel, "mode", ts[i].mode, "mkdirs", 1);
            r = agent_call(c, req, ts[i].out, ts[i].out_len, &res, NULL, WS_CALL_TIMEOUT_MS, err);
            status = ts[i].exists ? "modified" : "added";
        }
        size_t added = 0, removed = 0;
        for (size_t h = 0; h < pf->nhunks; h++)
            for (size_t l = 0; l < pf->hunks[h].nlines; l++) {
                added += pf->hunks[h].lines[l].op == '+';
                removed += pf->hunks[h].lines[l].op == '-';
            }
        _cleanup_free_ char *abs = ws_guest_abs(ts[i].rel);
        if (r == 0)
            json_array_append_new(files, json_pack("{s:s, s:s, s:I, s:I, s:I}", "path", abs, "status", status, "hunks",
                                                   (json_int_t)pf->nhunks, "lines_added", (json_int_t)added,
                                                   "lines_removed", (json_int_t)removed));
    }
    if (c)
        agent_conn_close(c);
    if (r == 0) {
        ws_event(&inst, "patch_apply", json_pack("{s:O}", "files", files));
        r = ws_touch(&inst, err);
    }
    if (r == 0)
        *result = json_pack("{s:s, s:b, s:I, s:O}", "workspace_id", inst.id, "changed", json_array_size(files) > 0,
                            "file_count", (json_int_t)json_array_size(files), "files", files);
    json_decref(files);
    for (size_t i = 0; i < ps.nfiles; i++) {
        free(ts[i].rel);
        free(ts[i].out);
    }
    free(ts);
    patch_set_free(&ps);
    return r;
}

static const struct contract_param ws_patch_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("patch", "Unified diff (--- a/X, +++ b/X, @@ hunks); /dev/null creates or deletes.", .flags = PF_REQUIRED,
              .alt = "patch_file", .max = WS_PATCH_TEXT_MAX),
    PARAM_STR("patch_file", "Host file holding the unified diff (CLI shortcut).", .flags = PF_CLI_ONLY,
              .metavar = "HOST_PATH"),
    PARAM_END,
};

const struct contract_op op_workspace_patch_apply = {
    .name = "workspace_patch_apply",
    .cli = "workspace patch apply",
    .title = "Apply a patch in a workspace",
    .summary = "Apply a unified diff to files under /workspace.",
    .description = "Apply a unified diff (several files, creations and deletions through /dev/null) to files "
                   "under /workspace. Every hunk is checked exactly at its stated line, without fuzz, before "
                   "anything is written; an error names the file and the hunk, and nothing changes.",
    .params = ws_patch_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"changed\",\"files\"],\"properties\":{"
                     "\"workspace_id\":" WS_STR ",\"changed\":" WS_BOOL ",\"file_count\":" WS_INT
                     ",\"files\":" WS_ARR_OBJ "}}",
    .annotations = PA_DESTRUCTIVE,
    .exposure = WS_FULL | WS_CORE | WS_REPRO,
    .handler = ws_patch_apply_run,
};
