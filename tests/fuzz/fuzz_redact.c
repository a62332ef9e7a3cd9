/* Fuzz target: the redactor (base/redact.c). The input's first bytes pick
 * up to four values over a small alphabet (so values overlap and repeat),
 * the rest is the text, fed whole and as a stream in pieces of a size the
 * input picks. Neither output holds a value (the alphabet has no byte of
 * the mask, so a mask can never complete one), the stream never emits
 * more than the whole text's output plus masks, and nothing reads out of
 * bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/redact.h"
#include "fuzz.h"

static void no_value(const char *const *vals, const size_t *lens, size_t nv, const char *out, size_t n)
{
    for (size_t i = 0; i < nv; i++)
        CHECK(!memmem(out, n, vals[i], lens[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t nv = (size_t)(data[0] % 4) + 1, step = (size_t)data[1] % 13 + 1;
    const uint8_t *p = data + 2;
    size_t left = size - 2;
    char vals[4][24];
    const char *vp[4];
    size_t lens[4];
    struct redact *r = redact_new();
    size_t have = 0;
    for (size_t i = 0; i < nv && left > 0; i++) {
        size_t n = REDACT_VALUE_MIN + (size_t)(p[0] % 9);
        p++, left--;
        if (left < n)
            break;
        for (size_t k = 0; k < n; k++)
            vals[have][k] = (char)('a' + p[k] % 3);
        p += n, left -= n;
        CHECK(redact_add(r, vals[have], n) == 0);
        vp[have] = vals[have];
        lens[have++] = n;
    }
    _cleanup_free_ char *text = xmalloc(left + 1);
    for (size_t k = 0; k < left; k++)
        text[k] = (char)(p[k] & 0x80 ? ' ' : 'a' + p[k] % 3);
    size_t n;
    _cleanup_free_ char *whole = redact_text(r, text, left, 0, &n);
    no_value(vp, lens, have, whole, n);
    _cleanup_free_ char *cut = redact_text(r, text, left, REDACT_CUT_START | REDACT_CUT_END, &n);
    no_value(vp, lens, have, cut, n);

    struct redact_stream st = {.r = r};
    size_t total = 0;
    char *all = xmalloc(1);
    for (size_t at = 0; at < left; at += step) {
        size_t take = left - at < step ? left - at : step;
        _cleanup_free_ char *o = redact_stream_feed(&st, text + at, take, &n);
        all = xrealloc(all, total + n + 1);
        memcpy(all + total, o, n);
        total += n;
    }
    _cleanup_free_ char *o = redact_stream_finish(&st, false, &n);
    all = xrealloc(all, total + n + 1);
    memcpy(all + total, o, n);
    total += n;
    no_value(vp, lens, have, all, total);
    free(all);
    redact_free(r);
    return 0;
}
