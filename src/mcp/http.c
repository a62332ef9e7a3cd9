/* Streamable HTTP transport on libmicrohttpd, driven by the server's own
 * epoll loop (MHD's epoll fd is one of its fds; MHD_run() runs before
 * every wait, with MHD_get_timeout() as the wait's timeout, since MHD's
 * own epoll set is edge-triggered). The pieces are listed in mcp/http.h.
 *
 * One endpoint, /mcp:
 *   POST    one JSON-RPC message or (2025-03-26) a batch. Answered with
 *           application/json when the answer is ready before any
 *           notification, else with an SSE stream carrying the related
 *           notifications (progress, logs) and then the response. A
 *           request that waits for a worker suspends its connection.
 *   GET     an SSE stream for notifications unrelated to a request.
 *   DELETE  ends the session (its calls are cancelled).
 * Every request is decided on from its head before any body byte is read
 * (http_request.c): Host/Origin (403), the bearer token (401), path,
 * method, version, Accept, Content-Type and Content-Length; a body then
 * gets room reserved against the per-request and total limits. Sessions:
 * Mcp-Session-Id from the initialize response; missing → 400, unknown →
 * 404. */
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "mcp/http.h"

/* con_cls of a request refused from its head (nothing was allocated). */
static const char refused_marker;
#define REFUSED ((void *)&refused_marker)

static struct http_conn *conn_info(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* A 2026-07-28 message names its version in params._meta: true, with
 * *why set when its standard headers (MCP-Protocol-Version, Mcp-Method,
 * Mcp-Name) are missing or disagree with the body. */
static bool is_modern(struct MHD_Connection *c, const json_t *v, const char **why)
{
    const json_t *params = json_object_get(v, "params");
    const char *ver = json_is_object(v) ? mcp_era_version(params) : NULL;
    if (!ver)
        return false;
    const char *hv = header(c, "MCP-Protocol-Version"), *hm = header(c, "Mcp-Method"), *hn = header(c, "Mcp-Name");
    const char *method = json_get_str(v, "method", "");
    *why = NULL;
    if (!hv || strcmp(hv, ver) != 0)
        *why = "Bad Request: the MCP-Protocol-Version header must match params._meta's protocolVersion";
    else if (!hm || strcmp(hm, method) != 0)
        *why = "Bad Request: the Mcp-Method header must match the message's method";
    else if (!strcmp(method, "tools/call") && (!hn || strcmp(hn, json_get_str(params, "name", "")) != 0))
        *why = "Bad Request: the Mcp-Name header must match params.name";
    return true;
}

static enum MHD_Result handle_post(struct http_transport *t, struct http_req *r)
{
    struct MHD_Connection *c = r->conn;
    const char *body = r->body.data ? r->body.data : "";
    size_t len = r->body.len;
    const char *sid = header(c, "Mcp-Session-Id");
    r->state = REQ_DONE;
    json_auto_t *v = json_loadb(body, len, 0, NULL);
    const char *why = NULL;
    if (is_modern(c, v, &why)) {
        /* Stateless: one session for every such request (the token is
         * what binds their tasks); no Mcp-Session-Id. */
        if (why)
            return http_reply_error(c, MHD_HTTP_BAD_REQUEST, MCP_E_HEADER_MISMATCH, why);
        r->session = http_session_modern(t);
    } else if (json_is_object(v) && !strcmp(json_get_str(v, "method", ""), "initialize")) {
        r->session = http_session_create(t);
        if (!r->session)
            return http_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, -32603,
                                    "too many sessions with calls in flight; retry later");
        r->new_session = true;
    } else {
        if (!sid)
            return http_reply_error(c, MHD_HTTP_BAD_REQUEST, -32600,
                                    "Bad Request: Mcp-Session-Id header is required (initialize first)");
        r->session = http_session_find(t, sid);
        if (!r->session)
            return http_reply_error(c, MHD_HTTP_NOT_FOUND, -32001, "Session not found");
    }
    r->state = REQ_READING;
    struct mcp_exchange *x = xcalloc(1, sizeof(*x));
    x->ops = &http_exchange_ops;
    x->transport = r;
    x->session = r->session;
    x->refs = 1;
    r->refs++;
    r->queued = json_array();
    mcp_server_handle(t->srv, x, body, len);
    mcp_exchange_unref(x);
    http_body_release(&r->body, &t->budget); /* parsed: its room goes back */
    if (r->new_session && !r->session->initialized) {
        /* initialize failed: no session comes of it */
        http_session_end(t, r->session);
        r->session = NULL;
    }
    return http_post_progress(r);
}

