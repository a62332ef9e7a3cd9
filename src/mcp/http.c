/* Streamable HTTP transport on libmicrohttpd, driven by the server's own
 * epoll loop (MHD's epoll fd is one of its fds; MHD_run() runs before
 * every wait, with MHD_get_timeout() as the wait's timeout, since MHD's
 * own epoll set is edge-triggered).
 *
 * One endpoint, /mcp:
 *   POST    one JSON-RPC message or (2025-03-26) a batch. Answered with
 *           application/json when the answer is ready before any
 *           notification, else with an SSE stream carrying the related
 *           notifications (progress, logs) and then the response. A
 *           request that waits for a worker suspends its connection.
 *   GET     an SSE stream for notifications unrelated to a request.
 *   DELETE  ends the session (its calls are cancelled).
 * Sessions: Mcp-Session-Id (128 random bits) from the initialize
 * response; missing → 400, unknown → 404. MCP-Protocol-Version must be a
 * revision we speak (400). Host and Origin must name this server (403,
 * against DNS rebinding); with a token, Authorization: Bearer is required
 * (401). */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "mcp/mcp.h"
#include "base/timeutil.h"

#define HTTP_MAX_SESSIONS 64
#define HTTP_KEEPALIVE_MS 15000

enum req_state { REQ_READING, REQ_WAITING, REQ_SSE, REQ_DONE };

/* One HTTP request (POST or GET stream). Referenced by its connection
 * (until MHD's completed callback), its exchange (POST) and its SSE
 * response (until the response is freed). */
struct http_req {
    int refs;
    struct http_transport *t;
    struct MHD_Connection *conn;
    enum req_state state;
    bool closed;             /* the connection is gone */
    bool suspended;
    bool accept_sse;
    bool is_get;
    char *body;
    size_t body_len;
    bool too_large;
    struct mcp_session *session;
    bool new_session;        /* the session was created by this request */
    json_t *queued;          /* REQ_WAITING: messages not yet sent */
    json_t *final;           /* the final message, once known */
    bool have_final;
    char *out;               /* REQ_SSE: bytes not yet sent */
    size_t out_len, out_off;
    bool finished;           /* REQ_SSE: no more events */
    struct http_req *next_stream; /* GET streams of the transport */
};

struct http_transport {
    struct mcp_server *srv;
    struct MHD_Daemon *d;
    const struct mcp_http_config *cfg;
    char bind_host[64];      /* the address bound, as it appears in Host */
    bool loopback;
    int sessions;
    struct http_req *streams; /* open GET streams */
    int64_t last_keepalive;
};

static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", NULL};

static void req_unref(struct http_req *r)
{
    if (!r || --r->refs > 0)
        return;
    free(r->body);
    json_decref(r->queued);
    json_decref(r->final);
    free(r->out);
    free(r);
}

static void req_resume(struct http_req *r)
{
    if (r->suspended && !r->closed) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
    }
}

static void sse_append(struct http_req *r, const json_t *msg)
{
    _cleanup_free_ char *text = json_dump(msg, JSON_COMPACT);
    _cleanup_free_ char *ev = xasprintf("event: message\ndata: %s\n\n", text);
    size_t n = strlen(ev);
    if (r->out_off && r->out_off == r->out_len)
        r->out_len = r->out_off = 0;
    r->out = xrealloc(r->out, r->out_len + n);
    memcpy(r->out + r->out_len, ev, n);
    r->out_len += n;
}

/* ---- exchanges ------------------------------------------------------- */

static void http_emit(struct mcp_exchange *x, json_t *msg, bool final)
{
    struct http_req *r = x->transport;
    if (!r || r->closed)
        return; /* disconnection is not cancellation: the result is dropped */
    switch (r->state) {
    case REQ_READING:
    case REQ_WAITING:
        if (final) {
            r->have_final = true;
            r->final = msg ? json_incref(msg) : NULL;
        } else if (r->accept_sse) {
            json_array_append(r->queued, msg);
        }
        if (r->state == REQ_WAITING && (final || r->accept_sse))
            req_resume(r);
        break;
    case REQ_SSE:
        if (msg)
            sse_append(r, msg);
        if (final)
            r->finished = true;
        req_resume(r);
        break;
    case REQ_DONE:
    default:
        break;
    }
}

static void http_release(struct mcp_exchange *x)
{
    req_unref(x->transport);
    free(x);
}

static const struct mcp_exchange_ops http_ops = {.emit = http_emit, .release = http_release};

