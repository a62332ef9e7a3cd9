/* A growing, always NUL-terminated byte string (outputs built piece by
 * piece: redacted text, rendered terminal output). */
#ifndef PYRO_GROWBUF_H
#define PYRO_GROWBUF_H

#include <stddef.h>

struct growbuf {
    char *p; /* NULL until the first put; then p[len] == '\0' */
    size_t len, cap;
};

/* Appends n bytes of s (n may be 0: the string then exists, empty). */
void growbuf_put(struct growbuf *g, const char *s, size_t n);

#endif
