/* The Streamable HTTP transport's pieces (docs/mcp.md "Streamable HTTP"
 * and "HTTP transport security"), one file each, calls pointing down only:
 *
 *   http.c          the access handler, connection callbacks, loop
 *                   integration and mcp_http_serve()
 *   http_session.c  sessions (Mcp-Session-Id) and their GET streams
 *   http_stream.c   one request's state: JSON and SSE answers, exchanges
 *   http_request.c  pure: what pyro reads of a request head (Host, Origin,
 *                   Authorization, Accept, Content-Type, Content-Length,
 *                   MCP-Protocol-Version) and the bounded body buffer;
 *                   the fuzz target tests/fuzz/fuzz_http_request.c
 *   http_auth.c     the bearer token: file, generation, comparison
 *   http_conn.c     connection accounting: deadlines and the caps on
 *                   connections that have not authenticated yet
 *
 * Calls point down only:
 *   http.c -> http_session.c -> http_stream.c -> http_request.c -> http_auth.c
 *   http.c -> http_conn.c, and http.c to each of the others */
#ifndef PYRO_MCP_HTTP_H
#define PYRO_MCP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/sha256.h"
#include "mcp/mcp.h"

/* ---- limits (documented in docs/mcp.md and `pyro mcp serve --help`) ---- */

/* From accept (or the end of the connection's previous request) to the end
 * of the request headers. */
#define HTTP_HEADER_TIMEOUT_MS 10000
/* From the end of the headers to the end of the body. */
#define HTTP_BODY_TIMEOUT_MS 30000
/* No byte moved in either direction while a request is read or an answer
 * written (libmicrohttpd's connection timeout; suspended connections, i.e.
 * answers waiting for a call, are exempt). */
#define HTTP_IDLE_TIMEOUT_S 30
/* Open connections, in total and per client address (clamped to the fd
 * limit). */
#define HTTP_MAX_CONNECTIONS 1024
#define HTTP_MAX_PER_ADDRESS 768
/* Connections that have not yet sent a request with a valid token: beyond
 * these, the oldest such connections (of that address, or of all) are
 * closed, but none younger than the grace period, which is how long a new
 * connection may take to send its headers. */
#define HTTP_MAX_UNAUTH 256
#define HTTP_MAX_UNAUTH_PER_ADDRESS 128
#define HTTP_UNAUTH_GRACE_MS 1000
/* libmicrohttpd's memory per connection: the request line and headers
 * must fit (else 431). */
#define HTTP_CONN_MEMORY (32u * 1024)
/* One request body, and all bodies being received at once. */
#define HTTP_BODY_MAX MCP_MESSAGE_MAX
#define HTTP_BODY_TOTAL_MAX (64u * 1024 * 1024)
/* Unsent bytes of one SSE stream: a client that falls further behind
 * loses the stream (its connection is closed). */
#define HTTP_STREAM_BACKLOG_MAX (1u * 1024 * 1024)
#define HTTP_MAX_SESSIONS 64
#define HTTP_KEEPALIVE_MS 15000
/* The connection sweep (caps and deadlines) runs at most this often. */
#define HTTP_SWEEP_MIN_MS 100

/* ---- http_auth.c -------------------------------------------------------- */

struct http_auth {
    uint8_t digest[SHA256_DIGEST_LEN]; /* SHA-256 of the token */
    char *generated;                   /* the token file we created, or NULL */
};

/* The token of FILE (first line, 16 to 4096 visible ASCII characters): a
 * regular file that no other user may read or write. */
int http_auth_load(struct http_auth *a, const char *file, pyro_error *err);
/* A new random token in a new 0600 file <state_dir>/mcp/http-token.XXXXXX. */
int http_auth_generate(struct http_auth *a, const char *state_dir, pyro_error *err);
/* Removes the generated file, if any. */
void http_auth_fini(struct http_auth *a);
/* Whether an Authorization value is "Bearer <the token>" (scheme case-
 * insensitive); the token is compared by digest, in constant time. */
bool http_auth_bearer_ok(const uint8_t digest[SHA256_DIGEST_LEN], const char *authorization);

/* ---- http_request.c ----------------------------------------------------- */

struct http_policy {
    const char *bind_host; /* the bound address as it appears in Host */
    bool loopback;
    const uint8_t *token_digest;
    size_t body_max;
};

enum http_method { HTTP_OTHER, HTTP_POST, HTTP_GET, HTTP_DELETE };

/* What pyro reads of a request head (NULL: header absent). */
struct http_head {
    const char *method, *url;
    const char *host, *origin, *authorization, *accept, *content_type, *content_length, *transfer_encoding,
        *protocol_version;
};

struct http_verdict {
    unsigned status;     /* 0: go on; else the HTTP status of the refusal */
    int rpc_code;        /* the refusal's JSON-RPC error code */
    const char *message; /* the refusal's message (static) */
    bool authenticated;  /* the token was right */
    enum http_method method;
    bool accept_sse;
    bool has_length; /* Content-Length given */
    uint64_t length;
};

/* Decides on a request from its head alone, before any of its body is
 * read: Host and Origin (403), token (401), path (404), method (405),
 * MCP-Protocol-Version (400), Accept (406), Content-Type (415), Content-
 * Length (400 malformed, 413 over body_max). */
void http_head_check(const struct http_policy *p, const struct http_head *h, struct http_verdict *v);
/* Content-Length: decimal digits only, no overflow; -1 otherwise. */
int http_content_length_parse(const char *s, uint64_t *out);

/* The bytes being received of all bodies at once. */
struct http_budget {
    size_t used, max;
};

/* One request body: room is reserved from the budget before it is
 * allocated; the whole declared Content-Length at once, or step by step
 * for a chunked body. */
