#include "lib/host/hostpaths.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/confine.h"
#include "base/relpath.h"
#include "lib/contract/ctx.h"

int host_policy_add(struct host_policy *p, const char *dir, bool write, const char *origin, pyro_error *err)
{
    _cleanup_free_ char *real = realpath(dir, NULL);
    struct stat st;
    if (!real || stat(real, &st) < 0)
        return err_errno(err, errno, "%s %s", origin, dir);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, -PYRO_E_INVALID, "%s %s is not a directory", origin, dir);
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->roots[i].path, real)) {
            p->roots[i].write |= write;
            return 0;
        }
    if (p->n == HOST_ROOTS_MAX)
        return err_set(err, -PYRO_E_LIMIT, "more than %d allowed host paths", HOST_ROOTS_MAX);
    p->roots[p->n++] = (struct host_root){
        .path = TAKE_PTR(real), .origin = origin, .write = write, .uid = st.st_uid, .gid = st.st_gid};
    return 0;
}

void host_policy_truncate(struct host_policy *p, size_t n)
{
    while (p->n > n)
        free(p->roots[--p->n].path);
}

char *host_policy_describe(const struct host_policy *p, bool write)
{
    char *out = xstrdup("");
    for (size_t i = 0; i < p->n; i++) {
        if (write && !p->roots[i].write)
            continue;
        char *next = xasprintf("%s%s%s (%s)", out, *out ? ", " : "", p->roots[i].path, p->roots[i].origin);
        free(out);
        out = next;
    }
    if (!*out) {
        free(out);
        out = xstrdup("none");
    }
    return out;
}

/* The root beneath which canon lies (the deepest one), or NULL. */
static const struct host_root *root_of(const struct host_policy *p, const char *canon, bool write, const char **rel)
{
    const struct host_root *best = NULL;
    for (size_t i = 0; i < p->n; i++) {
        const char *r;
        if ((write && !p->roots[i].write) || !confine_beneath(p->roots[i].path, canon, &r))
            continue;
        if (!best || strlen(p->roots[i].path) > strlen(best->path)) {
            best = &p->roots[i];
            *rel = r;
        }
    }
    return best;
}

/* For a path that does not resolve: whether where it leads (symlinks,
 * dangling ones too, followed) lies beneath a root, so that "missing" is
 * said only where the caller may look. */
static bool leads_beneath(const struct host_policy *p, const char *path, bool write)
{
    _cleanup_free_ char *to = confine_resolve(path);
    const char *rel;
    return to && root_of(p, to, write, &rel) != NULL;
}

static int outside(const struct host_policy *p, const char *param, const char *path, bool write, pyro_error *err)
{
    _cleanup_free_ char *roots = host_policy_describe(p, write);
    return err_set(err, -PYRO_E_INVALID,
                   "%s %s is outside the host paths this MCP server may %s: %s (pyro mcp serve "
                   "--allow-host-path DIR adds a root; symlinks are resolved before the check)",
                   param, path, write ? "write" : "read", roots);
}

