/* Workspace secrets: checked at create, kept in a 0600 store beside the
 * record, written into the guest through the agent, exported per process
 * by secret_env (ws_secrets.h). */
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
#include "proto/exec.h"

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

int ws_secrets_materialize(const struct instance *inst, pyro_error *err)
{
    json_auto_t *store = store_load(inst);
    if (!store)
        return 0;
    /* One shell in the guest writes the files from its environment (the
     * values never appear in a command line): the directory 0700, each
     * file 0400, both root's, under the guest's /run (memory). */
    size_t n = json_array_size(store);
    struct proto_exec_env *env = xcalloc(n, sizeof(*env));
    char **names = xcalloc(n, sizeof(*names));
    _cleanup_free_ char *script = xstrdup("set -e; umask 077; rm -rf " WS_SECRETS_GUEST_DIR
                                          "; mkdir -m 0700 " WS_SECRETS_GUEST_DIR);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(store, i);
        const char *name = json_get_str(e, "name", "");
        if (!env_name_ok(name)) /* the store is ours, but never trusted into a script */
            continue;
        names[i] = xasprintf("PYRO_SECRET_%zu", i);
        env[i] = (struct proto_exec_env){names[i], json_get_str(e, "value", "")};
        char *s = xasprintf("%s; printf %%s \"$%s\" > %s/%s; chmod 0400 %s/%s", script, names[i], WS_SECRETS_GUEST_DIR,
                            name, WS_SECRETS_GUEST_DIR, name);
        free(script);
        script = s;
    }
    const char *const argv[] = {"/bin/sh", "-c", script, NULL};
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        if (names[i])
            env[used++] = env[i];
    const struct proto_exec_request req = {
        .argv = argv,
        .cwd = "/",
        .env = env,
        .env_count = used,
        .timeout_ms = WS_SECRETS_TIMEOUT_MS,
        .stdout_max = 4096,
        .stderr_max = 4096,
    };
    json_auto_t *args = proto_exec_request_pack(&req);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(env);
    json_auto_t *res = NULL;
    int r = instance_call(inst, "exec", args, WS_SECRETS_TIMEOUT_MS + 5000, &res, err);
    if (r < 0)
        return err_prefix(err, "write the secrets into the guest");
    if (json_get_int(res, "exit_code", 1) != 0)
        return err_set(err, -PYRO_E_STATE, "could not write the secrets into %s in the guest (exit code %lld)",
                       WS_SECRETS_GUEST_DIR, json_get_int(res, "exit_code", 1));
    return 0;
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
