/* Workspace secrets: checked at create, kept in a 0600 store beside the
 * record, written into the guest through the agent, exported per process
 * by secret_env (ws_secrets.h). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/record.h"
#include "lib/host/hostpaths.h"
#include "lib/vm/instance_call.h"
#include "lib/workspace/ws_secrets.h"

#define WS_SECRETS_TIMEOUT_MS 30000

static bool env_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > WS_SECRET_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return false;
    return true;
}

/* A value's checks; the message never holds the value. */
static int value_check(const char *name, const char *v, size_t n, pyro_error *err)
{
    if (memchr(v, '\0', n))
        return err_set(err, -PYRO_E_INVALID, "secret %s: the value holds a NUL byte", name);
    if (!utf8_valid(v, n))
        return err_set(err, -PYRO_E_INVALID, "secret %s: the value is not valid UTF-8", name);
    if (n < REDACT_VALUE_MIN || n > REDACT_VALUE_MAX)
        return err_set(err, -PYRO_E_INVALID,
                       "secret %s: values must be %d to %d bytes long (got %zu); shorter ones would be masked "
                       "all over ordinary output",
                       name, REDACT_VALUE_MIN, REDACT_VALUE_MAX, n);
    return 0;
}

/* The value of a secret file: a regular file, one final newline dropped. */
static int file_value(struct pyro_ctx *ctx, const char *param, const char *name, const char *path, char **out,
                      size_t *len, pyro_error *err)
{
    _cleanup_close_ int fd = -1;
    int r = host_open_source(ctx, param, path, &fd, NULL, err);
    if (r < 0)
        return err_prefix(err, "secret %s", name);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return err_errno(err, errno, "secret %s: %s", name, path);
    if (!S_ISREG(st.st_mode))
        return err_set(err, -PYRO_E_INVALID, "secret %s: %s is not a regular file", name, path);
    if (st.st_size > REDACT_VALUE_MAX + 2)
        return err_set(err, -PYRO_E_INVALID, "secret %s: %s is larger than %d bytes", name, path, REDACT_VALUE_MAX);
    char *b = xmalloc(REDACT_VALUE_MAX + 3);
    size_t n = 0;
    while (n < REDACT_VALUE_MAX + 3) {
        ssize_t k = pread(fd, b + n, REDACT_VALUE_MAX + 3 - n, (off_t)n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int e = errno;
            free(b);
            return err_errno(err, e, "secret %s: read %s", name, path);
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    if (n > 0 && b[n - 1] == '\n')
        n--;
    if (n > 0 && b[n - 1] == '\r')
        n--;
    *out = b;
    *len = n;
    return 0;
}

static int store_add(json_t *store, const char *name, const char *kind, const char *v, size_t n, pyro_error *err)
{
    if (!env_name_ok(name))
        return err_set(err, -PYRO_E_INVALID,
                       "secret name '%.64s' is not an environment variable name (letters, digits and '_', not "
                       "starting with a digit, at most %d)",
                       name, WS_SECRET_NAME_MAX);
    size_t i;
    json_t *e;
    json_array_foreach(store, i, e)
        if (!strcmp(json_get_str(e, "name", ""), name))
            return err_set(err, -PYRO_E_INVALID, "secret %s is defined twice", name);
    int r = value_check(name, v, n, err);
    if (r < 0)
        return r;
    if (json_array_size(store) >= REDACT_VALUES_MAX)
        return err_set(err, -PYRO_E_LIMIT, "a workspace has at most %d secrets", REDACT_VALUES_MAX);
    json_array_append_new(store, json_pack("{s:s, s:s, s:s%}", "name", name, "source_kind", kind, "value", v, n));
    return 0;
}

int ws_secrets_prepare(struct pyro_ctx *ctx, const json_t *args, json_t **out, pyro_error *err)
{
    *out = NULL;
    json_auto_t *store = json_array();
    size_t i;
    json_t *e;
    int r = 0;
    json_array_foreach(json_object_get(args, "secrets"), i, e) {
        const char *name = json_get_str(e, "name", NULL);
        json_t *val = json_object_get(e, "value"), *file = json_object_get(e, "file_path");
        const char *k;
        json_t *m;
        json_object_foreach(e, k, m)
            if (strcmp(k, "name") && strcmp(k, "value") && strcmp(k, "file_path"))
                return err_set(err, -PYRO_E_INVALID,
                               "secrets[%zu]: unknown key '%.64s' (expected name, value or "
                               "file_path)",
                               i, k);
        if (!name || !val == !file)
            return err_set(err, -PYRO_E_INVALID, "secrets[%zu] needs a name and exactly one of value or file_path", i);
        if (val) {
            r = store_add(store, name, "literal", json_string_value(val), json_string_length(val), err);
        } else {
            _cleanup_free_ char *v = NULL;
            size_t n = 0;
            r = file_value(ctx, "secrets.file_path", name, json_string_value(file), &v, &n, err);
            if (r == 0)
                r = store_add(store, name, "file", v, n, err);
            if (v)
                explicit_bzero(v, n);
        }
        if (r < 0)
            return r;
    }
    const char *k;
    json_object_foreach(json_object_get(args, "secret"), k, e) {
        r = store_add(store, k, "literal", json_string_value(e), json_string_length(e), err);
        if (r < 0)
            return r;
    }
    json_object_foreach(json_object_get(args, "secret_file"), k, e) {
        _cleanup_free_ char *v = NULL;
        size_t n = 0;
        r = file_value(ctx, "secret_file", k, json_string_value(e), &v, &n, err);
        if (r == 0)
            r = store_add(store, k, "file", v, n, err);
        if (v)
            explicit_bzero(v, n);
        if (r < 0)
            return r;
    }
    if (json_array_size(store))
        *out = json_incref(store);
    return 0;
}

json_t *ws_secrets_meta(const json_t *store)
{
    json_t *a = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(store, i, e)
        json_array_append_new(a, json_pack("{s:O, s:O}", "name", json_object_get(e, "name"), "source_kind",
                                           json_object_get(e, "source_kind")));
    return a;
}

int ws_secrets_save(const struct instance *inst, const json_t *store, pyro_error *err)
{
    if (!store)
        return 0;
    json_auto_t *doc = json_pack("{s:i, s:O}", "schema_version", 1, "secrets", store);
    _cleanup_free_ char *text = json_dump(doc, JSON_COMPACT);
    _cleanup_free_ char *p = xasprintf("%s/%s", inst->dir, WS_SECRETS_STORE);
    int r = write_atomic(p, text, strlen(text), 0600, err);
    explicit_bzero(text, strlen(text));
    return r;
}

/* The store's secrets, or NULL (none, or an unreadable store). */
static json_t *store_load(const struct instance *inst)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", inst->dir, WS_SECRETS_STORE);
    json_t *doc = NULL;
    if (access(p, F_OK) < 0 || record_load(p, &doc, NULL) < 0)
        return NULL;
    json_t *s = json_incref(json_object_get(doc, "secrets"));
    json_decref(doc);
    if (!json_is_array(s) || !json_array_size(s)) {
        json_decref(s);
        return NULL;
    }
    return s;
}

struct membuf {
    char *p;
    size_t len, cap;
};

static la_ssize_t mem_write(struct archive *a, void *arg, const void *buf, size_t n)
{
    (void)a;
    struct membuf *m = arg;
    if (m->len + n > m->cap) {
        size_t cap = (m->len + n) * 2;
        char *p = xmalloc(cap);
        if (m->len)
            memcpy(p, m->p, m->len);
        if (m->p)
            explicit_bzero(m->p, m->cap);
        free(m->p);
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->len, buf, n);
    m->len += n;
    return (la_ssize_t)n;
}

/* A tar of the guest directory (0700) and one file per secret (0400). */
static int secrets_tar(const json_t *store, struct membuf *out, pyro_error *err)
{
    const char *dir = strrchr(WS_SECRETS_GUEST_DIR, '/') + 1;
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    int rc = 0;
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_open2(a, out, NULL, mem_write, NULL, NULL) != ARCHIVE_OK)
        rc = -EIO;
    archive_entry_set_pathname(e, dir);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0700);
    if (rc == 0 && archive_write_header(a, e) != ARCHIVE_OK)
        rc = -EIO;
    size_t i;
    json_t *s;
    json_array_foreach(store, i, s) {
        const char *name = json_get_str(s, "name", "");
        json_t *v = json_object_get(s, "value");
        if (rc < 0 || !env_name_ok(name) || !json_is_string(v)) /* the store is ours, but still checked */
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
        archive_entry_free(e);
        e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0400);
        archive_entry_set_size(e, (la_int64_t)json_string_length(v));
        if (archive_write_header(a, e) != ARCHIVE_OK ||
            archive_write_data(a, json_string_value(v), json_string_length(v)) != (la_ssize_t)json_string_length(v))
            rc = -EIO;
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        rc = -EIO;
    if (rc < 0)
        err_set(err, rc, "make the secrets' archive: %s", archive_error_string(a));
    archive_entry_free(e);
    archive_write_free(a);
    return rc;
}

