/* The per-instance monitor: start, proxy, TTL, exit bookkeeping. */
#include "backend/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/proto.h"
#include "backend/backend.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/record.h"
#include "base/timeutil.h"

#define MONITOR_CLIENTS_MAX 64
/* A client that lets this much output pile up is disconnected. */
#define MONITOR_OUTQ_MAX (64u * 1024 * 1024)
/* How long the agent may take to answer the first hello. */
#define MONITOR_HELLO_MS 30000

struct outq {
    uint8_t *buf;
    size_t len, off, cap;
};

struct client {
    struct client *next;
    int fd;
    struct proto_reader rd;
    struct outq out;
    bool dead;
};

/* One forwarded request: agent-side id <-> (client, client-side id). */
struct route {
    struct route *next;
    int64_t agent_id;
    struct client *client; /* NULL: the monitor's own request, or an orphan */
    int64_t client_id;
    bool is_exec;
    bool is_stop; /* the monitor's shutdown request */
};

enum ev_tag { EV_LISTEN = 1, EV_AGENT, EV_PIDFD, EV_TTL, EV_SIGNAL, EV_GRACE };

struct monitor {
    const struct monitor_config *cfg;
    const struct backend_ops *ops;
    int epfd, listen_fd, agent_fd, ttl_fd, grace_fd, sig_fd;
    struct backend_instance inst;
    bool inst_started;
    struct proto_reader agent_rd;
    struct outq agent_out;
    json_t *agent_hello;
    struct client *clients;
    int nclients;
    struct route *routes;
    int64_t next_id;
    bool stopping, done;
    const char *reason;
    struct client *stop_waiters[MONITOR_CLIENTS_MAX];
    int64_t stop_waiter_ids[MONITOR_CLIENTS_MAX];
    int nstop_waiters;
    int64_t started_ms;
};

/* ---- monitor.json ---------------------------------------------------- */

static void monitor_record(struct monitor *m, const char *state, const char *error)
{
    char ts[PYRO_TIME_ISO_LEN];
    json_auto_t *rec = json_object();
    json_set(rec, "schema_version", json_integer(1));
    json_set(rec, "pid", json_integer(getpid()));
    json_set(rec, "start_time", json_integer(proc_start_time(getpid())));
    json_set(rec, "state", json_string(state));
    json_set(rec, "execution_mode", json_string(m->ops->name));
    if (m->inst_started) {
        json_set(rec, "sandbox_pid", json_integer(m->inst.pid));
        json_set(rec, "cgroup_version", json_integer(m->inst.cgroup_version));
        json_t *net = json_object();
        json_set(net, "enabled", json_boolean(m->inst.network));
        if (m->inst.network) {
            json_set(net, "host_ifname", json_string(m->inst.host_ifname));
            json_set(net, "host_addr", json_string(m->inst.host_addr));
            json_set(net, "guest_addr", json_string(m->inst.guest_addr));
            json_set(net, "prefix_len", json_integer(m->inst.prefix_len));
        }
        json_set(rec, "network", net);
    }
    if (m->started_ms) {
        time_iso(ts, m->started_ms);
        json_set(rec, "started_at", json_string(ts));
    }
    time_iso(ts, m->cfg->expires_at_ms);
    json_set(rec, "expires_at", json_string(ts));
    if (!strcmp(state, "exited")) {
        time_iso(ts, time_wall_ms());
        json_set(rec, "ended_at", json_string(ts));
        json_set(rec, "reason", json_string(m->reason ? m->reason : "unknown"));
    }
    if (error)
        json_set(rec, "error", json_string(error));
    pyro_error err = {0};
    _cleanup_free_ char *path = xasprintf("%s/monitor.json", m->cfg->dir);
    /* monitor.json describes this live process; a reboot ends it anyway, so
     * atomic replacement is enough and fsync is skipped (hot start path). */
    if (record_save_flags(path, rec, PYRO_WRITE_NOSYNC, &err) < 0)
        log_debug("monitor: %s", err.message);
}

