#include "lib/workspace/cquote.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"

static bool must_quote(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\' || c >= 0x7f;
}

/* The letter of a named escape, or 0 for an octal one. */
static char escape_letter(unsigned char c)
{
    switch (c) {
    case '\a': return 'a';
    case '\b': return 'b';
    case '\t': return 't';
    case '\n': return 'n';
    case '\v': return 'v';
    case '\f': return 'f';
    case '\r': return 'r';
    case '"': return '"';
    case '\\': return '\\';
    default: return 0;
    }
}

char *cquote_name(const char *name)
{
    bool quote = false;
    for (const unsigned char *p = (const unsigned char *)name; *p && !quote; p++)
        quote = must_quote(*p);
    if (!quote)
        return xstrdup(name);
    char *out = xmalloc(4 * strlen(name) + 3);
    size_t o = 0;
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (!must_quote(*p)) {
            out[o++] = (char)*p;
            continue;
        }
        out[o++] = '\\';
        char l = escape_letter(*p);
        if (l)
            out[o++] = l;
        else
            o += (size_t)sprintf(out + o, "%03o", *p);
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

char *cquote_label(const char *prefix, const char *name)
{
    _cleanup_free_ char *plain = xasprintf("%s%s", prefix, name);
    _cleanup_free_ char *q = cquote_name(plain);
    return xasprintf("%s%s", q, strchr(plain, ' ') ? "\t" : "");
}

int cquote_unquote(const char *s, size_t len, char **out, size_t *out_len, size_t *used)
{
    *out = NULL;
    if (!len || s[0] != '"')
        return -1;
    char *buf = xmalloc(len);
    size_t o = 0;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            buf[o] = '\0';
            *out = buf;
            *out_len = o;
            *used = i + 1;
            return 0;
        }
        if (c != '\\') {
            buf[o++] = (char)c;
            continue;
        }
        if (++i == len)
            break;
        c = (unsigned char)s[i];
        static const char named[] = "abtnvfr\"\\", value[] = "\a\b\t\n\v\f\r\"\\";
        const char *k = c ? strchr(named, c) : NULL;
        if (k) {
            buf[o++] = value[k - named];
        } else if (c >= '0' && c <= '3' && i + 2 < len && s[i + 1] >= '0' && s[i + 1] <= '7' && s[i + 2] >= '0' &&
                   s[i + 2] <= '7') {
            buf[o++] = (char)((c - '0') << 6 | (s[i + 1] - '0') << 3 | (s[i + 2] - '0'));
            i += 2;
        } else {
            break;
        }
    }
    free(buf);
    return -1;
}
