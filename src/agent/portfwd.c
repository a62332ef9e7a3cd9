/* port_connect: one TCP connection of a published port into the guest.
 *
 * The monitor accepts a connection on the host's published port and sends
 * port_connect {port}; the agent connects to 127.0.0.1:port in the guest's
 * own network namespace (never any other address: a published port reaches
 * into the workspace, not out of it) and relays bytes both ways as the
 * request's streams (docs/agent-protocol.md "port_connect"): the host's
 * data frames are written to the socket and acked once written (at most
 * PORTFWD_BUF_MAX buffered), and what the socket gives is sent as data
 * frames while the host's credit lasts. The host's end shuts the socket's
 * write side; the response comes when the socket reaches EOF or fails,
 * or the host aborts. Both backends run this same code. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/json.h"

/* Connections at once (the monitor caps its own below this). */
#define PORTFWD_MAX 256
/* Host bytes waiting for the guest socket: the host's window and a chunk. */
#define PORTFWD_BUF_MAX (PROTO_WINDOW + PROTO_CHUNK)

struct portfwd {
    struct portfwd *next;
    struct agent *a;
    int64_t id;
    int fd;
    int port;
    bool connected;
    bool host_end; /* the host sent end: shut the write side once flushed */
    uint64_t credit;
    uint64_t to_guest, to_host;
    struct outq q; /* from the host, not yet written to the socket */
};

