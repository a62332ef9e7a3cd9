/* HTTP sessions: Mcp-Session-Id (128 random bits, hex) from the initialize
 * response, at most HTTP_MAX_SESSIONS (the least recently used one without
 * calls in flight makes room), each with at most one GET stream for
 * notifications unrelated to a request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mcp/http.h"

struct mcp_session *http_session_find(struct http_transport *t, const char *id)
{
    for (struct mcp_session *s = t->srv->sessions; s && id; s = s->next)
        if (!s->stateless && !strcmp(s->id, id))
            return s;
    return NULL;
}

void http_stream_add(struct http_transport *t, struct http_req *r)
{
    r->is_get = true;
    r->refs++;
    r->next_stream = t->streams;
    t->streams = r;
}

void http_stream_unlink(struct http_transport *t, struct http_req *r)
{
    for (struct http_req **p = &t->streams; *p; p = &(*p)->next_stream)
        if (*p == r) {
            *p = r->next_stream;
            r->next_stream = NULL;
            http_req_unref(r);
            return;
        }
}

void http_session_end(struct http_transport *t, struct mcp_session *s)
{
    for (struct http_req *r = t->streams; r;) {
        struct http_req *next = r->next_stream;
        if (r->session == s) {
            r->session = NULL;
            r->finished = true;
            http_req_resume(r);
            http_stream_unlink(t, r);
        }
        r = next;
    }
    if (s == t->modern)
        t->modern = NULL;
    else
        t->sessions--;
    mcp_session_free(s);
}

struct mcp_session *http_session_modern(struct http_transport *t)
{
    if (!t->modern) {
        t->modern = mcp_session_new(t->srv);
        t->modern->stateless = true; /* no id: no Mcp-Session-Id; never evicted */
    }
    return t->modern;
}

struct mcp_session *http_session_create(struct http_transport *t)
{
    if (t->sessions >= HTTP_MAX_SESSIONS) {
        /* Evict the least recently used session without calls in flight. */
        struct mcp_session *lru = NULL;
        for (struct mcp_session *s = t->srv->sessions; s; s = s->next)
            if (!s->calls && !s->stateless && (!lru || s->last_used_ms < lru->last_used_ms))
                lru = s;
        if (!lru)
            return NULL;
        http_session_end(t, lru);
    }
    struct mcp_session *s = mcp_session_new(t->srv);
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        abort();
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
    t->sessions++;
    return s;
}

void http_session_notify(struct mcp_session *s, json_t *msg)
{
    struct http_transport *t = s->srv->session_notify_data;
    for (struct http_req *r = t->streams; r; r = r->next_stream)
        if (r->session == s && !r->closed) {
            http_sse_append(r, msg);
            http_req_resume(r);
            return;
        }
}

void http_streams_keepalive(struct http_transport *t)
{
    /* A comment on idle GET streams finds clients that went away (a
     * suspended connection does not notice on its own). */
    for (struct http_req *r = t->streams; r; r = r->next_stream) {
        http_sse_append(r, NULL);
        http_req_resume(r);
    }
}
