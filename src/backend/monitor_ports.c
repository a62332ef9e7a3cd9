/* Published ports: listeners on the host's loopback, each connection
 * forwarded through the agent channel (the agent's port_connect connects
 * to the guest's own 127.0.0.1:port, agent/portfwd.c). Nothing here
 * depends on the backend, and nothing connects out of the host: the only
 * sockets are the listeners and the connections they accept.
 *
 * Local requests (from the host library, which checks the workspace's
 * policy first):
 *   monitor_publish   {service, ports: [{guest_port, host_port}], pending_ms}
 *                     binds every port or none; {token, ports}
 *   monitor_confirm   {token, pid}: the service runs with pid
 *   monitor_unpublish {token} | {service} | {all: true}: {closed}
 *   monitor_ports     {ports}
 * While ports are published, the monitor asks the agent for service_list
 * every MONITOR_PORTS_POLL_MS and closes the ports of a service that ended
 * (or was replaced), and those of a publish never confirmed in time (its
 * client died mid-start). The process's exit closes the rest. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/monitor_impl.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/timeutil.h"

struct pub {
    struct pub *next;
    struct monitor *m;
    char service[MONITOR_SERVICE_NAME_MAX + 1];
    int64_t token;
    int guest_port, host_port;
    int fd;                   /* the listener */
    int64_t pending_until_ms; /* monotonic; 0 once confirmed */
    int64_t pid;              /* the service's pid once confirmed */
};

struct fwd {
    struct fwd *next;
    struct monitor *m;
    int fd;
    struct route *route; /* NULL once the agent answered */
    struct outq out;     /* from the agent, for the client */
    uint64_t unacked;    /* sent to the agent, not yet acked */
    bool client_eof;
};

static json_t *pub_json(const struct pub *p)
{
    return json_pack("{s:s, s:i, s:i, s:s, s:s}", "service_name", p->service, "guest_port", p->guest_port, "host_port",
                     p->host_port, "host", "127.0.0.1", "protocol", "tcp");
}

/* ---- connections ------------------------------------------------------ */

