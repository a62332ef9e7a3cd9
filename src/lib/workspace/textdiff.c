#include "lib/workspace/textdiff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/err.h"

#define TD_CONTEXT 3

size_t td_split(const char *buf, size_t len, struct td_line **out)
{
    size_t n = 0, cap = 64;
    struct td_line *v = xmalloc(cap * sizeof(*v));
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (n == cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = (struct td_line){.p = buf + i, .len = end - i, .nl = nl != NULL};
        i = nl ? end + 1 : len;
    }
    *out = v;
    return n;
}

bool td_line_eq(const struct td_line *x, const struct td_line *y)
{
    return x->len == y->len && x->nl == y->nl && memcmp(x->p, y->p, x->len) == 0;
}

/* One step of the edit script: '=' keeps a[ai] (= b[bi]), '-' drops a[ai],
 * '+' inserts b[bi]. */
struct td_op {
    char kind;
    size_t ai, bi;
};

/* Myers' greedy algorithm with a trace of V per step for backtracking.
 * Returns the number of ops in *ops (in order), or -1 past max_d. */
static long td_script(const struct td_line *a, long n, const struct td_line *b, long m, int max_d,
                      struct td_op **ops_out)
{
    long max = n + m;
    if (max > max_d)
        max = max_d;
    long off = max + 1;
    long *v = xcalloc((size_t)(2 * max + 3), sizeof(long));
    long **trace = xcalloc((size_t)max + 1, sizeof(long *));
    long d_found = -1;
    for (long d = 0; d <= max && d_found < 0; d++) {
        for (long k = -d; k <= d; k += 2) {
            long x = (k == -d || (k != d && v[off + k - 1] < v[off + k + 1])) ? v[off + k + 1] : v[off + k - 1] + 1;
            long y = x - k;
            while (x < n && y < m && td_line_eq(&a[x], &b[y]))
                x++, y++;
            v[off + k] = x;
            if (x >= n && y >= m) {
                d_found = d;
                break;
            }
        }
        trace[d] = xmalloc((size_t)(2 * d + 1) * sizeof(long));
        memcpy(trace[d], v + off - d, (size_t)(2 * d + 1) * sizeof(long));
    }
    free(v);
    if (d_found < 0) {
        for (long d = 0; d <= max; d++)
            free(trace[d]);
        free(trace);
        return -1;
    }
    size_t cap = (size_t)(n + m) + 1, cnt = 0;
    struct td_op *ops = xmalloc(cap * sizeof(*ops));
    long x = n, y = m;
    for (long d = d_found; d > 0; d--) {
        const long *vp = trace[d - 1]; /* index k + (d - 1) */
        long k = x - y, pd = d - 1;
        long prev_k = (k == -d || (k != d && vp[k - 1 + pd] < vp[k + 1 + pd])) ? k + 1 : k - 1;
        long px = vp[prev_k + pd], py = px - prev_k;
        while (x > px && y > py) {
            x--, y--;
            ops[cnt++] = (struct td_op){'=', (size_t)x, (size_t)y};
        }
        if (prev_k == k + 1)
            ops[cnt++] = (struct td_op){'+', (size_t)px, (size_t)py};
        else
            ops[cnt++] = (struct td_op){'-', (size_t)px, (size_t)py};
        x = px, y = py;
    }
    while (x > 0 && y > 0) {
        x--, y--;
        ops[cnt++] = (struct td_op){'=', (size_t)x, (size_t)y};
    }
    for (long d = 0; d <= d_found; d++)
        free(trace[d]);
    free(trace);
    for (size_t i = 0; i < cnt / 2; i++) {
        struct td_op t = ops[i];
        ops[i] = ops[cnt - 1 - i];
        ops[cnt - 1 - i] = t;
    }
    *ops_out = ops;
    return (long)cnt;
}

