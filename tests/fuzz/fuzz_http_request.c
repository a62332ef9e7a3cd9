/* Fuzz target: what the MCP HTTP transport reads of a request itself
 * (src/mcp/http_request.c, http_auth.c). The input is a raw HTTP request;
 * this harness splits it into the request line, the headers pyro reads
 * and the body (libmicrohttpd's part, which is not under test), then:
 *   - decides on the head under a loopback and a non-loopback policy and
 *     checks the verdict against independent, naive re-statements of the
 *     rules (a request goes on only with the right token, to /mcp, with a
 *     JSON Content-Type and a length within the limit; a wrong token is
 *     never let through);
 *   - feeds an accepted POST's body in input-derived chunks through the
 *     body buffer, under a budget with some room already taken, and checks
 *     the buffer's contents, its limit and the budget's accounting;
 *   - compares Content-Length parsing with strtoull and runs the listen-
 *     address parser on the Host value. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/sha256.h"
#include "fuzz.h"
#include "mcp/http.h"

#define TOKEN "fuzz-token-0123456789abcdef"
#define BODY_MAX 4096

struct parsed {
    char *head; /* NUL-separated copy of the head */
    const char *body;
    size_t body_len;
    struct http_head h;
};

static const char **slot(struct http_head *h, const char *name)
{
    static const struct {
        const char *name;
        size_t off;
    } map[] = {
        {"host", offsetof(struct http_head, host)},
        {"origin", offsetof(struct http_head, origin)},
        {"authorization", offsetof(struct http_head, authorization)},
        {"accept", offsetof(struct http_head, accept)},
        {"content-type", offsetof(struct http_head, content_type)},
        {"content-length", offsetof(struct http_head, content_length)},
        {"transfer-encoding", offsetof(struct http_head, transfer_encoding)},
        {"mcp-protocol-version", offsetof(struct http_head, protocol_version)},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcasecmp(name, map[i].name))
            return (const char **)(void *)((char *)h + map[i].off); /* a field of h: aligned */
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static void parse(const uint8_t *data, size_t size, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    size_t hl = size;
    for (size_t i = 0; i + 3 < size; i++)
        if (!memcmp(data + i, "\r\n\r\n", 4)) {
            hl = i;
            p->body = (const char *)data + i + 4;
            p->body_len = size - i - 4;
            break;
        }
    p->head = malloc(hl + 1);
    memcpy(p->head, data, hl);
    p->head[hl] = '\0';
    /* Header values are C strings (libmicrohttpd's are): cut at a NUL. */
    char *save = NULL;
    char *line = strtok_r(p->head, "\n", &save);
    if (!line)
        return;
    char *sp1 = strchr(line, ' ');
    if (sp1) {
        *sp1 = '\0';
        p->h.method = line;
        char *url = sp1 + 1, *sp2 = strchr(url, ' ');
        if (sp2)
            *sp2 = '\0';
        p->h.url = trim(url);
    }
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        const char **dst = slot(&p->h, trim(line));
        if (dst && !*dst)
            *dst = trim(colon + 1); /* the first one counts */
    }
}

static bool naive_token_ok(const char *auth)
{
    if (!auth || strncasecmp(auth, "Bearer ", 7))
        return false;
    const char *t = auth + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    return n == strlen(TOKEN) && !memcmp(t, TOKEN, n);
}

static void check_verdict(const struct http_head *h, const struct http_verdict *v)
{
    static const unsigned ok[] = {0, 400, 401, 403, 404, 405, 406, 411, 413, 415};
    bool known = false;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        known |= v->status == ok[i];
    if (!known || (v->status && (!v->message || !v->rpc_code)))
        abort();
    bool tok = naive_token_ok(h->authorization);
    if (v->authenticated != tok && v->status != 403)
        abort(); /* the token check disagrees with the naive one */
    if (v->status == 401 && tok)
        abort();
    if (v->status != 0)
        return;
    if (!tok || !h->url || strcmp(h->url, "/mcp") || v->method == HTTP_OTHER || !h->host)
        abort();
    if (v->method == HTTP_GET && !v->accept_sse)
        abort();
    if (v->method == HTTP_POST) {
        if (!h->content_type || strncasecmp(h->content_type, "application/json", 16))
            abort();
        if (v->has_length != (h->content_length != NULL) || (v->has_length && v->length > BODY_MAX))
            abort();
        if (!v->has_length && (!h->transfer_encoding || strcasecmp(h->transfer_encoding, "chunked")))
            abort();
    }
}

