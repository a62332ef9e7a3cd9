/* The agent's event loop (base/ae.h): the channel, a signalfd for SIGCHLD
 * and the exec pipes are its file events. Frames are decoded as bytes
 * arrive and dispatched by type; replies go through a bounded output queue
 * (base/outq.h) that is flushed when the channel is writable. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <pyro/version.h>

#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"

int op_ping(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_shutdown(struct agent *a, const struct proto_frame *req, pyro_error *err);

struct op_entry {
    const char *name;
    int (*fn)(struct agent *a, const struct proto_frame *req, pyro_error *err);
};

static const struct op_entry ops[] = {
    {"ping", op_ping},
    {"exec", op_exec},
    {"kill", op_kill},
    {"file_stat", op_file_stat},
    {"file_list", op_file_list},
    {"file_read", op_file_read},
    {"file_write", op_file_write},
    {"tar_out", op_tar_out},
    {"tar_in", op_tar_in},
    {"fs_flush", op_fs_flush},
    {"file_delete", op_file_delete},
    {"manifest", op_manifest},
    {"shutdown", op_shutdown},
};

/* Names kept for the next protocol additions; requests get "unsupported". */
static const char *const reserved_ops[] = {
    "shell_open",    "shell_read",     "shell_write",  "shell_signal", "shell_resize",
    "shell_close",   "service_start",  "service_stop", "service_status", "service_logs",
    "secret_put",    "secret_delete",
};

static const char *const caps[] = {"exec", "kill", "file", "tar", "fs_flush", "shutdown", "stream", "manifest"};

static void chan_writable(struct ae_loop *loop, int fd, int mask, void *data);

/* The host end is gone: nothing more can be delivered. */
static void chan_lost(struct agent *a)
{
    a->chan_eof = true;
    outq_clear(&a->out);
    ae_file_del(a->loop, a->chan_fd, AE_WRITABLE);
}

/* Writes what the channel takes now; AE_WRITABLE is armed while bytes wait
 * (not after the host hung up). */
