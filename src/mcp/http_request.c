/* What the HTTP transport reads of a request itself, as pure functions
 * (libmicrohttpd parses the HTTP framing; tests/fuzz/fuzz_http_request.c
 * drives these): the decision on a request head, taken before any byte of
 * its body is read, and the body buffer, whose room is reserved against
 * its limit and the transport's budget before it is allocated. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "mcp/http.h"

static const char *const versions[] = {"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", NULL};

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

static bool host_allowed(const struct http_policy *p, const char *hostport)
{
    char h[300];
    if (!hostport || !host_part(hostport, h, sizeof(h)))
        return false;
    if (!strcmp(h, "localhost") || !strcmp(h, "127.0.0.1") || !strcmp(h, "[::1]"))
        return true;
    return !p->loopback && p->bind_host && !strcmp(h, p->bind_host);
}

static bool origin_allowed(const struct http_policy *p, const char *origin)
{
    const char *rest = NULL;
    if (!strncasecmp(origin, "http://", 7))
        rest = origin + 7;
    else if (!strncasecmp(origin, "https://", 8))
        rest = origin + 8;
    if (!rest || strchr(rest, '/'))
        return false;
    return host_allowed(p, rest);
}

static bool version_ok(const char *v)
{
    for (int i = 0; versions[i]; i++)
        if (!strcmp(versions[i], v))
            return true;
    return false;
}

static bool accepts(const char *accept, const char *type)
{
    return accept && (strcasestr(accept, type) || strstr(accept, "*/*"));
}

/* application/json, with parameters (";charset=utf-8") or not. */
static bool is_json_type(const char *ctype)
{
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0)
        return false;
    char c = ctype[16];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

int http_content_length_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static void refuse(struct http_verdict *v, unsigned status, int code, const char *message)
{
    v->status = status;
    v->rpc_code = code;
    v->message = message;
}

void http_head_check(const struct http_policy *p, const struct http_head *h, struct http_verdict *v)
{
    memset(v, 0, sizeof(*v));
    const char *m = h->method ? h->method : "";
    v->method = !strcmp(m, "POST")     ? HTTP_POST
                : !strcmp(m, "GET")    ? HTTP_GET
                : !strcmp(m, "DELETE") ? HTTP_DELETE
                                       : HTTP_OTHER;
    v->accept_sse = accepts(h->accept, "text/event-stream");
    if (!host_allowed(p, h->host))
        return refuse(v, 403, -32600, "Forbidden: Host header not allowed");
    if (h->origin && !origin_allowed(p, h->origin))
        return refuse(v, 403, -32600, "Forbidden: Origin not allowed");
    if (!http_auth_bearer_ok(p->token_digest, h->authorization))
        return refuse(v, 401, -32600, "Unauthorized: a valid bearer token is required");
    v->authenticated = true;
    if (!h->url || strcmp(h->url, MCP_ENDPOINT) != 0)
        return refuse(v, 404, -32600, "Not Found: the MCP endpoint is " MCP_ENDPOINT);
    if (v->method == HTTP_OTHER)
        return refuse(v, 405, -32600, "Method Not Allowed");
    if (h->protocol_version && !version_ok(h->protocol_version))
        return refuse(v, 400, -32022,
                      "Bad Request: unsupported MCP-Protocol-Version (supported: 2026-07-28, 2025-11-25, "
                      "2025-06-18, 2025-03-26)");
    if (v->method == HTTP_GET && !v->accept_sse)
        return refuse(v, 406, -32600, "GET needs Accept: text/event-stream");
    if (v->method != HTTP_POST)
        return;
    if (h->accept && !accepts(h->accept, "application/json") && !v->accept_sse)
        return refuse(v, 406, -32600, "Not Acceptable: Accept must allow application/json and text/event-stream");
    if (!is_json_type(h->content_type))
        return refuse(v, 415, -32600, "Content-Type must be application/json");
    if (h->content_length) {
        if (http_content_length_parse(h->content_length, &v->length) < 0)
            return refuse(v, 400, -32600, "Bad Request: malformed Content-Length");
        v->has_length = true;
        if (v->length > p->body_max)
            return refuse(v, 413, -32700, "message larger than the 16 MiB limit");
    } else if (!h->transfer_encoding || strcasecmp(h->transfer_encoding, "chunked") != 0) {
        return refuse(v, 411, -32600, "Length Required: a POST needs Content-Length or chunked encoding");
    }
}

/* ---- the body ----------------------------------------------------------- */

static int reserve(struct http_body *b, struct http_budget *g, size_t want)
{
    if (want <= b->reserved)
        return 0;
    if (want > b->limit)
        return -E2BIG;
    size_t more = want - b->reserved;
    if (more > g->max - g->used)
        return -EBUSY;
    g->used += more;
    b->reserved = want;
    return 0;
}

int http_body_begin(struct http_body *b, struct http_budget *g, const struct http_verdict *v, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit;
    if (!v->has_length)
        return 0;
    if (v->length > limit)
        return -E2BIG;
    b->declared = true;
    return reserve(b, g, (size_t)v->length);
}

int http_body_append(struct http_body *b, struct http_budget *g, const char *data, size_t n)
{
    if (n == 0)
        return 0;
    if (n > b->limit - b->len)
        return -E2BIG;
    size_t need = b->len + n;
    if (b->declared && need > b->reserved)
        return -E2BIG; /* more than Content-Length said */
    if (need + 1 > b->cap) {
        /* Grow geometrically, within what is reserved: a declared body up
         * to its length, a chunked one up to its limit. */
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need + 1)
            cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
        size_t ceiling = (b->declared ? b->reserved : b->limit) + 1;
        if (cap > ceiling)
            cap = ceiling;
        if (!b->declared) {
            int r = reserve(b, g, cap - 1);
            if (r < 0)
                return r;
        }
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len = need;
    b->data[b->len] = '\0';
    return 0;
}

void http_body_release(struct http_body *b, struct http_budget *g)
{
    g->used -= b->reserved < g->used ? b->reserved : g->used;
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- the listening address ---------------------------------------------- */

int http_listen_parse(const char *listen, struct sockaddr_storage *ss, char *host, size_t hn, bool *v6, pyro_error *err)
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

bool http_addr_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}