static enum MHD_Result handle_get(struct http_transport *t, struct http_req *r)
{
    const char *sid = header(r->conn, "Mcp-Session-Id");
    if (!sid)
        return http_reply_error(r->conn, MHD_HTTP_BAD_REQUEST, -32600,
                                "Bad Request: Mcp-Session-Id header is required");
    r->session = http_session_find(t, sid);
    if (!r->session)
        return http_reply_error(r->conn, MHD_HTTP_NOT_FOUND, -32001, "Session not found");
    for (struct http_req *o = t->streams; o; o = o->next_stream)
        if (o->session == r->session && !o->closed)
            return http_reply_error(r->conn, MHD_HTTP_CONFLICT, -32600,
                                    "Conflict: this session already has a GET stream");
    http_stream_add(t, r);
    r->queued = json_array();
    return http_start_sse(r);
}

static enum MHD_Result handle_delete(struct http_transport *t, struct http_req *r)
{
    const char *sid = header(r->conn, "Mcp-Session-Id");
    if (!sid)
        return http_reply_error(r->conn, MHD_HTTP_BAD_REQUEST, -32600,
                                "Bad Request: Mcp-Session-Id header is required");
    struct mcp_session *s = http_session_find(t, sid);
    if (!s)
        return http_reply_error(r->conn, MHD_HTTP_NOT_FOUND, -32001, "Session not found");
    http_session_end(t, s);
    return http_reply_text(r->conn, MHD_HTTP_OK, NULL, "", NULL);
}

/* The first call for a request: its head is complete, no body byte has
 * been read. Refusals allocate nothing; MHD sends them and closes the
 * connection without reading the body. */
static enum MHD_Result on_head(struct http_transport *t, struct MHD_Connection *c, const char *url, const char *method,
                               void **con_cls)
{
    struct http_conn *ci = conn_info(c);
    int64_t now = time_mono_ms();
    struct http_head h = {
        .method = method,
        .url = url,
        .host = header(c, MHD_HTTP_HEADER_HOST),
        .origin = header(c, MHD_HTTP_HEADER_ORIGIN),
        .authorization = header(c, MHD_HTTP_HEADER_AUTHORIZATION),
        .accept = header(c, MHD_HTTP_HEADER_ACCEPT),
        .content_type = header(c, MHD_HTTP_HEADER_CONTENT_TYPE),
        .content_length = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH),
        .transfer_encoding = header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING),
        .protocol_version = header(c, "MCP-Protocol-Version"),
    };
    struct http_verdict v;
    http_head_check(&t->policy, &h, &v);
    if (v.authenticated)
        http_conn_authenticated(&t->conns, ci);
    http_conn_phase(ci, CONN_BUSY, now);
    if (v.status) {
        *con_cls = REFUSED;
        return http_reply_error(c, v.status, v.rpc_code, v.message);
    }
    struct http_req *r = xcalloc(1, sizeof(*r));
    r->refs = 1; /* the connection's, dropped in on_completed */
    r->t = t;
    r->conn = c;
    r->cinfo = ci;
    r->accept_sse = v.accept_sse;
    *con_cls = r;
    if (v.method == HTTP_GET) {
        r->state = REQ_DONE;
        return handle_get(t, r);
    }
    if (v.method == HTTP_DELETE) {
        r->state = REQ_DONE;
        return handle_delete(t, r);
    }
    int e = http_body_begin(&r->body, &t->budget, &v, t->policy.body_max);
    if (e < 0) {
        r->state = REQ_DONE;
        if (e == -E2BIG)
            return http_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, -32700, "message larger than the 16 MiB limit");
        return http_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, -32603,
                                "Service Unavailable: too many request bodies in flight; retry later");
    }
    http_conn_phase(ci, CONN_BODY, now);
    return MHD_YES; /* the body comes next */
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct http_transport *t = cls;
    struct http_req *r = *con_cls;
    if (!r)
        return on_head(t, c, url, method, con_cls);
    if ((void *)r == REFUSED || r->state == REQ_DONE) {
        *upload_size = 0;
        return MHD_YES; /* answered already; MHD discards the rest */
    }
    if (r->state == REQ_READING && *upload_size) {
        int e = http_body_append(&r->body, &t->budget, upload, *upload_size);
        *upload_size = 0;
        if (e < 0) {
            /* A chunked body over its limit (or the budget): no status
             * can be sent in the middle of a body, so the connection is
             * closed. */
            log_debug("mcp http: a chunked body went over %s; closing the connection",
                      e == -E2BIG ? "the 16 MiB limit" : "the total body budget");
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (r->state == REQ_READING) {
        http_conn_phase(r->cinfo, CONN_BUSY, time_mono_ms());
        return handle_post(t, r);
    }
    if (r->state == REQ_WAITING)
        return http_post_progress(r); /* resumed: an event or the answer came */
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct http_transport *t = cls;
    struct http_req *r = *con_cls;
    /* Keep-alive: the connection's next request has its own deadline. */
    http_conn_phase(conn_info(c), CONN_HEADERS, time_mono_ms());
    *con_cls = NULL;
    if (!r || (void *)r == REFUSED)
        return;
    r->closed = true;
    r->suspended = false;
    http_body_release(&r->body, &t->budget);
    if (r->is_get)
        http_stream_unlink(t, r);
    http_req_unref(r);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_transport *t = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_context = http_conn_open(&t->conns, fi ? fi->connect_fd : -1, ai ? ai->client_addr : NULL,
                                         time_mono_ms());
    } else {
        http_conn_close(&t->conns, *socket_context);
        *socket_context = NULL;
    }
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
        t->last_keepalive = now;
        http_streams_keepalive(t);
    }
    if (now >= t->next_sweep) {
        /* Walks every connection: at most every HTTP_SWEEP_MIN_MS (a
         * deadline is kept within that), at least every second (new
         * connections' grace periods end). */
        unsigned long timeouts = t->conns.timeouts, evictions = t->conns.evictions;
        int w = http_conns_sweep(&t->conns, now);
        t->next_sweep = now + (w < 0 || w > 1000 ? 1000 : w < HTTP_SWEEP_MIN_MS ? HTTP_SWEEP_MIN_MS : w);
        if (t->conns.timeouts != timeouts || t->conns.evictions != evictions)
            log_debug("mcp http: closed %lu connections past their header or body deadline and %lu of the "
                      "oldest without a token over the caps",
                      t->conns.timeouts - timeouts, t->conns.evictions - evictions);
    }
    long long wait = t->next_sweep - now;
    MHD_run(t->d);
    long long ka = t->last_keepalive + HTTP_KEEPALIVE_MS - now;
    if (ka < wait)
        wait = ka;
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(t->d, &ms) == MHD_YES && (long long)ms < wait)
        wait = (long long)ms;
    return (int)(wait < 0 ? 0 : wait);
}

