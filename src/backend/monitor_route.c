/* Forwarding: framed output to the agent and to clients, each through its
 * own bounded output queue (base/outq.h) with AE_WRITABLE armed while
 * bytes wait, and the routes between agent-side and client-side ids. */
#include <stdlib.h>

#include "backend/monitor_impl.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"

/* ---- output ----------------------------------------------------------- */

static void agent_writable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct monitor *m = data;
    /* A broken channel is noticed by the reader (it fires on hang-up too). */
    if (outq_flush(&m->agent_out, fd) < 0 || !outq_pending(&m->agent_out))
        ae_file_del(loop, fd, AE_WRITABLE);
}

static void client_writable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct client *c = data;
    if (outq_flush(&c->out, fd) < 0) {
        c->dead = true;
        ae_file_del(loop, fd, AE_WRITABLE);
    } else if (!outq_pending(&c->out)) {
        ae_file_del(loop, fd, AE_WRITABLE);
    }
}

/* Encodes and queues a frame; the fd gets what it takes now and the rest
 * when it is writable. */
static int send_frame(struct monitor *m, struct outq *q, int fd, ae_file_fn *writable, void *data, json_t *hdr,
                      const void *body, size_t len, pyro_error *err)
{
    _cleanup_free_ uint8_t *buf = NULL;
    size_t blen = 0;
    pyro_error eerr = {0};
    if (proto_frame_encode(hdr, body, len, &buf, &blen, &eerr) < 0) {
        log_debug("monitor: encode: %s", eerr.message);
        return 0;
    }
    int r = outq_push(q, buf, blen, err);
    if (r < 0)
        return r;
    /* Armed only while the fd is watched at all: a lost agent channel is
     * not brought back. */
    int mask = ae_file_mask(m->loop, fd);
    if (outq_flush(q, fd) == 0 && outq_pending(q) && mask && !(mask & AE_WRITABLE))
        (void)ae_file_add(m->loop, fd, AE_WRITABLE, writable, data, NULL);
    return 0;
}

int monitor_to_agent(struct monitor *m, json_t *hdr, const void *body, size_t len, pyro_error *err)
{
    int r = send_frame(m, &m->agent_out, m->agent_fd, agent_writable, m, hdr, body, len, err);
    if (r < 0)
        log_debug("monitor: to the agent: %s", err ? err->message : "output queue full");
    return r;
}

void monitor_to_client(struct monitor *m, struct client *c, json_t *hdr, const void *body, size_t len)
{
    if (c->dead)
        return;
    pyro_error err = {0};
    if (send_frame(m, &c->out, c->fd, client_writable, c, hdr, body, len, &err) < 0) {
        log_debug("monitor: client disconnected: %s", err.message);
        c->dead = true;
    }
}

void monitor_client_error(struct monitor *m, struct client *c, int64_t id, int code, const char *msg)
{
    json_auto_t *h = proto_header_new(PROTO_RESP, id);
    json_set(h, "ok", json_false());
    json_set(h, "error", proto_error_new(code, msg));
    monitor_to_client(m, c, h, NULL, 0);
}

/* ---- routes ----------------------------------------------------------- */

struct route *monitor_route_by_agent(struct monitor *m, int64_t id)
{
    for (struct route *r = m->routes; r; r = r->next)
        if (r->agent_id == id)
            return r;
    return NULL;
}

struct route *monitor_route_by_client(struct monitor *m, struct client *c, int64_t id)
{
    for (struct route *r = m->routes; r; r = r->next)
        if (r->client == c && r->client_id == id)
            return r;
    return NULL;
}

struct route *monitor_route_new(struct monitor *m, struct client *c, int64_t client_id)
{
    struct route *r = xcalloc(1, sizeof(*r));
    r->agent_id = m->next_id++;
    r->client = c;
    r->client_id = client_id;
    r->next = m->routes;
    m->routes = r;
    return r;
}

void monitor_route_drop(struct monitor *m, struct route *dead)
{
    for (struct route **p = &m->routes; *p; p = &(*p)->next)
        if (*p == dead) {
            *p = dead->next;
            free(dead);
            return;
        }
}
