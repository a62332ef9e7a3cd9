#include "base/json.h"

#include <errno.h>
#include <string.h>

#include "base/cleanup.h"

/* Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0
 * when the bytes there do not start one. Follows RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF. *maximal gets the length of the
 * maximal invalid subpart when 0 is returned. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *maximal)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;

    *maximal = 1;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;

    for (size_t i = 1; i < need; i++) {
        if (i >= n)
            return 0;
        unsigned char b = s[i];
        unsigned char l = (i == 1) ? lo : 0x80, h = (i == 1) ? hi : 0xBF;
        if (b < l || b > h)
            return 0;
        *maximal = i + 1;
    }
    return need;
}

bool utf8_valid(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0, m;
    while (i < len) {
        size_t k = utf8_seq(s + i, len - i, &m);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

char *utf8_sanitize(const char *buf, size_t len, size_t *out_len, size_t *replaced)
{
    const unsigned char *s = (const unsigned char *)buf;
    /* Worst case: every byte becomes U+FFFD (3 bytes). */
    char *out = xmalloc(len * 3 + 1);
    size_t o = 0, i = 0, nrep = 0, m;

    while (i < len) {
        size_t k = utf8_seq(s + i, len - i, &m);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += m;
            nrep++;
        }
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    if (replaced)
        *replaced = nrep;
    return out;
}

json_t *json_bytes(const char *buf, size_t len, size_t *replaced)
{
    size_t olen = 0;
    _cleanup_free_ char *clean = utf8_sanitize(buf ? buf : "", buf ? len : 0, &olen, replaced);
    json_t *v = json_stringn(clean, olen);
    if (!v)
        abort(); /* only on allocation failure: the text is valid UTF-8 */
    return v;
}

int json_parse(const char *buf, size_t len, json_t **out, pyro_error *err)
{
    json_error_t jerr;
    if (len > PYRO_JSON_MAX)
        return err_set(err, -PYRO_E_INVALID, "JSON text of %zu bytes exceeds the %u byte limit", len, PYRO_JSON_MAX);
    json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!v)
        return err_set(err, -PYRO_E_INVALID, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                       jerr.text);
    *out = v;
    return 0;
}

char *json_dump(const json_t *v, size_t flags)
{
    char *s = json_dumps(v, flags | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (!s)
        abort();
    return s;
}

const char *json_get_str(const json_t *obj, const char *key, const char *def)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

long long json_get_int(const json_t *obj, const char *key, long long def)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

bool json_get_bool(const json_t *obj, const char *key, bool def)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

void json_set(json_t *obj, const char *key, json_t *value)
{
    if (!value || json_object_set_new(obj, key, value) < 0)
        abort();
}
