/* Declared shapes of protocol values, and the one checker for them.
 *
 * The host treats every agent reply as untrusted input: before any code
 * reads a result, its shape (proto/reply.h) is checked here: which keys
 * exist, their JSON types, integer ranges, string lengths (valid UTF-8)
 * and array sizes, nested objects and fixed-length arrays (tuples).
 * Nothing beyond the declaration is accepted unless the shape says it is
 * open. */
#ifndef PYRO_PROTO_SHAPE_H
#define PYRO_PROTO_SHAPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Integers travel as JSON numbers: at most 2^53 - 1 in magnitude. */
#define PROTO_INT_MAX (((int64_t)1 << 53) - 1)
/* A path in a reply: PATH_MAX bytes, each of which may have become U+FFFD
 * (3 bytes) in the UTF-8 text. */
#define PROTO_PATH_TEXT_MAX (3 * 4096)

enum proto_kind {
    PROTO_K_INT = 1, /* integer in [min, max] */
    PROTO_K_BOOL,
    PROTO_K_TEXT,   /* UTF-8 string of at most max bytes, NUL allowed */
    PROTO_K_OBJECT, /* object of shape (NULL: any object) */
    PROTO_K_TUPLE,  /* array whose elements are shape's fields in order */
    PROTO_K_ARRAY,  /* array of at most max elements, each an item */
};

struct proto_shape;

struct proto_field {
    const char *key; /* NULL for tuple elements and array items */
    enum proto_kind kind;
    bool optional;
    int64_t min, max;
    const char *const *one_of;       /* TEXT: the allowed values, NULL-terminated */
    const struct proto_shape *shape; /* OBJECT, TUPLE */
    const struct proto_field *item;  /* ARRAY */
};

struct proto_shape {
    const struct proto_field *fields;
    size_t count;
    bool open; /* OBJECT: keys beyond the declared ones are allowed */
};

#define PROTO_SHAPE(f)                                     \
    {                                                      \
        .fields = (f), .count = sizeof(f) / sizeof((f)[0]) \
    }

/* How many bytes of s (valid UTF-8, len bytes) to show in a message of at
 * most max bytes: cut on a character boundary and before any NUL. */
size_t proto_text_cut(const char *s, size_t len, size_t max);
/* Checks v against field (its key is not looked up: v is the value). where
 * names the value in messages ("result", "result.entries[3]"). */
int proto_value_check(const struct proto_field *field, const json_t *v, const char *where, pyro_error *err);
/* Checks an object against shape. */
int proto_shape_check(const struct proto_shape *shape, const json_t *v, const char *where, pyro_error *err);

#endif
