/* workspace_diff: /workspace against the create-time baseline. The agent
 * hashes the tree (manifest); the host compares it with the baseline's
 * manifest and fetches only the changed text files (now through file_read,
 * before from baseline.tar) to render unified diffs. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/record.h"
#include "lib/contract/contract.h"
#include "lib/contract/params.h"
#include "lib/workspace/cquote.h"
#include "lib/workspace/textdiff.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_archive.h"
#include "lib/workspace/ws_schema.h"

/* Bound on the patch text of one diff result. */
#define WS_PATCH_MAX (4 * 1024 * 1024)
#define WS_MANIFEST_FILE_MAX (64u * 1024 * 1024)

/* [path, type, mode, size, hash or target] */
#define M_PATH(e) json_string_value(json_array_get(e, 0))
#define M_TYPE(e) json_string_value(json_array_get(e, 1))
#define M_MODE(e) json_integer_value(json_array_get(e, 2))
#define M_SIZE(e) json_integer_value(json_array_get(e, 3))
#define M_SUM(e) json_string_value(json_array_get(e, 4))

static int load_baseline(const struct instance *inst, json_t **out, pyro_error *err)
{
    _cleanup_free_ char *p = xasprintf("%s/baseline.manifest.json", inst->dir);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r = read_file_at(AT_FDCWD, p, WS_MANIFEST_FILE_MAX, &buf, &len, err);
    if (r < 0)
        return r;
    return json_parse(buf, len, out, err);
}

static int cmp_path(const void *x, const void *y)
{
    return strcmp(json_get_str(*(json_t *const *)x, "path", ""), json_get_str(*(json_t *const *)y, "path", ""));
}

static bool is_text(const char *p, size_t n)
{
    return memchr(p, '\0', n) == NULL && utf8_valid(p, n);
}

static json_t *change(const char *path, const char *status, const char *type)
{
    return json_pack("{s:s, s:s, s:s, s:b}", "path", path, "status", status, "type", type, "binary", 0);
}

/* Adds unified diff text for the changed regular files. */
static int add_text(const struct instance *inst, struct agent_conn *c, json_t **items, size_t n, FILE *patch,
                    size_t *patch_len, bool *cut, long long *binary, pyro_error *err)
{
    struct ws_blob *blobs = xcalloc(n ? n : 1, sizeof(*blobs));
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        const char *st = json_get_str(items[i], "status", "");
        if (strcmp(json_get_str(items[i], "type", ""), "file") || !strcmp(st, "added") || !strcmp(st, "type_changed"))
            continue;
        blobs[nb++].name = json_get_str(items[i], "path", "");
    }
    _cleanup_free_ char *tar = xasprintf("%s/baseline.tar", inst->dir);
    int r = nb ? ws_archive_lookup(tar, blobs, nb, WS_TEXT_MAX, err) : 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        json_t *it = items[i];
        const char *path = json_get_str(it, "path", ""), *st = json_get_str(it, "status", "");
        if (strcmp(json_get_str(it, "type", ""), "file") || !strcmp(st, "type_changed"))
            continue;
        const char *old = "", *new = "";
        size_t olen = 0, nlen = 0;
        struct agent_body body = {0};
        bool too_large = false;
        if (strcmp(st, "added")) {
            for (size_t k = 0; k < nb; k++)
                if (!strcmp(blobs[k].name, path)) {
                    too_large |= blobs[k].too_large || !blobs[k].found;
                    old = blobs[k].data ? blobs[k].data : "";
                    olen = blobs[k].len;
                }
        }
        if (strcmp(st, "deleted")) {
            json_auto_t *a = json_pack("{s:s, s:i}", "path", path, "max_bytes", WS_TEXT_MAX);
            json_auto_t *res = NULL;
            r = ws_call(c, "file_read", a, &res, &body, err);
            if (r < 0)
                break;
            too_large |= json_get_bool(res, "truncated", false);
            new = body.data ? (const char *)body.data : "";
            nlen = body.len;
        }
        if (too_large)
            json_set(it, "text_omitted", json_string("larger than 1 MiB"));
        else if (!is_text(old, olen) || !is_text(new, nlen)) {
            json_set(it, "binary", json_true());
            (*binary)++;
        } else if (!*cut) {
            /* Names quoted as git quotes them: a newline in a name must not
             * forge a header (lib/workspace/cquote.h). */
            _cleanup_free_ char *la = strcmp(st, "added") ? cquote_label("a/", path) : xstrdup("/dev/null");
            _cleanup_free_ char *lb = strcmp(st, "deleted") ? cquote_label("b/", path) : xstrdup("/dev/null");
            char *piece = NULL;
            size_t plen = 0;
            FILE *f = open_memstream(&piece, &plen);
            struct textdiff_stats ts;
            int d = textdiff_unified(f, old, olen, new, nlen, la, lb, TEXTDIFF_MAX_EDITS, &ts);
            fclose(f);
            if (d < 0)
                json_set(it, "text_omitted", json_string("more than 4000 changed lines"));
            else if (*patch_len + plen > WS_PATCH_MAX)
                *cut = true;
            else {
                fwrite(piece, 1, plen, patch);
                *patch_len += plen;
                json_set(it, "lines_added", json_integer((json_int_t)ts.added));
                json_set(it, "lines_removed", json_integer((json_int_t)ts.removed));
            }
            free(piece);
        }
        agent_body_free(&body);
    }
    for (size_t k = 0; k < nb; k++)
        free(blobs[k].data);
    free(blobs);
    return r;
}

