/* workspace_file_list, workspace_file_read, workspace_file_write: file
 * operations confined to /workspace, through the agent. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/record.h"
#include "base/timeutil.h"
#include "lib/contract/contract.h"
#include "lib/contract/params.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_schema.h"

#define WS_WRITE_MAX (1024 * 1024)

static json_t *entry_out(const json_t *e)
{
    json_t *o = json_object();
    _cleanup_free_ char *abs = ws_guest_abs(json_get_str(e, "path", ""));
    json_set(o, "path", json_string(abs));
    json_set(o, "type", json_string(json_get_str(e, "type", "")));
    json_set(o, "size", json_integer(json_get_int(e, "size", 0)));
    json_set(o, "mode", json_integer(json_get_int(e, "mode", 0)));
    char ts[PYRO_TIME_ISO_LEN];
    time_iso(ts, json_get_int(e, "mtime_ms", 0));
    json_set(o, "mtime", json_string(ts));
    json_t *lt = json_object_get(e, "link_target");
    if (lt)
        json_set(o, "link_target", json_copy(lt));
    return o;
}

static int ws_file_list_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_free_ char *rel = NULL;
    int r = ws_guest_rel(json_get_str(args, "path", WS_ROOT), &rel, err);
    if (r < 0)
        return r;
    _cleanup_instance_ struct instance inst = {0};
    struct agent_conn *c = NULL;
    r = ws_open_op(ctx, args, &inst, &c, err);
    if (r < 0)
        return r;
    instance_unlock(&inst); /* reads only: the agent answers without it */
    bool rec = json_get_bool(args, "recursive", false);
    json_auto_t *st = NULL;
    json_auto_t *a = json_pack("{s:s}", "path", rel);
    r = ws_call(c, "file_stat", a, &st, NULL, err);
    json_t *entries = json_array();
    bool truncated = false;
    /* "link/" asks for what the symlink points to: the agent resolves it
     * beneath /workspace (or refuses). Without the slash the link itself
     * is listed, never followed. */
    const char *raw = json_get_str(args, "path", WS_ROOT);
    bool follow = *rel && raw[strlen(raw) - 1] == '/' && !strcmp(json_get_str(st, "type", ""), "symlink");
    if (r == 0 && (follow || !strcmp(json_get_str(st, "type", ""), "dir"))) {
        _cleanup_free_ char *lp = follow ? xasprintf("%s/", rel) : xstrdup(rel);
        json_auto_t *la = json_pack("{s:s, s:b, s:i}", "path", lp, "recursive", rec, "max_entries", 10000);
        json_auto_t *res = NULL;
        r = ws_call(c, "file_list", la, &res, NULL, err);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(res, "entries"), i, e)
            json_array_append_new(entries, entry_out(e));
        truncated = json_get_bool(res, "truncated", false);
    } else if (r == 0)
        json_array_append_new(entries, entry_out(st));
    agent_conn_close(c);
    if (r == 0) {
        _cleanup_free_ char *abs = ws_guest_abs(rel);
        *result = json_pack("{s:s, s:s, s:b, s:I, s:O, s:b}", "workspace_id", inst.id, "path", abs, "recursive", rec,
                            "count", (json_int_t)json_array_size(entries), "entries", entries, "truncated", truncated);
    }
    json_decref(entries);
    return r;
}

static int ws_file_read_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_free_ char *rel = NULL;
    int r = ws_guest_rel(json_get_str(args, "path", ""), &rel, err);
    if (r < 0)
        return r;
    _cleanup_instance_ struct instance inst = {0};
    struct agent_conn *c = NULL;
    r = ws_open_op(ctx, args, &inst, &c, err);
    if (r < 0)
        return r;
    instance_unlock(&inst); /* reads only: the agent answers without it */
    long long max = json_get_int(args, "max_bytes", WS_READ_DEFAULT);
    json_auto_t *a = json_pack("{s:s, s:I}", "path", rel, "max_bytes", (json_int_t)max);
    json_auto_t *res = NULL;
    struct agent_body body = {0};
    r = ws_call(c, "file_read", a, &res, &body, err);
    agent_conn_close(c);
    if (r == 0) {
        _cleanup_free_ char *abs = ws_guest_abs(rel);
        const char *encoding;
        json_t *content = ws_content(body.data, body.len, &encoding);
        *result = json_pack("{s:s, s:s, s:o, s:s, s:O, s:I, s:O, s:I}", "workspace_id", inst.id, "path", abs, "content",
                            content, "encoding", encoding, "size", json_object_get(res, "size"), "bytes_read",
                            (json_int_t)body.len, "truncated", json_object_get(res, "truncated"), "max_bytes",
                            (json_int_t)max);
    }
    agent_body_free(&body);
    return r;
}

/* --text-file: the content of a host file, bounded and UTF-8. */
static int read_text_file(const char *path, char **out, size_t *len, pyro_error *err)
{
    int r = read_file_at(AT_FDCWD, path, WS_WRITE_MAX, out, len, err);
    if (r < 0)
        return r;
    if (!utf8_valid(*out, *len)) {
        free(*out);
        *out = NULL;
        return err_set(err, -PYRO_E_INVALID, "%s is not UTF-8 text", path);
    }
    return 0;
}

