#include "lib/contract/contract.h"
#include "lib/contract/params.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"

const char *const contract_backend_choices[] = {"auto", "sandbox", "vm", NULL};

const struct contract_surface_info contract_surfaces[SURFACE_COUNT] = {
    [SURFACE_VM_RUN] = {"vm-run", false, true, "Only vm_run: one-shot commands in a fresh sandbox."},
    [SURFACE_WORKSPACE_CORE] = {"workspace-core", false, true,
                                "The persistent-chat surface with narrowed schemas (default)."},
    [SURFACE_WORKSPACE_FULL] = {"workspace-full", false, false, "Every tool with every parameter."},
    [SURFACE_MODE_REPRO_FIX] = {"repro-fix", true, true, "Reproduce a failure, patch it, prove the fix."},
    [SURFACE_MODE_INSPECT] = {"inspect", true, true, "Look at unknown or untrusted code without changing it."},
    [SURFACE_MODE_COLD_START] = {"cold-start", true, true, "Validate that a fresh checkout builds and tests."},
    [SURFACE_MODE_REVIEW_EVAL] = {"review-eval", true, true, "Review a change and evaluate it with commands."},
};

int contract_surface_find(const char *name, bool is_mode)
{
    for (int i = 0; i < SURFACE_COUNT; i++)
        if (contract_surfaces[i].is_mode == is_mode && name && strcmp(contract_surfaces[i].name, name) == 0)
            return i;
    return -1;
}

const struct contract_op *contract_op_find(const char *name)
{
    for (size_t i = 0; name && contract_ops[i]; i++)
        if (strcmp(contract_ops[i]->name, name) == 0)
            return contract_ops[i];
    return NULL;
}

