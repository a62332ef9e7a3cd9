/* Host side of the agent protocol. Every wait goes through conn_pump,
 * which reads whatever arrived and files each frame under its request, so
 * many requests can be outstanding on one channel. */
#include "lib/vm/agent_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <pyro/version.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "proto/exec.h"
#include "proto/proto.h"
#include "proto/reply.h"

/* Collected data frames of a non-streamed response are capped. */
#define CLIENT_BODY_MAX (16u * PROTO_BODY_MAX)

struct pending {
    struct pending *next;
    int64_t id;
    char *op; /* whose reply shape applies */
    bool done, abandoned;
    bool body_overflow; /* data frames beyond CLIENT_BODY_MAX came */
    json_t *resp;       /* the response header */
    struct agent_body body;
    agent_sink_fn sink;
    void *sink_ud;
    int sink_code;
    pyro_error sink_err;
    uint64_t credit; /* stream in: bytes the agent still accepts */
};

struct agent_conn {
    int fd;
    int64_t next_id;
    bool broken;
    pyro_error broken_err;
    json_t *hello;
    struct proto_reader rd;
    struct pending *pending;
};

void agent_body_free(struct agent_body *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

int agent_sink_fd(void *userdata, const void *buf, size_t len, pyro_error *err)
{
    return proto_write_all(*(int *)userdata, buf, len, -1, err);
}

ssize_t agent_source_fd(void *userdata, void *buf, size_t cap, pyro_error *err)
{
    for (;;) {
        ssize_t n = read(*(int *)userdata, buf, cap);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return err_errno(err, errno, "read stream source");
    }
}

static int deadline_left(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - time_mono_ms();
    return left <= 0 ? 0 : left > 1 << 30 ? 1 << 30 : (int)left;
}

static struct pending *pending_find(struct agent_conn *c, int64_t id)
{
    for (struct pending *p = c->pending; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

static void pending_remove(struct agent_conn *c, struct pending *p)
{
    for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    json_decref(p->resp);
    agent_body_free(&p->body);
    free(p->op);
    free(p);
}

static int conn_fail(struct agent_conn *c, pyro_error *err)
{
    if (!c->broken) {
        c->broken = true;
        c->broken_err = *err;
    }
    return err->code;
}

static int conn_send(struct agent_conn *c, json_t *hdr, const void *body, size_t len, int64_t deadline,
                     pyro_error *err);

static void on_frame(struct agent_conn *c, struct proto_frame *f)
{
    struct pending *p = pending_find(c, f->id);
    if (!p) {
        log_debug("agent: dropping %s frame for unknown id %lld", proto_type_name(f->type), (long long)f->id);
        return;
    }
    if (p->done) {
        /* One response ends a request; anything after it is noise. */
        log_debug("agent: dropping %s frame after the response to %lld", proto_type_name(f->type), (long long)f->id);
        return;
    }
    switch (f->type) {
    case PROTO_RESP:
        p->resp = json_incref(f->hdr);
        p->body.data = TAKE_PTR(f->body);
        p->body.len = f->body_len;
        p->done = true;
        if (p->abandoned)
            pending_remove(c, p);
        break;
    case PROTO_DATA:
        if (p->sink) {
            if (p->sink_code == 0 && !p->abandoned)
                p->sink_code = p->sink(p->sink_ud, f->body, f->body_len, &p->sink_err);
            json_t *ack = proto_header_new(PROTO_ACK, f->id);
            json_set(ack, "bytes", json_integer((json_int_t)f->body_len));
            pyro_error e = {0};
            if (conn_send(c, ack, NULL, 0, time_mono_ms() + 10000, &e) < 0)
                (void)conn_fail(c, &e);
        } else if (p->body.len + f->body_len <= CLIENT_BODY_MAX) {
            p->body.data = xrealloc(p->body.data, p->body.len + f->body_len + 1);
            memcpy(p->body.data + p->body.len, f->body, f->body_len);
            p->body.len += f->body_len;
        } else {
            p->body_overflow = true;
        }
        break;
    case PROTO_ACK: {
        /* Credit comes in chunk-sized steps; more than a window at once is
         * not believed. */
        long long n = json_get_int(f->hdr, "bytes", 0);
        if (n > 0 && n <= PROTO_WINDOW && p->credit <= PROTO_WINDOW)
            p->credit += (uint64_t)n;
        break;
    }
    case PROTO_HELLO:
    case PROTO_REQ:
    case PROTO_END:
    default: break;
    }
}

/* Reads what is available (waiting until deadline for something when block
 * is set) and dispatches complete frames. */
static int conn_pump(struct agent_conn *c, int64_t deadline, bool block, pyro_error *err)
{
    if (c->broken) {
        if (err)
            *err = c->broken_err;
        return c->broken_err.code;
    }
    for (;;) {
        struct proto_frame f;
        int r;
        while ((r = proto_reader_next(&c->rd, &f, err)) > 0) {
            on_frame(c, &f);
            proto_frame_clear(&f);
            block = false;
        }
        if (r < 0)
            return conn_fail(c, err);
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, block ? deadline_left(deadline) : 0);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return err_errno(err, errno, "agent channel: poll");
        if (pr == 0)
            return block ? err_set(err, -PYRO_E_TIMEOUT, "agent: no answer in time") : 0;
        ssize_t n = proto_reader_fill(&c->rd, c->fd);
        if (n == -EAGAIN)
            continue;
        if (n == 0) {
            err_set(err, -EPIPE, "agent channel closed");
            return conn_fail(c, err);
        }
        if (n < 0) {
            err_errno(err, (int)-n, "agent channel: read");
            return conn_fail(c, err);
        }
        /* Got bytes: dispatch them, then return without blocking again. */
        while ((r = proto_reader_next(&c->rd, &f, err)) > 0) {
            on_frame(c, &f);
            proto_frame_clear(&f);
        }
        if (r < 0)
            return conn_fail(c, err);
        return 0;
    }
}

/* Writes a frame, reading (without dispatching) whenever the channel is not
 * writable so the agent can never block on us. */
static int conn_send(struct agent_conn *c, json_t *hdr, const void *body, size_t len, int64_t deadline, pyro_error *err)
{
    _cleanup_free_ uint8_t *frame = NULL;
    size_t flen = 0;
    int r = proto_frame_encode(hdr, body, len, &frame, &flen, err);
    json_decref(hdr);
    if (r < 0)
        return r;
    if (c->broken) {
        *err = c->broken_err;
        return err->code;
    }
    size_t off = 0;
    while (off < flen) {
        ssize_t n = write(c->fd, frame + off, flen - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            err_errno(err, errno, "agent channel: write");
            return conn_fail(c, err);
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLOUT | POLLIN};
        int pr = poll(&pfd, 1, deadline_left(deadline));
        if (pr < 0 && errno != EINTR)
            return err_errno(err, errno, "agent channel: poll");
        if (pr == 0) {
            /* A partial frame would desynchronise the stream for good. */
            err_set(err, -PYRO_E_TIMEOUT, "agent channel: write timed out");
            return off ? conn_fail(c, err) : err->code;
        }
        if (pr > 0 && (pfd.revents & POLLIN)) {
            ssize_t m = proto_reader_fill(&c->rd, c->fd);
            if (m == 0 || (m < 0 && m != -EAGAIN)) {
                err_set(err, -EPIPE, "agent channel closed");
                return conn_fail(c, err);
            }
        }
    }
    return 0;
}

int agent_conn_open(int fd, int timeout_ms, struct agent_conn **out, pyro_error *err)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        return err_errno(err, e, "agent channel fd %d", fd);
    }
    struct agent_conn *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->next_id = 1;
    int64_t deadline = timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms;

    json_t *h = proto_header_new(PROTO_HELLO, 0);
    json_set(h, "version", json_integer(PROTO_VERSION));
    json_set(h, "client", json_string("libpyro " PYRO_VERSION));
    json_set(h, "caps", json_pack("[s]", "stream"));
    int r = conn_send(c, h, NULL, 0, deadline, err);
    while (r >= 0) {
        struct proto_frame f;
        r = proto_reader_next(&c->rd, &f, err);
        if (r > 0) {
            if (f.type == PROTO_HELLO) {
                c->hello = json_incref(f.hdr);
                proto_frame_clear(&f);
                break;
            }
            proto_frame_clear(&f);
            continue;
        }
        if (r < 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, deadline_left(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            r = pr == 0 ? err_set(err, -PYRO_E_TIMEOUT, "agent: no hello in time")
                        : err_errno(err, errno, "agent channel: poll");
            break;
        }
        ssize_t n = proto_reader_fill(&c->rd, fd);
        if (n == 0)
            r = err_set(err, -EPIPE, "agent channel closed during the handshake");
        else if (n < 0 && n != -EAGAIN)
            r = err_errno(err, (int)-n, "agent channel: read");
    }
    if (r >= 0) {
        const json_t *e = json_object_get(c->hello, "error");
        if (e)
            r = proto_error_to_err(e, err);
        else if (json_get_int(c->hello, "version", 0) != PROTO_VERSION)
            r = err_set(err, -PYRO_E_PROTOCOL, "agent speaks protocol %lld, we speak %d",
                        json_get_int(c->hello, "version", 0), PROTO_VERSION);
        else if (proto_hello_check(c->hello, err) < 0)
            r = err_prefix(err, "agent: malformed hello");
    }
    if (r < 0) {
        agent_conn_close(c);
        return r;
    }
    *out = c;
    return 0;
}

void agent_conn_close(struct agent_conn *c)
{
    if (!c)
        return;
    while (c->pending)
        pending_remove(c, c->pending);
    json_decref(c->hello);
    proto_reader_free(&c->rd);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

const json_t *agent_conn_hello(const struct agent_conn *c)
{
    return c->hello;
}

bool agent_conn_has_op(const struct agent_conn *c, const char *op)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(c->hello, "ops"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), op) == 0)
            return true;
    return false;
}