/* Connections at once: HTTP_MAX_CONNECTIONS, or fewer when the fd limit
 * would not hold them next to the server's own fds. */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    unsigned limit = HTTP_MAX_CONNECTIONS;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < limit + 128u)
        limit = rl.rlim_cur > 192 ? (unsigned)rl.rlim_cur - 128 : 64;
    return limit;
}

int mcp_http_serve(struct mcp_server *srv, const struct mcp_http_config *cfg, pyro_error *err)
{
    struct http_transport t = {.srv = srv, .cfg = cfg, .last_keepalive = time_mono_ms()};
    struct sockaddr_storage ss;
    bool v6 = false;
    int r = http_listen_parse(cfg->listen, &ss, t.bind_host, sizeof(t.bind_host), &v6, err);
    if (r < 0)
        return r;
    bool loopback = http_addr_loopback(&ss);
    if (!loopback && !cfg->token_file)
        return err_set(err, -PYRO_E_INVALID,
                       "--listen %s is not a loopback address: --auth-token-file is required to bind it", cfg->listen);
    r = cfg->token_file ? http_auth_load(&t.auth, cfg->token_file, err)
                        : http_auth_generate(&t.auth, cfg->state_dir, err);
    if (r < 0)
        return r;
    t.policy = (struct http_policy){.bind_host = t.bind_host,
                                    .loopback = loopback,
                                    .token_digest = t.auth.digest,
                                    .body_max = HTTP_BODY_MAX};
    t.budget.max = HTTP_BODY_TOTAL_MAX;
    http_conns_init(&t.conns);
    unsigned limit = connection_limit();
    unsigned per_ip = limit < HTTP_MAX_PER_ADDRESS ? limit : HTTP_MAX_PER_ADDRESS;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    t.d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &t, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                           MHD_OPTION_NOTIFY_COMPLETED, on_completed, &t, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
                           &t, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_CONNECTION_LIMIT, limit,
                           MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
                           (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
                           MHD_OPTION_END);
    if (!t.d) {
        http_auth_fini(&t.auth);
        return err_set(err, -EADDRINUSE, "cannot listen on %s (address in use or not available)", cfg->listen);
    }
    const union MHD_DaemonInfo *ei = MHD_get_daemon_info(t.d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(t.d, MHD_DAEMON_INFO_BIND_PORT);
    srv->session_notify = http_session_notify;
    srv->session_notify_data = &t;
    r = ae_file_add(srv->loop, ei->epoll_fd, AE_READABLE, on_mhd_ready, &t, err);
    if (r == 0) {
        if (t.auth.generated && cfg->on_token_file)
            cfg->on_token_file(cfg->on_listen_data, t.auth.generated);
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
        http_session_end(&t, srv->sessions);
    MHD_run(t.d);
    MHD_stop_daemon(t.d);
    srv->session_notify = NULL;
    http_auth_fini(&t.auth);
    return r;
}