const struct contract_param *contract_op_param(const struct contract_op *op, const char *name)
{
    for (const struct contract_param *p = op->params; p && p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

bool contract_op_exposed(const struct contract_op *op, enum contract_surface s)
{
    if (s == SURFACE_ALL)
        return true;
    return (op->exposure & EXPOSE(s)) != 0;
}

/* Whether parameter p exists on surface s. */
static bool param_visible(const struct contract_param *p, enum contract_surface s)
{
    if (s == SURFACE_ALL)
        return true;
    if (p->flags & PF_CLI_ONLY)
        return false;
    if ((p->flags & PF_FULL_ONLY) && contract_surfaces[s].narrowed)
        return false;
    return true;
}

/* p's alternative (its `alt`) when that is visible on surface s, else NULL. */
static const struct contract_param *alt_visible(const struct contract_op *op, const struct contract_param *p,
                                                enum contract_surface s)
{
    const struct contract_param *a = p->alt ? contract_op_param(op, p->alt) : NULL;
    return a && param_visible(a, s) ? a : NULL;
}

static bool arg_given(const json_t *args, const char *name)
{
    const json_t *v = json_object_get(args, name);
    return v && !json_is_null(v);
}

static long long str_max(const struct contract_param *p)
{
    return p->max > 0 ? p->max : 4096;
}

static long long items_max(const struct contract_param *p)
{
    return p->max > 0 ? p->max : 64;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    default: return "unknown";
    }
}

static int check_string(const char *op, const struct contract_param *p, const char *s, size_t len, pyro_error *err)
{
    if ((long long)len > str_max(p))
        return err_set(err, -PYRO_E_INVALID, "%s: %s is %zu bytes long, at most %lld allowed", op, p->name, len,
                       str_max(p));
    if (memchr(s, '\0', len))
        return err_set(err, -PYRO_E_INVALID, "%s: %s contains a NUL character", op, p->name);
    if (p->choices) {
        char allowed[512] = "";
        for (const char *const *c = p->choices; *c; c++) {
            if (strcmp(*c, s) == 0)
                return 0;
            size_t l = strlen(allowed);
            snprintf(allowed + l, sizeof(allowed) - l, "%s%s", l ? ", " : "", *c);
        }
        return err_set(err, -PYRO_E_INVALID, "%s: %s must be one of %s, got '%s'", op, p->name, allowed, s);
    }
    return 0;
}

/* A port number of a PT_PORTS item: 1..65535 (host_port: 0 or null for
 * any, when any_ok). */
static int port_number(const char *op, const struct contract_param *p, size_t i, const char *key, const json_t *v,
                       bool any_ok, int *out, pyro_error *err)
{
    if (any_ok && (!v || json_is_null(v))) {
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < (any_ok ? 0 : 1) || json_integer_value(v) > 65535)
        return err_set(err, -PYRO_E_INVALID, "%s: %s[%zu].%s must be a port in 1..65535", op, p->name, i, key);
    *out = (int)json_integer_value(v);
    return 0;
}

/* "GUEST" or "HOST:GUEST", decimal ports in 1..65535. */
static int port_string(const char *op, const struct contract_param *p, size_t i, const char *s, int *host, int *guest,
                       pyro_error *err)
{
    unsigned long a = 0, b = 0;
    int n = 0, len = (int)strlen(s);
    bool ok = len > 0 && len <= 11 && strspn(s, "0123456789:") == (size_t)len;
    if (ok && strchr(s, ':'))
        ok = sscanf(s, "%5lu:%5lu%n", &a, &b, &n) == 2 && n == len && s[0] != ':' && a >= 1;
    else if (ok)
        ok = sscanf(s, "%5lu%n", &b, &n) == 1 && n == len;
    if (!ok || b < 1 || a > 65535 || b > 65535)
        return err_set(err, -PYRO_E_INVALID,
                       "%s: %s[%zu] must be [HOST_PORT:]GUEST_PORT with ports in 1..65535, got '%.32s'", op, p->name, i,
                       s);
    *host = (int)a;
    *guest = (int)b;
    return 0;
}

static int validate_ports(const char *op, const struct contract_param *p, const json_t *v, json_t **out,
                          pyro_error *err)
{
    if (!json_is_array(v))
        return err_set(err, -PYRO_E_INVALID, "%s: %s must be an array, got %s", op, p->name, type_name(v));
    if ((long long)json_array_size(v) > items_max(p))
        return err_set(err, -PYRO_E_INVALID, "%s: %s has %zu items, at most %lld allowed", op, p->name,
                       json_array_size(v), items_max(p));
    json_auto_t *res = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        int host = 0, guest = 0, r;
        if (json_is_string(e)) {
            r = port_string(op, p, i, json_string_value(e), &host, &guest, err);
        } else if (json_is_object(e)) {
            const char *k;
            json_t *x;
            json_object_foreach(e, k, x)
                if (strcmp(k, "guest_port") && strcmp(k, "host_port"))
                    return err_set(err, -PYRO_E_INVALID, "%s: %s[%zu] has an unknown key '%.64s'", op, p->name, i, k);
            r = port_number(op, p, i, "guest_port", json_object_get(e, "guest_port"), false, &guest, err);
            if (r == 0)
                r = port_number(op, p, i, "host_port", json_object_get(e, "host_port"), true, &host, err);
        } else {
            r = err_set(err, -PYRO_E_INVALID, "%s: %s[%zu] must be an object or a string, got %s", op, p->name, i,
                        type_name(e));
        }
        if (r < 0)
            return r;
        json_array_append_new(res, json_pack("{s:i, s:i}", "guest_port", guest, "host_port", host));
    }
    *out = json_incref(res);
    return 0;
}

/* A PF_OBJECTS list: objects of at most 8 string members each. */
static int validate_objects(const char *op, const struct contract_param *p, const json_t *v, json_t **out,
                            pyro_error *err)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v))
        return err_set(err, -PYRO_E_INVALID, "%s: %s must be an array of objects, got %s", op, p->name, type_name(v));
    if ((long long)json_array_size(v) > items_max(p))
        return err_set(err, -PYRO_E_INVALID, "%s: %s has %zu items, at most %lld allowed", op, p->name,
                       json_array_size(v), items_max(p));
    json_array_foreach(v, i, e) {
        const char *k;
        json_t *m;
        if (!json_is_object(e) || json_object_size(e) > 8)
            return err_set(err, -PYRO_E_INVALID, "%s: %s[%zu] must be an object of at most 8 strings", op, p->name, i);
        json_object_foreach(e, k, m) {
            if (!json_is_string(m))
                return err_set(err, -PYRO_E_INVALID, "%s: %s[%zu].%.64s must be a string, got %s", op, p->name, i, k,
                               type_name(m));
            int rc = check_string(op, p, json_string_value(m), json_string_length(m), err);
            if (rc < 0)
                return rc;
        }
    }
    *out = json_deep_copy(v);
    return 0;
}