/* ---- output queues --------------------------------------------------- */

static void outq_push(struct outq *q, const uint8_t *data, size_t len)
{
    if (q->off && q->off == q->len)
        q->off = q->len = 0;
    if (q->len + len > q->cap) {
        if (q->off) {
            memmove(q->buf, q->buf + q->off, q->len - q->off);
            q->len -= q->off;
            q->off = 0;
        }
        if (q->len + len > q->cap) {
            q->cap = (q->len + len) * 2;
            q->buf = xrealloc(q->buf, q->cap);
        }
    }
    memcpy(q->buf + q->len, data, len);
    q->len += len;
}

static size_t outq_pending(const struct outq *q)
{
    return q->len - q->off;
}

/* Writes what the fd takes now. Returns 0, or -errno on a broken peer. */
static int outq_flush(struct outq *q, int fd)
{
    while (outq_pending(q)) {
        ssize_t w = send(fd, q->buf + q->off, outq_pending(q), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return -errno;
        }
        q->off += (size_t)w;
    }
    return 0;
}

static void watch_mod(struct monitor *m, int fd, void *tag, bool want_out)
{
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0u), .data.ptr = tag};
    epoll_ctl(m->epfd, EPOLL_CTL_MOD, fd, &ev);
}

static void send_frame(struct monitor *m, struct outq *q, int fd, void *tag, json_t *hdr, const void *body,
                       size_t len)
{
    uint8_t *buf = NULL;
    size_t blen = 0;
    pyro_error err = {0};
    if (proto_frame_encode(hdr, body, len, &buf, &blen, &err) < 0) {
        log_debug("monitor: encode: %s", err.message);
        return;
    }
    outq_push(q, buf, blen);
    free(buf);
    if (outq_flush(q, fd) == 0)
        watch_mod(m, fd, tag, outq_pending(q) > 0);
}

static void to_agent(struct monitor *m, json_t *hdr, const void *body, size_t len)
{
    send_frame(m, &m->agent_out, m->agent_fd, (void *)(intptr_t)EV_AGENT, hdr, body, len);
}

static void to_client(struct monitor *m, struct client *c, json_t *hdr, const void *body, size_t len)
{
    if (c->dead)
        return;
    send_frame(m, &c->out, c->fd, c, hdr, body, len);
    if (outq_pending(&c->out) > MONITOR_OUTQ_MAX)
        c->dead = true;
}

static void client_error(struct monitor *m, struct client *c, int64_t id, int code, const char *msg)
{
    json_auto_t *h = proto_header_new(PROTO_RESP, id);
    json_set(h, "ok", json_false());
    json_set(h, "error", proto_error_new(code, msg));
    to_client(m, c, h, NULL, 0);
}

/* ---- routes ---------------------------------------------------------- */

static struct route *route_by_agent(struct monitor *m, int64_t id)
{
    for (struct route *r = m->routes; r; r = r->next)
        if (r->agent_id == id)
            return r;
    return NULL;
}

static struct route *route_by_client(struct monitor *m, struct client *c, int64_t id)
{
    for (struct route *r = m->routes; r; r = r->next)
        if (r->client == c && r->client_id == id)
            return r;
    return NULL;
}

static struct route *route_new(struct monitor *m, struct client *c, int64_t client_id)
{
    struct route *r = xcalloc(1, sizeof(*r));
    r->agent_id = m->next_id++;
    r->client = c;
    r->client_id = client_id;
    r->next = m->routes;
    m->routes = r;
    return r;
}

static void route_drop(struct monitor *m, struct route *dead)
{
    for (struct route **p = &m->routes; *p; p = &(*p)->next)
        if (*p == dead) {
            *p = dead->next;
            free(dead);
            return;
        }
}

/* ---- stopping -------------------------------------------------------- */