int ws_secrets_materialize(const struct instance *inst, pyro_error *err)
{
    json_auto_t *store = store_load(inst);
    if (!store)
        return 0;
    /* The agent writes the files from a tar (no shell, so images without
     * one get them too; the values never appear in a command line): the
     * directory 0700, each file 0400, both the guest root's, under the
     * guest's /run (memory). */
    struct membuf tar = {0};
    int r = secrets_tar(store, &tar, err);
    struct agent_conn *c = NULL;
    if (r == 0)
        r = instance_agent_open(inst, &c, err);
    if (r == 0) {
        json_auto_t *req = json_pack("{s:s, s:{s:s, s:s, s:i, s:i}}", "op", "tar_in", "args", "root", "/", "path",
                                     "run", "max_entries", REDACT_VALUES_MAX + 1, "max_bytes",
                                     REDACT_VALUES_MAX * REDACT_VALUE_MAX);
        r = agent_call(c, req, tar.p, tar.len, NULL, NULL, WS_SECRETS_TIMEOUT_MS, err);
        agent_conn_close(c);
    }
    if (tar.p)
        explicit_bzero(tar.p, tar.cap);
    free(tar.p);
    return r < 0 ? err_prefix(err, "write the secrets into %s in the guest", WS_SECRETS_GUEST_DIR) : 0;
}

