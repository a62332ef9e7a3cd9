/* File operations confined beneath a root: stat, list, read and flush. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/fspath.h"
#include "agent/walk.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "proto/reply.h"

#define LIST_DEFAULT_MAX 10000
#define LIST_DEPTH_MAX 64

int op_file_stat(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    _cleanup_fspath_req_ struct fspath_req q = {.rootfd = -1};
    struct stat st;

    int r = fspath_req_open(req, &q, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = fspath_open(q.rootfd, q.path, O_PATH | O_NOFOLLOW, 0, 0, err);
    if (fd < 0)
        return fd;
    if (fstatat(fd, "", &st, AT_EMPTY_PATH) < 0)
        return err_errno(err, errno, "stat %s", q.path);
    agent_reply_ok(a, req->id, fspath_stat_json(fd, "", q.path, &st), NULL, 0);
    return 0;
}

static int list_visit(struct walk *w, int dirfd, const char *name, const char *path, const struct stat *st,
                      pyro_error *err)
{
    json_array_append_new(w->userdata, fspath_stat_json(dirfd, name, path, st));
    return 1;
}

int op_file_list(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    _cleanup_fspath_req_ struct fspath_req q = {.rootfd = -1};

    int r = fspath_req_open(req, &q, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = fspath_open(q.rootfd, q.path, O_PATH | O_DIRECTORY, 0, 0, err);
    if (fd < 0)
        return fd;
    struct walk w = {
        .max = fspath_arg_limit(q.args, "max_entries", LIST_DEFAULT_MAX, PROTO_LIST_MAX),
        .depth_max = LIST_DEPTH_MAX,
        .recursive = json_get_bool(q.args, "recursive", false),
        .visit = list_visit,
        .userdata = json_array(),
    };
    r = walk_run(&w, fd, q.path, err);
    if (r < 0) {
        json_decref(w.userdata);
        return r;
    }
    json_t *res = json_object();
    json_set(res, "path", json_bytes(q.path, strlen(q.path), NULL));
    json_set(res, "entries", w.userdata);
    json_set(res, "truncated", json_boolean(w.truncated));
    agent_reply_ok(a, req->id, res, NULL, 0);
    return 0;
}

int op_file_read(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    _cleanup_fspath_req_ struct fspath_req q = {.rootfd = -1};
    struct stat st;

    int r = fspath_req_open(req, &q, err);
    if (r < 0)
        return r;
    long long offset = json_get_int(q.args, "offset", 0);
    long long max = json_get_int(q.args, "max_bytes", PROTO_BODY_MAX);
    if (offset < 0 || max < 0)
        return err_set(err, -PYRO_E_INVALID, "\"offset\" and \"max_bytes\" must be >= 0");
    if (max > PROTO_BODY_MAX)
        max = PROTO_BODY_MAX;
    _cleanup_close_ int fd = fspath_open(q.rootfd, q.path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, 0, err);
    if (fd < 0)
        return fd;
    if (fstat(fd, &st) < 0)
        return err_errno(err, errno, "stat %s", q.path);
    if (!S_ISREG(st.st_mode))
        return err_set(err, -PYRO_E_INVALID, "%s is not a regular file", q.path);
    _cleanup_free_ uint8_t *buf = xmalloc((size_t)max + 1);
    size_t got = 0;
    while (got < (size_t)max) {
        ssize_t n = pread(fd, buf + got, (size_t)max - got, offset + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_errno(err, errno, "read %s", q.path);
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
    json_set(res, "path", json_bytes(q.path, strlen(q.path), NULL));
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
    json_set(res, "root", json_bytes(root, strlen(root), NULL));
    json_set(res, "flushed", json_true());
    agent_reply_ok(a, req->id, res, NULL, 0);
    return 0;
}