/* ---- responses ------------------------------------------------------- */

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *ctype, const char *body,
                                  const char *session_id)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (session_id && session_id[0])
        MHD_add_response_header(resp, "Mcp-Session-Id", session_id);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, POST, DELETE");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"pyro\"");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A transport-level refusal: HTTP status plus a JSON-RPC error body. */
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, int code, const char *message)
{
    json_auto_t *e = mcp_error_response(NULL, code, message, NULL);
    _cleanup_free_ char *text = json_dump(e, JSON_COMPACT);
    return reply_text(c, status, "application/json", text, NULL);
}

static enum MHD_Result reply_json(struct http_req *r, const json_t *msg)
{
    r->state = REQ_DONE;
    const char *sid = r->session ? r->session->id : NULL;
    if (!msg)
        return reply_text(r->conn, MHD_HTTP_ACCEPTED, NULL, "", sid);
    _cleanup_free_ char *text = json_dump(msg, JSON_COMPACT);
    /* A lone parse/invalid-request error is a bad request. */
    const json_t *err = json_object_get(msg, "error");
    unsigned status = err && json_is_null(json_object_get(msg, "id")) ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_OK;
    return reply_text(r->conn, status, "application/json", text, sid);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_req *r = cls;
    if (r->out_off < r->out_len) {
        size_t n = r->out_len - r->out_off;
        if (n > max)
            n = max;
        memcpy(buf, r->out + r->out_off, n);
        r->out_off += n;
        return (ssize_t)n;
    }
    if (r->finished || r->closed)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* Nothing to send yet: park the connection until an event arrives. */
    r->suspended = true;
    MHD_suspend_connection(r->conn);
    return 0;
}

static void sse_free(void *cls)
{
    req_unref(cls);
}

static enum MHD_Result start_sse(struct http_req *r)
{
    r->state = REQ_SSE;
    size_t i;
    json_t *m;
    json_array_foreach(r->queued, i, m) sse_append(r, m);
    json_array_clear(r->queued);
    if (r->have_final) {
        if (r->final)
            sse_append(r, r->final);
        r->finished = true;
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, r, sse_free);
    if (!resp)
        return MHD_NO;
    r->refs++;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (r->session && r->session->id[0])
        MHD_add_response_header(resp, "Mcp-Session-Id", r->session->id);
    enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* After the exchange ran (or a resume): answer, stream or wait. */
static enum MHD_Result post_progress(struct http_req *r)
{
    if (r->have_final && !json_array_size(r->queued))
        return reply_json(r, r->final);
    if (r->accept_sse && (json_array_size(r->queued) || r->have_final))
        return start_sse(r);
    if (r->have_final)
        return reply_json(r, r->final);
    r->state = REQ_WAITING;
    r->suspended = true;
    MHD_suspend_connection(r->conn);
    return MHD_YES;
}

/* ---- checks ---------------------------------------------------------- */

/* host[:port] (or [v6]:port) → the host part, lower-cased, in out. */
static bool host_part(const char *s, char *out, size_t n)
{
    size_t len;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e)
            return false;
        len = (size_t)(e - s) + 1;
        if (e[1] && (e[1] != ':' || !e[2]))
            return false;
    } else {
        const char *colon = strchr(s, ':');
        len = colon ? (size_t)(colon - s) : strlen(s);
    }
    if (len == 0 || len >= n)
        return false;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    out[len] = '\0';
    return true;
}

static bool host_allowed(const struct http_transport *t, const char *hostport)
{
    char h[300];
    if (!hostport || !host_part(hostport, h, sizeof(h)))
        return false;
    if (!strcmp(h, "localhost") || !strcmp(h, "127.0.0.1") || !strcmp(h, "[::1]"))
        return true;
    return !t->loopback && !strcmp(h, t->bind_host);
}

static bool origin_allowed(const struct http_transport *t, const char *origin)
{
    const char *p = NULL;
    if (!strncasecmp(origin, "http://", 7))
        p = origin + 7;
    else if (!strncasecmp(origin, "https://", 8))
        p = origin + 8;
    if (!p || strchr(p, '/'))
        return false;
    return host_allowed(t, p);
}

static bool token_ok(const struct http_transport *t, const char *auth)
{
    if (!t->cfg->token)
        return true;
    if (!auth || strncasecmp(auth, "Bearer ", 7))
        return false;
    const char *given = auth + 7, *want = t->cfg->token;
    size_t gl = strlen(given), wl = strlen(want);
    unsigned char diff = gl != wl;
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)(given[i < gl ? i : 0] ^ want[i]);
    return diff == 0;
}

static bool version_ok(const char *v)
{
    for (int i = 0; versions[i]; i++)
        if (!strcmp(versions[i], v))
            return true;
    return false;
}

