/* Redaction of secret values (base/redact.h). Marking is per byte: every
 * occurrence of every value (overlapping ones too) marks its bytes, and
 * each maximal run of marked bytes becomes one mask. */
#include <errno.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/growbuf.h"
#include "base/json.h"
#include "base/redact.h"

struct redact_value {
    char *p;
    size_t n;
};

struct redact {
    struct redact_value v[REDACT_VALUES_MAX];
    size_t count, max_len;
};

struct redact *redact_new(void)
{
    struct redact *r = xmalloc(sizeof(*r));
    memset(r, 0, sizeof(*r));
    return r;
}

void redact_free(struct redact *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++) {
        explicit_bzero(r->v[i].p, r->v[i].n);
        free(r->v[i].p);
    }
    free(r);
}

int redact_add(struct redact *r, const char *value, size_t len)
{
    if (len < REDACT_VALUE_MIN || len > REDACT_VALUE_MAX)
        return -EINVAL;
    for (size_t i = 0; i < r->count; i++)
        if (r->v[i].n == len && !memcmp(r->v[i].p, value, len))
            return 0;
    if (r->count == REDACT_VALUES_MAX)
        return -E2BIG;
    char *p = xmalloc(len);
    memcpy(p, value, len);
    r->v[r->count++] = (struct redact_value){p, len};
    if (len > r->max_len)
        r->max_len = len;
    return 0;
}

size_t redact_count(const struct redact *r)
{
    return r ? r->count : 0;
}

size_t redact_max_len(const struct redact *r)
{
    return r ? r->max_len : 0;
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Marks m[i] for every byte of buf covered by an occurrence, and by the
 * partial ones flags allow at the window's edges. */
static void mark(const struct redact *r, const char *buf, size_t len, unsigned flags, unsigned char *m)
{
    for (size_t i = 0; i < r->count; i++) {
        const char *p = r->v[i].p;
        size_t n = r->v[i].n;
        for (size_t at = 0; len - at >= n;) {
            const char *hit = memmem(buf + at, len - at, p, n);
            if (!hit)
                break;
            size_t h = (size_t)(hit - buf);
            memset(m + h, 1, n);
            at = h + 1;
        }
        if (flags & REDACT_CUT_END)
            for (size_t k = min_sz(n - 1, len); k > 0; k--)
                if (!memcmp(buf + len - k, p, k)) {
                    memset(m + len - k, 1, k);
                    break;
                }
        if (flags & REDACT_CUT_START)
            for (size_t k = min_sz(n - 1, len); k > 0; k--)
                if (!memcmp(buf, p + n - k, k)) {
                    memset(m, 1, k);
                    break;
                }
    }
}

char *redact_range(const struct redact *r, const char *buf, size_t len, size_t from, size_t to, unsigned flags,
                   size_t *out_len)
{
    if (to > len)
        to = len;
    if (from > to)
        from = to;
    struct growbuf g = {0};
    growbuf_put(&g, "", 0);
    if (!redact_count(r) || !len) {
        growbuf_put(&g, buf + from, to - from);
        *out_len = g.len;
        return g.p;
    }
    _cleanup_free_ unsigned char *m = xmalloc(len);
    memset(m, 0, len);
    mark(r, buf, len, flags, m);
    size_t i = from;
    while (i < to) {
        if (m[i]) {
            growbuf_put(&g, REDACT_MASK, strlen(REDACT_MASK));
            while (i < len && m[i])
                i++;
            continue;
        }
        size_t j = i;
        while (j < to && !m[j])
            j++;
        growbuf_put(&g, buf + i, j - i);
        i = j;
    }
    *out_len = g.len;
    return g.p;
}

char *redact_text(const struct redact *r, const char *buf, size_t len, unsigned flags, size_t *out_len)
{
    return redact_range(r, buf, len, 0, len, flags, out_len);
}

size_t redact_holdback(const struct redact *r, const char *buf, size_t len)
{
    size_t best = 0;
    for (size_t i = 0; i < redact_count(r); i++) {
        const char *p = r->v[i].p;
        for (size_t k = min_sz(r->v[i].n - 1, len); k > best; k--)
            if (!memcmp(buf + len - k, p, k)) {
                best = k;
                break;
            }
    }
    return best;
}

static json_t *redact_string(const struct redact *r, const char *s, size_t n)
{
    size_t ol;
    _cleanup_free_ char *o = redact_text(r, s, n, 0, &ol);
    json_t *v = json_stringn(o, ol);
    /* Whole values are UTF-8, so a valid string stays valid; never fall
     * back to the original. */
    return v ? v : json_string(REDACT_MASK);
}

json_t *redact_json(const struct redact *r, json_t *v)
{
    if (!redact_count(r) || !v)
        return json_incref(v);
    if (json_is_string(v))
        return redact_string(r, json_string_value(v), json_string_length(v));
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            json_array_append_new(a, redact_json(r, e));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) {
            size_t kl;
            _cleanup_free_ char *rk = redact_text(r, k, strlen(k), 0, &kl);
            json_set(o, rk, redact_json(r, e));
        }
        return o;
    }
    return json_incref(v);
}

void redact_message(const struct redact *r, char *msg, size_t cap)
{
    if (!redact_count(r) || !msg || !cap)
        return;
    size_t n;
    _cleanup_free_ char *o = redact_text(r, msg, strnlen(msg, cap), 0, &n);
    if (n >= cap)
        n = cap - 1;
    memcpy(msg, o, n);
    msg[n] = '\0';
}

char *redact_stream_feed(struct redact_stream *s, const char *data, size_t len, size_t *out_len)
{
    /* The window is the lookback (emitted bytes in which an occurrence
     * reaching the pending ones may begin), the pending bytes and data. */
    size_t max = redact_max_len(s->r), total = s->held_len + len;
    char *win = xmalloc(total + 1);
    if (s->held_len)
        memcpy(win, s->held, s->held_len);
    if (len)
        memcpy(win + s->held_len, data, len);
    size_t hold = redact_holdback(s->r, win, total);
    size_t to = total - hold < s->look ? s->look : total - hold;
    char *out = redact_range(s->r, win, total, s->look, to, 0, out_len);
    size_t start = max && to > max - 1 ? to - (max - 1) : (max ? 0 : to);
    memmove(win, win + start, total - start);
    if (s->held)
        explicit_bzero(s->held, s->held_len);
    free(s->held);
    s->held = win;
    s->held_len = total - start;
    s->look = to - start;
    return out;
}

char *redact_stream_finish(struct redact_stream *s, bool cut, size_t *out_len)
{
    char *out = redact_range(s->r, s->held ? s->held : "", s->held_len, s->look, s->held_len, cut ? REDACT_CUT_END : 0,
                             out_len);
    if (s->held)
        explicit_bzero(s->held, s->held_len);
    free(s->held);
    s->held = NULL;
    s->held_len = s->look = 0;
    return out;
}