/* Registers a pending request and sends its header (and body). */
static int start_request(struct agent_conn *c, const json_t *req, bool stream, const void *body, size_t len,
                         int64_t deadline, struct pending **out, pyro_error *err)
{
    const char *op = json_get_str(req, "op", NULL);
    const json_t *args = json_object_get(req, "args");
    if (!op || !*op || (args && !json_is_object(args)))
        return err_set(err, -PYRO_E_INVALID, "agent request needs \"op\" and an object \"args\"");
    struct pending *p = xcalloc(1, sizeof(*p));
    p->id = c->next_id++;
    p->op = xstrdup(op);
    json_t *h = proto_header_new(PROTO_REQ, p->id);
    json_set(h, "op", json_string(op));
    json_set(h, "args", args ? json_deep_copy(args) : json_object());
    if (stream) {
        json_set(h, "stream", json_true());
        p->credit = PROTO_WINDOW;
    }
    const json_t *window = json_object_get(req, "window");
    if (json_is_integer(window))
        json_set(h, "window", json_integer(json_integer_value(window)));
    p->next = c->pending;
    c->pending = p;
    int r = conn_send(c, h, body, len, deadline, err);
    if (r < 0) {
        pending_remove(c, p);
        return r;
    }
    *out = p;
    return 0;
}

