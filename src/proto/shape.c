#include "proto/shape.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"

static const char *kind_name(enum proto_kind k)
{
    switch (k) {
    case PROTO_K_INT: return "an integer";
    case PROTO_K_BOOL: return "a boolean";
    case PROTO_K_TEXT: return "a string";
    case PROTO_K_OBJECT: return "an object";
    case PROTO_K_TUPLE:
    case PROTO_K_ARRAY: return "an array";
    default: return "?";
    }
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    default: return "?";
    }
}

static bool kind_matches(enum proto_kind k, const json_t *v)
{
    switch (k) {
    case PROTO_K_INT: return json_is_integer(v);
    case PROTO_K_BOOL: return json_is_boolean(v);
    case PROTO_K_TEXT: return json_is_string(v);
    case PROTO_K_OBJECT: return json_is_object(v);
    case PROTO_K_TUPLE:
    case PROTO_K_ARRAY: return json_is_array(v);
    default: return false;
    }
}

size_t proto_text_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return strnlen(s, len);
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return strnlen(s, max);
}

static int text_check(const struct proto_field *f, const json_t *v, const char *where, pyro_error *err)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if ((int64_t)len > f->max)
        return err_set(err, -PYRO_E_PROTOCOL, "%s: string of %zu bytes, at most %" PRId64 " allowed", where, len,
                       f->max);
    if (!utf8_valid(s, len))
        return err_set(err, -PYRO_E_PROTOCOL, "%s: string is not valid UTF-8", where);
    if (!f->one_of)
        return 0;
    for (const char *const *p = f->one_of; *p; p++)
        if (strlen(*p) == len && memcmp(*p, s, len) == 0)
            return 0;
    return err_set(err, -PYRO_E_PROTOCOL, "%s: unexpected value \"%.*s\"", where, (int)proto_text_cut(s, len, 64), s);
}

static int tuple_check(const struct proto_field *f, const json_t *v, const char *where, pyro_error *err)
{
    const struct proto_shape *s = f->shape;
    if (json_array_size(v) != s->count)
        return err_set(err, -PYRO_E_PROTOCOL, "%s: array of %zu elements, %zu expected", where, json_array_size(v),
                       s->count);
    for (size_t i = 0; i < s->count; i++) {
        char at[256];
        snprintf(at, sizeof(at), "%s[%zu]", where, i);
        int r = proto_value_check(&s->fields[i], json_array_get(v, i), at, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int array_check(const struct proto_field *f, const json_t *v, const char *where, pyro_error *err)
{
    size_t n = json_array_size(v);
    if ((int64_t)n > f->max)
        return err_set(err, -PYRO_E_PROTOCOL, "%s: %zu elements, at most %" PRId64 " allowed", where, n, f->max);
    for (size_t i = 0; i < n; i++) {
        char at[256];
        snprintf(at, sizeof(at), "%s[%zu]", where, i);
        int r = proto_value_check(f->item, json_array_get(v, i), at, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int proto_value_check(const struct proto_field *f, const json_t *v, const char *where, pyro_error *err)
{
    if (!v || !kind_matches(f->kind, v))
        return err_set(err, -PYRO_E_PROTOCOL, "%s: %s, expected %s", where, v ? json_kind(v) : "missing",
                       kind_name(f->kind));
    switch (f->kind) {
    case PROTO_K_INT: {
        int64_t i = json_integer_value(v);
        if (i < f->min || i > f->max)
            return err_set(err, -PYRO_E_PROTOCOL, "%s: %" PRId64 " is outside [%" PRId64 ", %" PRId64 "]", where, i,
                           f->min, f->max);
        return 0;
    }
    case PROTO_K_TEXT: return text_check(f, v, where, err);
    case PROTO_K_OBJECT: return f->shape ? proto_shape_check(f->shape, v, where, err) : 0;
    case PROTO_K_TUPLE: return tuple_check(f, v, where, err);
    case PROTO_K_ARRAY: return array_check(f, v, where, err);
    case PROTO_K_BOOL:
    default: return 0;
    }
}

static const struct proto_field *shape_field(const struct proto_shape *s, const char *key)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->fields[i].key, key) == 0)
            return &s->fields[i];
    return NULL;
}

int proto_shape_check(const struct proto_shape *s, const json_t *v, const char *where, pyro_error *err)
{
    if (!json_is_object(v))
        return err_set(err, -PYRO_E_PROTOCOL, "%s: %s, expected an object", where, v ? json_kind(v) : "missing");
    for (size_t i = 0; i < s->count; i++) {
        const struct proto_field *f = &s->fields[i];
        const json_t *fv = json_object_get(v, f->key);
        char at[256];
        snprintf(at, sizeof(at), "%s.%s", where, f->key);
        if (!fv && f->optional)
            continue;
        int r = proto_value_check(f, fv, at, err);
        if (r < 0)
            return r;
    }
    if (s->open)
        return 0;
    const char *key;
    const json_t *fv;
    json_object_foreach((json_t *)v, key, fv) {
        if (!shape_field(s, key))
            return err_set(err, -PYRO_E_PROTOCOL, "%s: unexpected key \"%.*s\"", where,
                           (int)proto_text_cut(key, strlen(key), 64), key);
    }
    return 0;
}
