/* File operations confined beneath a root: stat, list, read and flush. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/cleanup.h"
#include "agent/fspath.h"
#include "base/json.h"

#define LIST_DEFAULT_MAX 10000
#define LIST_HARD_MAX 100000
#define LIST_DEPTH_MAX 64

static int stat_beneath(int rootfd, const char *path, int *fd_out, struct stat *st, pyro_error *err)
{
    int fd = fspath_open(rootfd, path, O_PATH | O_NOFOLLOW, 0, 0, err);
    if (fd < 0)
        return fd;
    if (fstatat(fd, "", st, AT_EMPTY_PATH) < 0) {
        int e = errno;
        close(fd);
        return err_errno(err, e, "stat %s", path);
    }
    *fd_out = fd;
    return 0;
}

int op_file_stat(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    const char *root, *path;
    _cleanup_close_ int rootfd = -1;
    _cleanup_close_ int fd = -1;
    struct stat st;

    int r = fspath_args(args, &root, &path, &rootfd, err);
    if (r < 0)
        return r;
    r = stat_beneath(rootfd, path, &fd, &st, err);
    if (r < 0)
        return r;
    agent_reply_ok(a, req->id, fspath_stat_json(fd, path, &st), NULL, 0);
    return 0;
}

struct lister {
    json_t *entries;
    size_t max;
    bool truncated;
};

static char *join(const char *dir, const char *name)
{
    if (!*dir || strcmp(dir, ".") == 0)
        return xstrdup(name);
    size_t n = strlen(dir);
    return xasprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

static int names_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

char **fsops_read_names(int dirfd, pyro_error *err)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        err_errno(err, errno, "opendir");
        return NULL;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        err_errno(err, errno, "fdopendir");
        close(fd);
        return NULL;
    }
    size_t n = 0, cap = 16;
    char **v = xmalloc(cap * sizeof(char *));
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n + 1 >= cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof(char *));
        }
        v[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    v[n] = NULL;
    qsort(v, n, sizeof(char *), names_cmp);
    return v;
}

static int list_dir(struct lister *l, int dirfd, const char *rel, bool recursive, int depth,
                    pyro_error *err)
{
    _cleanup_strv_ char **names = fsops_read_names(dirfd, err);
    if (!names)
        return err ? err->code : -EIO;
    for (char **p = names; *p; p++) {
        if (json_array_size(l->entries) >= l->max) {
            l->truncated = true;
            return 0;
        }
        _cleanup_free_ char *path = join(rel, *p);
        _cleanup_close_ int fd = openat(dirfd, *p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstatat(fd, "", &st, AT_EMPTY_PATH) < 0)
            continue; /* vanished meanwhile */
        json_array_append_new(l->entries, fspath_stat_json(fd, path, &st));
        if (recursive && S_ISDIR(st.st_mode) && depth < LIST_DEPTH_MAX) {
            _cleanup_close_ int sub = openat(dirfd, *p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                int r = list_dir(l, sub, path, true, depth + 1, err);
                if (r < 0)
                    return r;
            }
        }
    }
    return 0;
}

int op_file_list(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    const char *root, *path;
    _cleanup_close_ int rootfd = -1;

    int r = fspath_args(args, &root, &path, &rootfd, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = fspath_open(rootfd, path, O_PATH | O_DIRECTORY, 0, 0, err);
    if (fd < 0)
        return fd;
    long long max = json_get_int(args, "max_entries", LIST_DEFAULT_MAX);
    struct lister l = {
        .entries = json_array(),
        .max = max <= 0 ? 1 : max > LIST_HARD_MAX ? LIST_HARD_MAX : (size_t)max,
    };
    r = list_dir(&l, fd, path, json_get_bool(args, "recursive", false), 0, err);
    if (r < 0) {
        json_decref(l.entries);
        return r;
    }
    json_t *res = json_object();
    json_set(res, "path", json_bytes(path, strlen(path), NULL));
    json_set(res, "entries", l.entries);
    json_set(res, "truncated", json_boolean(l.truncated));
    agent_reply_ok(a, req->id, res, NULL, 0);
    return 0;
}

int op_file_read(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    const char *root, *path;
    _cleanup_close_ int rootfd = -1;
    struct stat st;

    int r = fspath_args(args, &root, &path, &rootfd, err);
    if (r < 0)
        return r;
    long long offset = json_get_int(args, "offset", 0);
    long long max = json_get_int(args, "max_bytes", PROTO_BODY_MAX);
    if (offset < 0 || max < 0)
        return err_set(err, -PYRO_E_INVALID, "\"offset\" and \"max_bytes\" must be >= 0");
    if (max > PROTO_BODY_MAX)
        max = PROTO_BODY_MAX;
    _cleanup_close_ int fd = fspath_open(rootfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, 0, err);
    if (fd < 0)
        return fd;
    if (fstat(fd, &st) < 0)
        return err_errno(err, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode))
        return err_set(err, -PYRO_E_INVALID, "%s is not a regular file", path);
    _cleanup_free_ uint8_t *buf = xmalloc((size_t)max + 1);
    size_t got = 0;
    while (got < (size_t)max) {
        ssize_t n = pread(fd, buf + got, (size_t)max - got, offset + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_errno(err, errno, "read %s", path);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    /* One byte more tells whether the file goes on past what we return. */
    bool more = false;
    if (got == (size_t)max) {
        uint8_t probe;
        more = pread(fd, &probe, 1, offset + (off_t)got) == 1;
    }
    json_t *res = json_object();
    json_set(res, "path", json_bytes(path, strlen(path), NULL));
    json_set(res, "size", json_integer((json_int_t)st.st_size));
    json_set(res, "offset", json_integer(offset));
    json_set(res, "bytes", json_integer((json_int_t)got));
    json_set(res, "truncated", json_boolean(more));
    agent_reply_ok(a, req->id, res, buf, got);
    return 0;
}

int op_fs_flush(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    const char *root = json_get_str(args, "root", "/");
    _cleanup_close_ int fd = fspath_open_root(root, err);
    if (fd < 0)
        return fd;
    /* syncfs needs a real open file, not O_PATH. */
    _cleanup_close_ int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_errno(err, errno, "open %s", root);
    if (syncfs(dfd) < 0)
        return err_errno(err, errno, "syncfs %s", root);
    json_t *res = json_object();
    json_set(res, "root", json_string(root));
    json_set(res, "flushed", json_true());
    agent_reply_ok(a, req->id, res, NULL, 0);
    return 0;
}
