/* "manifest": a compact listing of a tree with content hashes, so the host
 * can compare a workspace with its baseline without fetching any file, and
 * "file_delete": removing one non-directory entry, both confined beneath a
 * root like every path operation (fspath.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/fspath.h"
#include "agent/walk.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/sha256.h"
#include "proto/reply.h"

#define MANIFEST_DEFAULT_MAX 100000
#define MANIFEST_DEPTH_MAX 128

struct manifest {
    json_t *entries;
    uint8_t *buf;
};

static int hash_file(struct manifest *m, int dirfd, const char *name, char hex[SHA256_HEX_LEN], pyro_error *err)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open %s", name);
    struct sha256 s;
    sha256_init(&s);
    for (;;) {
        ssize_t n = read(fd, m->buf, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_errno(err, errno, "read %s", name);
        if (n == 0)
            break;
        sha256_update(&s, m->buf, (size_t)n);
    }
    sha256_final_hex(&s, hex);
    return 0;
}

/* Entries are arrays [path, type, mode, size, hash or link target]: a
 * 10000-file tree stays near 1 MiB of header. */
static int manifest_visit(struct walk *w, int dirfd, const char *name, const char *path, const struct stat *st,
                          pyro_error *err)
{
    struct manifest *m = w->userdata;
    json_t *extra = NULL;
    long long size = 0;
    if (S_ISREG(st->st_mode)) {
        char hex[SHA256_HEX_LEN];
        pyro_error herr = {0};
        if (hash_file(m, dirfd, name, hex, &herr) < 0)
            return 0; /* vanished or replaced meanwhile */
        extra = json_string(hex);
        size = (long long)st->st_size;
    } else if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
        extra = json_bytes(target, n > 0 ? (size_t)n : 0, NULL);
    } else {
        extra = json_string("");
    }
    json_array_append_new(m->entries, json_pack("[o, s, i, I, o]", json_bytes(path, strlen(path), NULL),
                                                fspath_type_name(st->st_mode), (int)(st->st_mode & 07777),
                                                (json_int_t)size, extra));
    return 1;
}

int op_manifest(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    _cleanup_fspath_req_ struct fspath_req q = {.rootfd = -1};

    int r = fspath_req_open(req, &q, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = fspath_open(q.rootfd, q.path, O_PATH | O_DIRECTORY, 0, 0, err);
    if (fd < 0)
        return fd;
    struct manifest m = {.entries = json_array(), .buf = xmalloc(65536)};
    struct walk w = {
        .max = fspath_arg_limit(q.args, "max_entries", MANIFEST_DEFAULT_MAX, PROTO_MANIFEST_MAX),
        .depth_max = MANIFEST_DEPTH_MAX,
        .recursive = true,
        .visit = manifest_visit,
        .userdata = &m,
    };
    r = walk_run(&w, fd, "", err);
    free(m.buf);
    if (r < 0) {
        json_decref(m.entries);
        return r;
    }
    json_t *res = json_object();
    json_set(res, "path", json_bytes(q.path, strlen(q.path), NULL));
    json_set(res, "count", json_integer((json_int_t)json_array_size(m.entries)));
    json_set(res, "entries", m.entries);
    json_set(res, "truncated", json_boolean(w.truncated));
    agent_reply_ok(a, req->id, res, NULL, 0);
    return 0;
}

int op_file_delete(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    _cleanup_fspath_req_ struct fspath_req q = {.rootfd = -1};
    const char *base;

    int r = fspath_req_open(req, &q, err);
    if (r < 0)
        return r;
    const char *path = q.path;
    _cleanup_close_ int dfd = fspath_open_parent(q.rootfd, path, false, 0, &base, err);
    if (dfd < 0)
        return dfd;
    _cleanup_free_ char *name = xstrdup(base);
    size_t n = strlen(name);
    while (n > 0 && name[n - 1] == '/')
        name[--n] = '\0';
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return err_errno(err, errno, "stat %s", path);
    if (S_ISDIR(st.st_mode))
        return err_set(err, -PYRO_E_INVALID, "%s is a directory", path);
    /* unlinkat needs a real directory fd, not O_PATH. */
    _cleanup_close_ int wfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (wfd < 0)
        return err_errno(err, errno, "open the directory of %s", path);
    if (unlinkat(wfd, name, 0) < 0)
        return err_errno(err, errno, "remove %s", path);
    json_t *res = json_object();
    json_set(res, "path", json_bytes(path, strlen(path), NULL));
    json_set(res, "type", json_string(fspath_type_name(st.st_mode)));
    json_set(res, "deleted", json_true());
    agent_reply_durable(a, req->id, res);
    return 0;
}
