/* Workspace plumbing shared by the workspace operations: the record as
 * results show it, guest paths, agent requests and tree transfers, history
 * and events. Opening (with crash recovery) is in ws_open.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/record.h"
#include "base/relpath.h"
#include "base/timeutil.h"
#include "lib/vm/instance_call.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_archive.h"
#include "lib/workspace/ws_secrets.h"

const char *ws_state(const struct instance *inst)
{
    const char *s = instance_state(inst);
    return !strcmp(s, "running") ? "started" : s;
}

int ws_require_running(const struct instance *inst, pyro_error *err)
{
    if (instance_monitor_alive(inst))
        return 0;
    return err_set(err, -PYRO_E_STATE, "workspace %s is %s, not started: run 'pyro workspace start %s'", inst->id,
                   ws_state(inst), inst->id);
}

json_t *ws_describe(const struct instance *inst)
{
    json_t *o = json_object();
    json_set(o, "workspace_id", json_string(inst->id));
    json_t *name = json_object_get(inst->rec, "name");
    json_set(o, "name", name ? json_copy(name) : json_null());
    json_t *labels = json_object_get(inst->rec, "labels");
    json_set(o, "labels", labels ? json_deep_copy(labels) : json_object());
    json_set(o, "state", json_string(ws_state(inst)));
    const char *copy[] = {"environment",      "environment_version", "vcpu_count",       "mem_mib",
                          "ttl_seconds",      "allow_host_compat",   "created_at",       "expires_at",
                          "last_activity_at", "stopped_at",          "workspace_seed",   "command_count",
                          "reset_count",      "last_command",        "backend_fallback", "secrets"};
    for (size_t i = 0; i < ARRAY_SIZE(copy); i++) {
        json_t *v = json_object_get(inst->rec, copy[i]);
        if (v)
            json_set(o, copy[i], json_deep_copy(v));
    }
    json_t *lr = json_object_get(inst->rec, "last_reset_at");
    json_set(o, "last_reset_at", lr ? json_copy(lr) : json_null());
    json_set(o, "network_policy", json_string(json_get_str(inst->rec, "network_policy", "off")));
    json_t *allow = json_object_get(inst->rec, "allow_hosts");
    if (allow)
        json_set(o, "allow_hosts", json_deep_copy(allow));
    json_set(o, "workspace_path", json_string(WS_ROOT));
    json_set(o, "snapshot_count", json_integer((json_int_t)json_array_size(json_object_get(inst->rec, "snapshots"))));
    instance_isolation(inst, o);
    if (instance_monitor_alive(inst))
        json_set(o, "started_at", json_string(json_get_str(inst->mon, "started_at", "")));
    else if (inst->mon && json_object_get(inst->mon, "reason"))
        json_set(o, "reason", json_string(json_get_str(inst->mon, "reason", "")));
    return o;
}

int ws_touch(struct instance *inst, pyro_error *err)
{
    char ts[PYRO_TIME_ISO_LEN];
    time_iso(ts, time_wall_ms());
    json_set(inst->rec, "last_activity_at", json_string(ts));
    return instance_save(inst, err);
}

int ws_guest_rel(const char *path, char **rel, pyro_error *err)
{
    const char *p = path ? path : "";
    if (p[0] == '/') {
        size_t n = strlen(WS_ROOT);
        if (strncmp(p, WS_ROOT, n) != 0 || (p[n] != '/' && p[n] != '\0'))
            return err_set(err, -PYRO_E_INVALID, "path '%s' is outside %s", path, WS_ROOT);
        p += n;
        while (*p == '/')
            p++;
    }
    int r = relpath_normalize(p, RELPATH_ROOT, rel, err);
    if (r < 0)
        err_prefix(err, "paths must stay inside %s", WS_ROOT);
    return r;
}

char *ws_guest_abs(const char *rel)
{
    return *rel ? xasprintf("%s/%s", WS_ROOT, rel) : xstrdup(WS_ROOT);
}

int ws_agent(const struct instance *inst, struct agent_conn **out, pyro_error *err)
{
    int r = ws_require_running(inst, err);
    if (r < 0)
        return r;
    return instance_agent_open(inst, out, err);
}

int ws_call(struct agent_conn *c, const char *op, json_t *args, json_t **res, struct agent_body *body, pyro_error *err)
{
    if (!json_object_get(args, "root"))
        json_set(args, "root", json_string(WS_ROOT));
    json_auto_t *req = json_pack("{s:s, s:O}", "op", op, "args", args);
    return agent_call(c, req, NULL, 0, res, body, WS_CALL_TIMEOUT_MS, err);
}

static int tmpfile_in(const char *dir, pyro_error *err)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_errno(err, errno, "create a temporary file in %s", dir);
    return fd;
}

static int stream_in_fd(struct agent_conn *c, const char *root, const char *path, int fd, json_t **res, pyro_error *err)
{
    if (lseek(fd, 0, SEEK_SET) < 0)
        return err_errno(err, errno, "seek");
    json_auto_t *req = json_pack("{s:s, s:{s:s, s:s, s:I, s:I}}", "op", "tar_in", "args", "root", root, "path", path,
                                 "max_entries", (json_int_t)WS_IMPORT_MAX_ENTRIES, "max_bytes",
                                 (json_int_t)WS_IMPORT_MAX_BYTES);
    return agent_call_stream_in(c, req, agent_source_fd, &fd, res, WS_TREE_TIMEOUT_MS, err);
}

int ws_import(struct instance *inst, struct agent_conn *c, int src_fd, const char *source, const char *root,
              const char *path, json_t **stats, pyro_error *err)
{
    _cleanup_close_ int fd = tmpfile_in(inst->dir, err);
    if (fd < 0)
        return fd;
    struct ws_import_limits lim = {WS_IMPORT_MAX_ENTRIES, WS_IMPORT_MAX_BYTES};
    json_auto_t *st = NULL;
    int r = ws_archive_build_fd(src_fd, source, fd, &lim, &st, err);
    if (r < 0)
        return r;
    json_t *res = NULL;
    r = stream_in_fd(c, root, path, fd, &res, err);
    if (r < 0)
        return r;
    json_decref(res);
    if (stats)
        *stats = json_incref(st);
    return 0;
}

int ws_tar_out(struct agent_conn *c, const char *rel, int fd, json_t **res, pyro_error *err)
{
    json_auto_t *req = json_pack("{s:s, s:{s:s, s:s}}", "op", "tar_out", "args", "root", WS_ROOT, "path", rel);
    return agent_call_stream_out(c, req, agent_sink_fd, &fd, res, WS_TREE_TIMEOUT_MS, err);
}

int ws_restore(struct agent_conn *c, const char *tar_path, pyro_error *err)
{
    _cleanup_close_ int fd = open(tar_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open %s", tar_path);
    json_t *res = NULL;
    int r = stream_in_fd(c, "/", "workspace", fd, &res, err);
    json_decref(res);
    return r;
}

int ws_capture(struct instance *inst, struct agent_conn *c, const char *name, json_t **res, pyro_error *err)
{
    _cleanup_close_ int fd = tmpfile_in(inst->dir, err);
    if (fd < 0)
        return fd;
    json_t *out = NULL;
    int r = ws_tar_out(c, "", fd, &out, err);
    if (r < 0)
        return r;
    if (fsync(fd) < 0) {
        json_decref(out);
        return err_errno(err, errno, "fsync");
    }
    /* Link the finished file under a temporary name, then rename it into
     * place: the target name never shows a partial archive. */
    const char *slash = strrchr(name, '/');
    _cleanup_free_ char *tmp = xasprintf("%s/.tmp-%d-%s", inst->dir, (int)getpid(), slash ? slash + 1 : name);
    _cleanup_free_ char *dst = xasprintf("%s/%s", inst->dir, name);
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    unlink(tmp);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0 || rename(tmp, dst) < 0) {
        int e = errno;
        unlink(tmp);
        json_decref(out);
        return err_errno(err, e, "write %s", dst);
    }
    _cleanup_close_ int dfd = open(inst->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
    if (res)
        *res = out;
    else
        json_decref(out);
    return 0;
}