static struct portfwd *fwd_find(struct agent *a, int64_t id)
{
    for (struct portfwd *p = a->portfwds; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

bool portfwd_busy(struct agent *a, int64_t id)
{
    return fwd_find(a, id) != NULL;
}

static void fwd_free(struct agent *a, struct portfwd *p)
{
    for (struct portfwd **pp = &a->portfwds; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    a->nportfwds--;
    if (a->loop)
        ae_file_del(a->loop, p->fd, AE_READABLE | AE_WRITABLE);
    close(p->fd);
    outq_free(&p->q);
    free(p);
}

/* Ends the request: ok with the byte counts, or err. */
static void fwd_finish(struct portfwd *p, const pyro_error *err)
{
    struct agent *a = p->a;
    if (err) {
        agent_reply_err(a, p->id, err);
    } else {
        json_t *r = json_pack("{s:i, s:I, s:I}", "port", p->port, "bytes_in", (json_int_t)p->to_guest, "bytes_out",
                              (json_int_t)p->to_host);
        agent_reply_ok(a, p->id, r, NULL, 0);
    }
    fwd_free(a, p);
}

static void fwd_events(struct portfwd *p);

static void fwd_ack(struct portfwd *p, size_t n)
{
    if (!n)
        return;
    p->to_guest += n;
    json_t *h = proto_header_new(PROTO_ACK, p->id);
    json_set(h, "bytes", json_integer((json_int_t)n));
    agent_send(p->a, h, NULL, 0);
}

/* Writes what the socket takes; 0, or < 0 when the guest side is gone. */
static int fwd_flush(struct portfwd *p)
{
    size_t before = outq_pending(&p->q);
    int r = outq_flush(&p->q, p->fd);
    fwd_ack(p, before - outq_pending(&p->q));
    if (r == 0 && p->host_end && !outq_pending(&p->q))
        shutdown(p->fd, SHUT_WR);
    return r;
}

static void fwd_readable(struct portfwd *p)
{
    static uint8_t buf[PROTO_CHUNK];
    size_t cap = p->credit < sizeof(buf) ? (size_t)p->credit : sizeof(buf);
    if (!cap)
        return;
    ssize_t n = read(p->fd, buf, cap);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* EOF, or a reset: either way the guest side is done. */
        fwd_finish(p, NULL);
        return;
    }
    p->credit -= (uint64_t)n;
    p->to_host += (uint64_t)n;
    agent_send(p->a, proto_header_new(PROTO_DATA, p->id), buf, (size_t)n);
    fwd_events(p);
}

static void fwd_on_event(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct portfwd *p = data;
    pyro_error err = {0};
    if (!p->connected) {
        int e = 0;
        socklen_t len = sizeof(e);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
            e = errno;
        if (e) {
            err_errno(&err, e, "connect to port %d in the workspace", p->port);
            fwd_finish(p, &err);
            return;
        }
        p->connected = true;
        if (fwd_flush(p) < 0) {
            fwd_finish(p, NULL);
            return;
        }
        fwd_events(p);
        return;
    }
    if (mask & AE_WRITABLE) {
        if (fwd_flush(p) < 0) {
            fwd_finish(p, NULL);
            return;
        }
    }
    if (mask & AE_READABLE) {
        fwd_readable(p);
        return; /* p may be gone */
    }
    fwd_events(p);
}

/* Arms what the connection waits for: writability while connecting or
 * while host bytes wait, readability while the host gives credit. */
static void fwd_events(struct portfwd *p)
{
    struct ae_loop *loop = p->a->loop;
    int want = !p->connected || outq_pending(&p->q) ? AE_WRITABLE : 0;
    if (p->connected && p->credit > 0)
        want |= AE_READABLE;
    int have = ae_file_mask(loop, p->fd);
    if (have & ~want)
        ae_file_del(loop, p->fd, have & ~want);
    if (want & ~have)
        (void)ae_file_add(loop, p->fd, want & ~have, fwd_on_event, p, NULL);
}

int op_port_connect(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    json_int_t port = json_integer_value(json_object_get(args, "port"));
    if (!json_is_integer(json_object_get(args, "port")) || port < 1 || port > 65535)
        return err_set(err, -PYRO_E_INVALID, "\"port\" must be an integer in 1..65535");
    if (a->nportfwds >= PORTFWD_MAX)
        return err_set(err, -PYRO_E_LIMIT, "at most %d forwarded connections at once", PORTFWD_MAX);
    int64_t window = json_get_int(req->hdr, "window", PROTO_WINDOW);
    if (window <= 0 || window > 64 * (int64_t)PROTO_WINDOW)
        window = PROTO_WINDOW;
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_errno(err, errno, "socket");
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool connected = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    if (!connected && errno != EINPROGRESS)
        return err_errno(err, errno, "connect to port %lld in the workspace", (long long)port);
    struct portfwd *p = xcalloc(1, sizeof(*p));
    p->a = a;
    p->id = req->id;
    p->fd = TAKE_FD(fd);
    p->port = (int)port;
    p->connected = connected;
    p->credit = (uint64_t)window;
    outq_init(&p->q, PORTFWD_BUF_MAX);
    p->next = a->portfwds;
    a->portfwds = p;
    a->nportfwds++;
    fwd_events(p);
    return 0;
}

bool portfwd_frame(struct agent *a, const struct proto_frame *f)
{
    struct portfwd *p = fwd_find(a, f->id);
    if (!p)
        return false;
    pyro_error err = {0};
    switch (f->type) {
    case PROTO_ACK: {
        int64_t n = json_get_int(f->hdr, "bytes", 0);
        if (n > 0 && p->credit + (uint64_t)n <= 64u * PROTO_WINDOW)
            p->credit += (uint64_t)n;
        break;
    }
    case PROTO_DATA:
        if (p->host_end || outq_push(&p->q, f->body, f->body_len, &err) < 0) {
            if (!err.code)
                err_set(&err, -PYRO_E_PROTOCOL, "data after end");
            fwd_finish(p, &err);
            return true;
        }
        if (p->connected && fwd_flush(p) < 0) {
            fwd_finish(p, NULL);
            return true;
        }
        break;
    case PROTO_END:
        if (json_is_true(json_object_get(f->hdr, "abort"))) {
            err_set(&err, -PYRO_E_CANCELLED, "connection closed by the host");
            fwd_finish(p, &err);
            return true;
        }
        p->host_end = true;
        if (p->connected && fwd_flush(p) < 0) {
            fwd_finish(p, NULL);
            return true;
        }
        break;
    case PROTO_HELLO:
    case PROTO_REQ:
    case PROTO_RESP:
    default: break;
    }
    fwd_events(p);
    return true;
}

void portfwd_free_all(struct agent *a)
{
    while (a->portfwds)
        fwd_free(a, a->portfwds);
}