static struct mcp_session *session_find(struct http_transport *t, const char *id)
{
    for (struct mcp_session *s = t->srv->sessions; s && id; s = s->next)
        if (!strcmp(s->id, id))
            return s;
    return NULL;
}

static void stream_unlink(struct http_transport *t, struct http_req *r)
{
    for (struct http_req **p = &t->streams; *p; p = &(*p)->next_stream)
        if (*p == r) {
            *p = r->next_stream;
            r->next_stream = NULL;
            req_unref(r);
            return;
        }
}

static void session_end(struct http_transport *t, struct mcp_session *s)
{
    for (struct http_req *r = t->streams; r;) {
        struct http_req *next = r->next_stream;
        if (r->session == s) {
            r->session = NULL;
            r->finished = true;
            req_resume(r);
            stream_unlink(t, r);
        }
        r = next;
    }
    mcp_session_free(s);
    t->sessions--;
}

static struct mcp_session *session_create(struct http_transport *t)
{
    if (t->sessions >= HTTP_MAX_SESSIONS) {
        /* Evict the least recently used session without calls in flight. */
        struct mcp_session *lru = NULL;
        for (struct mcp_session *s = t->srv->sessions; s; s = s->next)
            if (!s->calls && (!lru || s->last_used_ms < lru->last_used_ms))
                lru = s;
        if (!lru)
            return NULL;
        session_end(t, lru);
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

/* Notifications unrelated to a request go to the session's GET stream. */
static void http_session_notify(struct mcp_session *s, json_t *msg)
{
    struct http_transport *t = s->srv->session_notify_data;
    for (struct http_req *r = t->streams; r; r = r->next_stream)
        if (r->session == s && !r->closed) {
            sse_append(r, msg);
            req_resume(r);
            return;
        }
}

/* ---- the access handler ----------------------------------------------- */

static bool is_initialize(const char *body, size_t len)
{
    json_auto_t *v = json_loadb(body, len, 0, NULL);
    return json_is_object(v) && !strcmp(json_get_str(v, "method", ""), "initialize");
}

static enum MHD_Result handle_post(struct http_transport *t, struct http_req *r)
{
    struct MHD_Connection *c = r->conn;
    if (r->too_large)
        return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, -32700, "message larger than the 16 MiB limit");
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0)
        return reply_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, -32600, "Content-Type must be application/json");
    const char *sid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Mcp-Session-Id");
    if (is_initialize(r->body ? r->body : "", r->body_len)) {
        r->session = session_create(t);
        if (!r->session)
            return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, -32603,
                               "too many sessions with calls in flight; retry later");
        r->new_session = true;
    } else {
        if (!sid)
            return reply_error(c, MHD_HTTP_BAD_REQUEST, -32600,
                               "Bad Request: Mcp-Session-Id header is required (initialize first)");
        r->session = session_find(t, sid);
        if (!r->session)
            return reply_error(c, MHD_HTTP_NOT_FOUND, -32001, "Session not found");
    }
    struct mcp_exchange *x = xcalloc(1, sizeof(*x));
    x->ops = &http_ops;
    x->transport = r;
    x->session = r->session;
    x->refs = 1;
    r->refs++;
    r->queued = json_array();
    mcp_server_handle(t->srv, x, r->body ? r->body : "", r->body_len);
    mcp_exchange_unref(x);
    if (r->new_session && !r->session->initialized) {
        /* initialize failed: no session comes of it */
        session_end(t, r->session);
        r->session = NULL;
    }
    return post_progress(r);
}

static enum MHD_Result handle_get(struct http_transport *t, struct http_req *r)
{
    if (!r->accept_sse)
        return reply_error(r->conn, MHD_HTTP_NOT_ACCEPTABLE, -32600, "GET needs Accept: text/event-stream");
    const char *sid = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Mcp-Session-Id");
    if (!sid)
        return reply_error(r->conn, MHD_HTTP_BAD_REQUEST, -32600, "Bad Request: Mcp-Session-Id header is required");
    r->session = session_find(t, sid);
    if (!r->session)
        return reply_error(r->conn, MHD_HTTP_NOT_FOUND, -32001, "Session not found");
    for (struct http_req *o = t->streams; o; o = o->next_stream)
        if (o->session == r->session && !o->closed)
            return reply_error(r->conn, MHD_HTTP_CONFLICT, -32600,
                               "Conflict: this session already has a GET stream");
    r->is_get = true;
    r->refs++;
    r->next_stream = t->streams;
    t->streams = r;
    r->queued = json_array();
    return start_sse(r);
}