static int ws_file_write_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_free_ char *rel = NULL;
    int r = ws_guest_rel(json_get_str(args, "path", ""), &rel, err);
    if (r < 0)
        return r;
    if (!*rel)
        return err_set(err, -PYRO_E_INVALID, "path names %s itself, not a file", WS_ROOT);
    json_t *text = json_object_get(args, "text");
    /* Exactly one of the two: the contract's validation saw to it. */
    const char *tf = json_get_str(args, "text_file", NULL);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (tf) {
        r = read_text_file(tf, &buf, &len, err);
        if (r < 0)
            return r;
    } else {
        len = json_string_length(text);
        buf = xstrndup(json_string_value(text), len);
    }
    _cleanup_instance_ struct instance inst = {0};
    struct agent_conn *c = NULL;
    r = ws_open_op(ctx, args, &inst, &c, err);
    if (r < 0)
        return r;
    json_auto_t *req = json_pack("{s:s, s:{s:s, s:s, s:b}}", "op", "file_write", "args", "root", WS_ROOT, "path", rel,
                                 "mkdirs", 1);
    json_auto_t *res = NULL;
    instance_unlock(&inst);
    r = agent_call(c, req, buf, len, &res, NULL, WS_CALL_TIMEOUT_MS, err);
    agent_conn_close(c);
    int lr = instance_relock(&inst, "the file was written", err);
    if (lr < 0)
        return lr;
    if (r == 0) {
        _cleanup_free_ char *abs = ws_guest_abs(rel);
        ws_event(&inst, "file_write", json_pack("{s:s, s:I}", "path", abs, "bytes", (json_int_t)len));
        r = ws_touch(&inst, err);
        if (r == 0)
            *result = json_pack("{s:s, s:s, s:I}", "workspace_id", inst.id, "path", abs, "bytes_written",
                                (json_int_t)len);
    }
    return r;
}

static const struct contract_param ws_list_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("path", "Path under /workspace (absolute, or relative to /workspace).", .flags = PF_POSITIONAL,
              .has_default = true, .def_str = WS_ROOT),
    PARAM_BOOL("recursive", "List subdirectories too (at most 10000 entries)."),
    PARAM_END,
};
static const struct contract_param ws_read_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("path", "File under /workspace.", .flags = PF_REQUIRED | PF_POSITIONAL),
    PARAM_INT("max_bytes", "Read at most this many bytes; truncation is reported.", .has_default = true,
              .def_int = WS_READ_DEFAULT, .min = 1, .max = WS_READ_MAX),
    PARAM_END,
};
static const struct contract_param ws_write_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("path", "File under /workspace; missing parent directories are created.",
              .flags = PF_REQUIRED | PF_POSITIONAL),
    PARAM_STR("text", "UTF-8 content (at most 1 MiB).", .flags = PF_REQUIRED, .alt = "text_file", .max = WS_WRITE_MAX),
    PARAM_STR("text_file", "Host file whose UTF-8 content is written (CLI shortcut).", .flags = PF_CLI_ONLY,
              .metavar = "HOST_PATH"),
    PARAM_END,
};

const struct contract_op op_workspace_file_list = {
    .name = "workspace_file_list",
    .cli = "workspace file list",
    .title = "List workspace files",
    .summary = "List files under a /workspace path.",
    .description = "List metadata (path, type, size, mode, mtime, link target) of one path under /workspace or "
                   "of a directory's entries, optionally recursive. Symlinks are listed, never followed.",
    .params = ws_list_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"path\",\"entries\",\"truncated\"],"
                     "\"properties\":{\"workspace_id\":" WS_STR ",\"path\":" WS_STR ",\"recursive\":" WS_BOOL
                     ",\"count\":" WS_INT ",\"entries\":" WS_ARR_OBJ ",\"truncated\":" WS_BOOL "}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = WS_FULL | WS_CORE | WS_REPRO | WS_INSPECT | WS_COLD | WS_REVIEW,
    .handler = ws_file_list_run,
};

const struct contract_op op_workspace_file_read = {
    .name = "workspace_file_read",
    .cli = "workspace file read",
    .title = "Read a workspace file",
    .summary = "Read one regular file under /workspace.",
    .description = "Read up to max_bytes of one regular file under /workspace. UTF-8 content comes back as text "
                   "(encoding utf-8); other content as base64 (encoding base64). truncated says the file is "
                   "longer than what was returned.",
    .params = ws_read_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"path\",\"content\",\"encoding\","
                     "\"truncated\"],\"properties\":{\"workspace_id\":" WS_STR ",\"path\":" WS_STR
                     ",\"content\":" WS_STR ",\"encoding\":{\"type\":\"string\",\"enum\":[\"utf-8\",\"base64\"]},"
                     "\"size\":" WS_INT ",\"bytes_read\":" WS_INT ",\"truncated\":" WS_BOOL ",\"max_bytes\":" WS_INT
                     "}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = WS_FULL | WS_CORE | WS_REPRO | WS_INSPECT | WS_COLD | WS_REVIEW,
    .handler = ws_file_read_run,
};

const struct contract_op op_workspace_file_write = {
    .name = "workspace_file_write",
    .cli = "workspace file write",
    .title = "Write a workspace file",
    .summary = "Create or replace one text file under /workspace.",
    .description = "Create or replace one regular file under /workspace with UTF-8 text (at most 1 MiB). Parent "
                   "directories are created; the file is replaced atomically; a symlink is never written "
                   "through.",
    .params = ws_write_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"path\",\"bytes_written\"],"
                     "\"properties\":{\"workspace_id\":" WS_STR ",\"path\":" WS_STR ",\"bytes_written\":" WS_INT "}}",
    .annotations = PA_DESTRUCTIVE,
    .exposure = WS_FULL | WS_CORE | WS_REPRO,
    .handler = ws_file_write_run,
};