int ws_diff_compute(struct instance *inst, struct agent_conn *c, bool with_text, json_t **out, pyro_error *err)
{
    json_auto_t *base = NULL, *cur = NULL;
    int r = load_baseline(inst, &base, err);
    if (r < 0)
        return r;
    r = ws_manifest(c, &cur, err);
    if (r < 0)
        return r;
    json_auto_t *bmap = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(base, "entries"), i, e)
        json_object_set(bmap, M_PATH(e), e);
    size_t n = 0, cap = 64;
    json_t **items = xmalloc(cap * sizeof(*items));
    long long added = 0, modified = 0, deleted = 0, type_changed = 0, binary = 0;
#define PUSH(x)                                                   \
    do {                                                          \
        if (n == cap)                                             \
            items = xrealloc(items, (cap *= 2) * sizeof(*items)); \
        items[n++] = (x);                                         \
    } while (0)
    json_array_foreach(json_object_get(cur, "entries"), i, e) {
        const char *path = M_PATH(e), *type = M_TYPE(e);
        json_t *b = json_object_get(bmap, path);
        if (!b) {
            if (strcmp(type, "dir")) {
                PUSH(change(path, "added", type));
                added++;
            }
            continue;
        }
        if (strcmp(M_TYPE(b), type)) {
            json_t *it = change(path, "type_changed", type);
            json_set(it, "old_type", json_string(M_TYPE(b)));
            PUSH(it);
            type_changed++;
        } else if (strcmp(type, "dir") && (strcmp(M_SUM(b), M_SUM(e)) || M_MODE(b) != M_MODE(e))) {
            json_t *it = change(path, "modified", type);
            if (M_MODE(b) != M_MODE(e))
                json_set(it, "mode_changed", json_pack("{s:I, s:I}", "old", M_MODE(b), "new", M_MODE(e)));
            if (!strcmp(M_SUM(b), M_SUM(e)))
                json_set(it, "content_changed", json_false());
            PUSH(it);
            modified++;
        }
        json_object_del(bmap, path);
    }
    const char *k;
    json_object_foreach(bmap, k, e) {
        if (strcmp(M_TYPE(e), "dir")) {
            PUSH(change(k, "deleted", M_TYPE(e)));
            deleted++;
        }
    }
#undef PUSH
    qsort(items, n, sizeof(*items), cmp_path);
    char *patch = NULL;
    size_t patch_len = 0;
    bool cut = false;
    FILE *pf = open_memstream(&patch, &patch_len);
    size_t written = 0;
    if (with_text)
        r = add_text(inst, c, items, n, pf, &written, &cut, &binary, err);
    fclose(pf);
    json_t *arr = json_array();
    for (size_t j = 0; j < n; j++)
        json_array_append_new(arr, items[j]);
    free(items);
    if (r < 0) {
        free(patch);
        json_decref(arr);
        return r;
    }
    json_t *res = json_object();
    json_set(res, "workspace_id", json_string(inst->id));
    json_set(res, "changed", json_boolean(n > 0));
    json_set(res, "summary",
             json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "total", (json_int_t)n, "added", (json_int_t)added, "modified",
                       (json_int_t)modified, "deleted", (json_int_t)deleted, "type_changed", (json_int_t)type_changed,
                       "binary", (json_int_t)binary));
    json_set(res, "entries", arr);
    if (with_text) {
        json_set(res, "patch", json_stringn(patch ? patch : "", patch_len));
        json_set(res, "patch_truncated", json_boolean(cut));
    }
    json_set(res, "manifest_truncated", json_boolean(json_get_bool(cur, "truncated", false)));
    free(patch);
    *out = res;
    return 0;
}

static int ws_diff_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    struct agent_conn *c = NULL;
    int r = ws_open_op(ctx, args, &inst, &c, err);
    if (r < 0)
        return r;
    /* Reads only (the baseline is immutable): the lock is not needed while
     * the agent hashes and reads the tree. */
    instance_unlock(&inst);
    r = ws_diff_compute(&inst, c, true, result, err);
    agent_conn_close(c);
    return r;
}

static const struct contract_param ws_id_params[] = {PARAM_WORKSPACE_ID, PARAM_END};

const struct contract_op op_workspace_diff = {
    .name = "workspace_diff",
    .cli = "workspace diff",
    .title = "Diff a workspace against its baseline",
    .summary = "Compare /workspace with the create-time baseline.",
    .description = "Compare /workspace with the immutable baseline captured at create: per path status (added, "
                   "modified, deleted, type_changed; directories only when their type changed), binary files "
                   "flagged, a unified diff of text files (patch) and summary counts. Empty when nothing "
                   "changed. Adds nothing to the history.",
    .params = ws_id_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"changed\",\"summary\",\"entries\","
                     "\"patch\"],\"properties\":{\"workspace_id\":" WS_STR ",\"changed\":" WS_BOOL
                     ",\"summary\":{\"type\":\"object\",\"required\":[\"total\",\"added\",\"modified\",\"deleted\","
                     "\"type_changed\",\"binary\"],\"properties\":{\"total\":" WS_INT ",\"added\":" WS_INT
                     ",\"modified\":" WS_INT ",\"deleted\":" WS_INT ",\"type_changed\":" WS_INT ",\"binary\":" WS_INT
                     "}},\"entries\":" WS_ARR_OBJ ",\"patch\":" WS_STR ",\"patch_truncated\":" WS_BOOL
                     ",\"manifest_truncated\":" WS_BOOL "}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = WS_FULL | WS_CORE | WS_REPRO | WS_REVIEW,
    .handler = ws_diff_run,
};