static enum MHD_Result handle_delete(struct http_transport *t, struct http_req *r)
{
    const char *sid = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Mcp-Session-Id");
    if (!sid)
        return reply_error(r->conn, MHD_HTTP_BAD_REQUEST, -32600, "Bad Request: Mcp-Session-Id header is required");
    struct mcp_session *s = session_find(t, sid);
    if (!s)
        return reply_error(r->conn, MHD_HTTP_NOT_FOUND, -32001, "Session not found");
    session_end(t, s);
    return reply_text(r->conn, MHD_HTTP_OK, NULL, "", NULL);
}

/* Checks every request before its body is read: true when it was
 * refused (*ret holds MHD's answer to the queued error). */
static bool refuse_request(struct http_transport *t, struct MHD_Connection *c, const char *url, const char *method,
                           enum MHD_Result *ret)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!host_allowed(t, host)) {
        *ret = reply_error(c, MHD_HTTP_FORBIDDEN, -32600, "Forbidden: Host header not allowed");
        return true;
    }
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
    if (origin && !origin_allowed(t, origin)) {
        *ret = reply_error(c, MHD_HTTP_FORBIDDEN, -32600, "Forbidden: Origin not allowed");
        return true;
    }
    if (!token_ok(t, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION))) {
        *ret = reply_error(c, MHD_HTTP_UNAUTHORIZED, -32600, "Unauthorized: a valid bearer token is required");
        return true;
    }
    if (strcmp(url, MCP_ENDPOINT) != 0) {
        *ret = reply_error(c, MHD_HTTP_NOT_FOUND, -32600, "Not Found: the MCP endpoint is " MCP_ENDPOINT);
        return true;
    }
    if (strcmp(method, "POST") && strcmp(method, "GET") && strcmp(method, "DELETE")) {
        *ret = reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, -32600, "Method Not Allowed");
        return true;
    }
    const char *pv = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "MCP-Protocol-Version");
    if (pv && !version_ok(pv)) {
        *ret = reply_error(c, MHD_HTTP_BAD_REQUEST, -32600,
                           "Bad Request: unsupported MCP-Protocol-Version (supported: 2025-11-25, 2025-06-18, "
                                     "2025-03-26)");
        return true;
    }
    return false;
}