/* Gives up on a request: its late frames are dropped (stream data still
 * acknowledged so the agent finishes it). */
static void pending_abandon(struct agent_conn *c, struct pending *p)
{
    if (p->done || c->broken)
        pending_remove(c, p);
    else
        p->abandoned = true;
}

int agent_reply_unpack(const char *op, const json_t *resp, size_t body_len, json_t **result, pyro_error *err)
{
    const json_t *ok = json_object_get(resp, "ok"), *res = json_object_get(resp, "result");
    if (!json_is_boolean(ok))
        return err_set(err, -PYRO_E_PROTOCOL, "agent: malformed reply to %s: \"ok\" is not a boolean", op);
    if (json_is_false(ok))
        return proto_error_to_err(json_object_get(resp, "error"), err);
    int r = proto_reply_check(op, res, body_len, err);
    if (r < 0)
        return err_prefix(err, "agent: malformed reply to %s", op);
    if (result)
        *result = json_incref((json_t *)res);
    return 0;
}

static int finish_request(struct agent_conn *c, struct pending *p, int64_t deadline, json_t **resp,
                          struct agent_body *resp_body, pyro_error *err)
{
    while (!p->done) {
        int r = conn_pump(c, deadline, true, err);
        if (r < 0) {
            if (r == -PYRO_E_TIMEOUT)
                pending_abandon(c, p);
            else
                pending_remove(c, p);
            return r;
        }
    }
    int r;
    if (p->body_overflow)
        r = err_set(err, -PYRO_E_PROTOCOL, "agent: the reply to %s has a body over %u bytes", p->op, CLIENT_BODY_MAX);
    else
        r = agent_reply_unpack(p->op, p->resp, p->body.len, resp, err);
    if (r == 0 && p->sink_code < 0) {
        if (resp) {
            json_decref(*resp);
            *resp = NULL;
        }
        if (err)
            *err = p->sink_err;
        r = p->sink_code;
    }
    if (r == 0 && resp_body) {
        *resp_body = p->body;
        p->body = (struct agent_body){0};
    }
    pending_remove(c, p);
    return r;
}

