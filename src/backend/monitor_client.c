/* The client multiplexing: clients connect to <dir>/control.sock and speak
 * the agent protocol; their requests are forwarded with ids remapped (so
 * many clients share the one agent channel), and "monitor_status" and
 * "monitor_stop" are answered here. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/monitor_impl.h"
#include "base/cleanup.h"
#include "base/json.h"

static void on_client_local(struct monitor *m, struct client *c, struct proto_frame *f)
{
    if (!strcmp(f->op, "monitor_status")) {
        json_auto_t *h = proto_header_new(PROTO_RESP, f->id);
        json_t *res = json_object();
        json_set(res, "state", json_string(m->stopping ? "stopping" : "running"));
        json_set(res, "sandbox_pid", json_integer(m->inst.pid));
        json_set(res, "clients", json_integer(m->nclients));
        json_set(h, "ok", json_true());
        json_set(h, "result", res);
        monitor_to_client(m, c, h, NULL, 0);
        return;
    }
    if (!strcmp(f->op, "monitor_stop")) {
        if (m->nstop_waiters < MONITOR_CLIENTS_MAX) {
            m->stop_waiters[m->nstop_waiters] = c;
            m->stop_waiter_ids[m->nstop_waiters++] = f->id;
        }
        monitor_stop_begin(m, "stopped");
        return;
    }
    if (monitor_ports_request(m, c, f))
        return;
    monitor_client_error(m, c, f->id, -PYRO_E_UNSUPPORTED, "unknown monitor op");
}

/* A stream frame that cannot be queued for the agent leaves its request
 * broken: the client is disconnected. */
static void forward(struct monitor *m, struct client *c, struct proto_frame *f)
{
    if (monitor_to_agent(m, f->hdr, f->body, f->body_len, NULL) < 0)
        c->dead = true;
}

static void on_client_frame(struct monitor *m, struct client *c, struct proto_frame *f)
{
    switch (f->type) {
    case PROTO_HELLO: {
        json_auto_t *h = json_deep_copy(m->agent_hello);
        json_t *mon = json_object();
        json_set(mon, "id", json_string(m->cfg->id));
        json_set(mon, "pid", json_integer(getpid()));
        json_set(h, "monitor", mon);
        monitor_to_client(m, c, h, NULL, 0);
        return;
    }
    case PROTO_REQ: {
        if (!strncmp(f->op, "monitor_", 8)) {
            on_client_local(m, c, f);
            return;
        }
        if (m->stopping) {
            monitor_client_error(m, c, f->id, -PYRO_E_STATE, "the instance is stopping");
            return;
        }
        if (f->id <= 0 || monitor_route_by_client(m, c, f->id)) {
            monitor_client_error(m, c, f->id, -PYRO_E_PROTOCOL, "request id is 0 or already in use");
            return;
        }
        struct route *r = monitor_route_new(m, c, f->id);
        r->is_exec = !strcmp(f->op, "exec");
        json_set(f->hdr, "id", json_integer(r->agent_id));
        pyro_error err = {0};
        if (monitor_to_agent(m, f->hdr, f->body, f->body_len, &err) < 0) {
            monitor_route_drop(m, r);
            monitor_client_error(m, c, f->id, err.code, err.message);
        }
        return;
    }
    case PROTO_DATA:
    case PROTO_END:
    case PROTO_ACK: {
        struct route *r = monitor_route_by_client(m, c, f->id);
        if (!r)
            return; /* the request already ended */
        json_set(f->hdr, "id", json_integer(r->agent_id));
        forward(m, c, f);
        return;
    }
    case PROTO_RESP:
    default:
        c->dead = true; /* clients never answer */
        return;
    }
}

/* A client went away: its running commands are killed, its other requests
 * finish inside but their answers go nowhere. */
static void client_close(struct monitor *m, struct client *c)
{
    for (struct route *r = m->routes; r; r = r->next) {
        if (r->client != c)
            continue;
        r->client = NULL;
        if (r->is_exec) {
            struct route *k = monitor_route_new(m, NULL, 0);
            json_auto_t *h = proto_header_new(PROTO_REQ, k->agent_id);
            json_set(h, "op", json_string("kill"));
            json_set(h, "args", json_pack("{s:I}", "target", (json_int_t)r->agent_id));
            (void)monitor_to_agent(m, h, NULL, 0, NULL);
        }
    }
    for (int i = 0; i < m->nstop_waiters; i++)
        if (m->stop_waiters[i] == c)
            m->stop_waiters[i] = NULL;
    for (struct client **p = &m->clients; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    ae_file_del(m->loop, c->fd, AE_READABLE | AE_WRITABLE);
    close(c->fd);
    proto_reader_free(&c->rd);
    outq_free(&c->out);
    free(c);
    m->nclients--;
}

static void client_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct client *c = data;
    struct monitor *m = c->m;
    ssize_t n = proto_reader_fill(&c->rd, fd);
    if (n == 0 || (n < 0 && n != -EAGAIN))
        c->dead = true;
    for (;;) {
        struct proto_frame f = {0};
        pyro_error err = {0};
        int r = proto_reader_next(&c->rd, &f, &err);
        if (r <= 0) {
            if (r < 0)
                c->dead = true;
            break;
        }
        on_client_frame(m, c, &f);
        proto_frame_clear(&f);
    }
    if (c->dead)
        client_close(m, c);
}

void monitor_clients_sweep(struct monitor *m)
{
    for (struct client *c = m->clients, *next; c; c = next) {
        next = c->next;
        if (c->dead)
            client_close(m, c);
    }
}

void monitor_on_accept(struct ae_loop *loop, int lfd, int mask, void *data)
{
    struct monitor *m = data;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (m->nclients >= MONITOR_CLIENTS_MAX) {
            close(fd);
            continue;
        }
        struct client *c = xcalloc(1, sizeof(*c));
        c->m = m;
        c->fd = fd;
        outq_init(&c->out, MONITOR_OUTQ_MAX);
        if (ae_file_add(loop, fd, AE_READABLE, client_readable, c, NULL) < 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = m->clients;
        m->clients = c;
        m->nclients++;
    }
}

int monitor_listen(struct monitor *m, pyro_error *err)
{
    /* Bind relative to the instance directory: paths may exceed sun_path. */
    _cleanup_close_ int dfd = open(m->cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_errno(err, errno, "open %s", m->cfg->dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/control.sock", dfd);
    unlinkat(dfd, "control.sock", 0);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_errno(err, errno, "socket");
    mode_t old = umask(0077);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        return err_errno(err, e, "listen on %s/control.sock", m->cfg->dir);
    }
    m->listen_fd = fd;
    return 0;
}