/* Opens rel beneath root r, mapping an escape to the policy's error. */
static int open_beneath(const struct host_policy *p, const struct host_root *r, const char *rel, int flags,
                        const char *param, const char *path, bool write, pyro_error *err)
{
    _cleanup_close_ int rootfd = open(r->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return err_errno(err, errno, "%s: open the root %s", param, r->path);
    int fd = confine_openat(rootfd, rel, flags, 0);
    if (fd == -EXDEV || fd == -ELOOP)
        return outside(p, param, path, write, err);
    if (fd < 0)
        return err_errno(err, -fd, "%s %s", param, path);
    return fd;
}

int host_open_source(const struct pyro_ctx *ctx, const char *param, const char *path, int *fd_out, char **canon,
                     pyro_error *err)
{
    const struct host_policy *p = param ? ctx->host_policy : NULL;
    const char *what = param ? param : "project source";
    *fd_out = -1;
    if (!path || !*path)
        return err_set(err, -PYRO_E_INVALID, "%s must be a host path", what);
    _cleanup_free_ char *real = realpath(path, NULL);
    int flags = O_RDONLY | O_NOCTTY | O_NONBLOCK;
    int fd;
    if (!p) {
        if (!real)
            return err_errno(err, errno, "%s %s", what, path);
        fd = open(real, flags | O_CLOEXEC);
        if (fd < 0)
            return err_errno(err, errno, "%s %s", what, path);
    } else {
        const char *rel = NULL;
        const struct host_root *r = NULL;
        if (!real) {
            /* Say what is missing only where the caller may look. */
            int e = errno;
            if (!leads_beneath(p, path, false))
                return outside(p, param, path, false, err);
            return err_errno(err, e, "%s %s", param, path);
        }
        if (!(r = root_of(p, real, false, &rel)))
            return outside(p, param, path, false, err);
        fd = open_beneath(p, r, rel, flags, param, path, false, err);
        if (fd < 0)
            return fd;
    }
    if (canon)
        *canon = TAKE_PTR(real);
    *fd_out = fd;
    return 0;
}

void host_dest_close(struct host_dest *d)
{
    if (d->dirfd >= 0)
        close(d->dirfd);
    free(d->name);
    free(d->path);
    free(d->rel);
    memset(d, 0, sizeof(*d));
    d->dirfd = -1;
}

/* Outputs belong to the user pyro runs for: sudo's invoking user, else
 * (confined) the owner of the root. Only root can give files away. */
static void dest_owner(struct host_dest *d, const struct host_root *r)
{
    if (geteuid() != 0)
        return;
    const char *su = getenv("SUDO_UID"), *sg = getenv("SUDO_GID");
    char *e1 = NULL, *e2 = NULL;
    unsigned long u = su ? strtoul(su, &e1, 10) : 0, g = sg ? strtoul(sg, &e2, 10) : 0;
    if (su && sg && *su && *sg && !*e1 && !*e2 && u > 0 && u < UINT32_MAX && g < UINT32_MAX) {
        d->chown = true;
        d->uid = (uid_t)u;
        d->gid = (gid_t)g;
    } else if (r && r->uid != 0) {
        d->chown = true;
        d->uid = r->uid;
        d->gid = r->gid;
    }
}

static bool has_git_component(const char *rel)
{
    for (const char *p = rel; *p;) {
        const char *e = strchrnul(p, '/');
        if (e - p == 4 && !strncmp(p, ".git", 4))
            return true;
        p = *e ? e + 1 : e;
    }
    return false;
}

int host_dest_open(const struct pyro_ctx *ctx, const char *param, const char *path, struct host_dest *d,
                   pyro_error *err)
{
    const struct host_policy *p = ctx->host_policy;
    memset(d, 0, sizeof(*d));
    d->dirfd = -1;
    size_t len = path ? strlen(path) : 0;
    if (!len || path[len - 1] == '/')
        return err_set(err, -PYRO_E_INVALID, "%s must name a file to create, got '%s'", param, path ? path : "");
    _cleanup_free_ char *norm = confine_normalize(path);
    if (!norm)
        return err_errno(err, errno, "%s %s", param, path);
    char *slash = strrchr(norm, '/');
    const char *name = slash + 1;
    if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
        return err_set(err, -PYRO_E_INVALID, "%s must name a file to create, got '%s'", param, path);
    _cleanup_free_ char *parent = slash == norm ? xstrdup("/") : xstrndup(norm, (size_t)(slash - norm));
    _cleanup_free_ char *real = realpath(parent, NULL);
    const struct host_root *r = NULL;
    const char *rel = NULL;
    int e = errno;
    if (p && (real ? !(r = root_of(p, real, true, &rel)) : !leads_beneath(p, parent, true)))
        return outside(p, param, path, true, err);
    if (!real)
        return err_errno(err, e, "the directory of %s %s", param, path);
    d->path = xasprintf("%s%s%s", real, strcmp(real, "/") ? "/" : "", name);
    d->name = xstrdup(name);
    int fd;
    if (p) {
        d->confined = true;
        d->rel = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
        if (has_git_component(d->rel)) {
            host_dest_close(d);
            return err_set(err, -PYRO_E_INVALID,
                           "%s %s is inside a .git directory: an MCP caller may not create files there (hooks "
                           "and configuration run on the host)",
                           param, path);
        }
        fd = open_beneath(p, r, rel, O_RDONLY | O_DIRECTORY, param, path, true, err);
    } else {
        fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            fd = err_errno(err, errno, "the directory of %s %s", param, path);
    }
    if (fd < 0) {
        host_dest_close(d);
        return fd;
    }
    d->dirfd = fd;
    struct stat st;
    int r2 = 0;
    if (fstatat(d->dirfd, d->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        r2 = err_set(err, -PYRO_E_INVALID, "%s %s already exists", param, path);
    else if (errno != ENOENT)
        r2 = err_errno(err, errno, "%s %s", param, path);
    if (r2 < 0) {
        host_dest_close(d);
        return r2;
    }
    d->param = param;
    dest_owner(d, r);
    return 0;
}

int host_dest_tmpfile(struct host_dest *d, pyro_error *err)
{
    int fd = openat(d->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_errno(err, errno, "create a temporary file next to %s", d->path);
    return fd;
}

int host_dest_commit(struct host_dest *d, int fd, mode_t mode, pyro_error *err)
{
    mode &= d->confined ? 0666 : 07777;
    if (d->chown && fchown(fd, d->uid, d->gid) < 0)
        return err_errno(err, errno, "chown %s", d->path);
    if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
        return err_errno(err, errno, "write %s", d->path);
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    /* linkat never replaces or follows what is at the name. */
    if (linkat(AT_FDCWD, proc, d->dirfd, d->name, AT_SYMLINK_FOLLOW) < 0)
        return err_errno(err, errno, "create %s", d->path);
    return 0;
}

int host_dest_symlink(struct host_dest *d, const char *target, pyro_error *err)
{
    if (d->confined && relpath_link_check(d->rel, target, NULL) < 0)
        return err_set(err, -PYRO_E_INVALID, "%s %s would be a symlink to '%s', which leaves the allowed host path",
                       d->param, d->path, target);
    if (symlinkat(target, d->dirfd, d->name) < 0)
        return err_errno(err, errno, "create %s", d->path);
    if (d->chown && fchownat(d->dirfd, d->name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return err_errno(err, errno, "chown %s", d->path);
    return 0;
}