static int validate_value(const char *op, const struct contract_param *p, const json_t *v, json_t **out,
                          pyro_error *err)
{
    switch (p->type) {
    case PT_STRING:
        if (!json_is_string(v))
            return err_set(err, -PYRO_E_INVALID, "%s: %s must be a string, got %s", op, p->name, type_name(v));
        int r = check_string(op, p, json_string_value(v), json_string_length(v), err);
        if (r < 0)
            return r;
        *out = json_copy((json_t *)v);
        return 0;
    case PT_INT: {
        long long n;
        if (json_is_integer(v))
            n = (long long)json_integer_value(v);
        else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15)
            n = (long long)json_real_value(v);
        else
            return err_set(err, -PYRO_E_INVALID, "%s: %s must be an integer, got %s", op, p->name, type_name(v));
        if (n < p->min || n > p->max)
            return err_set(err, -PYRO_E_INVALID, "%s: %s must be between %lld and %lld, got %lld", op, p->name, p->min,
                           p->max, n);
        *out = json_integer(n);
        return 0;
    }
    case PT_BOOL:
        if (!json_is_boolean(v))
            return err_set(err, -PYRO_E_INVALID, "%s: %s must be a boolean, got %s", op, p->name, type_name(v));
        *out = json_boolean(json_is_true(v));
        return 0;
    case PT_MAP: {
        const char *k;
        json_t *e;
        if (!json_is_object(v))
            return err_set(err, -PYRO_E_INVALID, "%s: %s must be an object of strings, got %s", op, p->name,
                           type_name(v));
        if ((long long)json_object_size(v) > items_max(p))
            return err_set(err, -PYRO_E_INVALID, "%s: %s has %zu entries, at most %lld allowed", op, p->name,
                           json_object_size(v), items_max(p));
        json_object_foreach((json_t *)v, k, e) {
            if (!k[0])
                return err_set(err, -PYRO_E_INVALID, "%s: %s has an empty key", op, p->name);
            if (strlen(k) > 256)
                return err_set(err, -PYRO_E_INVALID, "%s: %s has a key longer than 256 bytes", op, p->name);
            if (!json_is_string(e))
                return err_set(err, -PYRO_E_INVALID, "%s: %s.%s must be a string, got %s", op, p->name, k,
                               type_name(e));
            int rc = check_string(op, p, json_string_value(e), json_string_length(e), err);
            if (rc < 0)
                return rc;
        }
        *out = json_deep_copy(v);
        return 0;
    }
    case PT_LIST: {
        size_t i;
        json_t *e;
        if (p->flags & PF_OBJECTS)
            return validate_objects(op, p, v, out, err);
        if (!json_is_array(v))
            return err_set(err, -PYRO_E_INVALID, "%s: %s must be an array of strings, got %s", op, p->name,
                           type_name(v));
        if ((long long)json_array_size(v) > items_max(p))
            return err_set(err, -PYRO_E_INVALID, "%s: %s has %zu items, at most %lld allowed", op, p->name,
                           json_array_size(v), items_max(p));
        json_array_foreach(v, i, e) {
            if (!json_is_string(e))
                return err_set(err, -PYRO_E_INVALID, "%s: %s[%zu] must be a string, got %s", op, p->name, i,
                               type_name(e));
            int rc = check_string(op, p, json_string_value(e), json_string_length(e), err);
            if (rc < 0)
                return rc;
        }
        *out = json_deep_copy(v);
        return 0;
    }
    case PT_PORTS: return validate_ports(op, p, v, out, err);
    default: return err_set(err, -PYRO_E_INVALID, "%s: %s has an unknown type", op, p->name);
    }
}

static json_t *default_value(const struct contract_param *p)
{
    switch (p->type) {
    case PT_STRING: return p->def_str ? json_string(p->def_str) : json_null();
    case PT_INT: return json_integer(p->def_int);
    case PT_BOOL: return json_boolean(p->def_bool);
    case PT_MAP: return json_object();
    case PT_LIST:
    case PT_PORTS: return json_array();
    default: return json_null();
    }
}