int ws_manifest(struct agent_conn *c, json_t **res, pyro_error *err)
{
    json_auto_t *args = json_pack("{s:s}", "path", "");
    json_auto_t *req = json_pack("{s:s, s:O}", "op", "manifest", "args", args);
    json_set(json_object_get(req, "args"), "root", json_string(WS_ROOT));
    return agent_call(c, req, NULL, 0, res, NULL, WS_TREE_TIMEOUT_MS, err);
}

/* ---- history and events ---------------------------------------------- */

static int jsonl_append(const struct instance *inst, const char *name, json_t *entry, pyro_error *err)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", inst->dir, name);
    /* Journals never hold a secret value. */
    struct redact *red = ws_secrets_redactor(inst);
    json_auto_t *safe = redact_json(red, entry);
    redact_free(red);
    _cleanup_free_ char *line = json_dump(safe, JSON_COMPACT);
    _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_errno(err, errno, "open %s", p);
    size_t n = strlen(line);
    line[n] = '\n'; /* replaces the terminator; written as one append */
    if (write(fd, line, n + 1) != (ssize_t)(n + 1))
        return err_errno(err, errno, "append to %s", p);
    line[n] = '\0';
    return 0;
}

json_t *ws_jsonl_load(const struct instance *inst, const char *name, size_t max)
{
    json_t *arr = json_array();
    _cleanup_free_ char *p = xasprintf("%s/%s", inst->dir, name);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    if (!f)
        return arr;
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *v = NULL;
        /* A line cut by a crash does not parse and is skipped. */
        if (line[n - 1] != '\n' || json_parse(line, (size_t)n - 1, &v, NULL) < 0 || !json_is_object(v)) {
            json_decref(v);
            continue;
        }
        json_array_append_new(arr, v);
        if (json_array_size(arr) > max)
            json_array_remove(arr, 0);
    }
    return arr;
}

