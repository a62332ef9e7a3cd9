/* The agent's outgoing side: frames go into the one bounded output queue
 * (base/outq.h) and are written as the channel takes them; while bytes
 * wait, the channel's AE_WRITABLE event flushes again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/json.h"

static void chan_writable(struct ae_loop *loop, int fd, int mask, void *data);

/* The host end is gone: nothing more can be delivered. */
static void chan_lost(struct agent *a)
{
    a->chan_eof = true;
    outq_clear(&a->out);
    ae_file_del(a->loop, a->chan_fd, AE_WRITABLE);
}

size_t agent_outq_pending(const struct agent *a)
{
    return outq_pending(&a->out);
}

/* Writes what the channel takes now. */
static void chan_flush(struct agent *a)
{
    if (outq_flush(&a->out, a->chan_fd) < 0) {
        chan_lost(a);
        return;
    }
    /* AE_WRITABLE is armed while bytes wait (not after the host hung up). */
    bool armed = ae_file_mask(a->loop, a->chan_fd) & AE_WRITABLE;
    if (outq_pending(&a->out) && !armed && !a->chan_eof)
        (void)ae_file_add(a->loop, a->chan_fd, AE_WRITABLE, chan_writable, a, NULL);
    else if (!outq_pending(&a->out) && armed)
        ae_file_del(a->loop, a->chan_fd, AE_WRITABLE);
}

static void chan_writable(struct ae_loop *loop, int fd, int mask, void *data)
{
    chan_flush(data);
}

void agent_send(struct agent *a, json_t *hdr, const void *body, size_t len)
{
    uint8_t *frame = NULL;
    size_t flen = 0;
    pyro_error err = {0};

    if (proto_frame_encode(hdr, body, len, &frame, &flen, &err) < 0) {
        /* Only a response can be too large (a huge result): say so instead. */
        int64_t id = json_get_int(hdr, "id", 0);
        json_decref(hdr);
        hdr = proto_header_new(PROTO_RESP, id);
        json_set(hdr, "ok", json_false());
        json_set(hdr, "error", proto_error_new(err.code, err.message));
        if (proto_frame_encode(hdr, NULL, 0, &frame, &flen, &err) < 0)
            abort();
    }
    json_decref(hdr);
    if (outq_push(&a->out, frame, flen, &err) < 0) {
        /* The host does not read: this frame is dropped (the queue keeps
         * whole frames) and no more requests are read. */
        fprintf(stderr, AGENT_NAME ": %s: the host does not read; the channel is given up\n", err.message);
        a->chan_eof = true;
        ae_file_del(a->loop, a->chan_fd, AE_READABLE);
    }
    free(frame);
    chan_flush(a);
}

void agent_reply_ok(struct agent *a, int64_t id, json_t *result, const void *body, size_t len)
{
    json_t *h = proto_header_new(PROTO_RESP, id);
    json_set(h, "ok", json_true());
    json_set(h, "result", result ? result : json_object());
    agent_send(a, h, body, len);
}

void agent_reply_durable(struct agent *a, int64_t id, json_t *result)
{
    if (a->durable) {
        int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || syncfs(fd) < 0)
            fprintf(stderr, AGENT_NAME ": syncfs /: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    agent_reply_ok(a, id, result, NULL, 0);
}

void agent_reply_err(struct agent *a, int64_t id, const pyro_error *err)
{
    json_t *h = proto_header_new(PROTO_RESP, id);
    json_set(h, "ok", json_false());
    json_set(h, "error",
             proto_error_new(err->code ? err->code : -PYRO_E_PROTOCOL, err->code ? err->message : "unknown error"));
    agent_send(a, h, NULL, 0);
}