static void stop_begin(struct monitor *m, const char *reason)
{
    if (m->stopping)
        return;
    m->stopping = true;
    m->reason = reason;
    monitor_record(m, "stopping", NULL);
    /* Ask the agent to power off; SIGKILL after the grace period. */
    struct route *r = route_new(m, NULL, 0);
    r->is_stop = true;
    json_auto_t *h = proto_header_new(PROTO_REQ, r->agent_id);
    json_set(h, "op", json_string("shutdown"));
    /* Only a kept writable layer needs its data flushed before power-off. */
    json_set(h, "args", json_pack("{s:b}", "flush", m->cfg->upper_dir != NULL));
    to_agent(m, h, NULL, 0);
    struct itimerspec its = {.it_value = {MONITOR_STOP_GRACE_MS / 1000, (MONITOR_STOP_GRACE_MS % 1000) * 1000000L}};
    timerfd_settime(m->grace_fd, 0, &its, NULL);
}

static void kill_instance(struct monitor *m)
{
    pyro_error err = {0};
    if (m->inst_started && m->ops->kill(&m->inst, SIGKILL, &err) < 0)
        log_debug("monitor: kill: %s", err.message);
}

/* ---- client frames --------------------------------------------------- */

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
        to_client(m, c, h, NULL, 0);
        return;
    }
    if (!strcmp(f->op, "monitor_stop")) {
        if (m->nstop_waiters < MONITOR_CLIENTS_MAX) {
            m->stop_waiters[m->nstop_waiters] = c;
            m->stop_waiter_ids[m->nstop_waiters++] = f->id;
        }
        stop_begin(m, "stopped");
        return;
    }
    client_error(m, c, f->id, -PYRO_E_UNSUPPORTED, "unknown monitor op");
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
        to_client(m, c, h, NULL, 0);
        return;
    }
    case PROTO_REQ: {
        if (!strncmp(f->op, "monitor_", 8)) {
            on_client_local(m, c, f);
            return;
        }
        if (m->stopping) {
            client_error(m, c, f->id, -PYRO_E_STATE, "the instance is stopping");
            return;
        }
        if (f->id <= 0 || route_by_client(m, c, f->id)) {
            client_error(m, c, f->id, -PYRO_E_PROTOCOL, "request id is 0 or already in use");
            return;
        }
        struct route *r = route_new(m, c, f->id);
        r->is_exec = !strcmp(f->op, "exec");
        json_set(f->hdr, "id", json_integer(r->agent_id));
        to_agent(m, f->hdr, f->body, f->body_len);
        return;
    }
    case PROTO_DATA:
    case PROTO_END:
    case PROTO_ACK: {
        struct route *r = route_by_client(m, c, f->id);
        if (!r)
            return; /* the request already ended */
        json_set(f->hdr, "id", json_integer(r->agent_id));
        to_agent(m, f->hdr, f->body, f->body_len);
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
            struct route *k = route_new(m, NULL, 0);
            json_auto_t *h = proto_header_new(PROTO_REQ, k->agent_id);
            json_set(h, "op", json_string("kill"));
            json_set(h, "args", json_pack("{s:I}", "target", (json_int_t)r->agent_id));
            to_agent(m, h, NULL, 0);
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
    epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    proto_reader_free(&c->rd);
    free(c->out.buf);
    free(c);
    m->nclients--;
}

static void on_client_event(struct monitor *m, struct client *c, uint32_t events)
{
    if (events & EPOLLOUT) {
        if (outq_flush(&c->out, c->fd) < 0)
            c->dead = true;
        else
            watch_mod(m, c->fd, c, outq_pending(&c->out) > 0);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t n = proto_reader_fill(&c->rd, c->fd);
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
    }
    if (c->dead)
        client_close(m, c);
}

