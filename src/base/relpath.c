#include "base/relpath.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"

/* Messages quote at most this much of a path. */
#define SHOW_MAX 200

static int refuse(pyro_error *err, const char *path, size_t len, const char *why)
{
    int n = len > SHOW_MAX ? SHOW_MAX : (int)len;
    return err_set(err, -PYRO_E_INVALID, "path '%.*s%s' %s", n, path, len > SHOW_MAX ? "..." : "", why);
}

static bool is_dot(const char *p, size_t n)
{
    return n == 1 && p[0] == '.';
}

static bool is_dotdot(const char *p, size_t n)
{
    return n == 2 && p[0] == '.' && p[1] == '.';
}

int relpath_parse(const char *path, size_t len, unsigned flags, char **out, pyro_error *err)
{
    if (out)
        *out = NULL;
    if (!path)
        return err_set(err, -PYRO_E_INVALID, "path is missing");
    if (memchr(path, '\0', len))
        return err_set(err, -PYRO_E_INVALID, "path contains a NUL byte");
    if (len > RELPATH_MAX)
        return err_set(err, -PYRO_E_INVALID, "path of %zu bytes is longer than %d", len, RELPATH_MAX);
    if (len == 0) {
        if (!(flags & RELPATH_EMPTY_ROOT))
            return err_set(err, -PYRO_E_INVALID, "path is empty");
        if (out)
            *out = xstrdup("");
        return 0;
    }
    if (path[0] == '/')
        return refuse(err, path, len, "is an absolute path (it must be relative)");
    bool canonical = flags & RELPATH_CANONICAL;
    _cleanup_free_ char *norm = out ? xmalloc(len + 1) : NULL;
    size_t o = 0, depth = 0;
    const char *end = path + len;
    for (const char *p = path;;) {
        const char *e = memchr(p, '/', (size_t)(end - p));
        if (!e)
            e = end;
        size_t n = (size_t)(e - p);
        if (is_dotdot(p, n))
            return refuse(err, path, len, "contains '..'");
        if (n == 0 || is_dot(p, n)) {
            if (canonical)
                return refuse(err, path, len, n ? "has a '.' component" : "has an empty component");
        } else {
            if (++depth > RELPATH_DEPTH_MAX)
                return err_set(err, -PYRO_E_INVALID, "path has more than %d components", RELPATH_DEPTH_MAX);
            if (norm) {
                if (o)
                    norm[o++] = '/';
                memcpy(norm + o, p, n);
                o += n;
            }
        }
        if (e == end)
            break;
        p = e + 1;
    }
    if (depth == 0 && !(flags & RELPATH_DOT_ROOT))
        return refuse(err, path, len, "names the root itself");
    if (norm) {
        norm[o] = '\0';
        *out = TAKE_PTR(norm);
    }
    return 0;
}

int relpath_check(const char *path, unsigned flags, pyro_error *err)
{
    return relpath_parse(path, path ? strlen(path) : 0, flags, NULL, err);
}

int relpath_normalize(const char *path, unsigned flags, char **out, pyro_error *err)
{
    return relpath_parse(path, path ? strlen(path) : 0, flags, out, err);
}

int relpath_link_check(const char *link, const char *target, pyro_error *err)
{
    _cleanup_free_ char *norm = NULL;
    int r = relpath_normalize(link, 0, &norm, err);
    if (r < 0) {
        err_prefix(err, "symlink");
        return r;
    }
    if (!target || !*target)
        return err_set(err, -PYRO_E_INVALID, "symlink '%s' has an empty target", norm);
    size_t tlen = strlen(target);
    if (tlen > RELPATH_MAX)
        return err_set(err, -PYRO_E_INVALID, "symlink '%s' has a target of %zu bytes (at most %d)", norm, tlen,
                       RELPATH_MAX);
    if (target[0] == '/')
        return err_set(err, -PYRO_E_INVALID, "symlink '%s' points to the absolute path '%.*s'", norm, SHOW_MAX, target);
    /* The target is read from the link's directory: as deep as the link's
     * components less one. */
    long depth = 0;
    for (const char *p = norm; *p; p++)
        if (*p == '/')
            depth++;
    for (const char *p = target;;) {
        const char *e = strchrnul(p, '/');
        size_t n = (size_t)(e - p);
        if (is_dotdot(p, n)) {
            if (--depth < 0)
                return err_set(err, -PYRO_E_INVALID, "symlink '%s' -> '%.*s' escapes the destination", norm, SHOW_MAX,
                               target);
        } else if (n && !is_dot(p, n)) {
            depth++;
        }
        if (!*e)
            break;
        p = e + 1;
    }
    return 0;
}
