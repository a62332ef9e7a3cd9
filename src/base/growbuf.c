#include "base/growbuf.h"

#include <string.h>

#include "base/cleanup.h"

void growbuf_put(struct growbuf *g, const char *s, size_t n)
{
    if (g->len + n + 1 > g->cap) {
        g->cap = (g->len + n + 1) * 2;
        g->p = xrealloc(g->p, g->cap);
    }
    if (n)
        memcpy(g->p + g->len, s, n);
    g->len += n;
    g->p[g->len] = '\0';
}
