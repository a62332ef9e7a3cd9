/* Connection accounting of the HTTP transport (docs/mcp.md "HTTP transport
 * security"): libmicrohttpd's idle timeout alone lets a client that sends
 * one header byte every few seconds hold a connection for ever, so every
 * connection also has a deadline for its request headers and one for its
 * body; and connections that have not yet presented the token are capped
 * (in total and per client address) by closing the oldest of them, so
 * half-open connections cannot crowd out the clients that hold the token.
 * Both are enforced by http_conns_sweep(), which the transport runs before
 * every wait of its loop.
 *
 * A connection is closed by shutdown(2) of its socket: libmicrohttpd then
 * sees the end of the stream, closes it and reports it closed
 * (http_conn_close); the fd stays valid until then. */
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "base/cleanup.h"
#include "mcp/http.h"

void http_conns_init(struct http_conns *cs)
{
    memset(cs, 0, sizeof(*cs));
    cs->max_unauth = HTTP_MAX_UNAUTH;
    cs->max_unauth_per_addr = HTTP_MAX_UNAUTH_PER_ADDRESS;
    cs->header_ms = HTTP_HEADER_TIMEOUT_MS;
    cs->body_ms = HTTP_BODY_TIMEOUT_MS;
}

static void addr_key(const struct sockaddr *sa, uint8_t key[17])
{
    memset(key, 0, 17);
    if (!sa)
        return;
    key[0] = (uint8_t)sa->sa_family;
    if (sa->sa_family == AF_INET)
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    else if (sa->sa_family == AF_INET6)
        memcpy(key + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

static bool counts_unauth(const struct http_conn *c)
{
    return !c->authenticated && !c->evicted;
}

static void evict(struct http_conns *cs, struct http_conn *c)
{
    if (counts_unauth(c))
        cs->unauth--;
    c->evicted = true;
    (void)shutdown(c->fd, SHUT_RDWR);
}

/* The oldest unauthenticated connection (of addr, when given). */
static struct http_conn *oldest_unauth(struct http_conns *cs, const uint8_t *addr)
{
    for (struct http_conn *c = cs->head; c; c = c->next)
        if (counts_unauth(c) && (!addr || !memcmp(c->addr, addr, sizeof(c->addr))))
            return c;
    return NULL;
}

static int unauth_of(struct http_conns *cs, const uint8_t *addr)
{
    int n = 0;
    for (struct http_conn *c = cs->head; c; c = c->next)
        n += counts_unauth(c) && !memcmp(c->addr, addr, sizeof(c->addr));
    return n;
}

struct http_conn *http_conn_open(struct http_conns *cs, int fd, const struct sockaddr *sa, int64_t now)
{
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    addr_key(sa, c->addr);
    c->phase = CONN_HEADERS;
    c->since_ms = now;
    c->fresh = true;
    c->prev = cs->tail;
    if (cs->tail)
        cs->tail->next = c;
    else
        cs->head = c;
    cs->tail = c;
    cs->count++;
    cs->unauth++;
    cs->fresh++;
    return c;
}

/* Over a cap, the oldest unauthenticated connections go (of an address for
 * the per-address cap). This runs after libmicrohttpd had its turn at the
 * new connections, so one whose headers came with it (a client with the
 * token sends them at once) has been read and is no longer counted: only
 * half-open connections are closed. */
static void enforce_caps(struct http_conns *cs)
{
    for (struct http_conn *c = cs->tail; c && cs->fresh; c = c->prev) {
        if (!c->fresh)
            continue;
        c->fresh = false;
        cs->fresh--;
        if (!counts_unauth(c))
            continue;
        for (int n = unauth_of(cs, c->addr); n > cs->max_unauth_per_addr; n--) {
            evict(cs, oldest_unauth(cs, c->addr));
            cs->evictions++;
        }
    }
    while (cs->unauth > cs->max_unauth) {
        evict(cs, oldest_unauth(cs, NULL));
        cs->evictions++;
    }
}

void http_conn_close(struct http_conns *cs, struct http_conn *c)
{
    if (!c)
        return;
    if (counts_unauth(c))
        cs->unauth--;
    if (c->fresh)
        cs->fresh--;
    if (c->prev)
        c->prev->next = c->next;
    else
        cs->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        cs->tail = c->prev;
    cs->count--;
    free(c);
}

void http_conn_phase(struct http_conn *c, enum http_conn_phase phase, int64_t now)
{
    if (!c)
        return;
    c->phase = phase;
    c->since_ms = now;
}

void http_conn_authenticated(struct http_conns *cs, struct http_conn *c)
{
    if (!c || c->authenticated)
        return;
    if (counts_unauth(c))
        cs->unauth--;
    c->authenticated = true;
}

int http_conns_sweep(struct http_conns *cs, int64_t now)
{
    enforce_caps(cs);
    int64_t next = -1;
    for (struct http_conn *c = cs->head; c; c = c->next) {
        if (c->evicted || c->phase == CONN_BUSY)
            continue;
        int64_t deadline = c->since_ms + (c->phase == CONN_HEADERS ? cs->header_ms : cs->body_ms);
        if (deadline <= now) {
            evict(cs, c);
            cs->timeouts++;
        } else if (next < 0 || deadline - now < next) {
            next = deadline - now;
        }
    }
    return next < 0 ? -1 : next > 60000 ? 60000 : (int)next;
}