static void chan_flush(struct agent *a)
{
    if (outq_flush(&a->out, a->chan_fd) < 0) {
        chan_lost(a);
        return;
    }
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

void agent_reply_err(struct agent *a, int64_t id, const pyro_error *err)
{
    json_t *h = proto_header_new(PROTO_RESP, id);
    json_set(h, "ok", json_false());
    json_set(h, "error", proto_error_new(err->code ? err->code : -PYRO_E_PROTOCOL,
                                              err->code ? err->message : "unknown error"));
    agent_send(a, h, NULL, 0);
}

void agent_stream_in_add(struct agent *a, struct stream_in *s)
{
    s->next = a->ins;
    a->ins = s;
}

void agent_stream_out_add(struct agent *a, struct stream_out *s)
{
    s->next = a->outs;
    a->outs = s;
}

static void stream_in_free(struct stream_in *s)
{
    if (s->free)
        s->free(s->state);
    free(s);
}

static void stream_out_free(struct stream_out *s)
{
    if (s->free)
        s->free(s->state);
    free(s);
}

static struct stream_in *stream_in_take(struct agent *a, int64_t id)
{
    for (struct stream_in **pp = &a->ins; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            struct stream_in *s = *pp;
            *pp = s->next;
            return s;
        }
    return NULL;
}

static struct stream_in *stream_in_find(struct agent *a, int64_t id)
{
    for (struct stream_in *s = a->ins; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

/* True while another request, stream or exec already uses id. */
static bool id_busy(struct agent *a, int64_t id);

int op_ping(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    json_t *r = json_object();
    json_set(r, "pid", json_integer(getpid()));
    json_set(r, "uptime_ms", json_integer(time_mono_ms() - a->start_ms));
    agent_reply_ok(a, req->id, r, NULL, 0);
    return 0;
}

int op_shutdown(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    json_t *r = json_object();
    json_set(r, "init", json_boolean(a->init_mode));
    agent_reply_ok(a, req->id, r, NULL, 0);
    a->quit = true;
    a->poweroff = a->init_mode;
    /* "flush" (default true): write the root file system's data out first.
     * A sandbox about to be deleted skips it. */
    a->poweroff_flush = json_get_bool(json_object_get(req->hdr, "args"), "flush", true);
    return 0;
}

static void on_hello(struct agent *a, const struct proto_frame *f)
{
    json_t *h = proto_header_new(PROTO_HELLO, 0);
    int64_t v = json_get_int(f->hdr, "version", 0);
    if (v != PROTO_VERSION) {
        pyro_error err = {0};
        err_set(&err, -PYRO_E_PROTOCOL, "protocol version %lld not supported (agent speaks %d)",
                     (long long)v, PROTO_VERSION);
        json_set(h, "error", proto_error_new(err.code, err.message));
    } else {
        a->hello_done = true;
    }
    json_set(h, "version", json_integer(PROTO_VERSION));
    json_set(h, "agent", json_string(AGENT_NAME " " PYRO_VERSION));
    json_t *o = json_array(), *r = json_array(), *c = json_array();
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        json_array_append_new(o, json_string(ops[i].name));
    for (size_t i = 0; i < ARRAY_SIZE(reserved_ops); i++)
        json_array_append_new(r, json_string(reserved_ops[i]));
    for (size_t i = 0; i < ARRAY_SIZE(caps); i++)
        json_array_append_new(c, json_string(caps[i]));
    json_set(h, "ops", o);
    json_set(h, "reserved_ops", r);
    json_set(h, "caps", c);
    json_t *lim = json_object();
    json_set(lim, "header_max", json_integer(PROTO_HEADER_MAX));
    json_set(lim, "body_max", json_integer(PROTO_BODY_MAX));
    json_set(lim, "chunk", json_integer(PROTO_CHUNK));
    json_set(lim, "window", json_integer(PROTO_WINDOW));
    json_set(h, "limits", lim);
    json_set(h, "pid", json_integer(getpid()));
    json_set(h, "init", json_boolean(a->init_mode));
    agent_send(a, h, NULL, 0);
}

static void on_request(struct agent *a, const struct proto_frame *f)
{
    pyro_error err = {0};
    int r;

    if (!a->hello_done) {
        err_set(&err, -PYRO_E_PROTOCOL, "request before hello");
        agent_reply_err(a, f->id, &err);
        return;
    }
    if (f->id == 0 || id_busy(a, f->id)) {
        err_set(&err, -PYRO_E_PROTOCOL, "request id %lld is 0 or already in use",
                     (long long)f->id);
        agent_reply_err(a, f->id, &err);
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        if (strcmp(ops[i].name, f->op) == 0) {
            r = ops[i].fn(a, f, &err);
            if (r < 0)
                agent_reply_err(a, f->id, &err);
            return;
        }
    for (size_t i = 0; i < ARRAY_SIZE(reserved_ops); i++)
        if (strcmp(reserved_ops[i], f->op) == 0) {
            err_set(&err, -PYRO_E_UNSUPPORTED, "op %s is reserved and not implemented yet",
                         f->op);
            agent_reply_err(a, f->id, &err);
            return;
        }
    err_set(&err, -PYRO_E_UNSUPPORTED, "unknown op %s", f->op);
    agent_reply_err(a, f->id, &err);
}

static void on_stream_frame(struct agent *a, const struct proto_frame *f)
{
    pyro_error err = {0};
    struct stream_in *s = stream_in_find(a, f->id);
    int r = 0;

    /* Frames for a request that already ended (e.g. failed early) are
     * dropped: the host stops sending once it sees the response. */
    if (!s)
        return;
    if (f->type == PROTO_DATA) {
        s->received += f->body_len;
        r = f->body_len ? s->on_data(a, s, f->body, f->body_len, &err) : 0;
        if (r >= 0) {
            json_t *h = proto_header_new(PROTO_ACK, f->id);
            json_set(h, "bytes", json_integer((json_int_t)f->body_len));
            agent_send(a, h, NULL, 0);
            return;
        }
    } else if (json_is_true(json_object_get(f->hdr, "abort"))) {
        r = err_set(&err, -PYRO_E_CANCELLED, "request cancelled by the host");
    } else {
        r = s->on_end(a, s, &err);
    }
    s = stream_in_take(a, f->id);
    if (r < 0)
        agent_reply_err(a, f->id, &err);
    stream_in_free(s);
}

static void on_ack(struct agent *a, const struct proto_frame *f)
{
    int64_t n = json_get_int(f->hdr, "bytes", 0);
    for (struct stream_out *s = a->outs; s; s = s->next)
        if (s->id == f->id && n > 0) {
            s->credit += (uint64_t)n;
            if (s->credit > 64u * PROTO_WINDOW)
                s->credit = 64u * PROTO_WINDOW;
        }
}

static void dispatch(struct agent *a, const struct proto_frame *f)
{
    switch (f->type) {
    case PROTO_HELLO: on_hello(a, f); break;
    case PROTO_REQ: on_request(a, f); break;
    case PROTO_DATA:
    case PROTO_END: on_stream_frame(a, f); break;
    case PROTO_ACK: on_ack(a, f); break;
    case PROTO_RESP:
    default: break; /* the agent never waits for responses */
    }
}

/* Produces stream chunks while credit and the output queue allow. */
static void streams_pump(struct agent *a)
{
    static uint8_t chunk[PROTO_CHUNK];

    for (struct stream_out **pp = &a->outs; *pp;) {
        struct stream_out *s = *pp;
        pyro_error err = {0};
        bool finished = false;

        while (!a->chan_eof && s->credit > 0 && outq_pending(&a->out) < AGENT_OUTQ_HIGH) {
            size_t cap = s->credit < PROTO_CHUNK ? (size_t)s->credit : PROTO_CHUNK;
            ssize_t n = s->produce(s->state, chunk, cap, &err);
            if (n < 0) {
                agent_reply_err(a, s->id, &err);
                finished = true;
                break;
            }
            if (n == 0) {
                agent_reply_ok(a, s->id, s->result(s->state, s->sent), NULL, 0);
                finished = true;
                break;
            }
            s->credit -= (uint64_t)n;
            s->sent += (uint64_t)n;
            agent_send(a, proto_header_new(PROTO_DATA, s->id), chunk, (size_t)n);
        }
        if (finished || a->chan_eof) {
            *pp = s->next;
            stream_out_free(s);
        } else {
            pp = &s->next;
        }
    }
}

static bool id_busy(struct agent *a, int64_t id)
{
    if (stream_in_find(a, id))
        return true;
    for (struct stream_out *s = a->outs; s; s = s->next)
        if (s->id == id)
            return true;
    return exec_find(a, id) != NULL;
}

static void chan_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct agent *a = data;
    for (;;) {
        ssize_t n = proto_reader_fill(&a->rd, fd);
        if (n == -EAGAIN)
            break;
        if (n <= 0) {
            a->chan_eof = true;
            ae_file_del(loop, fd, AE_READABLE | AE_WRITABLE);
            break;
        }
        struct proto_frame f;
        int r;
        while ((r = proto_reader_next(&a->rd, &f, a->run_err)) > 0) {
            dispatch(a, &f);
            proto_frame_clear(&f);
        }
        if (r < 0) {
            /* The stream is out of sync: nothing can be trusted. */
            a->run_r = r;
            ae_stop(loop);
            return;
        }
        if (outq_pending(&a->out) >= AGENT_OUTQ_HIGH)
            break; /* let the host drain replies first */
    }
}

static void sig_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct agent *a = data;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            a->quit = true;
    }
    exec_reap(a);
}

int agent_init(struct agent *a, int chan_fd, bool init_mode, pyro_error *err)
{
    sigset_t mask;

    memset(a, 0, sizeof(*a));
    a->chan_fd = chan_fd;
    a->sigfd = -1;
    a->init_mode = init_mode;
    a->start_ms = time_mono_ms();
    outq_init(&a->out, AGENT_OUTQ_MAX);

    int fl = fcntl(chan_fd, F_GETFL);
    if (fl < 0 || fcntl(chan_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(chan_fd, F_SETFD, FD_CLOEXEC) < 0)
        return err_errno(err, errno, "channel fd %d", chan_fd);

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        return err_errno(err, errno, "sigprocmask");
    a->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (a->sigfd < 0)
        return err_errno(err, errno, "signalfd");
    a->loop = ae_new(err);
    if (!a->loop)
        return err->code;
    int r = ae_file_add(a->loop, a->chan_fd, AE_READABLE, chan_readable, a, err);
    if (r < 0)
        return r;
    return ae_file_add(a->loop, a->sigfd, AE_READABLE, sig_readable, a, err);
}

/* Before every wait: stop when done, enforce exec deadlines, produce
 * stream data; the next exec deadline bounds the wait. */
static int before_sleep(struct ae_loop *loop, void *data)
{
    struct agent *a = data;
    /* Runs until shutdown, or until the host hangs up and nothing is left
     * to finish (as PID 1 the agent keeps reaping: the sandbox lives on). */
    if (a->quit || (a->chan_eof && !a->init_mode)) {
        ae_stop(loop);
        return 0;
    }
    int timeout = exec_tick(a);
    streams_pump(a);
    return timeout;
}

int agent_run(struct agent *a, pyro_error *err)
{
    a->run_err = err;
    a->run_r = 0;
    ae_set_before_sleep(a->loop, before_sleep, a);
    int r = ae_run(a->loop, err);
    a->run_err = NULL;
    if (r < 0)
        return r;
    if (a->run_r < 0)
        return a->run_r;
    /* Deliver the last replies (the shutdown answer) before leaving. */
    if (!a->chan_eof)
        (void)outq_drain(&a->out, a->chan_fd, 5000);
    return 0;
}

void agent_destroy(struct agent *a)
{
    exec_free_all(a);
    while (a->ins) {
        struct stream_in *s = a->ins;
        a->ins = s->next;
        stream_in_free(s);
    }
    while (a->outs) {
        struct stream_out *s = a->outs;
        a->outs = s->next;
        stream_out_free(s);
    }
    proto_reader_free(&a->rd);
    outq_free(&a->out);
    if (a->sigfd >= 0)
        close(a->sigfd);
    ae_free(a->loop);
    a->loop = NULL;
}