int contract_args_validate(const struct contract_op *op, const json_t *args, enum contract_surface s, json_t **out,
                           pyro_error *err)
{
    const char *k;
    json_t *v;
    if (args && !json_is_object(args))
        return err_set(err, -PYRO_E_INVALID, "%s: arguments must be a JSON object, got %s", op->name, type_name(args));
    json_object_foreach((json_t *)args, k, v) {
        const struct contract_param *p = contract_op_param(op, k);
        if (!p || !param_visible(p, s)) {
            char known[1024] = "";
            for (const struct contract_param *q = op->params; q && q->name; q++) {
                if (!param_visible(q, s))
                    continue;
                size_t l = strlen(known);
                snprintf(known + l, sizeof(known) - l, "%s%s", l ? ", " : "", q->name);
            }
            return err_set(err, -PYRO_E_INVALID, "%s: unknown parameter '%s' (expected %s%s)", op->name, k,
                           known[0] ? "one of: " : "no parameters", known);
        }
    }
    json_t *res = json_object();
    for (const struct contract_param *p = op->params; p && p->name; p++) {
        if (!param_visible(p, s))
            continue;
        json_t *given = json_object_get(args, p->name);
        json_t *val = NULL;
        const struct contract_param *alt = alt_visible(op, p, s);
        if (alt && arg_given(args, p->name) == arg_given(args, alt->name)) {
            json_decref(res);
            if (arg_given(args, p->name))
                return err_set(err, -PYRO_E_INVALID, "%s: give '%s' or '%s', not both", op->name, p->name, alt->name);
            return err_set(err, -PYRO_E_INVALID, "%s: missing required parameter '%s' (or '%s')", op->name, p->name,
                           alt->name);
        }
        if (given && !json_is_null(given)) {
            int r = validate_value(op->name, p, given, &val, err);
            if (r < 0) {
                json_decref(res);
                return r;
            }
        } else if ((p->flags & PF_REQUIRED) && !alt) {
            json_decref(res);
            return err_set(err, -PYRO_E_INVALID, "%s: missing required parameter '%s'", op->name, p->name);
        } else if (p->has_default || p->type == PT_MAP || p->type == PT_LIST || p->type == PT_PORTS) {
            val = default_value(p);
        }
        if (val)
            json_set(res, p->name, val);
    }
    *out = res;
    return 0;
}

static json_t *param_schema(const struct contract_param *p)
{
    json_t *o = json_object();
    switch (p->type) {
    case PT_STRING:
        json_set(o, "type", json_string("string"));
        json_set(o, "maxLength", json_integer(str_max(p)));
        if (p->choices) {
            json_t *e = json_array();
            for (const char *const *c = p->choices; *c; c++)
                json_array_append_new(e, json_string(*c));
            json_set(o, "enum", e);
        }
        break;
    case PT_INT:
        json_set(o, "type", json_string("integer"));
        json_set(o, "minimum", json_integer(p->min));
        json_set(o, "maximum", json_integer(p->max));
        break;
    case PT_BOOL: json_set(o, "type", json_string("boolean")); break;
    case PT_MAP:
        json_set(o, "type", json_string("object"));
        json_set(o, "additionalProperties", json_pack("{s:s}", "type", "string"));
        json_set(o, "maxProperties", json_integer(items_max(p)));
        break;
    case PT_LIST:
        json_set(o, "type", json_string("array"));
        if (p->flags & PF_OBJECTS)
            json_set(o, "items",
                     json_pack("{s:s, s:{s:s}}", "type", "object", "additionalProperties", "type", "string"));
        else
            json_set(o, "items", json_pack("{s:s}", "type", "string"));
        json_set(o, "maxItems", json_integer(items_max(p)));
        break;
    case PT_PORTS:
        json_set(o, "type", json_string("array"));
        json_set(o, "items",
                 json_pack("{s:[{s:s, s:{s:{s:s, s:i, s:i}, s:{s:[ss], s:i, s:i}}, s:[s], s:b}, {s:s, s:s}]}", "anyOf",
                           "type", "object", "properties", "guest_port", "type", "integer", "minimum", 1, "maximum",
                           65535, "host_port", "type", "integer", "null", "minimum", 1, "maximum", 65535, "required",
                           "guest_port", "additionalProperties", 0, "type", "string", "pattern",
                           "^([0-9]{1,5}:)?[0-9]{1,5}$"));
        json_set(o, "maxItems", json_integer(items_max(p)));
        break;
    default: break;
    }
    json_set(o, "description", json_string(p->description));
    if (p->has_default && !(p->type == PT_STRING && !p->def_str))
        json_set(o, "default", default_value(p));
    return o;
}

