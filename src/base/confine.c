#include "base/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"

char *confine_normalize(const char *path)
{
    _cleanup_free_ char *joined = NULL;
    if (path[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            return NULL;
        joined = xasprintf("%s/%s", cwd, path);
        path = joined;
    }
    size_t n = strlen(path);
    char *out = xmalloc(n + 2);
    size_t o = 0;
    for (const char *p = path; *p;) {
        const char *e = strchrnul(p, '/');
        size_t len = (size_t)(e - p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the slash before the dropped component */
        } else if (len && !(len == 1 && p[0] == '.')) {
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p = *e ? e + 1 : e;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

/* Drops the last component of the absolute path in buf. */
static void drop_last(char *buf)
{
    char *slash = strrchr(buf, '/');
    if (slash == buf)
        buf[1] = '\0';
    else if (slash)
        *slash = '\0';
}

char *confine_resolve(const char *path)
{
    _cleanup_free_ char *todo = NULL;
    if (path[0] == '/') {
        todo = xstrdup(path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            return NULL;
        todo = xasprintf("%s/%s", cwd, path);
    }
    _cleanup_free_ char *out = xmalloc(2 * PATH_MAX);
    strcpy(out, "/");
    bool missing = false; /* from here on the rest is taken as written */
    int links = 0;
    for (const char *p = todo; *p;) {
        const char *e = strchrnul(p, '/');
        size_t len = (size_t)(e - p), ol = strlen(out);
        const char *next = *e ? e + 1 : e;
        if (len == 0 || (len == 1 && p[0] == '.')) {
            p = next;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            drop_last(out);
            p = next;
            continue;
        }
        if (ol + len + 2 > 2 * PATH_MAX)
            return NULL;
        if (ol > 1)
            out[ol++] = '/';
        memcpy(out + ol, p, len);
        out[ol + len] = '\0';
        struct stat st;
        if (missing || lstat(out, &st) < 0 || !S_ISLNK(st.st_mode)) {
            missing = missing || access(out, F_OK) < 0;
            p = next;
            continue;
        }
        char target[PATH_MAX];
        ssize_t n = readlink(out, target, sizeof(target) - 1);
        if (n < 0 || ++links > 40)
            return NULL;
        target[n] = '\0';
        drop_last(out);
        if (target[0] == '/')
            strcpy(out, "/");
        /* The link's target comes next, then the rest of the path. */
        char *spliced = xasprintf("%s/%s", target, next);
        free(todo);
        todo = spliced;
        p = todo;
    }
    return TAKE_PTR(out);
}

bool confine_beneath(const char *root, const char *path, const char **rel)
{
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/') { /* every absolute path */
        if (path[0] != '/')
            return false;
        if (rel)
            *rel = path + 1;
        return true;
    }
    if (strncmp(root, path, n) != 0 || (path[n] != '\0' && path[n] != '/'))
        return false;
    if (rel)
        *rel = path[n] ? path + n + 1 : path + n;
    return true;
}

/* One component at a time, no symlinks at all (the path is canonical, so
 * a symlink on the way means it changed since). */
static int open_walk(int dirfd, const char *rel, int flags, mode_t mode)
{
    _cleanup_close_ int cur = -1;
    int at = dirfd;
    const char *p = rel;
    for (;;) {
        const char *e = strchr(p, '/');
        if (!e)
            break;
        size_t len = (size_t)(e - p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return -EXDEV;
        if (len == 0 || (len == 1 && p[0] == '.')) {
            p = e + 1;
            continue;
        }
        _cleanup_free_ char *name = xstrndup(p, len);
        int next = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            return errno == ENOTDIR ? -ELOOP : -errno;
        if (cur >= 0)
            close(cur);
        cur = next;
        at = cur;
        p = e + 1;
    }
    if (!strcmp(p, ".."))
        return -EXDEV;
    int fd = openat(at, *p ? p : ".", flags | O_NOFOLLOW | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

int confine_openat_resolve(int dirfd, const char *rel, int flags, mode_t mode, uint64_t extra_resolve)
{
    if (rel[0] == '/')
        return -EXDEV;
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | extra_resolve,
    };
    long fd;
    do
        fd = syscall(SYS_openat2, dirfd, *rel ? rel : ".", &how, sizeof(how));
    while (fd < 0 && errno == EINTR);
    if (fd >= 0)
        return (int)fd;
    if (errno != ENOSYS)
        return -errno;
    return open_walk(dirfd, rel, flags, mode);
}

int confine_openat(int dirfd, const char *rel, int flags, mode_t mode)
{
    return confine_openat_resolve(dirfd, rel, flags, mode, 0);
}