int ws_history_append(struct instance *inst, json_t *entry, pyro_error *err)
{
    int r = jsonl_append(inst, "history.jsonl", entry, err);
    if (r < 0)
        return r;
    /* Keep the file bounded: past twice the limit, rewrite the last ones. */
    long long total = json_get_int(inst->rec, "history_lines", 0) + 1;
    if (total > 2 * WS_HISTORY_MAX_ENTRIES) {
        json_auto_t *keep = ws_jsonl_load(inst, "history.jsonl", WS_HISTORY_MAX_ENTRIES);
        FILE *m;
        char *buf = NULL;
        size_t len = 0;
        m = open_memstream(&buf, &len);
        size_t i;
        json_t *v;
        json_array_foreach(keep, i, v) {
            _cleanup_free_ char *t = json_dump(v, JSON_COMPACT);
            fprintf(m, "%s\n", t);
        }
        fclose(m);
        _cleanup_free_ char *p = xasprintf("%s/history.jsonl", inst->dir);
        r = write_atomic(p, buf, len, 0600, err);
        free(buf);
        if (r < 0)
            return r;
        total = (long long)json_array_size(keep);
    }
    json_set(inst->rec, "history_lines", json_integer(total));
    return 0;
}

void ws_event(struct instance *inst, const char *kind, json_t *details)
{
    char ts[PYRO_TIME_ISO_LEN];
    time_iso(ts, time_wall_ms());
    json_auto_t *e = json_pack("{s:s, s:s}", "kind", kind, "at", ts);
    if (details)
        json_object_update(e, details);
    json_decref(details);
    pyro_error err = {0};
    if (jsonl_append(inst, "events.jsonl", e, &err) < 0)
        log_debug("workspace %s: event: %s", inst->id, err.message);
}

int ws_journals_clear(struct instance *inst, pyro_error *err)
{
    const char *names[] = {"history.jsonl", "events.jsonl"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", inst->dir, names[i]);
        if (unlink(p) < 0 && errno != ENOENT)
            return err_errno(err, errno, "remove %s", p);
    }
    json_set(inst->rec, "history_lines", json_integer(0));
    return 0;
}

static char *base64(const unsigned char *data, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)data[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

json_t *ws_content(const void *data, size_t len, const char **encoding)
{
    if (utf8_valid(data, len)) {
        *encoding = "utf-8";
        return json_stringn(len ? data : "", len);
    }
    *encoding = "base64";
    _cleanup_free_ char *b64 = base64(data, len);
    return json_string(b64);
}
