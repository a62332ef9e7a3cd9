/* The agent channel: the blocking handshake at start, then the frames the
 * agent sends, routed back to the clients that asked. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "backend/monitor_impl.h"
#include "base/json.h"
#include "base/log.h"
#include "base/timeutil.h"

int monitor_agent_handshake(struct monitor *m, pyro_error *err)
{
    json_auto_t *h = proto_header_new(PROTO_HELLO, 0);
    json_set(h, "version", json_integer(PROTO_VERSION));
    json_set(h, "client", json_string("pyro-monitor " PYRO_VERSION));
    /* The instance's identity (agent/identity.c): a VM restored from a
     * memory template shares its template's hostname, clock and random
     * state until the agent takes these. */
    uint8_t seed[PROTO_HELLO_ENTROPY];
    if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        return err_errno(err, errno, "getrandom");
    char hex[2 * PROTO_HELLO_ENTROPY + 1];
    for (size_t i = 0; i < sizeof(seed); i++)
        snprintf(hex + 2 * i, 3, "%02x", seed[i]);
    explicit_bzero(seed, sizeof(seed));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    json_set(h, "hostname", json_string(m->cfg->id));
    json_set(h, "time_ns", json_integer((json_int_t)now.tv_sec * 1000000000 + now.tv_nsec));
    json_set(h, "entropy", json_string(hex));
    /* A writable layer that outlives the instance (a workspace's): a VM's
     * agent syncs after each request that changed files (agent/send.c). */
    json_set(h, "durable", json_boolean(m->cfg->upper_dir != NULL));
    explicit_bzero(hex, sizeof(hex));
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
        /* The console pipe too: init must never block on a full pipe
         * before the loop runs (a negative fd is skipped by poll). */
        struct pollfd p[3] = {{.fd = m->agent_fd, .events = POLLIN},
                              {.fd = m->inst.pidfd, .events = POLLIN},
                              {.fd = m->console_rd, .events = POLLIN}};
        int pr = poll(p, 3, left);
        if (pr < 0 && errno != EINTR)
            return err_errno(err, errno, "poll");
        if (p[2].revents)
            monitor_console_drain(m);
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

static void on_agent_frame(struct monitor *m, struct proto_frame *f)
{
    if (f->type == PROTO_HELLO)
        return; /* only the first one matters (handshake) */
    struct route *r = monitor_route_by_agent(m, f->id);
    if (!r)
        return;
    if (r->fwd) {
        monitor_ports_agent_frame(m, r, f);
    } else if (r->is_ports_poll) {
        if (f->type == PROTO_RESP)
            monitor_ports_poll_answer(m, f);
    } else if (r->client) {
        json_set(f->hdr, "id", json_integer(r->client_id));
        monitor_to_client(m, r->client, f->hdr, f->body, f->body_len);
    }
    if (f->type == PROTO_RESP)
        monitor_route_drop(m, r);
}

void monitor_agent_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct monitor *m = data;
    ssize_t n = proto_reader_fill(&m->agent_rd, fd);
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
        ae_file_del(loop, fd, AE_READABLE | AE_WRITABLE);
        if (!m->stopping)
            m->reason = "agent_lost";
        m->stopping = true;
        monitor_kill_instance(m);
    }
}
