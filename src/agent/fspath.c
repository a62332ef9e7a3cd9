#include "agent/fspath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/confine.h"
#include "base/json.h"
#include "base/relpath.h"

int fspath_open_root(const char *root, pyro_error *err)
{
    if (!root || root[0] != '/')
        return err_set(err, -PYRO_E_INVALID, "root must be an absolute path");
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open root %s", root);
    return fd;
}

int fspath_open(int dirfd, const char *path, int flags, mode_t mode, uint64_t extra_resolve, pyro_error *err)
{
    int fd = confine_openat_resolve(dirfd, path, flags, mode, extra_resolve);
    if (fd >= 0)
        return fd;
    int e = -fd;
    if (e == EXDEV)
        return err_set(err, -PYRO_E_INVALID, "path '%s' escapes the root", path);
    if (e == ELOOP && (extra_resolve & RESOLVE_NO_SYMLINKS))
        return err_set(err, -PYRO_E_INVALID, "path '%s' goes through a symlink", path);
    return err_errno(err, e, "open %s", path);
}

int fspath_open_parent(int rootfd, const char *path, bool mkdirs, uint64_t extra_resolve, const char **base,
                       pyro_error *err)
{
    /* Strip trailing slashes and "." components from the end. */
    _cleanup_free_ char *dir = xstrdup(path);
    size_t n = strlen(dir);
    while (n > 0 && dir[n - 1] == '/')
        dir[--n] = '\0';
    char *slash = strrchr(dir, '/');
    const char *last = slash ? slash + 1 : dir;
    if (!*last || strcmp(last, ".") == 0)
        return err_set(err, -PYRO_E_INVALID, "path '%s' names the root", path);
    *base = path + (last - dir);
    if (!slash)
        return fspath_open(rootfd, ".", O_PATH | O_DIRECTORY, 0, extra_resolve, err);
    *slash = '\0';

    int fd = fspath_open(rootfd, dir, O_PATH | O_DIRECTORY, 0, extra_resolve, err);
    if (fd != -ENOENT || !mkdirs)
        return fd;
    err_clear(err);
    /* Walk and create component by component, never following symlinks
     * that leave the root (each step is itself an openat2 beneath). */
    _cleanup_close_ int cur = fspath_open(rootfd, ".", O_PATH | O_DIRECTORY, 0, extra_resolve, err);
    if (cur < 0)
        return cur;
    for (char *p = dir; *p;) {
        char *e = strchrnul(p, '/');
        bool more = *e != '\0';
        *e = '\0';
        if (*p && strcmp(p, ".") != 0) {
            if (mkdirat(cur, p, 0755) < 0 && errno != EEXIST)
                return err_errno(err, errno, "mkdir %s", p);
            int next = fspath_open(cur, p, O_PATH | O_DIRECTORY, 0, extra_resolve, err);
            if (next < 0)
                return next;
            close(cur);
            cur = next;
        }
        p = more ? e + 1 : e;
    }
    return TAKE_FD(cur);
}

int fspath_req_open(const struct proto_frame *req, struct fspath_req *out, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    const json_t *r = json_object_get(args, "root"), *p = json_object_get(args, "path");
    *out = (struct fspath_req){.args = args, .rootfd = -1};
    if (r && (!json_is_string(r) || strlen(json_string_value(r)) != json_string_length(r)))
        return err_set(err, -PYRO_E_INVALID, "\"root\" must be a string");
    if (p && !json_is_string(p))
        return err_set(err, -PYRO_E_INVALID, "\"path\" must be a string");
    out->root = r ? json_string_value(r) : FSPATH_DEFAULT_ROOT;
    out->path = p ? json_string_value(p) : "";
    int ret = relpath_parse(out->path, p ? json_string_length(p) : 0, RELPATH_ROOT, NULL, err);
    if (ret < 0)
        return ret;
    int fd = fspath_open_root(out->root, err);
    if (fd < 0)
        return fd;
    out->rootfd = fd;
    return 0;
}

void fspath_req_close(struct fspath_req *q)
{
    if (q->rootfd >= 0)
        close(q->rootfd);
    q->rootfd = -1;
}

uint64_t fspath_arg_limit(const json_t *args, const char *key, uint64_t def, uint64_t max)
{
    long long v = json_get_int(args, key, 0);
    if (v <= 0)
        return def;
    return (unsigned long long)v > max ? max : (uint64_t)v;
}

const char *fspath_type_name(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return "file";
    case S_IFDIR: return "dir";
    case S_IFLNK: return "symlink";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "socket";
    case S_IFCHR: return "char";
    case S_IFBLK: return "block";
    default: return "unknown";
    }
}

json_t *fspath_stat_json(int dirfd, const char *name, const char *path, const struct stat *st)
{
    json_t *o = json_object();
    if (!o)
        abort();
    json_set(o, "path", json_bytes(path, strlen(path), NULL));
    json_set(o, "type", json_string(fspath_type_name(st->st_mode)));
    json_set(o, "size", json_integer((json_int_t)st->st_size));
    json_set(o, "mode", json_integer(st->st_mode & 07777));
    json_set(o, "mtime_ms", json_integer((json_int_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000));
    if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
        if (n >= 0)
            json_set(o, "link_target", json_bytes(target, (size_t)n, NULL));
    }
    return o;
}