int agent_send_request(struct agent_conn *c, const json_t *req, const void *body, size_t len, int64_t *id,
                       pyro_error *err)
{
    struct pending *p = NULL;
    if (len > PROTO_BODY_MAX)
        return err_set(err, -PYRO_E_PROTOCOL, "request body of %zu bytes over %u", len, PROTO_BODY_MAX);
    int r = start_request(c, req, false, body, len, time_mono_ms() + 30000, &p, err);
    if (r < 0)
        return r;
    *id = p->id;
    return 0;
}

int agent_wait(struct agent_conn *c, int64_t id, json_t **resp, struct agent_body *resp_body, int timeout_ms,
               pyro_error *err)
{
    struct pending *p = pending_find(c, id);
    if (!p || p->abandoned)
        return err_set(err, -PYRO_E_NOT_FOUND, "no request %lld in flight", (long long)id);
    return finish_request(c, p, timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms, resp, resp_body, err);
}

struct mem_source {
    const uint8_t *p;
    size_t left;
};

static ssize_t mem_read(void *ud, void *buf, size_t cap, pyro_error *err)
{
    struct mem_source *m = ud;
    size_t n = m->left < cap ? m->left : cap;
    memcpy(buf, m->p, n);
    m->p += n;
    m->left -= n;
    return (ssize_t)n;
}

int agent_call(struct agent_conn *c, const json_t *req, const void *body, size_t len, json_t **resp,
               struct agent_body *resp_body, int timeout_ms, pyro_error *err)
{
    if (len > PROTO_BODY_MAX) {
        struct mem_source m = {.p = body, .left = len};
        return agent_call_stream_in(c, req, mem_read, &m, resp, timeout_ms, err);
    }
    int64_t deadline = timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms;
    struct pending *p = NULL;
    int r = start_request(c, req, false, body, len, deadline, &p, err);
    if (r < 0)
        return r;
    return finish_request(c, p, deadline, resp, resp_body, err);
}

int agent_call_stream_out(struct agent_conn *c, const json_t *req, agent_sink_fn sink, void *userdata, json_t **resp,
                          int timeout_ms, pyro_error *err)
{
    int64_t deadline = timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms;
    struct pending *p = NULL;
    int r = start_request(c, req, false, NULL, 0, deadline, &p, err);
    if (r < 0)
        return r;
    p->sink = sink;
    p->sink_ud = userdata;
    return finish_request(c, p, deadline, resp, NULL, err);
}

int agent_call_stream_in(struct agent_conn *c, const json_t *req, agent_source_fn source, void *userdata, json_t **resp,
                         int timeout_ms, pyro_error *err)
{
    int64_t deadline = timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms;
    struct pending *p = NULL;
    int r = start_request(c, req, true, NULL, 0, deadline, &p, err);
    if (r < 0)
        return r;
    _cleanup_free_ uint8_t *chunk = xmalloc(PROTO_CHUNK);
    for (;;) {
        /* Stop sending as soon as the agent answered (an early error). */
        r = conn_pump(c, deadline, false, err);
        if (r < 0)
            break;
        if (p->done)
            break;
        if (p->credit == 0) {
            r = conn_pump(c, deadline, true, err);
            if (r < 0)
                break;
            continue;
        }
        size_t cap = p->credit < PROTO_CHUNK ? (size_t)p->credit : PROTO_CHUNK;
        ssize_t n = source(userdata, chunk, cap, err);
        if (n < 0) {
            /* Tell the agent to give up: an end frame with "abort". */
            json_t *h = proto_header_new(PROTO_END, p->id);
            json_set(h, "abort", json_true());
            pyro_error e2 = {0};
            (void)conn_send(c, h, NULL, 0, deadline, &e2);
            pending_abandon(c, p);
            return (int)n;
        }
        if (n == 0) {
            r = conn_send(c, proto_header_new(PROTO_END, p->id), NULL, 0, deadline, err);
            break;
        }
        p->credit -= (uint64_t)n;
        r = conn_send(c, proto_header_new(PROTO_DATA, p->id), chunk, (size_t)n, deadline, err);
        if (r < 0)
            break;
    }
    if (r < 0) {
        if (r == -PYRO_E_TIMEOUT)
            pending_abandon(c, p);
        else
            pending_remove(c, p);
        return r;
    }
    return finish_request(c, p, deadline, resp, NULL, err);
}