static void check_body(const struct http_verdict *v, const char *body, size_t len, size_t pre_used, size_t max)
{
    struct http_budget g = {.used = pre_used, .max = max};
    struct http_body b;
    int r = http_body_begin(&b, &g, v, BODY_MAX);
    if (r == 0 && g.used != pre_used + b.reserved)
        abort();
    if (r == -E2BIG && !(v->has_length && v->length > BODY_MAX))
        abort();
    if (r == -EBUSY && !(v->has_length && v->length > max - pre_used))
        abort();
    size_t fed = 0;
    while (r == 0 && fed < len) {
        size_t n = 1 + (unsigned char)body[fed] % 97;
        if (n > len - fed)
            n = len - fed;
        r = http_body_append(&b, &g, body + fed, n);
        if (r == -E2BIG && fed + n <= BODY_MAX && !(b.declared && fed + n > b.reserved))
            abort();
        if (r == -EBUSY && b.declared)
            abort(); /* a declared body had all its room reserved */
        if (r == 0) {
            fed += n;
            if (b.len != fed || b.len > BODY_MAX || b.data[b.len] != '\0' || memcmp(b.data, body, fed))
                abort();
            if (b.reserved < b.len || b.cap > b.reserved + 1 || g.used != pre_used + b.reserved || g.used > g.max)
                abort();
        }
    }
    http_body_release(&b, &g);
    if (g.used != pre_used || b.data)
        abort();
}

static void check_content_length(const char *s)
{
    uint64_t v;
    int r = http_content_length_parse(s, &v);
    size_t n = strlen(s);
    bool digits = n > 0 && strspn(s, "0123456789") == n;
    if (r == 0 && !digits)
        abort();
    if (digits && n <= 19) {
        if (r != 0 || v != strtoull(s, NULL, 10))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t digest[SHA256_DIGEST_LEN];
    static bool init;
    if (!init) {
        struct sha256 s;
        sha256_init(&s);
        sha256_update(&s, TOKEN, strlen(TOKEN));
        sha256_final(&s, digest);
        init = true;
    }
    struct parsed p;
    parse(data, size, &p);
    const struct http_policy pol[2] = {
        {.bind_host = "127.0.0.1", .loopback = true, .token_digest = digest, .body_max = BODY_MAX},
        {.bind_host = "10.1.2.3", .loopback = false, .token_digest = digest, .body_max = BODY_MAX},
    };
    for (int i = 0; i < 2; i++) {
        struct http_verdict v;
        http_head_check(&pol[i], &p.h, &v);
        check_verdict(&p.h, &v);
        if (v.status == 0 && v.method == HTTP_POST && p.body) {
            check_body(&v, p.body, p.body_len, 0, 2 * BODY_MAX);
            check_body(&v, p.body, p.body_len, size % 3000, 3000); /* a tight budget */
        }
    }
    if (http_auth_bearer_ok(digest, p.h.authorization) != naive_token_ok(p.h.authorization))
        abort();
    if (p.h.content_length)
        check_content_length(p.h.content_length);
    if (p.h.host) {
        struct sockaddr_storage ss;
        char host[64];
        bool v6 = false;
        pyro_error err = {0};
        if (http_listen_parse(p.h.host, &ss, host, sizeof(host), &v6, &err) == 0) {
            if (ss.ss_family != (v6 ? AF_INET6 : AF_INET))
                abort();
            (void)http_addr_loopback(&ss);
        } else if (!err.message[0]) {
            abort();
        }
    }
    free(p.head);
    return 0;
}
