/* The output queue (outq.h). */
#include "base/outq.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/timeutil.h"

#define OUTQ_MIN_CAP 65536
/* An emptied buffer larger than this is given back. */
#define OUTQ_KEEP_CAP (4u * 1024 * 1024)

void outq_init(struct outq *q, size_t max)
{
    *q = (struct outq){.max = max};
}

void outq_free(struct outq *q)
{
    free(q->buf);
    *q = (struct outq){.max = q->max};
}

size_t outq_pending(const struct outq *q)
{
    return q->len - q->off;
}

void outq_clear(struct outq *q)
{
    q->off = q->len = 0;
}

int outq_push(struct outq *q, const void *data, size_t len, pyro_error *err)
{
    size_t pending = outq_pending(q);
    if (len > q->max || pending > q->max - len)
        return err_set(err, -PYRO_E_LIMIT,
                       "output queue full: %zu bytes pending and %zu more would pass its bound of %zu bytes", pending,
                       len, q->max);
    if (q->cap - q->len < len) {
        if (q->off) {
            memmove(q->buf, q->buf + q->off, pending);
            q->len = pending;
            q->off = 0;
        }
        if (q->cap - q->len < len) {
            size_t cap = q->cap ? q->cap : OUTQ_MIN_CAP;
            while (cap - q->len < len)
                cap *= 2;
            q->buf = xrealloc(q->buf, cap);
            q->cap = cap;
        }
    }
    memcpy(q->buf + q->len, data, len);
    q->len += len;
    return 0;
}

static ssize_t write_some(struct outq *q, int fd)
{
    if (!q->not_socket) {
        ssize_t w = send(fd, q->buf + q->off, outq_pending(q), MSG_NOSIGNAL);
        if (w >= 0 || errno != ENOTSOCK)
            return w;
        q->not_socket = true;
    }
    return write(fd, q->buf + q->off, outq_pending(q));
}

int outq_flush(struct outq *q, int fd)
{
    while (outq_pending(q)) {
        ssize_t w = write_some(q, fd);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -errno;
        }
        if (w == 0)
            return -EPIPE;
        q->off += (size_t)w;
    }
    q->off = q->len = 0;
    if (q->cap > OUTQ_KEEP_CAP) {
        free(q->buf);
        q->buf = NULL;
        q->cap = 0;
    }
    return 0;
}

int outq_drain(struct outq *q, int fd, int timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        int r = outq_flush(q, fd);
        if (r < 0 || !outq_pending(q))
            return r;
        int64_t left = deadline - time_mono_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return -errno;
    }
}
