/* Plain rendering of terminal output (shell_read's "plain"): control
 * sequences are removed and carriage return and backspace act on the line
 * as a terminal would show it. */
#include "lib/workspace/shell_render.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/growbuf.h"

struct line {
    uint32_t *cells;
    size_t len, cap, col;
};

static void out_utf8(struct growbuf *o, uint32_t c)
{
    char b[4];
    size_t n;
    if (c < 0x80)
        b[0] = (char)c, n = 1;
    else if (c < 0x800)
        b[0] = (char)(0xC0 | c >> 6), b[1] = (char)(0x80 | (c & 0x3F)), n = 2;
    else if (c < 0x10000)
        b[0] = (char)(0xE0 | c >> 12), b[1] = (char)(0x80 | ((c >> 6) & 0x3F)), b[2] = (char)(0x80 | (c & 0x3F)), n = 3;
    else
        b[0] = (char)(0xF0 | c >> 18), b[1] = (char)(0x80 | ((c >> 12) & 0x3F)),
        b[2] = (char)(0x80 | ((c >> 6) & 0x3F)), b[3] = (char)(0x80 | (c & 0x3F)), n = 4;
    growbuf_put(o, b, n);
}

/* Writes c at the cursor column (overwriting) and moves right. */
static void line_put(struct line *l, uint32_t c)
{
    if (l->col >= l->cap) {
        l->cap = (l->col + 1) * 2;
        l->cells = realloc(l->cells, l->cap * sizeof(uint32_t));
        if (!l->cells)
            abort();
    }
    while (l->len < l->col)
        l->cells[l->len++] = ' ';
    l->cells[l->col++] = c;
    if (l->col > l->len)
        l->len = l->col;
}

static void line_flush(struct line *l, struct growbuf *o)
{
    for (size_t i = 0; i < l->len; i++)
        out_utf8(o, l->cells[i]);
    l->len = l->col = 0;
}

/* Decodes one UTF-8 sequence at s (n bytes left); invalid bytes give
 * U+FFFD and advance by one. */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *adv)
{
    uint32_t c = s[0];
    size_t k = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    *adv = 1;
    if (!k || k > n)
        return 0xFFFD;
    c &= 0xFFu >> (k + 1);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0xFFFD;
        c = c << 6 | (s[i] & 0x3F);
    }
    if ((k == 3 && c < 0x800) || (k == 4 && (c < 0x10000 || c > 0x10FFFF)) || (c >= 0xD800 && c <= 0xDFFF))
        return 0xFFFD;
    *adv = k;
    return c;
}

/* Length of the escape sequence at s[0] == ESC (n bytes left), or n when
 * it is cut off at the end. *erase gets 0 (none), 1 (erase to the end of
 * the line: CSI K / 0K) or 2 (the whole line: CSI 2K). */
static size_t escape_len(const unsigned char *s, size_t n, int *erase)
{
    *erase = 0;
    if (n < 2)
        return n;
    unsigned char t = s[1];
    if (t == '[') { /* CSI: parameters, intermediates, a final byte */
        size_t i = 2;
        while (i < n && s[i] >= 0x20 && s[i] <= 0x3F)
            i++;
        if (i >= n)
            return n;
        if (s[i] == 'K')
            *erase = (i == 3 && s[2] == '2') ? 2 : (i == 2 || (i == 3 && s[2] == '0')) ? 1 : 0;
        return i + 1;
    }
    if (t == ']' || t == 'P' || t == '_' || t == '^' || t == 'X') {
        /* OSC, DCS, APC, PM, SOS: up to BEL (OSC) or ST (ESC \). */
        for (size_t i = 2; i < n; i++) {
            if (s[i] == 0x07 && t == ']')
                return i + 1;
            if (s[i] == 0x1B && i + 1 < n && s[i + 1] == '\\')
                return i + 2;
        }
        return n;
    }
    if (t == '(' || t == ')' || t == '*' || t == '+' || t == '-' || t == '.' || t == '/' || t == '#' || t == '%')
        return n < 3 ? n : 3; /* charset designation and the like */
    return 2;
}

char *shell_render_plain(const char *in, size_t len, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)in;
    struct line l = {0};
    struct growbuf o = {0};
    growbuf_put(&o, "", 0);
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c == 0x1B) {
            int erase;
            i += escape_len(s + i, len - i, &erase);
            if (erase == 2)
                l.len = 0;
            else if (erase == 1 && l.col < l.len)
                l.len = l.col;
            continue;
        }
        i++;
        if (c == '\n') {
            line_flush(&l, &o);
            growbuf_put(&o, "\n", 1);
        } else if (c == '\r') {
            l.col = 0;
        } else if (c == '\b') {
            if (l.col)
                l.col--;
        } else if (c == '\t') {
            line_put(&l, '\t');
        } else if (c < 0x20 || c == 0x7F) {
            /* other C0 controls (BEL, SO, SI, ...) show nothing */
        } else if (c < 0x80) {
            line_put(&l, c);
        } else {
            size_t adv;
            uint32_t u = utf8_next(s + i - 1, len - i + 1, &adv);
            i += adv - 1;
            if (u >= 0x80 && u < 0xA0)
                continue; /* C1 controls */
            line_put(&l, u);
        }
    }
    line_flush(&l, &o);
    free(l.cells);
    if (out_len)
        *out_len = o.len;
    return o.p;
}
