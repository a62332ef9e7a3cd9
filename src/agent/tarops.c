/* tar_out and tar_in: archive streams over the channel. tar_out produces
 * data frames paced by the host's acks; tar_in consumes the request's data
 * frames and extracts as they arrive. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/fspath.h"
#include "agent/tar.h"
#include "base/cleanup.h"
#include "base/json.h"

#define TAR_IN_MAX_BYTES_DEFAULT (1ull << 30)
#define TAR_IN_MAX_ENTRIES_DEFAULT 100000ull
#define TAR_OUT_MAX_BYTES_DEFAULT (4ull << 30)

static ssize_t tar_out_produce(void *state, uint8_t *buf, size_t cap, pyro_error *err)
{
    return tarw_read(state, buf, cap, err);
}

static json_t *tar_out_result(void *state, uint64_t sent)
{
    json_t *r = json_object();
    json_set(r, "bytes", json_integer((json_int_t)sent));
    json_set(r, "entries", json_integer((json_int_t)tarw_entries(state)));
    json_set(r, "skipped", json_integer((json_int_t)tarw_skipped(state)));
    return r;
}

static void tar_out_free(void *state)
{
    tarw_free(state);
}

int op_tar_out(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    _cleanup_fspath_req_ struct fspath_req q = {.rootfd = -1};
    struct tarw *w = NULL;

    int r = fspath_req_open(req, &q, err);
    if (r < 0)
        return r;
    r = tarw_open(q.rootfd, q.path, fspath_arg_limit(q.args, "max_bytes", TAR_OUT_MAX_BYTES_DEFAULT, UINT64_MAX), &w,
                  err);
    if (r < 0)
        return r;
    struct stream_out *s = xcalloc(1, sizeof(*s));
    s->id = req->id;
    s->credit = fspath_arg_limit(req->hdr, "window", PROTO_WINDOW, 64u * PROTO_WINDOW);
    s->state = w;
    s->produce = tar_out_produce;
    s->result = tar_out_result;
    s->free = tar_out_free;
    agent_stream_out_add(a, s);
    return 0;
}

struct tar_in_state {
    int destfd;
    struct tarx *x;
};

static void tar_in_free(void *p)
{
    struct tar_in_state *s = p;
    if (!s)
        return;
    tarx_free(s->x);
    if (s->destfd >= 0)
        close(s->destfd);
    free(s);
}

static int tar_in_data(struct agent *a, struct stream_in *in, const uint8_t *buf, size_t len, pyro_error *err)
{
    struct tar_in_state *s = in->state;
    return tarx_feed(s->x, buf, len, err);
}

static int tar_in_end(struct agent *a, struct stream_in *in, pyro_error *err)
{
    struct tar_in_state *s = in->state;
    int r = tarx_finish(s->x, err);
    if (r < 0)
        return r;
    json_t *res = json_object();
    json_set(res, "entries", json_integer((json_int_t)tarx_entries(s->x)));
    json_set(res, "bytes", json_integer((json_int_t)tarx_bytes(s->x)));
    agent_reply_durable(a, in->id, res);
    return 0;
}

int op_tar_in(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    _cleanup_fspath_req_ struct fspath_req q = {.rootfd = -1};

    int r = fspath_req_open(req, &q, err);
    if (r < 0)
        return r;
    const char *path = q.path;
    /* The destination directory is created if missing, never through a
     * symlink. */
    int destfd;
    if (*path && strcmp(path, ".") != 0) {
        const char *base;
        _cleanup_close_ int parent = fspath_open_parent(q.rootfd, path, true, RESOLVE_NO_SYMLINKS, &base, err);
        if (parent < 0)
            return parent;
        if (mkdirat(parent, base, 0755) < 0 && errno != EEXIST)
            return err_errno(err, errno, "mkdir %s", path);
        destfd = fspath_open(parent, base, O_PATH | O_DIRECTORY, 0, RESOLVE_NO_SYMLINKS, err);
    } else {
        destfd = fspath_open(q.rootfd, ".", O_PATH | O_DIRECTORY, 0, 0, err);
    }
    if (destfd < 0)
        return destfd;

    struct tar_in_state *s = xcalloc(1, sizeof(*s));
    s->destfd = destfd;
    s->x = tarx_new(destfd, fspath_arg_limit(q.args, "max_entries", TAR_IN_MAX_ENTRIES_DEFAULT, UINT64_MAX),
                    fspath_arg_limit(q.args, "max_bytes", TAR_IN_MAX_BYTES_DEFAULT, UINT64_MAX));
    struct stream_in *in = xcalloc(1, sizeof(*in));
    in->id = req->id;
    in->state = s;
    in->on_data = tar_in_data;
    in->on_end = tar_in_end;
    in->free = tar_in_free;
    r = req->body_len ? tarx_feed(s->x, req->body, req->body_len, err) : 0;
    if (r >= 0 && json_get_bool(req->hdr, "stream", false)) {
        agent_stream_in_add(a, in);
        return 0;
    }
    if (r >= 0)
        r = tar_in_end(a, in, err);
    tar_in_free(s);
    free(in);
    return r;
}
