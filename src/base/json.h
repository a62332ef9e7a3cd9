/* JSON helpers on jansson.
 *
 * UTF-8 policy (docs/design/json.md): every string pyro emits is valid UTF-8.
 * Bytes from commands, files and archives that are not valid UTF-8 are
 * decoded with replacement: each maximal invalid subsequence becomes U+FFFD
 * (the WHATWG / Unicode "maximal subpart" practice) and the number of
 * replacements is reported to the caller so results can flag it. NUL bytes
 * are kept and appear as \u0000. */
#ifndef PYRO_JSON_H
#define PYRO_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

/* Largest JSON text pyro parses from a record or message (16 MiB). */
#define PYRO_JSON_MAX (16u * 1024 * 1024)

/* Returns a malloc'ed, NUL-terminated, valid UTF-8 copy of buf[0..len);
 * *out_len (optional) gets its length, *replaced (optional) the number of
 * U+FFFD substitutions. */
char *utf8_sanitize(const char *buf, size_t len, size_t *out_len, size_t *replaced);
bool utf8_valid(const char *buf, size_t len);
/* A JSON string from arbitrary bytes, sanitised as above. Never NULL. */
json_t *json_bytes(const char *buf, size_t len, size_t *replaced);

/* Strict parse: one JSON value, duplicate keys rejected, size capped. */
int json_parse(const char *buf, size_t len, json_t **out, pyro_error *err);
/* Compact (flags 0) or indented (JSON_INDENT(2)) text, keys in insertion
 * order; malloc'ed, never NULL. */
char *json_dump(const json_t *v, size_t flags);

/* Typed getters that tolerate missing keys. */
const char *json_get_str(const json_t *obj, const char *key, const char *def);
long long json_get_int(const json_t *obj, const char *key, long long def);
bool json_get_bool(const json_t *obj, const char *key, bool def);

/* json_object_set_new that aborts on allocation failure. */
void json_set(json_t *obj, const char *key, json_t *value);

#endif