json_t *contract_input_schema_json(const struct contract_op *op, enum contract_surface s)
{
    json_t *props = json_object(), *req = json_array(), *either = json_array();
    for (const struct contract_param *p = op->params; p && p->name; p++) {
        if (!param_visible(p, s))
            continue;
        json_set(props, p->name, param_schema(p));
        const struct contract_param *alt = alt_visible(op, p, s);
        if (alt) /* exactly one of p and its alternative */
            json_array_append_new(either, json_pack("{s:[{s:[s]}, {s:[s]}]}", "oneOf", "required", p->name, "required",
                                                    alt->name));
        else if (p->flags & PF_REQUIRED)
            json_array_append_new(req, json_string(p->name));
    }
    json_t *schema = json_pack("{s:s, s:o}", "type", "object", "properties", props);
    if (json_array_size(req))
        json_set(schema, "required", req);
    else
        json_decref(req);
    if (json_array_size(either) == 1)
        json_set(schema, "oneOf", json_incref(json_object_get(json_array_get(either, 0), "oneOf")));
    else if (json_array_size(either) > 1)
        json_set(schema, "allOf", json_incref(either));
    json_decref(either);
    json_set(schema, "additionalProperties", json_false());
    return schema;
}

json_t *contract_output_schema_json(const struct contract_op *op)
{
    json_error_t jerr;
    json_t *s = json_loads(op->output_schema ? op->output_schema : "{\"type\":\"object\"}", 0, &jerr);
    if (!s) {
        fprintf(stderr, "pyro: BUG: output schema of %s: %s\n", op->name, jerr.text);
        abort();
    }
    return s;
}

static bool type_matches(const char *t, const json_t *v)
{
    if (!strcmp(t, "object"))
        return json_is_object(v);
    if (!strcmp(t, "array"))
        return json_is_array(v);
    if (!strcmp(t, "string"))
        return json_is_string(v);
    if (!strcmp(t, "integer"))
        return json_is_integer(v);
    if (!strcmp(t, "number"))
        return json_is_number(v);
    if (!strcmp(t, "boolean"))
        return json_is_boolean(v);
    if (!strcmp(t, "null"))
        return json_is_null(v);
    return false;
}

static int schema_check_at(const json_t *schema, const json_t *v, const char *where, pyro_error *err)
{
    const json_t *t = json_object_get(schema, "type");
    if (json_is_string(t) && !type_matches(json_string_value(t), v))
        return err_set(err, -PYRO_E_INVALID, "%s: expected %s, got %s", where, json_string_value(t), type_name(v));
    if (json_is_array(t)) {
        size_t i;
        json_t *e;
        bool ok = false;
        json_array_foreach(t, i, e)
            ok = ok || type_matches(json_string_value(e), v);
        if (!ok)
            return err_set(err, -PYRO_E_INVALID, "%s: type %s not allowed", where, type_name(v));
    }
    const json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en)) {
        size_t i;
        json_t *e;
        bool ok = false;
        json_array_foreach(en, i, e)
            ok = ok || json_equal(e, (json_t *)v);
        if (!ok)
            return err_set(err, -PYRO_E_INVALID, "%s: value not in enum", where);
    }
    if (json_is_number(v)) {
        const json_t *mn = json_object_get(schema, "minimum"), *mx = json_object_get(schema, "maximum");
        if (mn && json_number_value(v) < json_number_value(mn))
            return err_set(err, -PYRO_E_INVALID, "%s: below minimum", where);
        if (mx && json_number_value(v) > json_number_value(mx))
            return err_set(err, -PYRO_E_INVALID, "%s: above maximum", where);
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(schema, "properties");
        const json_t *req = json_object_get(schema, "required");
        const json_t *addl = json_object_get(schema, "additionalProperties");
        size_t i;
        json_t *e;
        const char *k;
        json_array_foreach(req, i, e) {
            if (!json_object_get(v, json_string_value(e)))
                return err_set(err, -PYRO_E_INVALID, "%s: missing required key '%s'", where, json_string_value(e));
        }
        json_object_foreach((json_t *)v, k, e) {
            const json_t *sub = json_object_get(props, k);
            char path[512];
            snprintf(path, sizeof(path), "%s.%s", where, k);
            if (!sub && json_is_false(addl))
                return err_set(err, -PYRO_E_INVALID, "%s: key not allowed", path);
            if (!sub && json_is_object(addl))
                sub = addl;
            int r = sub ? schema_check_at(sub, e, path, err) : 0;
            if (r < 0)
                return r;
        }
    }
    if (json_is_array(v)) {
        const json_t *items = json_object_get(schema, "items");
        size_t i;
        json_t *e;
        if (json_is_object(items))
            json_array_foreach(v, i, e) {
                char path[512];
                snprintf(path, sizeof(path), "%s[%zu]", where, i);
                int r = schema_check_at(items, e, path, err);
                if (r < 0)
                    return r;
            }
    }
    return 0;
}

int contract_schema_check(const json_t *schema, const json_t *value, pyro_error *err)
{
    return schema_check_at(schema, value, "$", err);
}
