#include "proto/exec.h"

#include <inttypes.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"

/* ---- the declaration, expanded -------------------------------------- */

#define OPTIONAL_ALWAYS false
#define OPTIONAL_NONZERO true
#define SCOPE_PUBLIC true
#define SCOPE_WIRE false
#define PRESENT_ALWAYS(v) true
#define PRESENT_NONZERO(v) ((v) != 0)

#define AS_FIELD(key_, kind_, presence, scope, member, min_, max_) \
    {.key = key_, .kind = PROTO_K_##kind_, .optional = OPTIONAL_##presence, .min = min_, .max = max_},
static const struct proto_field exec_fields[] = {PROTO_EXEC_RESULT_FIELDS(AS_FIELD)};
const struct proto_shape proto_exec_result_shape = PROTO_SHAPE(exec_fields);

static void pack_INT(json_t *o, const char *key, const int64_t *v)
{
    json_set(o, key, json_integer(*v));
}

static void pack_BOOL(json_t *o, const char *key, const bool *v)
{
    json_set(o, key, json_boolean(*v));
}

static void pack_TEXT(json_t *o, const char *key, const struct proto_exec_stream *s)
{
    /* The text is valid UTF-8 already (proto_exec_stream_set, unpack). */
    json_t *t = json_stringn(s->text ? s->text : "", s->text ? s->len : 0);
    json_set(o, key, t ? t : json_bytes(s->text, s->len, NULL));
}

void proto_exec_result_pack(const struct proto_exec_result *r, bool public_only, json_t *obj)
{
#define PACK(key, kind, presence, scope, member, min, max)                \
    if ((SCOPE_##scope || !public_only) && PRESENT_##presence(r->member)) \
        pack_##kind(obj, key, &r->member);
    PROTO_EXEC_RESULT_FIELDS(PACK)
#undef PACK
}

static void unpack_INT(const json_t *o, const char *key, int64_t *v, bool copy)
{
    *v = json_integer_value(json_object_get(o, key));
}

static void unpack_BOOL(const json_t *o, const char *key, bool *v, bool copy)
{
    *v = json_is_true(json_object_get(o, key));
}

static void unpack_TEXT(const json_t *o, const char *key, struct proto_exec_stream *s, bool copy)
{
    const json_t *t = json_object_get(o, key);
    s->len = json_string_length(t);
    if (!copy)
        return;
    s->text = xmalloc(s->len + 1);
    memcpy(s->text, json_string_value(t), s->len);
    s->text[s->len] = '\0';
}

/* The typed values of a result whose shape was checked; the texts are
 * copied only when asked (the rules need their lengths alone). */
static void result_fill(const json_t *res, struct proto_exec_result *v, bool copy)
{
#define UNPACK(key, kind, presence, scope, member, min, max) unpack_##kind(res, key, &v->member, copy);
    PROTO_EXEC_RESULT_FIELDS(UNPACK)
#undef UNPACK
}

/* ---- result ---------------------------------------------------------- */

void proto_exec_stream_set(struct proto_exec_stream *s, const char *buf, size_t len, uint64_t dropped)
{
    size_t replaced = 0;
    free(s->text);
    s->text = utf8_sanitize(buf, len, &s->len, &replaced);
    s->replaced = (int64_t)replaced;
    s->dropped_bytes = (int64_t)dropped;
    s->truncated = dropped > 0;
}

void proto_exec_result_clear(struct proto_exec_result *r)
{
    free(r->out.text);
    free(r->err.text);
    memset(r, 0, sizeof(*r));
}

static int stream_check(const struct proto_exec_stream *s, const char *name, uint32_t asked, pyro_error *err)
{
    int64_t cap = asked ? asked : PROTO_EXEC_CAPTURE_DEFAULT;
    if (s->truncated != (s->dropped_bytes > 0))
        return err_set(err, -PYRO_E_PROTOCOL, "result.%s_truncated disagrees with %s_dropped_bytes", name, name);
    /* Each U+FFFD (3 bytes) stands for at least one captured byte. */
    if (s->replaced > cap || (int64_t)s->len > cap + 2 * s->replaced)
        return err_set(err, -PYRO_E_PROTOCOL, "result.%s: %zu bytes, more than the %" PRId64 " asked for", name, s->len,
                       cap);
    return 0;
}

static int result_rules(const struct proto_exec_result *v, const struct proto_exec_request *req, pyro_error *err)
{
    if (v->signal && v->exit_code != 128 + v->signal)
        return err_set(err, -PYRO_E_PROTOCOL, "result.exit_code %" PRId64 " disagrees with signal %" PRId64,
                       v->exit_code, v->signal);
    int r = stream_check(&v->out, "stdout", req ? req->stdout_max : PROTO_EXEC_CAPTURE_MAX, err);
    if (r < 0)
        return r;
    return stream_check(&v->err, "stderr", req ? req->stderr_max : PROTO_EXEC_CAPTURE_MAX, err);
}

int proto_exec_result_rules(const json_t *res, const struct proto_exec_request *req, pyro_error *err)
{
    struct proto_exec_result v = {0};
    result_fill(res, &v, false);
    return result_rules(&v, req, err);
}

int proto_exec_result_check(const json_t *res, const struct proto_exec_request *req, pyro_error *err)
{
    int r = proto_shape_check(&proto_exec_result_shape, res, "result", err);
    return r < 0 ? r : proto_exec_result_rules(res, req, err);
}

int proto_exec_result_unpack(const json_t *res, const struct proto_exec_request *req, struct proto_exec_result *out,
                             pyro_error *err)
{
    memset(out, 0, sizeof(*out));
    int r = proto_exec_result_check(res, req, err);
    if (r < 0)
        return r;
    result_fill(res, out, true);
    return 0;
}

/* ---- request --------------------------------------------------------- */

json_t *proto_exec_request_pack(const struct proto_exec_request *req)
{
    json_t *a = json_object();
    if (!a)
        abort();
    if (req->command)
        json_set(a, "command", json_string(req->command));
    if (req->argv) {
        json_t *v = json_array();
        for (const char *const *p = req->argv; *p; p++)
            json_array_append_new(v, json_string(*p));
        json_set(a, "argv", v);
    }
    if (req->cwd)
        json_set(a, "cwd", json_string(req->cwd));
    if (req->env_count) {
        json_t *e = json_object();
        for (size_t i = 0; i < req->env_count; i++)
            json_set(e, req->env[i].name, json_string(req->env[i].value));
        json_set(a, "env", e);
    }
    if (req->timeout_ms)
        json_set(a, "timeout_ms", json_integer(req->timeout_ms));
    if (req->stdout_max)
        json_set(a, "stdout_max", json_integer(req->stdout_max));
    if (req->stderr_max)
        json_set(a, "stderr_max", json_integer(req->stderr_max));
    return a;
}

void proto_exec_request_clear(struct proto_exec_request *req)
{
    free(req->mem_);
    memset(req, 0, sizeof(*req));
}

/* A string without NUL bytes (they cannot reach execve). */
static const char *plain_string(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && strlen(s) == json_string_length(v) ? s : NULL;
}

static uint32_t capture_limit(const json_t *args, const char *key)
{
    long long v = json_get_int(args, key, PROTO_EXEC_CAPTURE_DEFAULT);
    if (v < 0)
        v = 0;
    return v > PROTO_EXEC_CAPTURE_MAX ? PROTO_EXEC_CAPTURE_MAX : (uint32_t)v;
}

int proto_exec_request_unpack(const json_t *args, struct proto_exec_request *out, pyro_error *err)
{
    memset(out, 0, sizeof(*out));
    if (args && !json_is_object(args))
        return err_set(err, -PYRO_E_INVALID, "exec arguments must be an object");
    const json_t *argv = json_object_get(args, "argv"), *cmd = json_object_get(args, "command");
    const json_t *env = json_object_get(args, "env"), *cwd = json_object_get(args, "cwd");
    const json_t *timeout = json_object_get(args, "timeout_ms");
    if ((argv != NULL) == (cmd != NULL))
        return err_set(err, -PYRO_E_INVALID, "exec needs exactly one of \"argv\" and \"command\"");
    if (cmd && !plain_string(cmd))
        return err_set(err, -PYRO_E_INVALID, "\"command\" must be a string without NUL");
    size_t argc = json_array_size(argv);
    if (argv && (!json_is_array(argv) || argc == 0 || argc > PROTO_EXEC_ARGV_MAX))
        return err_set(err, -PYRO_E_INVALID, "\"argv\" must be a non-empty array of strings");
    if (cwd && !plain_string(cwd))
        return err_set(err, -PYRO_E_INVALID, "\"cwd\" must be a string without NUL");
    if (env && !json_is_object(env))
        return err_set(err, -PYRO_E_INVALID, "\"env\" must be an object of strings");
    size_t envc = json_object_size(env);
    if (envc > PROTO_EXEC_ENV_MAX)
        return err_set(err, -PYRO_E_INVALID, "\"env\" has too many entries");
    if (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) < 0))
        return err_set(err, -PYRO_E_INVALID, "\"timeout_ms\" must be >= 0");

    /* One allocation holds both arrays. */
    size_t argv_bytes = argv ? (argc + 1) * sizeof(char *) : 0;
    char *mem = xcalloc(1, argv_bytes + envc * sizeof(struct proto_exec_env) + 1);
    const char **av = argv ? (const char **)(void *)mem : NULL;
    struct proto_exec_env *ev = (struct proto_exec_env *)(void *)(mem + argv_bytes);
    for (size_t i = 0; i < argc; i++) {
        av[i] = plain_string(json_array_get(argv, i));
        if (!av[i]) {
            free(mem);
            return err_set(err, -PYRO_E_INVALID, "\"argv\" must be an array of strings without NUL");
        }
    }
    size_t k = 0;
    const char *name;
    const json_t *val;
    json_object_foreach((json_t *)env, name, val) {
        if (!*name || strchr(name, '=') || !plain_string(val)) {
            free(mem);
            return err_set(err, -PYRO_E_INVALID, "\"env\" entry '%.*s' is invalid",
                           (int)proto_text_cut(name, strlen(name), 128), name);
        }
        ev[k++] = (struct proto_exec_env){name, json_string_value(val)};
    }
    out->command = cmd ? json_string_value(cmd) : NULL;
    out->argv = av;
    out->cwd = cwd ? json_string_value(cwd) : "/";
    out->env = ev;
    out->env_count = k;
    out->timeout_ms = timeout ? json_integer_value(timeout) : 0;
    out->stdout_max = capture_limit(args, "stdout_max");
    out->stderr_max = capture_limit(args, "stderr_max");
    out->mem_ = mem;
    return 0;
}
