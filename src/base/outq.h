/* The one output queue: bytes waiting for a non-blocking fd (a socket, a
 * pipe or a character device such as a virtio-serial port), written as
 * fast as the fd takes them. The owner arms AE_WRITABLE while
 * outq_pending() is non-zero and calls outq_flush() when it fires.
 *
 * Bounded: a push that would hold more than max bytes is refused with
 * -PYRO_E_LIMIT and a message naming the bound, and nothing of it is
 * queued (the owner decides: drop the peer, or answer with an error).
 * Writes to a socket never raise SIGPIPE (MSG_NOSIGNAL); owners of other
 * fds ignore SIGPIPE, as every pyro process with a loop does. */
#ifndef PYRO_OUTQ_H
#define PYRO_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct outq {
    uint8_t *buf;
    size_t off, len, cap; /* pending bytes: buf[off..len) */
    size_t max;           /* bound on pending bytes */
    bool not_socket;      /* send() said ENOTSOCK: write() from then on */
};

void outq_init(struct outq *q, size_t max);
void outq_free(struct outq *q);
size_t outq_pending(const struct outq *q);
/* Queues len bytes, or refuses them all (-PYRO_E_LIMIT) over the bound. */
int outq_push(struct outq *q, const void *data, size_t len, pyro_error *err);
/* Drops what is pending (the peer is gone). */
void outq_clear(struct outq *q);
/* Writes what fd takes now. 0 (check outq_pending for the rest), or
 * -errno when the peer is gone. */
int outq_flush(struct outq *q, int fd);
/* Writes everything, waiting for writability up to timeout_ms in all:
 * 0, -ETIMEDOUT, or -errno. For the last words before exiting. */
int outq_drain(struct outq *q, int fd, int timeout_ms);

#endif