struct http_body {
    char *data; /* NUL-terminated */
    size_t len, cap;
    size_t reserved; /* taken from the budget */
    size_t limit;
    bool declared; /* Content-Length known: reserved == it */
};

/* -E2BIG: over the body limit (413); -EBUSY: over the budget (503). */
int http_body_begin(struct http_body *b, struct http_budget *g, const struct http_verdict *v, size_t limit);
int http_body_append(struct http_body *b, struct http_budget *g, const char *data, size_t n);
void http_body_release(struct http_body *b, struct http_budget *g);

/* "ADDR:PORT" (IPv4, "localhost" or "[IPv6]") into ss; host gets the
 * address as it appears in a Host header. */
int http_listen_parse(const char *listen, struct sockaddr_storage *ss, char *host, size_t hn, bool *v6,
                      pyro_error *err);
bool http_addr_loopback(const struct sockaddr_storage *ss);

/* ---- http_conn.c -------------------------------------------------------- */

enum http_conn_phase { CONN_HEADERS, CONN_BODY, CONN_BUSY };

/* One accepted connection (libmicrohttpd's socket context). */
struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    uint8_t addr[17]; /* family, then the address bytes (no port) */
    enum http_conn_phase phase;
    int64_t since_ms; /* start of the phase */
    int64_t opened_ms;
    bool authenticated; /* a request on it carried the token */
    bool evicted;       /* shut down by us; libmicrohttpd closes it */
};

struct http_conns {
    struct http_conn *head, *tail; /* in accept order, oldest first */
    int count, unauth;             /* unauth: not authenticated, not evicted */
    int max_unauth, max_unauth_per_addr;
    int64_t header_ms, body_ms, grace_ms;
    unsigned long evictions, timeouts; /* for the debug log and tests */
};

void http_conns_init(struct http_conns *cs);
struct http_conn *http_conn_open(struct http_conns *cs, int fd, const struct sockaddr *sa, int64_t now);
void http_conn_close(struct http_conns *cs, struct http_conn *c);
void http_conn_phase(struct http_conn *c, enum http_conn_phase phase, int64_t now);
void http_conn_authenticated(struct http_conns *cs, struct http_conn *c);
/* Shuts down the oldest unauthenticated connections over the caps (past
 * their grace period) and the connections past their header or body
 * deadline; returns the ms until it should run again (-1: no need). */
int http_conns_sweep(struct http_conns *cs, int64_t now);

/* ---- http_stream.c ------------------------------------------------------ */

struct MHD_Connection;

enum req_state { REQ_READING, REQ_WAITING, REQ_SSE, REQ_DONE };

/* One HTTP request (POST or GET stream). Referenced by its connection
 * (until the completed callback), its exchange (POST) and its SSE
 * response (until the response is freed). */
struct http_req {
    int refs;
    struct http_transport *t;
    struct MHD_Connection *conn;
    struct http_conn *cinfo;
    enum req_state state;
    bool closed; /* the connection is gone */
    bool suspended;
    bool accept_sse;
    bool is_get;
    struct http_body body;
    struct mcp_session *session;
    bool new_session; /* the session was created by this request */
    json_t *queued;   /* REQ_WAITING: messages not yet sent */
    json_t *final;    /* the final message, once known */
    bool have_final;
    char *out; /* REQ_SSE: bytes not yet sent */
    size_t out_len, out_off;
    bool finished;                /* REQ_SSE: no more events */
    struct http_req *next_stream; /* GET streams of the transport */
};

struct MHD_Daemon;

struct http_transport {
    struct mcp_server *srv;
    struct MHD_Daemon *d;
    const struct mcp_http_config *cfg;
    char bind_host[64];
    struct http_policy policy;
    struct http_auth auth;
    struct http_conns conns;
    struct http_budget budget;
    int sessions;
    struct http_req *streams;   /* open GET streams */
    struct mcp_session *modern; /* 2026-07-28 requests' session (stateless; its tasks), or NULL */
    int64_t last_keepalive;
    int64_t next_sweep;
};

extern const struct mcp_exchange_ops http_exchange_ops;

void http_req_unref(struct http_req *r);
void http_req_resume(struct http_req *r);
/* Appends an SSE event (msg) or comment (msg NULL: keepalive) to a stream;
 * a stream more than HTTP_STREAM_BACKLOG_MAX behind is ended. */
void http_sse_append(struct http_req *r, const json_t *msg);
/* Queue an answer; MHD_YES/MHD_NO as an int. */
int http_reply_text(struct MHD_Connection *c, unsigned status, const char *ctype, const char *body,
                    const char *session_id);
int http_reply_error(struct MHD_Connection *c, unsigned status, int code, const char *message);
int http_start_sse(struct http_req *r);
/* After the exchange ran (or a resume): answer, stream or wait. */
int http_post_progress(struct http_req *r);

/* ---- http_session.c ----------------------------------------------------- */

struct mcp_session *http_session_find(struct http_transport *t, const char *id);
/* NULL when HTTP_MAX_SESSIONS have calls in flight. */
struct mcp_session *http_session_create(struct http_transport *t);
void http_session_end(struct http_transport *t, struct mcp_session *s);
/* The session of 2026-07-28 requests (created on first use). */
struct mcp_session *http_session_modern(struct http_transport *t);
void http_stream_add(struct http_transport *t, struct http_req *r);
void http_stream_unlink(struct http_transport *t, struct http_req *r);
/* Notifications unrelated to a request go to the session's GET stream. */
void http_session_notify(struct mcp_session *s, json_t *msg);
/* A keepalive comment on every GET stream. */
void http_streams_keepalive(struct http_transport *t);

#endif