static void fwd_close(struct fwd *w)
{
    struct monitor *m = w->m;
    if (w->route) {
        /* The agent still relays: abort it; its answer finds no fwd. */
        json_auto_t *h = proto_header_new(PROTO_END, w->route->agent_id);
        json_set(h, "abort", json_true());
        (void)monitor_to_agent(m, h, NULL, 0, NULL);
        w->route->fwd = NULL;
    }
    for (struct fwd **pp = &m->fwds; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    m->nfwds--;
    ae_file_del(m->loop, w->fd, AE_READABLE | AE_WRITABLE);
    close(w->fd);
    outq_free(&w->out);
    free(w);
}

static void fwd_events(struct fwd *w);

static void fwd_on_event(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct fwd *w = data;
    struct monitor *m = w->m;
    if (mask & AE_WRITABLE) {
        size_t before = outq_pending(&w->out);
        if (outq_flush(&w->out, fd) < 0) {
            fwd_close(w);
            return;
        }
        size_t n = before - outq_pending(&w->out);
        if (n && w->route) {
            json_auto_t *h = proto_header_new(PROTO_ACK, w->route->agent_id);
            json_set(h, "bytes", json_integer((json_int_t)n));
            (void)monitor_to_agent(m, h, NULL, 0, NULL);
        }
        if (!w->route && !outq_pending(&w->out)) {
            fwd_close(w); /* the guest side ended and all of it was delivered */
            return;
        }
    }
    if ((mask & AE_READABLE) && w->route && !w->client_eof) {
        static uint8_t buf[PROTO_CHUNK];
        size_t cap = w->unacked < MONITOR_FWD_WINDOW ? MONITOR_FWD_WINDOW - w->unacked : 0;
        ssize_t n = cap ? read(fd, buf, cap < sizeof(buf) ? cap : sizeof(buf)) : -1;
        if (!cap || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
            /* nothing now */
        } else if (n < 0) {
            fwd_close(w);
            return;
        } else {
            json_auto_t *h = proto_header_new(n ? PROTO_DATA : PROTO_END, w->route->agent_id);
            if (monitor_to_agent(m, h, buf, (size_t)n, NULL) < 0) {
                fwd_close(w);
                return;
            }
            w->unacked += (uint64_t)n;
            w->client_eof = n == 0;
        }
    }
    fwd_events(w);
}

/* Readable while the client may send (window left), writable while bytes
 * for it wait. */
static void fwd_events(struct fwd *w)
{
    struct ae_loop *loop = w->m->loop;
    int want = outq_pending(&w->out) ? AE_WRITABLE : 0;
    if (w->route && !w->client_eof && w->unacked < MONITOR_FWD_WINDOW)
        want |= AE_READABLE;
    int have = ae_file_mask(loop, w->fd);
    if (have & ~want)
        ae_file_del(loop, w->fd, have & ~want);
    if (want & ~have)
        (void)ae_file_add(loop, w->fd, want & ~have, fwd_on_event, w, NULL);
    if (!want && !w->route)
        fwd_close(w);
}

void monitor_ports_agent_frame(struct monitor *m, struct route *r, struct proto_frame *f)
{
    struct fwd *w = r->fwd;
    if (!w)
        return;
    if (f->type == PROTO_DATA) {
        pyro_error err = {0};
        if (outq_push(&w->out, f->body, f->body_len, &err) < 0) {
            log_debug("monitor: forwarded connection: %s", err.message);
            fwd_close(w);
            return;
        }
    } else if (f->type == PROTO_ACK) {
        int64_t n = json_get_int(f->hdr, "bytes", 0);
        w->unacked = n > 0 && (uint64_t)n < w->unacked ? w->unacked - (uint64_t)n : 0;
    } else if (f->type == PROTO_RESP) {
        /* The guest side ended (or never connected): deliver what is left,
         * then close. */
        if (!json_is_true(json_object_get(f->hdr, "ok")))
            log_debug("monitor: forwarded connection refused: %s",
                      json_get_str(json_object_get(f->hdr, "error"), "message", "?"));
        r->fwd = NULL;
        w->route = NULL;
        shutdown(w->fd, SHUT_RD);
    }
    fwd_events(w);
}

static void on_accept(struct ae_loop *loop, int lfd, int mask, void *data)
{
    struct pub *p = data;
    struct monitor *m = p->m;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (m->stopping || m->nfwds >= MONITOR_FWD_MAX) {
            close(fd);
            continue;
        }
        struct fwd *w = xcalloc(1, sizeof(*w));
        w->m = m;
        w->fd = fd;
        outq_init(&w->out, MONITOR_FWD_WINDOW + PROTO_CHUNK);
        w->route = monitor_route_new(m, NULL, 0);
        w->route->fwd = w;
        w->next = m->fwds;
        m->fwds = w;
        m->nfwds++;
        json_auto_t *h = proto_header_new(PROTO_REQ, w->route->agent_id);
        json_set(h, "op", json_string("port_connect"));
        json_set(h, "args", json_pack("{s:i}", "port", p->guest_port));
        json_set(h, "stream", json_true());
        json_set(h, "window", json_integer(MONITOR_FWD_WINDOW));
        if (monitor_to_agent(m, h, NULL, 0, NULL) < 0) {
            monitor_route_drop(m, w->route);
            w->route = NULL;
            fwd_close(w);
            continue;
        }
        fwd_events(w);
    }
}

/* ---- the table -------------------------------------------------------- */

