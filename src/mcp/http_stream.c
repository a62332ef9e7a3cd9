/* One HTTP request's answer: the exchange ops the server emits through,
 * a JSON answer when the response is ready before any notification, else
 * an SSE stream (related notifications, then the response); a request that
 * waits for a worker suspends its connection until something arrives. */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "mcp/http.h"

void http_req_unref(struct http_req *r)
{
    if (!r || --r->refs > 0)
        return;
    http_body_release(&r->body, &r->t->budget);
    json_decref(r->queued);
    json_decref(r->final);
    free(r->out);
    free(r);
}

void http_req_resume(struct http_req *r)
{
    if (r->suspended && !r->closed) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
    }
}

void http_sse_append(struct http_req *r, const json_t *msg)
{
    if (r->finished)
        return;
    _cleanup_free_ char *text = msg ? json_dump(msg, JSON_COMPACT) : NULL;
    _cleanup_free_ char *ev = text ? xasprintf("event: message\ndata: %s\n\n", text) : xstrdup(": keepalive\n\n");
    size_t n = strlen(ev);
    if (r->out_off && r->out_off == r->out_len)
        r->out_len = r->out_off = 0;
    if (r->out_len - r->out_off + n > HTTP_STREAM_BACKLOG_MAX && r->out_len > r->out_off) {
        /* The client does not read: end its stream rather than buffer
         * without bound. */
        log_debug("mcp http: a stream fell %zu bytes behind; ending it", r->out_len - r->out_off + n);
        free(r->out);
        r->out = NULL;
        r->out_len = r->out_off = 0;
        r->finished = true;
        return;
    }
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
            http_req_resume(r);
        break;
    case REQ_SSE:
        if (msg)
            http_sse_append(r, msg);
        if (final)
            r->finished = true;
        http_req_resume(r);
        break;
    case REQ_DONE:
    default: break;
    }
}

static void http_release(struct mcp_exchange *x)
{
    http_req_unref(x->transport);
    free(x);
}

const struct mcp_exchange_ops http_exchange_ops = {.emit = http_emit, .release = http_release};

/* ---- responses ------------------------------------------------------- */

int http_reply_text(struct MHD_Connection *c, unsigned status, const char *ctype, const char *body,
                    const char *session_id)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
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
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A transport-level refusal: HTTP status plus a JSON-RPC error body. */
int http_reply_error(struct MHD_Connection *c, unsigned status, int code, const char *message)
{
    json_auto_t *e = mcp_error_response(NULL, code, message, NULL);
    _cleanup_free_ char *text = json_dump(e, JSON_COMPACT);
    return http_reply_text(c, status, "application/json", text, NULL);
}

static int reply_json(struct http_req *r, const json_t *msg)
{
    r->state = REQ_DONE;
    const char *sid = r->session ? r->session->id : NULL;
    if (!msg)
        return http_reply_text(r->conn, MHD_HTTP_ACCEPTED, NULL, "", sid);
    _cleanup_free_ char *text = json_dump(msg, JSON_COMPACT);
    /* A lone parse/invalid-request error is a bad request. */
    const json_t *err = json_object_get(msg, "error");
    unsigned status = err && json_is_null(json_object_get(msg, "id")) ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_OK;
    return http_reply_text(r->conn, status, "application/json", text, sid);
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
    http_req_unref(cls);
}

int http_start_sse(struct http_req *r)
{
    r->state = REQ_SSE;
    size_t i;
    json_t *m;
    json_array_foreach(r->queued, i, m)
        http_sse_append(r, m);
    json_array_clear(r->queued);
    if (r->have_final) {
        if (r->final)
            http_sse_append(r, r->final);
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

int http_post_progress(struct http_req *r)
{
    if (r->have_final && !json_array_size(r->queued))
        return reply_json(r, r->final);
    if (r->accept_sse && (json_array_size(r->queued) || r->have_final))
        return http_start_sse(r);
    if (r->have_final)
        return reply_json(r, r->final);
    r->state = REQ_WAITING;
    r->suspended = true;
    MHD_suspend_connection(r->conn);
    return MHD_YES;
}