static bool accepts(const char *accept, const char *type)
{
    return accept && (strcasestr(accept, type) || strstr(accept, "*/*"));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct http_transport *t = cls;
    struct http_req *r = *con_cls;
    if (!r) {
        r = xcalloc(1, sizeof(*r));
        r->refs = 1; /* the connection's, dropped in on_completed */
        r->t = t;
        r->conn = c;
        *con_cls = r;
        const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
        r->accept_sse = accepts(accept, "text/event-stream");
        enum MHD_Result ret;
        if (refuse_request(t, c, url, method, &ret)) {
            r->state = REQ_DONE;
            return ret;
        }
        if (!strcmp(method, "POST") && accept && !accepts(accept, "application/json") && !r->accept_sse) {
            r->state = REQ_DONE;
            return reply_error(c, MHD_HTTP_NOT_ACCEPTABLE, -32600,
                               "Not Acceptable: Accept must allow application/json and text/event-stream");
        }
        if (!strcmp(method, "GET")) {
            r->state = REQ_DONE;
            return handle_get(t, r);
        }
        if (!strcmp(method, "DELETE")) {
            r->state = REQ_DONE;
            return handle_delete(t, r);
        }
        return MHD_YES; /* POST: the body comes next */
    }
    if (r->state == REQ_DONE)
        return MHD_YES; /* answered already; MHD discards the rest */
    if (r->state == REQ_READING && *upload_size) {
        if (r->body_len + *upload_size > MCP_MESSAGE_MAX) {
            r->too_large = true;
        } else {
            r->body = xrealloc(r->body, r->body_len + *upload_size + 1);
            memcpy(r->body + r->body_len, upload, *upload_size);
            r->body_len += *upload_size;
            r->body[r->body_len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->state == REQ_READING)
        return handle_post(t, r);
    if (r->state == REQ_WAITING)
        return post_progress(r); /* resumed: an event or the answer came */
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct http_transport *t = cls;
    struct http_req *r = *con_cls;
    if (!r)
        return;
    r->closed = true;
    r->suspended = false;
    if (r->is_get)
        stream_unlink(t, r);
    *con_cls = NULL;
    req_unref(r);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_debug("mcp http: %s", buf);
}

/* ---- loop integration --------------------------------------------------- */

static void on_mhd_ready(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct http_transport *t = data;
    MHD_run(t->d);
}

static int http_prepare(struct ae_loop *loop, void *data)
{
    struct http_transport *t = data;
    mcp_server_reap(t->srv, false);
    int64_t now = time_mono_ms();
    if (now - t->last_keepalive >= HTTP_KEEPALIVE_MS) {
        /* A comment on idle GET streams finds clients that went away
         * (a suspended connection does not notice on its own). */
        t->last_keepalive = now;
        for (struct http_req *r = t->streams; r; r = r->next_stream) {
            static const char ka[] = ": keepalive\n\n";
            r->out = xrealloc(r->out, r->out_len + sizeof(ka) - 1);
            memcpy(r->out + r->out_len, ka, sizeof(ka) - 1);
            r->out_len += sizeof(ka) - 1;
            req_resume(r);
        }
    }
    MHD_run(t->d);
    MHD_UNSIGNED_LONG_LONG ms;
    long long wait = HTTP_KEEPALIVE_MS;
    if (MHD_get_timeout(t->d, &ms) == MHD_YES && (long long)ms < wait)
        wait = (long long)ms;
    return (int)wait;
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, char *host, size_t hn, bool *v6,
                        pyro_error *err)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || !colon[1])
        return err_set(err, -PYRO_E_INVALID, "--listen expects ADDR:PORT, got '%s'", listen);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return err_set(err, -PYRO_E_INVALID, "--listen: bad port in '%s'", listen);
    size_t al = (size_t)(colon - listen);
    char addr[64];
    if (al >= sizeof(addr))
        return err_set(err, -PYRO_E_INVALID, "--listen: address too long in '%s'", listen);
    memcpy(addr, listen, al);
    addr[al] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (addr[0] == '[' && al > 2 && addr[al - 1] == ']') {
        addr[al - 1] = '\0';
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, addr + 1, &s6->sin6_addr) != 1)
            return err_set(err, -PYRO_E_INVALID, "--listen: '%s' is not an IPv6 address", addr + 1);
        *v6 = true;
        snprintf(host, hn, "[%s]", addr + 1);
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (!strcmp(addr, "localhost"))
        snprintf(addr, sizeof(addr), "127.0.0.1");
    if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
        return err_set(err, -PYRO_E_INVALID, "--listen: '%s' is not an IPv4 address (or [IPv6])", addr);
    *v6 = false;
    snprintf(host, hn, "%s", addr);
    return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

int mcp_http_serve(struct mcp_server *srv, const struct mcp_http_config *cfg, pyro_error *err)
{
    struct http_transport t = {.srv = srv, .cfg = cfg, .last_keepalive = time_mono_ms()};
    struct sockaddr_storage ss;
    bool v6 = false;
    int r = parse_listen(cfg->listen, &ss, t.bind_host, sizeof(t.bind_host), &v6, err);
    if (r < 0)
        return r;
    t.loopback = is_loopback(&ss);
    if (!t.loopback && !cfg->token)
        return err_set(err, -PYRO_E_INVALID,
                            "--listen %s is not a loopback address: --auth-token-file is required to bind it",
                            cfg->listen);
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    t.d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &t, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                           MHD_OPTION_NOTIFY_COMPLETED, on_completed, &t, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
                           NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT,
                           (unsigned)0, MHD_OPTION_END);
    if (!t.d)
        return err_set(err, -EADDRINUSE, "cannot listen on %s (address in use or not available)", cfg->listen);
    const union MHD_DaemonInfo *ei = MHD_get_daemon_info(t.d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(t.d, MHD_DAEMON_INFO_BIND_PORT);
    srv->session_notify = http_session_notify;
    srv->session_notify_data = &t;
    r = ae_file_add(srv->loop, ei->epoll_fd, AE_READABLE, on_mhd_ready, &t, err);
    if (r == 0) {
        char url[128];
        snprintf(url, sizeof(url), "http://%s:%u%s", t.bind_host, (unsigned)pi->port, MCP_ENDPOINT);
        if (cfg->on_listen)
            cfg->on_listen(cfg->on_listen_data, url);
        ae_set_before_sleep(srv->loop, http_prepare, &t);
        r = ae_run(srv->loop, err);
        ae_file_del(srv->loop, ei->epoll_fd, AE_READABLE);
    }
    /* End every session (cancelling calls) while MHD still knows the
     * connections, then stop it. */
    while (srv->sessions)
        session_end(&t, srv->sessions);
    MHD_run(t.d);
    MHD_stop_daemon(t.d);
    srv->session_notify = NULL;
    return r;
}