static void pub_close(struct monitor *m, struct pub *p)
{
    for (struct pub **pp = &m->pubs; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    m->npubs--;
    ae_file_del(m->loop, p->fd, AE_READABLE);
    close(p->fd);
    free(p);
}

/* Closes the ports match() selects; returns how many. */
static int pubs_close(struct monitor *m, bool (*match)(const struct pub *, const void *), const void *arg)
{
    int n = 0;
    for (struct pub *p = m->pubs, *next; p; p = next) {
        next = p->next;
        if (match(p, arg)) {
            pub_close(m, p);
            n++;
        }
    }
    return n;
}

static bool match_all(const struct pub *p, const void *arg)
{
    return true;
}

static bool match_token(const struct pub *p, const void *arg)
{
    return p->token == *(const int64_t *)arg;
}

static bool match_service(const struct pub *p, const void *arg)
{
    return !strcmp(p->service, arg);
}

/* Whether the agent's service list (a service_list result) still has
 * p's service running as the one it was published for. */
static bool match_ended(const struct pub *p, const void *arg)
{
    const json_t *services = arg;
    if (p->pending_until_ms)
        return time_mono_ms() > p->pending_until_ms;
    size_t i;
    json_t *e;
    json_array_foreach(services, i, e) {
        if (strcmp(json_get_str(e, "service_name", ""), p->service))
            continue;
        const char *st = json_get_str(e, "state", "");
        bool live = !strcmp(st, "starting") || !strcmp(st, "running");
        return !live || json_get_int(e, "pid", 0) != p->pid;
    }
    return true;
}

void monitor_ports_poll_answer(struct monitor *m, struct proto_frame *f)
{
    m->ports_poll_busy = false;
    if (!json_is_true(json_object_get(f->hdr, "ok")))
        return;
    json_t *services = json_object_get(json_object_get(f->hdr, "result"), "services");
    if (!json_is_array(services))
        return;
    int n = pubs_close(m, match_ended, services);
    if (n)
        log_debug("monitor %s: closed %d published port(s) of ended services", m->cfg->id, n);
}

static int64_t poll_tick(struct ae_loop *loop, int64_t id, void *data)
{
    struct monitor *m = data;
    if (!m->pubs) {
        m->ports_timer = 0;
        return AE_NOMORE;
    }
    if (!m->ports_poll_busy && !m->stopping) {
        struct route *r = monitor_route_new(m, NULL, 0);
        r->is_ports_poll = true;
        json_auto_t *h = proto_header_new(PROTO_REQ, r->agent_id);
        json_set(h, "op", json_string("service_list"));
        json_set(h, "args", json_object());
        if (monitor_to_agent(m, h, NULL, 0, NULL) < 0)
            monitor_route_drop(m, r);
        else
            m->ports_poll_busy = true;
    }
    return MONITOR_PORTS_POLL_MS;
}

static int bind_port(int host_port, int *fd_out, int *port_out, pyro_error *err)
{
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_errno(err, errno, "socket");
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)host_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        if (errno == EADDRINUSE)
            return err_set(err, -EADDRINUSE, "host port %d on 127.0.0.1 is busy", host_port);
        return err_errno(err, errno, "bind 127.0.0.1:%d", host_port);
    }
    socklen_t len = sizeof(sin);
    if (listen(fd, 64) < 0 || getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        return err_errno(err, errno, "listen on 127.0.0.1:%d", host_port);
    *port_out = ntohs(sin.sin_port);
    *fd_out = TAKE_FD(fd);
    return 0;
}

