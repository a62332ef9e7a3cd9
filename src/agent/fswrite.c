/* file_write: the body (one frame, or a stream of data frames) goes to a
 * temporary file next to the target, which is renamed over the target at
 * the end, so readers never see a half-written file. append writes in
 * place. The final component is never followed if it is a symlink. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/fspath.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/json.h"

#define FILE_WRITE_MAX (1ull << 30)

struct fwrite_state {
    int dirfd, fd;
    char *path, *base, *tmp;
    mode_t mode;
    uint64_t bytes, max;
};

static void fwrite_free(void *p)
{
    struct fwrite_state *s = p;
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (s->tmp)
        (void)unlinkat(s->dirfd, s->tmp, 0);
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->path);
    free(s->base);
    free(s->tmp);
    free(s);
}

static int fwrite_data(struct agent *a, struct stream_in *in, const uint8_t *buf, size_t len, pyro_error *err)
{
    struct fwrite_state *s = in->state;
    if (s->bytes + len > s->max)
        return err_set(err, -PYRO_E_LIMIT, "file_write: more than %llu bytes", (unsigned long long)s->max);
    while (len) {
        ssize_t n = write(s->fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_errno(err, errno, "write %s", s->path);
        buf += n;
        len -= (size_t)n;
        s->bytes += (uint64_t)n;
    }
    return 0;
}

static int fwrite_end(struct agent *a, struct stream_in *in, pyro_error *err)
{
    struct fwrite_state *s = in->state;
    if (fchmod(s->fd, s->mode) < 0)
        return err_errno(err, errno, "chmod %s", s->path);
    if (s->tmp) {
        if (renameat(s->dirfd, s->tmp, s->dirfd, s->base) < 0)
            return err_errno(err, errno, "rename onto %s", s->path);
        free(s->tmp);
        s->tmp = NULL;
    }
    json_t *res = json_object();
    json_set(res, "path", json_bytes(s->path, strlen(s->path), NULL));
    json_set(res, "bytes", json_integer((json_int_t)s->bytes));
    agent_reply_durable(a, in->id, res);
    return 0;
}

int op_file_write(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    _cleanup_fspath_req_ struct fspath_req q = {.rootfd = -1};
    const char *base;

    int r = fspath_req_open(req, &q, err);
    if (r < 0)
        return r;
    const json_t *args = q.args;
    const char *path = q.path;
    long long mode = json_get_int(args, "mode", 0644);
    if (mode < 0 || mode > 07777)
        return err_set(err, -PYRO_E_INVALID, "\"mode\" must be within 0..07777");
    bool append = json_get_bool(args, "append", false);
    int dirfd = fspath_open_parent(q.rootfd, path, json_get_bool(args, "mkdirs", true), 0, &base, err);
    if (dirfd < 0)
        return dirfd;

    struct fwrite_state *s = xcalloc(1, sizeof(*s));
    s->dirfd = dirfd;
    s->fd = -1;
    s->path = xstrdup(path);
    s->base = xstrdup(base);
    s->mode = (mode_t)mode;
    s->max = fspath_arg_limit(args, "max_bytes", FILE_WRITE_MAX, FILE_WRITE_MAX);
    if (append) {
        s->fd = openat(dirfd, base, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, s->mode);
    } else {
        struct stat st;
        if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
            fwrite_free(s);
            return err_set(err, -EISDIR, "%s is a directory", path);
        }
        char id[PYRO_ID_LEN + 1];
        id_random(id, sizeof(id));
        s->tmp = xasprintf(".pyro-write-%s", id);
        s->fd = openat(dirfd, s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (s->fd < 0) {
        int e = errno;
        free(s->tmp);
        s->tmp = NULL;
        fwrite_free(s);
        if (e == ELOOP)
            return err_set(err, -PYRO_E_INVALID, "%s is a symlink", path);
        return err_errno(err, e, "open %s", path);
    }

    struct stream_in *in = xcalloc(1, sizeof(*in));
    in->id = req->id;
    in->state = s;
    in->on_data = fwrite_data;
    in->on_end = fwrite_end;
    in->free = fwrite_free;
    r = req->body_len ? fwrite_data(a, in, req->body, req->body_len, err) : 0;
    if (r >= 0 && json_get_bool(req->hdr, "stream", false)) {
        agent_stream_in_add(a, in);
        return 0;
    }
    if (r >= 0)
        r = fwrite_end(a, in, err);
    fwrite_free(s);
    free(in);
    return r;
}
