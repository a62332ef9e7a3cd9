/* Fuzz target: the relative-path checker (base/relpath.c). The input is a
 * path under every combination of flags, and "link\ntarget" for the
 * symlink check. An accepted path never starts with '/', never has a ".."
 * (nor "." nor empty) component, matches a naive normalisation, and
 * normalising it again changes nothing; a refusal is -PYRO_E_INVALID with a
 * message. An accepted symlink, resolved lexically from its directory,
 * never climbs above the root. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/relpath.h"
#include "fuzz.h"

/* A second, naive normalisation: split on '/', drop "" and ".". Returns
 * NULL on a ".." component. */
static char *naive_normalize(const char *p, size_t len, size_t *depth)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;
    *depth = 0;
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        size_t n = j - i;
        if (n == 2 && p[i] == '.' && p[i + 1] == '.') {
            free(out);
            return NULL;
        }
        if (n && !(n == 1 && p[i] == '.')) {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p + i, n);
            o += n;
            (*depth)++;
        }
        i = j + 1;
    }
    out[o] = '\0';
    return out;
}

static void check_accepted(const char *in, size_t size, unsigned flags, const char *out)
{
    size_t olen = strlen(out);
    CHECK(!memchr(in, '\0', size));
    CHECK(size <= RELPATH_MAX && olen <= size);
    CHECK(out[0] != '/');
    CHECK(olen == 0 || out[olen - 1] != '/');
    size_t depth = 0;
    _cleanup_free_ char *naive = naive_normalize(in, size, &depth);
    CHECK(naive && strcmp(naive, out) == 0);
    CHECK(depth <= RELPATH_DEPTH_MAX);
    CHECK(size == 0 || in[0] != '/');
    /* No "..", "." or empty component is left. */
    for (const char *p = out; *p;) {
        const char *e = strchrnul(p, '/');
        size_t n = (size_t)(e - p);
        CHECK(n != 0);
        CHECK(!(n == 1 && p[0] == '.'));
        CHECK(!(n == 2 && p[0] == '.' && p[1] == '.'));
        p = *e ? e + 1 : e;
    }
    if (!*out)
        CHECK(size == 0 ? (flags & RELPATH_EMPTY_ROOT) : (flags & RELPATH_DOT_ROOT));
    if (flags & RELPATH_CANONICAL)
        CHECK(olen == size && memcmp(out, in, size) == 0);
    /* Idempotent: the normalised form is canonical and normalises to itself. */
    unsigned again = RELPATH_CANONICAL | (*out ? 0 : RELPATH_EMPTY_ROOT);
    _cleanup_free_ char *twice = NULL;
    CHECK(relpath_normalize(out, again, &twice, NULL) == 0);
    CHECK(strcmp(twice, out) == 0);
}

static void fuzz_path(const char *in, size_t size)
{
    for (unsigned flags = 0; flags <= (RELPATH_EMPTY_ROOT | RELPATH_DOT_ROOT | RELPATH_CANONICAL); flags++) {
        char *out = (char *)"unset";
        pyro_error err = {0};
        int r = relpath_parse(in, size, flags, &out, &err);
        CHECK(relpath_parse(in, size, flags, NULL, NULL) == r);
        if (r < 0) {
            CHECK(r == -PYRO_E_INVALID && err.message[0] && !out);
            continue;
        }
        CHECK(r == 0 && out);
        check_accepted(in, size, flags, out);
        /* Dropping CANONICAL only widens what is accepted. */
        if (flags & RELPATH_CANONICAL)
            CHECK(relpath_parse(in, size, flags & ~RELPATH_CANONICAL, NULL, NULL) == 0);
        free(out);
    }
}

/* Lexical resolution of target from link's directory; false when it climbs
 * above the root on the way. */
static bool resolves_inside(const char *link, const char *target)
{
    long depth = -1; /* the link's own component is not a directory */
    for (const char *p = link; *p;) {
        const char *e = strchrnul(p, '/');
        if (e > p && !(e - p == 1 && p[0] == '.'))
            depth++;
        p = *e ? e + 1 : e;
    }
    for (const char *p = target; *p;) {
        const char *e = strchrnul(p, '/');
        size_t n = (size_t)(e - p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return false;
        } else if (n && !(n == 1 && p[0] == '.')) {
            depth++;
        }
        p = *e ? e + 1 : e;
    }
    return true;
}

static void fuzz_link(const char *in)
{
    const char *nl = strchr(in, '\n');
    if (!nl)
        return;
    _cleanup_free_ char *link = xstrndup(in, (size_t)(nl - in));
    const char *target = nl + 1;
    pyro_error err = {0};
    int r = relpath_link_check(link, target, &err);
    if (r < 0) {
        CHECK(r == -PYRO_E_INVALID && err.message[0]);
        return;
    }
    CHECK(r == 0);
    CHECK(relpath_check(link, 0, NULL) == 0);
    CHECK(target[0] && target[0] != '/');
    CHECK(resolves_inside(link, target));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A NUL-terminated copy: the checker gets the length, messages and the
     * link split may read to the terminator. */
    char *in = xmalloc(size + 1);
    memcpy(in, data, size);
    in[size] = '\0';
    fuzz_path(in, size);
    if (!memchr(in, '\0', size))
        fuzz_link(in);
    free(in);
    return 0;
}