static void on_listen(struct monitor *m)
{
    for (;;) {
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (m->nclients >= MONITOR_CLIENTS_MAX) {
            close(fd);
            continue;
        }
        struct client *c = xcalloc(1, sizeof(*c));
        c->fd = fd;
        c->next = m->clients;
        m->clients = c;
        m->nclients++;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

/* ---- agent frames ---------------------------------------------------- */

static void on_agent_frame(struct monitor *m, struct proto_frame *f)
{
    if (f->type == PROTO_HELLO)
        return; /* only the first one matters (handshake) */
    struct route *r = route_by_agent(m, f->id);
    if (!r)
        return;
    if (r->client) {
        json_set(f->hdr, "id", json_integer(r->client_id));
        to_client(m, r->client, f->hdr, f->body, f->body_len);
    }
    if (f->type == PROTO_RESP)
        route_drop(m, r);
}

static void on_agent_event(struct monitor *m, uint32_t events)
{
    if (events & EPOLLOUT) {
        if (outq_flush(&m->agent_out, m->agent_fd) < 0)
            events |= EPOLLHUP;
        else
            watch_mod(m, m->agent_fd, (void *)(intptr_t)EV_AGENT, outq_pending(&m->agent_out) > 0);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t n = proto_reader_fill(&m->agent_rd, m->agent_fd);
        for (;;) {
            struct proto_frame f = {0};
            pyro_error err = {0};
            int r = proto_reader_next(&m->agent_rd, &f, &err);
            if (r <= 0) {
                if (r < 0) {
                    log_debug("monitor: agent channel: %s", err.message);
                    n = 0;
                }
                break;
            }
            on_agent_frame(m, &f);
            proto_frame_clear(&f);
        }
        if (n == 0 || (n < 0 && n != -EAGAIN)) {
            /* The channel is gone: the instance is dead or unusable. */
            epoll_ctl(m->epfd, EPOLL_CTL_DEL, m->agent_fd, NULL);
            if (!m->stopping)
                m->reason = "agent_lost";
            m->stopping = true;
            kill_instance(m);
        }
    }
}

/* ---- set-up ---------------------------------------------------------- */

/* Blocks until the agent's hello arrives on the fresh channel. */
static int agent_handshake(struct monitor *m, pyro_error *err)
{
    json_auto_t *h = proto_header_new(PROTO_HELLO, 0);
    json_set(h, "version", json_integer(PROTO_VERSION));
    json_set(h, "client", json_string("pyro-monitor " PYRO_VERSION));
    uint8_t *buf = NULL;
    size_t len = 0;
    int r = proto_frame_encode(h, NULL, 0, &buf, &len, err);
    if (r < 0)
        return r;
    r = proto_write_all(m->agent_fd, buf, len, MONITOR_HELLO_MS, err);
    free(buf);
    if (r < 0)
        return r;
    int64_t deadline = time_mono_ms() + MONITOR_HELLO_MS;
    for (;;) {
        struct proto_frame f = {0};
        r = proto_reader_next(&m->agent_rd, &f, err);
        if (r < 0)
            return r;
        if (r > 0) {
            if (f.type != PROTO_HELLO) {
                proto_frame_clear(&f);
                return err_set(err, -PYRO_E_PROTOCOL, "agent sent %s before hello", proto_type_name(f.type));
            }
            json_t *e = json_object_get(f.hdr, "error");
            if (e) {
                r = proto_error_to_err(e, err);
                proto_frame_clear(&f);
                return r;
            }
            m->agent_hello = json_incref(f.hdr);
            proto_frame_clear(&f);
            return 0;
        }
        int left = (int)(deadline - time_mono_ms());
        if (left <= 0)
            return err_set(err, -PYRO_E_TIMEOUT, "the agent did not answer within %d ms", MONITOR_HELLO_MS);
        struct pollfd p[2] = {{.fd = m->agent_fd, .events = POLLIN}, {.fd = m->inst.pidfd, .events = POLLIN}};
        int pr = poll(p, 2, left);
        if (pr < 0 && errno != EINTR)
            return err_errno(err, errno, "poll");
        if (p[1].revents & POLLIN) {
            return err_set(err, -PYRO_E_STATE, "the sandbox exited before its agent answered (see %s/console.log)",
                                m->cfg->dir);
        }
        if (p[0].revents) {
            ssize_t n = proto_reader_fill(&m->agent_rd, m->agent_fd);
            if (n == 0)
                return err_set(err, -PYRO_E_PROTOCOL, "the agent closed its channel during the handshake");
            if (n < 0 && n != -EAGAIN)
                return err_errno(err, (int)-n, "read agent channel");
        }
    }
}

static int listen_control(struct monitor *m, pyro_error *err)
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

static int add_watch(struct monitor *m, int fd, intptr_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = (void *)tag};
    return epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int monitor_setup(struct monitor *m, pyro_error *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return err_errno(err, errno, "socketpair");
    m->agent_fd = sv[0];
    _cleanup_close_ int guest_end = sv[1];
    _cleanup_free_ char *bdir = xasprintf("%s/sandbox", m->cfg->dir);
    _cleanup_free_ char *console = xasprintf("%s/console.log", m->cfg->dir);
    _cleanup_close_ int console_fd = open(console, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    static char *const init_argv[] = {"/.pyro/agent", "--channel-fd", "3", "--init", NULL};
    struct backend_config bc = {
        .id = m->cfg->id,
        .init_argv = init_argv,
        .rootfs = m->cfg->rootfs,
        .dir = bdir,
        .upper_dir = m->cfg->upper_dir,
        .init_path = m->cfg->agent_path,
        .channel_fd = guest_end,
        .stdio_fd = console_fd,
        .vcpu_count = m->cfg->vcpu_count,
        .mem_mib = m->cfg->mem_mib,
        .pids_max = m->cfg->pids_max,
        .cgroup_parent_mem_mib = m->cfg->cgroup_parent_mem_mib,
        .network = m->cfg->network,
    };
    int64_t t0 = time_mono_ns();
    int r = m->ops->start(&bc, &m->inst, err);
    if (r < 0)
        return r;
    m->inst_started = true;
    m->started_ms = time_wall_ms();
    int64_t t1 = time_mono_ns();
    r = agent_handshake(m, err);
    log_debug("monitor %s: backend start %.1f ms, agent hello %.1f ms", m->cfg->id, (t1 - t0) / 1e6,
              (time_mono_ns() - t1) / 1e6);
    if (r < 0)
        return r;
    if (fcntl(m->agent_fd, F_SETFL, O_NONBLOCK) < 0)
        return err_errno(err, errno, "fcntl");
    r = listen_control(m, err);
    if (r < 0)
        return r;

    m->epfd = epoll_create1(EPOLL_CLOEXEC);
    m->ttl_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
    m->grace_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    m->sig_fd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
    if (m->epfd < 0 || m->ttl_fd < 0 || m->grace_fd < 0 || m->sig_fd < 0)
        return err_errno(err, errno, "event loop set-up");
    int64_t exp = m->cfg->expires_at_ms;
    struct itimerspec its = {.it_value = {exp / 1000, (exp % 1000) * 1000000L}};
    if (timerfd_settime(m->ttl_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        return err_errno(err, errno, "timerfd");
    if (add_watch(m, m->listen_fd, EV_LISTEN) < 0 || add_watch(m, m->agent_fd, EV_AGENT) < 0 ||
        add_watch(m, m->inst.pidfd, EV_PIDFD) < 0 || add_watch(m, m->ttl_fd, EV_TTL) < 0 ||
        add_watch(m, m->grace_fd, EV_GRACE) < 0 || add_watch(m, m->sig_fd, EV_SIGNAL) < 0)
        return err_errno(err, errno, "epoll_ctl");
    return 0;
}

static void monitor_teardown(struct monitor *m)
{
    pyro_error err = {0};
    _cleanup_free_ char *bdir = xasprintf("%s/sandbox", m->cfg->dir);
    _cleanup_free_ char *sock = xasprintf("%s/control.sock", m->cfg->dir);
    unlink(sock);
    if (m->inst_started) {
        kill_instance(m);
        /* Reap PID 1 (our child) before destroy looks at the cgroup. */
        while (waitpid(m->inst.pid, NULL, 0) < 0 && errno == EINTR)
            ;
        m->ops->release(&m->inst);
    }
    if (m->ops->destroy(bdir, m->cfg->id, &err) < 0)
        log_debug("monitor: destroy: %s", err.message);
}

static void answer_stop_waiters(struct monitor *m)
{
    for (int i = 0; i < m->nstop_waiters; i++) {
        struct client *c = m->stop_waiters[i];
        if (!c || c->dead)
            continue;
        json_auto_t *h = proto_header_new(PROTO_RESP, m->stop_waiter_ids[i]);
        json_set(h, "ok", json_true());
        json_set(h, "result", json_pack("{s:s}", "reason", m->reason ? m->reason : "stopped"));
        to_client(m, c, h, NULL, 0);
        /* Best effort, blocking: the process is about to exit. */
        int fl = fcntl(c->fd, F_GETFL);
        fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
        (void)outq_flush(&c->out, c->fd);
    }
}

int monitor_main(const struct monitor_config *cfg, int ready_fd)
{
    struct monitor m = {.cfg = cfg, .epfd = -1, .listen_fd = -1, .agent_fd = -1, .ttl_fd = -1, .grace_fd = -1,
                        .sig_fd = -1, .next_id = 1};
    pyro_error err = {0};
    char line[PYRO_ERROR_MESSAGE_MAX + 64];

    prctl(PR_SET_NAME, "pyro-monitor");
    /* An unknown backend is refused before anything is created. */
    int r = backend_get(cfg->backend, &m.ops, &err);
    if (r == 0) {
        monitor_record(&m, "starting", NULL);
        r = monitor_setup(&m, &err);
        if (r < 0) {
            m.reason = "failed";
            monitor_teardown(&m);
            monitor_record(&m, "exited", err.message);
        }
    }
    if (r < 0) {
        int n = snprintf(line, sizeof(line), "error %d %s\n", err.code, err.message);
        (void)!write(ready_fd, line, (size_t)n);
        close(ready_fd);
        return 1;
    }
    monitor_record(&m, "running", NULL);
    (void)!write(ready_fd, "ok\n", 3);
    close(ready_fd);

    bool instance_gone = false;
    while (!instance_gone) {
        struct epoll_event evs[32];
        int n = epoll_wait(m.epfd, evs, 32, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            uint64_t ticks;
            switch ((intptr_t)tag) {
            case EV_LISTEN:
                on_listen(&m);
                break;
            case EV_AGENT:
                on_agent_event(&m, evs[i].events);
                break;
            case EV_PIDFD:
                if (!m.stopping)
                    m.reason = "sandbox_exited";
                instance_gone = true;
                break;
            case EV_TTL:
                (void)!read(m.ttl_fd, &ticks, sizeof(ticks));
                stop_begin(&m, "expired");
                break;
            case EV_GRACE:
                (void)!read(m.grace_fd, &ticks, sizeof(ticks));
                kill_instance(&m);
                break;
            case EV_SIGNAL: {
                struct signalfd_siginfo si;
                (void)!read(m.sig_fd, &si, sizeof(si));
                stop_begin(&m, "signal");
                break;
            }
            default:
                on_client_event(&m, tag, evs[i].events);
                break;
            }
            if (instance_gone)
                break;
        }
        /* Clients marked dead by a write elsewhere in this round. */
        for (struct client *c = m.clients, *next; c; c = next) {
            next = c->next;
            if (c->dead)
                client_close(&m, c);
        }
    }
    monitor_teardown(&m);
    monitor_record(&m, "exited", NULL);
    answer_stop_waiters(&m);
    return 0;
}