static void td_emit_line(FILE *f, char prefix, const struct td_line *l)
{
    fputc(prefix, f);
    fwrite(l->p, 1, l->len, f);
    fputc('\n', f);
    if (!l->nl)
        fputs("\\ No newline at end of file\n", f);
}

/* Unified range "start,len"; an empty range names the line before it. */
static void td_range(FILE *f, size_t start0, size_t len)
{
    fprintf(f, "%zu,%zu", len ? start0 + 1 : start0, len);
}

int textdiff_unified(FILE *f, const char *a, size_t alen, const char *b, size_t blen, const char *old_label,
                     const char *new_label, int max_edits, struct textdiff_stats *stats)
{
    _cleanup_free_ struct td_line *la = NULL, *lb = NULL;
    size_t n = td_split(a, alen, &la), m = td_split(b, blen, &lb);
    /* Common prefix and suffix are trimmed first: most edits are small. */
    size_t pre = 0;
    while (pre < n && pre < m && td_line_eq(&la[pre], &lb[pre]))
        pre++;
    size_t suf = 0;
    while (suf < n - pre && suf < m - pre && td_line_eq(&la[n - 1 - suf], &lb[m - 1 - suf]))
        suf++;
    struct textdiff_stats st = {0};
    if (stats)
        *stats = st;
    if (pre == n && pre == m)
        return 0;
    _cleanup_free_ struct td_op *mid = NULL;
    long nmid = td_script(la + pre, (long)(n - pre - suf), lb + pre, (long)(m - pre - suf), max_edits, &mid);
    if (nmid < 0)
        return -PYRO_E_LIMIT;
    /* The whole script: prefix, middle (shifted), suffix. */
    size_t total = pre + (size_t)nmid + suf;
    _cleanup_free_ struct td_op *ops = xmalloc((total + 1) * sizeof(*ops));
    size_t c = 0;
    for (size_t i = 0; i < pre; i++)
        ops[c++] = (struct td_op){'=', i, i};
    for (long i = 0; i < nmid; i++)
        ops[c++] = (struct td_op){mid[i].kind, mid[i].ai + pre, mid[i].bi + pre};
    for (size_t i = 0; i < suf; i++)
        ops[c++] = (struct td_op){'=', n - suf + i, m - suf + i};

    fprintf(f, "--- %s\n+++ %s\n", old_label, new_label);
    size_t i = 0;
    while (i < total) {
        if (ops[i].kind == '=') {
            i++;
            continue;
        }
        /* A hunk: from TD_CONTEXT before this change to TD_CONTEXT after
         * the last change that is at most 2 * TD_CONTEXT further. */
        size_t start = i >= TD_CONTEXT ? i - TD_CONTEXT : 0, end = i, eq = 0;
        for (size_t j = i; j < total; j++) {
            if (ops[j].kind != '=') {
                end = j + 1;
                eq = 0;
            } else if (++eq > 2 * TD_CONTEXT)
                break;
        }
        size_t stop = end + TD_CONTEXT < total ? end + TD_CONTEXT : total;
        /* Position of the hunk in a and b: the first op's coordinates. */
        size_t a0 = ops[start].ai, b0 = ops[start].bi, alen_h = 0, blen_h = 0;
        for (size_t j = start; j < stop; j++) {
            if (ops[j].kind != '+')
                alen_h++;
            if (ops[j].kind != '-')
                blen_h++;
        }
        fputs("@@ -", f);
        td_range(f, a0, alen_h);
        fputs(" +", f);
        td_range(f, b0, blen_h);
        fputs(" @@\n", f);
        for (size_t j = start; j < stop; j++) {
            if (ops[j].kind == '=')
                td_emit_line(f, ' ', &la[ops[j].ai]);
            else if (ops[j].kind == '-') {
                td_emit_line(f, '-', &la[ops[j].ai]);
                st.removed++;
            } else {
                td_emit_line(f, '+', &lb[ops[j].bi]);
                st.added++;
            }
        }
        st.hunks++;
        i = stop;
    }
    if (stats)
        *stats = st;
    return 0;
}
