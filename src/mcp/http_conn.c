/* Connection accounting of the HTTP transport (docs/mcp.md "HTTP transport
 * security"): libmicrohttpd's idle timeout alone lets a client that sends
 * one header byte every few seconds hold a connection for ever, so every
 * connection also has a deadline for its request headers and one for its
 * body; and connections that have not yet presented the token are capped
 * (in total and per client address) by closing the oldest of them, so
 * half-open connections cannot crowd out the clients that hold the token.
 * A connection younger than HTTP_UNAUTH_GRACE_MS is never closed for the
 * caps: a client with the token, which sends its headers with its
 * connection, is always read (and counted as authenticated) first; under a
 * flood of new connections the total connection limit holds newcomers in
 * the listen backlog instead. Both rules are applied by http_conns_sweep(),
 * which the transport runs before every wait of its loop.
 *
 * A connection is closed by shutdown(2) of its socket: libmicrohttpd then
 * sees the end of the stream, closes it and reports it closed
 * (http_conn_close); the fd stays valid until then. */
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "base/cleanup.h"
#include "mcp/http.h"

void http_conns_init(struct http_conns *cs)
{
    memset(cs, 0, sizeof(*cs));
    cs->max_unauth = HTTP_MAX_UNAUTH;
    cs->max_unauth_per_addr = HTTP_MAX_UNAUTH_PER_ADDRESS;
    cs->header_ms = HTTP_HEADER_TIMEOUT_MS;
    cs->body_ms = HTTP_BODY_TIMEOUT_MS;
    cs->grace_ms = HTTP_UNAUTH_GRACE_MS;
}

static void addr_key(const struct sockaddr *sa, uint8_t key[17])
{
    memset(key, 0, 17);
    if (!sa)
        return;
    key[0] = (uint8_t)sa->sa_family;
    /* Copied out by offset: sa may be less aligned than sockaddr_in6. */
    const char *raw = (const char *)sa;
    if (sa->sa_family == AF_INET)
        memcpy(key + 1, raw + offsetof(struct sockaddr_in, sin_addr), 4);
    else if (sa->sa_family == AF_INET6)
        memcpy(key + 1, raw + offsetof(struct sockaddr_in6, sin6_addr), 16);
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

struct http_conn *http_conn_open(struct http_conns *cs, int fd, const struct sockaddr *sa, int64_t now)
{
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    addr_key(sa, c->addr);
    c->phase = CONN_HEADERS;
    c->since_ms = c->opened_ms = now;
    c->prev = cs->tail;
    if (cs->tail)
        cs->tail->next = c;
    else
        cs->head = c;
    cs->tail = c;
    cs->count++;
    cs->unauth++;
    return c;
}

void http_conn_close(struct http_conns *cs, struct http_conn *c)
{
    if (!c)
        return;
    if (counts_unauth(c))
        cs->unauth--;
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

/* Unauthenticated connections per address, in a small open-addressing
 * table (the connection list is in accept order, so walking it and
 * closing while an address is over its cap closes its oldest first). */
#define ADDR_SLOTS 4096 /* a power of two above HTTP_MAX_CONNECTIONS */

struct addr_count {
    uint8_t addr[17];
    int n;
    bool used;
};

static struct addr_count *addr_slot(struct addr_count *tab, const uint8_t *addr)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 17; i++)
        h = (h ^ addr[i]) * 16777619u;
    for (uint32_t i = h & (ADDR_SLOTS - 1);; i = (i + 1) & (ADDR_SLOTS - 1)) {
        if (!tab[i].used) {
            tab[i].used = true;
            memcpy(tab[i].addr, addr, 17);
            return &tab[i];
        }
        if (!memcmp(tab[i].addr, addr, 17))
            return &tab[i];
    }
}

static bool old_enough(const struct http_conns *cs, const struct http_conn *c, int64_t now)
{
    return now - c->opened_ms >= cs->grace_ms;
}

/* Closes the oldest unauthenticated connections past the grace period
 * while a cap is exceeded; returns whether one still is (by connections
 * in their grace period). */
static bool enforce_caps(struct http_conns *cs, int64_t now)
{
    bool over = false;
    if (cs->unauth > cs->max_unauth_per_addr) {
        _cleanup_free_ struct addr_count *tab = xcalloc(ADDR_SLOTS, sizeof(*tab));
        for (struct http_conn *c = cs->head; c; c = c->next)
            if (counts_unauth(c))
                addr_slot(tab, c->addr)->n++;
        for (struct http_conn *c = cs->head; c; c = c->next) {
            if (!counts_unauth(c))
                continue;
            struct addr_count *a = addr_slot(tab, c->addr);
            if (a->n <= cs->max_unauth_per_addr)
                continue;
            if (!old_enough(cs, c, now)) {
                over = true;
                continue;
            }
            evict(cs, c);
            a->n--;
            cs->evictions++;
        }
    }
    for (struct http_conn *c = cs->head; c && cs->unauth > cs->max_unauth; c = c->next) {
        if (!counts_unauth(c))
            continue;
        if (!old_enough(cs, c, now)) {
            over = true; /* the rest are younger still */
            break;
        }
        evict(cs, c);
        cs->evictions++;
    }
    return over;
}

int http_conns_sweep(struct http_conns *cs, int64_t now)
{
    int64_t next = enforce_caps(cs, now) ? 50 : -1; /* look again soon */
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
