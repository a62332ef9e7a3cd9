/* Frames from the host to their handlers: the hello, the op table,
 * data/end frames of streamed requests, and acks of streamed responses. */
#include <string.h>
#include <unistd.h>

#include <pyro/version.h>

#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"

static int op_ping(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    json_t *r = json_object();
    json_set(r, "pid", json_integer(getpid()));
    json_set(r, "uptime_ms", json_integer(time_mono_ms() - a->start_ms));
    agent_reply_ok(a, req->id, r, NULL, 0);
    return 0;
}

static int op_shutdown(struct agent *a, const struct proto_frame *req, pyro_error *err)
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

struct op_entry {
    const char *name;
    int (*fn)(struct agent *a, const struct proto_frame *req, pyro_error *err);
};

/* Every op the agent serves; each has its reply declared in proto/reply.c. */
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
    {"shell_open", op_shell_open},
    {"shell_read", op_shell_read},
    {"shell_write", op_shell_write},
    {"shell_signal", op_shell_signal},
    {"shell_close", op_shell_close},
    {"shutdown", op_shutdown},
    {"service_start", op_service_start},
    {"service_list", op_service_list},
    {"service_status", op_service_status},
    {"service_logs", op_service_logs},
    {"service_stop", op_service_stop},
    {"port_connect", op_port_connect},
};

/* Names kept for the next protocol additions; requests get "unsupported". */
static const char *const reserved_ops[] = {
    "shell_resize",
    "secret_put",
    "secret_delete",
};

static const char *const caps[] = {"exec",   "kill",     "file",    "tar",   "fs_flush", "shutdown",
                                   "stream", "manifest", "service", "shell", "port"};

static void on_hello(struct agent *a, const struct proto_frame *f)
{
    json_t *h = proto_header_new(PROTO_HELLO, 0);
    int64_t v = json_get_int(f->hdr, "version", 0);
    if (v != PROTO_VERSION) {
        pyro_error err = {0};
        err_set(&err, -PYRO_E_PROTOCOL, "protocol version %lld not supported (agent speaks %d)", (long long)v,
                PROTO_VERSION);
        json_set(h, "error", proto_error_new(err.code, err.message));
    } else {
        if (a->vm) {
            agent_identity_apply(f->hdr);
            a->durable = json_get_bool(f->hdr, "durable", false);
        }
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

/* True while another request, stream or exec already uses id. */
static bool id_busy(struct agent *a, int64_t id)
{
    return agent_stream_in_find(a, id) || agent_stream_out_busy(a, id) || exec_find(a, id) ||
           service_request_busy(a, id) || shell_wait_busy(a, id) || portfwd_busy(a, id);
}

static void on_request(struct agent *a, const struct proto_frame *f)
{
    pyro_error err = {0};

    if (!a->hello_done) {
        err_set(&err, -PYRO_E_PROTOCOL, "request before hello");
        agent_reply_err(a, f->id, &err);
        return;
    }
    if (f->id == 0 || id_busy(a, f->id)) {
        err_set(&err, -PYRO_E_PROTOCOL, "request id %lld is 0 or already in use", (long long)f->id);
        agent_reply_err(a, f->id, &err);
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        if (strcmp(ops[i].name, f->op) == 0) {
            if (ops[i].fn(a, f, &err) < 0)
                agent_reply_err(a, f->id, &err);
            return;
        }
    for (size_t i = 0; i < ARRAY_SIZE(reserved_ops); i++)
        if (strcmp(reserved_ops[i], f->op) == 0) {
            err_set(&err, -PYRO_E_UNSUPPORTED, "op %s is reserved and not implemented yet", f->op);
            agent_reply_err(a, f->id, &err);
            return;
        }
    err_set(&err, -PYRO_E_UNSUPPORTED, "unknown op %s", f->op);
    agent_reply_err(a, f->id, &err);
}

static void on_stream_frame(struct agent *a, const struct proto_frame *f)
{
    pyro_error err = {0};
    struct stream_in *s = agent_stream_in_find(a, f->id);
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
    s = agent_stream_in_take(a, f->id);
    if (r < 0)
        agent_reply_err(a, f->id, &err);
    agent_stream_in_free(s);
}

void agent_dispatch(struct agent *a, const struct proto_frame *f)
{
    /* A forwarded connection's frames go to it (portfwd.c). */
    if ((f->type == PROTO_DATA || f->type == PROTO_END || f->type == PROTO_ACK) && portfwd_frame(a, f))
        return;
    switch (f->type) {
    case PROTO_HELLO: on_hello(a, f); break;
    case PROTO_REQ: on_request(a, f); break;
    case PROTO_DATA:
    case PROTO_END: on_stream_frame(a, f); break;
    case PROTO_ACK: agent_stream_out_credit(a, f->id, json_get_int(f->hdr, "bytes", 0)); break;
    case PROTO_RESP:
    default: break; /* the agent never waits for responses */
    }
}