static int ports_publish(struct monitor *m, const json_t *args, json_t **res, pyro_error *err)
{
    const char *service = json_get_str(args, "service", "");
    const json_t *ports = json_object_get(args, "ports");
    size_t n = json_array_size(ports);
    if (!service[0] || strlen(service) > MONITOR_SERVICE_NAME_MAX)
        return err_set(err, -PYRO_E_INVALID, "\"service\" must name a service");
    if (n == 0)
        return err_set(err, -PYRO_E_INVALID, "\"ports\" must be a non-empty array");
    if (m->npubs + (int)n > MONITOR_PORTS_MAX)
        return err_set(err, -PYRO_E_LIMIT, "a workspace publishes at most %d ports (%d already)", MONITOR_PORTS_MAX,
                       m->npubs);
    int64_t pending_ms = json_get_int(args, "pending_ms", 0);
    if (pending_ms <= 0 || pending_ms > 24 * 3600 * 1000)
        return err_set(err, -PYRO_E_INVALID, "\"pending_ms\" must be in 1..86400000");
    int64_t token = ++m->ports_token;
    struct pub *made = NULL;
    size_t i;
    json_t *e;
    int r = 0;
    json_array_foreach(ports, i, e) {
        json_int_t g = json_integer_value(json_object_get(e, "guest_port"));
        json_int_t h = json_integer_value(json_object_get(e, "host_port"));
        if (g < 1 || g > 65535 || h < 0 || h > 65535) {
            r = err_set(err, -PYRO_E_INVALID, "a port must be in 1..65535 (host_port 0: any)");
            break;
        }
        int fd = -1, port = 0;
        if ((r = bind_port((int)h, &fd, &port, err)) < 0)
            break;
        struct pub *p = xcalloc(1, sizeof(*p));
        *p = (struct pub){.m = m,
                          .token = token,
                          .guest_port = (int)g,
                          .host_port = port,
                          .fd = fd,
                          .pending_until_ms = time_mono_ms() + pending_ms,
                          .next = made};
        snprintf(p->service, sizeof(p->service), "%s", service);
        made = p;
        if ((r = ae_file_add(m->loop, fd, AE_READABLE, on_accept, p, err)) < 0)
            break;
    }
    /* All or nothing. made is newest first, as the table is: it goes in
     * front whole, and the lists come out in the order asked. */
    if (r < 0) {
        for (struct pub *p = made, *next; p; p = next) {
            next = p->next;
            ae_file_del(m->loop, p->fd, AE_READABLE);
            close(p->fd);
            free(p);
        }
        return r;
    }
    json_t *list = json_array();
    struct pub *tail = NULL;
    for (struct pub *p = made; p; p = p->next) {
        json_array_insert_new(list, 0, pub_json(p));
        m->npubs++;
        tail = p;
    }
    if (tail) {
        tail->next = m->pubs;
        m->pubs = made;
    }
    if (!m->ports_timer)
        m->ports_timer = ae_timer_add(m->loop, MONITOR_PORTS_POLL_MS, poll_tick, m);
    *res = json_pack("{s:I, s:o}", "token", (json_int_t)token, "ports", list);
    return 0;
}

static int ports_local(struct monitor *m, const char *op, const json_t *args, json_t **res, pyro_error *err)
{
    if (!strcmp(op, "monitor_publish"))
        return ports_publish(m, args, res, err);
    if (!strcmp(op, "monitor_confirm")) {
        int64_t token = json_get_int(args, "token", 0), pid = json_get_int(args, "pid", 0);
        int n = 0;
        for (struct pub *p = m->pubs; p; p = p->next)
            if (p->token == token) {
                p->pending_until_ms = 0;
                p->pid = pid;
                n++;
            }
        *res = json_pack("{s:i}", "confirmed", n);
        return 0;
    }
    if (!strcmp(op, "monitor_unpublish")) {
        int64_t token = json_get_int(args, "token", 0);
        const char *service = json_get_str(args, "service", NULL);
        int n = json_get_bool(args, "all", false) ? pubs_close(m, match_all, NULL)
                : service                         ? pubs_close(m, match_service, service)
                                                  : pubs_close(m, match_token, &token);
        *res = json_pack("{s:i}", "closed", n);
        return 0;
    }
    json_t *list = json_array();
    for (struct pub *p = m->pubs; p; p = p->next)
        json_array_insert_new(list, 0, pub_json(p));
    *res = json_pack("{s:o}", "ports", list);
    return 0;
}

bool monitor_ports_request(struct monitor *m, struct client *c, struct proto_frame *f)
{
    static const char *const ops[] = {"monitor_publish", "monitor_confirm", "monitor_unpublish", "monitor_ports"};
    bool known = false;
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        known |= !strcmp(f->op, ops[i]);
    if (!known)
        return false;
    json_t *res = NULL;
    pyro_error err = {0};
    if (ports_local(m, f->op, json_object_get(f->hdr, "args"), &res, &err) < 0) {
        monitor_client_error(m, c, f->id, err.code, err.message);
        return true;
    }
    json_auto_t *h = proto_header_new(PROTO_RESP, f->id);
    json_set(h, "ok", json_true());
    json_set(h, "result", res);
    monitor_to_client(m, c, h, NULL, 0);
    return true;
}

void monitor_ports_close_all(struct monitor *m)
{
    pubs_close(m, match_all, NULL);
    while (m->fwds)
        fwd_close(m->fwds);
}