struct redact *ws_secrets_redactor(const struct instance *inst)
{
    json_auto_t *store = store_load(inst);
    return ws_secrets_redactor_of(store);
}

struct redact *ws_secrets_redactor_of(const json_t *store)
{
    if (!json_array_size(store))
        return NULL;
    struct redact *red = redact_new();
    size_t i;
    json_t *e;
    json_array_foreach(store, i, e) {
        json_t *v = json_object_get(e, "value");
        if (json_is_string(v))
            (void)redact_add(red, json_string_value(v), json_string_length(v));
    }
    return red;
}

int ws_secrets_env(const struct instance *inst, const json_t *secret_env, json_t **out, pyro_error *err)
{
    *out = NULL;
    if (!json_object_size(secret_env))
        return 0;
    json_auto_t *store = store_load(inst);
    json_auto_t *env = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)secret_env, k, v) {
        const char *var = json_string_value(v);
        if (!var || !env_name_ok(var))
            return err_set(err, -PYRO_E_INVALID, "secret_env: '%.64s' is not an environment variable name",
                           var ? var : "");
        json_t *found = NULL;
        size_t i;
        json_t *e;
        json_array_foreach(store, i, e)
            if (!strcmp(json_get_str(e, "name", ""), k))
                found = e;
        if (!found) {
            _cleanup_free_ char *have = NULL;
            json_array_foreach(store, i, e) {
                char *s = xasprintf("%s%s%s", have ? have : "", have ? ", " : "", json_get_str(e, "name", ""));
                free(have);
                have = s;
            }
            return err_set(err, -PYRO_E_INVALID, "secret_env names unknown secret '%.64s' (%s%s)", k,
                           have ? "the workspace has: " : "the workspace has no secrets", have ? have : "");
        }
        json_set(env, var, json_copy(json_object_get(found, "value")));
    }
    *out = json_incref(env);
    return 0;
}
