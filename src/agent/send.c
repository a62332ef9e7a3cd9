/* The agent's outgoing side: frames are queued in one bounded buffer and
 * written as the channel takes them; the event loop calls
 * agent_outq_flush again when the channel becomes writable. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/json.h"

static void outq_arm(struct agent *a, bool want_out)
{
    if (a->outq_armed == want_out || a->chan_eof)
        return;
    if (agent_watch_mod(a, a->chan_fd, &a->chan_watch, want_out) == 0)
        a->outq_armed = want_out;
}

size_t agent_outq_pending(const struct agent *a)
{
    return a->outq_len - a->outq_off;
}

void agent_outq_flush(struct agent *a)
{
    while (a->outq_off < a->outq_len) {
        ssize_t n = write(a->chan_fd, a->outq + a->outq_off, a->outq_len - a->outq_off);
        if (n > 0) {
            a->outq_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* The host end is gone: nothing more can be delivered. */
        a->chan_eof = true;
        a->outq_off = a->outq_len;
        break;
    }
    if (a->outq_off == a->outq_len)
        a->outq_off = a->outq_len = 0;
    outq_arm(a, a->outq_len > 0);
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
    if (a->outq_cap - a->outq_len < flen) {
        if (a->outq_off) {
            memmove(a->outq, a->outq + a->outq_off, a->outq_len - a->outq_off);
            a->outq_len -= a->outq_off;
            a->outq_off = 0;
        }
        size_t cap = a->outq_cap ? a->outq_cap : 65536;
        while (cap - a->outq_len < flen)
            cap *= 2;
        a->outq = xrealloc(a->outq, cap);
        a->outq_cap = cap;
    }
    memcpy(a->outq + a->outq_len, frame, flen);
    a->outq_len += flen;
    free(frame);
    agent_outq_flush(a);
}

void agent_reply_ok(struct agent *a, int64_t id, json_t *result, const void *body, size_t len)
{
    json_t *h = proto_header_new(PROTO_RESP, id);
    json_set(h, "ok", json_true());
    json_set(h, "result", result ? result : json_object());
    agent_send(a, h, body, len);
}

void agent_reply_err(struct agent *a, int64_t id, const pyro_error *err)
{
    json_t *h = proto_header_new(PROTO_RESP, id);
    json_set(h, "ok", json_false());
    json_set(h, "error", proto_error_new(err->code ? err->code : -PYRO_E_PROTOCOL,
                                         err->code ? err->message : "unknown error"));
    agent_send(a, h, NULL, 0);
}
