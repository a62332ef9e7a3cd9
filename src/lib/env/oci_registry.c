/* The distribution API v2 client for OCI images (docs/environments.md
 * "OCI images"): libcurl, HTTPS (plain HTTP only for a loopback registry
 * without TLS or one listed in $PYRO_OCI_INSECURE), anonymous, basic or
 * bearer-token auth answering the WWW-Authenticate challenge, and every
 * body checked against its digest and size while it streams. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/record.h"
#include "base/sha256.h"
#include "base/timeutil.h"
#include "lib/contract/ctx.h"
#include "lib/env/oci.h"

#define SMALL_MAX (4u * 1024 * 1024)
#define ERRBODY_MAX 512
#define ACCEPT_MANIFESTS                                                                            \
    "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " \
    "application/vnd.docker.distribution.manifest.list.v2+json, "                                   \
    "application/vnd.docker.distribution.manifest.v2+json"

struct oci_client {
    CURL *h;
    struct oci_ref ref;
    char base[300]; /* scheme://host[:port] */
    char *basic;    /* base64 user:password from an auth file */
    char *bearer;
    bool push;
};

/* One response: headers we look at and where the body goes. */
struct resp {
    long status;
    char challenge[1024];
    char ctype[128];
    char digest[80];
    char location[2048];
    /* body: into memory (mem) or a file (fd >= 0), hashed, capped */
    char *mem;
    size_t len, cap;
    int fd;
    struct sha256 sha;
    int64_t limit; /* -1: none beyond cap */
    int64_t got;
    bool over;
    char errbody[ERRBODY_MAX];
    size_t errlen;
    struct pyro_ctx *ctx;
    const char *what;
    int64_t base_off, last_ms;
    bool resumed; /* a Range request: a 200 answer starts over */
    /* a request other than GET: its method and body (memory or a file) */
    const char *method;
    const char *up_mem;
    int up_fd;
    int64_t up_len, up_off;
    const char *up_type;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t want = size * n;
    if ((int64_t)want > r->up_len - r->up_off)
        want = (size_t)(r->up_len - r->up_off);
    if (want == 0)
        return 0;
    if (r->up_mem) {
        memcpy(buf, r->up_mem + r->up_off, want);
    } else {
        ssize_t k = pread(r->up_fd, buf, want, r->up_off);
        if (k <= 0)
            return CURL_READFUNC_ABORT;
        want = (size_t)k;
    }
    r->up_off += (int64_t)want;
    return want;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = size * n;
    char line[2048];
    size_t l = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
    memcpy(line, p, l);
    line[l] = '\0';
    while (l && (line[l - 1] == '\r' || line[l - 1] == '\n'))
        line[--l] = '\0';
    if (!strncmp(line, "HTTP/", 5)) { /* a new response (after a redirect or 100) */
        r->challenge[0] = r->ctype[0] = r->digest[0] = '\0';
        const char *sp = strchr(line, ' ');
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return len;
    }
    char *colon = strchr(line, ':');
    if (!colon)
        return len;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (!strcasecmp(line, "WWW-Authenticate"))
        snprintf(r->challenge, sizeof(r->challenge), "%s", v);
    else if (!strcasecmp(line, "Content-Type"))
        snprintf(r->ctype, sizeof(r->ctype), "%s", v);
    else if (!strcasecmp(line, "Docker-Content-Digest"))
        snprintf(r->digest, sizeof(r->digest), "%s", v);
    else if (!strcasecmp(line, "Location"))
        snprintf(r->location, sizeof(r->location), "%s", v);
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = size * n;
    if (r->status / 100 != 2) { /* an error's body: keep its start for the message */
        size_t k = len < ERRBODY_MAX - 1 - r->errlen ? len : ERRBODY_MAX - 1 - r->errlen;
        memcpy(r->errbody + r->errlen, p, k);
        r->errlen += k;
        r->errbody[r->errlen] = '\0';
        return len;
    }
    if (r->resumed && r->status == 200 && r->fd >= 0) { /* the registry ignored the range */
        r->resumed = false;
        if (ftruncate(r->fd, 0) < 0 || lseek(r->fd, 0, SEEK_SET) < 0)
            return 0;
        sha256_init(&r->sha);
        r->got = 0;
    }
    if ((r->limit >= 0 && r->got + (int64_t)len > r->limit) || (r->fd < 0 && r->len + len > r->cap)) {
        r->over = true;
        return 0;
    }
    sha256_update(&r->sha, p, len);
    r->got += (int64_t)len;
    if (r->fd >= 0) {
        for (size_t off = 0; off < len;) {
            ssize_t w = write(r->fd, p + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                r->fd = -errno - 1; /* remember errno, stop */
                return 0;
            }
            off += (size_t)w;
        }
    } else {
        if (!r->mem)
            r->mem = xmalloc(r->cap + 1);
        memcpy(r->mem + r->len, p, len);
        r->len += len;
        r->mem[r->len] = '\0';
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct resp *r = arg;
    if (!r->ctx || !r->what)
        return 0;
    int64_t now = time_mono_ms();
    if (now - r->last_ms < 200)
        return 0;
    r->last_ms = now;
    int64_t total = r->limit >= 0 ? r->limit : (int64_t)(dltotal ? dltotal : ultotal);
    ctx_progress(r->ctx, "pull", "download", r->base_off + (int64_t)(dlnow ? dlnow : ulnow), total, r->what);
    return 0;
}

static bool host_listed(const char *list, const char *host)
{
    if (!list)
        return false;
    size_t hl = strlen(host);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == hl && !strncmp(p, host, n))
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

static bool host_loopback(const char *registry)
{
    return !strncmp(registry, "localhost", 9) || !strncmp(registry, "127.", 4) || !strncmp(registry, "[::1]", 5);
}

/* Performs one request on c->h with the options set by the caller plus
 * auth; answers one 401 by getting a token (or using basic credentials)
 * and trying again. */
static int perform(struct oci_client *c, const char *url, struct curl_slist *hdrs, struct resp *r, pyro_error *err);

static void setup(struct oci_client *c, const char *url, struct curl_slist *hdrs, struct resp *r)
{
    CURL *h = c->h;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "pyro/" PYRO_VERSION);
    if (r->method && !strcmp(r->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (r->method && !strcmp(r->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    } else if (r->method && !strcmp(r->method, "PUT")) {
        r->up_off = 0;
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->up_len);
    }
    const char *ca = getenv("PYRO_OCI_CA_FILE");
    if (ca && *ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    const char *rate = getenv("PYRO_OCI_MAX_RATE");
    if (rate && atoll(rate) > 0)
        curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)atoll(rate));
}

static void resp_reset(struct resp *r)
{
    r->status = 0;
    r->challenge[0] = r->ctype[0] = r->digest[0] = r->location[0] = '\0';
    r->errlen = 0;
    r->errbody[0] = '\0';
    r->over = false;
}

/* The value of key="value" (or key=value) in a challenge's parameters. */
static bool challenge_param(const char *ch, const char *key, char *out, size_t size)
{
    size_t kl = strlen(key);
    for (const char *p = ch; (p = strcasestr(p, key));) {
        bool start = p == ch || p[-1] == ' ' || p[-1] == ',';
        if (!start || p[kl] != '=') {
            p += kl;
            continue;
        }
        p += kl + 1;
        bool q = *p == '"';
        p += q;
        size_t n = 0;
        while (p[n] && (q ? p[n] != '"' : (p[n] != ',' && p[n] != ' ')))
            n++;
        if (n >= size)
            return false;
        memcpy(out, p, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* Gets a bearer token from the challenge's realm. */
static int get_token(struct oci_client *c, const char *challenge, pyro_error *err)
{
    char realm[1024], service[256] = "", scope[600] = "";
    if (!challenge_param(challenge, "realm", realm, sizeof(realm)))
        return err_set(err, -PYRO_E_PROTOCOL, "registry %s: bearer challenge without a realm", c->ref.registry);
    if (strncmp(realm, "https://", 8) &&
        !(!strncmp(realm, "http://", 7) && (host_loopback(realm + 7) || strstr(c->base, "http://") == c->base)))
        return err_set(err, -PYRO_E_PROTOCOL, "registry %s: token realm '%.200s' is not https", c->ref.registry, realm);
    challenge_param(challenge, "service", service, sizeof(service));
    if (!challenge_param(challenge, "scope", scope, sizeof(scope)))
        snprintf(scope, sizeof(scope), "repository:%s:%s", c->ref.repo, c->push ? "pull,push" : "pull");
    _cleanup_free_ char *es = curl_easy_escape(c->h, service, 0);
    _cleanup_free_ char *sc = curl_easy_escape(c->h, scope, 0);
    _cleanup_free_ char *url = xasprintf("%s%sservice=%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?", es ? es : "",
                                         sc ? sc : "");
    struct resp r = {.fd = -1, .cap = 64 * 1024, .limit = -1};
    sha256_init(&r.sha);
    struct curl_slist *hdrs = NULL;
    if (c->basic) {
        _cleanup_free_ char *a = xasprintf("Authorization: Basic %s", c->basic);
        hdrs = curl_slist_append(hdrs, a);
    }
    curl_easy_reset(c->h);
    setup(c, url, hdrs, &r);
    CURLcode cc = curl_easy_perform(c->h);
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hdrs);
    _cleanup_free_ char *body = r.mem;
    if (cc != CURLE_OK)
        return err_set(err, -EIO, "registry %s: token request failed: %s", c->ref.registry, curl_easy_strerror(cc));
    if (r.status == 401 || r.status == 403)
        return err_set(err, -EACCES, "registry %s: not authorized for %s (%s credentials)", c->ref.registry, scope,
                       c->basic ? "the stored" : "no");
    if (r.status != 200 || !body)
        return err_set(err, -PYRO_E_PROTOCOL, "registry %s: token request answered %ld", c->ref.registry, r.status);
    json_auto_t *j = json_loads(body, 0, NULL);
    const char *tok = json_get_str(j, "token", NULL);
    if (!tok)
        tok = json_get_str(j, "access_token", NULL);
    if (!tok || strlen(tok) > 16384 || strpbrk(tok, "\r\n"))
        return err_set(err, -PYRO_E_PROTOCOL, "registry %s: token response has no usable token", c->ref.registry);
    free(c->bearer);
    c->bearer = xstrdup(tok);
    return 0;
}

static int perform(struct oci_client *c, const char *url, struct curl_slist *extra, struct resp *r, pyro_error *err)
{
    for (int attempt = 0;; attempt++) {
        struct curl_slist *hdrs = NULL;
        for (struct curl_slist *s = extra; s; s = s->next)
            hdrs = curl_slist_append(hdrs, s->data);
        if (r->up_type) {
            _cleanup_free_ char *ct = xasprintf("Content-Type: %s", r->up_type);
            hdrs = curl_slist_append(hdrs, ct);
        }
        _cleanup_free_ char *auth = c->bearer  ? xasprintf("Authorization: Bearer %s", c->bearer)
                                    : c->basic ? xasprintf("Authorization: Basic %s", c->basic)
                                               : NULL;
        if (auth)
            hdrs = curl_slist_append(hdrs, auth);
        setup(c, url, hdrs, r);
        resp_reset(r);
        CURLcode cc = curl_easy_perform(c->h);
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &r->status);
        curl_slist_free_all(hdrs);
        if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r->status == 401))
            return err_set(err, cc == CURLE_WRITE_ERROR ? -PYRO_E_PROTOCOL : -EIO, "%s: %s", url,
                           r->over ? "the registry sent more than the declared size" : curl_easy_strerror(cc));
        if (r->status != 401 || attempt > 0)
            return 0;
        int rc;
        if (!strncasecmp(r->challenge, "Bearer", 6))
            rc = get_token(c, r->challenge, err);
        else if (!strncasecmp(r->challenge, "Basic", 5) && c->basic)
            rc = 0;
        else
            return 0; /* the caller reports the 401 */
        if (rc < 0)
            return rc;
    }
}

/* A message for a failed status, from the registry's error body. */
static int status_error(const struct oci_client *c, const struct resp *r, const char *what, pyro_error *err)
{
    json_auto_t *j = json_loads(r->errbody, 0, NULL);
    const char *msg = json_get_str(json_array_get(json_object_get(j, "errors"), 0), "message", NULL);
    int code = r->status == 404 ? -PYRO_E_NOT_FOUND : r->status == 401 ? -EACCES : r->status == 403 ? -EACCES : -EIO;
    return err_set(err, code, "registry %s: %s: HTTP %ld%s%s%s", c->ref.registry, what, r->status,
                   r->status == 401 ? " unauthorized (no or wrong credentials)" : "", msg ? ": " : "", msg ? msg : "");
}

int oci_client_open(const struct oci_ref *ref, struct oci_client **out, pyro_error *err)
{
    __attribute__((cleanup(oci_client_freep))) struct oci_client *c = xcalloc(1, sizeof(*c));
    c->ref = *ref;
    c->h = curl_easy_init();
    if (!c->h)
        return err_set(err, -ENOMEM, "cannot start libcurl");
    const char *host = !strcmp(ref->registry, OCI_DEFAULT_REGISTRY) ? "registry-1.docker.io" : ref->registry;
    bool insecure = host_listed(getenv("PYRO_OCI_INSECURE"), ref->registry);
    c->basic = oci_auth_lookup(ref->registry);
    /* Ping /v2/: picks the scheme and learns the challenge. */
    for (int i = 0; i < 2; i++) {
        bool http = insecure || i == 1;
        snprintf(c->base, sizeof(c->base), "%s://%s", http ? "http" : "https", host);
        _cleanup_free_ char *url = xasprintf("%s/v2/", c->base);
        struct resp r = {.fd = -1, .cap = 64 * 1024, .limit = -1};
        sha256_init(&r.sha);
        curl_easy_reset(c->h);
        setup(c, url, NULL, &r);
        CURLcode cc = curl_easy_perform(c->h);
        free(r.mem);
        if (cc == CURLE_OK)
            break;
        bool tls_failed = cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING;
        if (i == 0 && !http && tls_failed && host_loopback(ref->registry))
            continue; /* a loopback registry without TLS */
        return err_set(err, -EIO, "registry %s (%s): %s", ref->registry, c->base, curl_easy_strerror(cc));
    }
    *out = TAKE_PTR(c);
    return 0;
}

void oci_client_free(struct oci_client *c)
{
    if (!c)
        return;
    if (c->h)
        curl_easy_cleanup(c->h);
    free(c->basic);
    free(c->bearer);
    free(c);
}

void oci_client_freep(struct oci_client **c)
{
    oci_client_free(*c);
}

void oci_client_set_push(struct oci_client *c)
{
    c->push = true;
    free(c->bearer);
    c->bearer = NULL;
}

int oci_get_manifest(struct oci_client *c, const char *ref, char **body, size_t *len, char *media_type, size_t mtsize,
                     char digest[72], pyro_error *err)
{
    _cleanup_free_ char *url = xasprintf("%s/v2/%s/manifests/%s", c->base, c->ref.repo, ref);
    struct resp r = {.fd = -1, .cap = SMALL_MAX, .limit = -1};
    sha256_init(&r.sha);
    struct curl_slist *hdrs = curl_slist_append(NULL, ACCEPT_MANIFESTS);
    curl_easy_reset(c->h);
    int rc = perform(c, url, hdrs, &r, err);
    curl_slist_free_all(hdrs);
    _cleanup_free_ char *mem = r.mem;
    if (rc < 0)
        return rc;
    if (r.status != 200)
        return status_error(c, &r, r.status == 404 ? "no such image or tag" : "manifest", err);
    if (!mem)
        return err_set(err, -PYRO_E_PROTOCOL, "registry %s: empty manifest", c->ref.registry);
    char hex[SHA256_HEX_LEN];
    sha256_final_hex(&r.sha, hex);
    snprintf(digest, 72, "sha256:%s", hex);
    if (oci_digest_ok(ref) && strcmp(ref, digest))
        return err_set(err, -PYRO_E_CORRUPT, "registry %s: manifest %s has digest %s", c->ref.registry, ref, digest);
    char *semi = strchr(r.ctype, ';');
    if (semi)
        *semi = '\0';
    snprintf(media_type, mtsize, "%s", r.ctype);
    *len = r.len;
    *body = TAKE_PTR(mem);
    return 0;
}

int oci_get_blob_mem(struct oci_client *c, const char *digest, int64_t size, char **body, pyro_error *err)
{
    if (size < 0 || size > SMALL_MAX)
        return err_set(err, -PYRO_E_LIMIT, "blob %s: size %lld is over %u", digest, (long long)size, SMALL_MAX);
    _cleanup_free_ char *url = xasprintf("%s/v2/%s/blobs/%s", c->base, c->ref.repo, digest);
    struct resp r = {.fd = -1, .cap = SMALL_MAX, .limit = size};
    sha256_init(&r.sha);
    curl_easy_reset(c->h);
    int rc = perform(c, url, NULL, &r, err);
    _cleanup_free_ char *mem = r.mem;
    if (rc < 0)
        return rc;
    if (r.status != 200)
        return status_error(c, &r, digest, err);
    char hex[SHA256_HEX_LEN];
    sha256_final_hex(&r.sha, hex);
    if (r.got != size || strcmp(hex, digest + 7))
        return err_set(err, -PYRO_E_CORRUPT, "registry %s: blob %s: got %lld bytes with digest sha256:%s",
                       c->ref.registry, digest, (long long)r.got, hex);
    *body = mem ? TAKE_PTR(mem) : xstrdup("");
    return 0;
}

/* Hashes the first n bytes of fd (a partial download being resumed). */
static int rehash(int fd, int64_t n, struct sha256 *sha)
{
    char buf[65536];
    for (int64_t off = 0; off < n;) {
        size_t want = n - off < (int64_t)sizeof(buf) ? (size_t)(n - off) : sizeof(buf);
        ssize_t k = pread(fd, buf, want, off);
        if (k <= 0)
            return k < 0 ? -errno : -EIO;
        sha256_update(sha, buf, (size_t)k);
        off += k;
    }
    return 0;
}

int oci_get_blob_file(struct pyro_ctx *ctx, struct oci_client *c, const char *digest, int64_t size, int dirfd,
                      pyro_error *err)
{
    if (!oci_digest_ok(digest) || size < 0)
        return err_set(err, -PYRO_E_PROTOCOL, "bad layer descriptor %.80s", digest);
    const char *hex = digest + 7;
    if (oci_blob_present(dirfd, digest, size))
        return 0;
    char partial[80];
    snprintf(partial, sizeof(partial), "%s.partial", hex);
    _cleanup_close_ int fd = openat(dirfd, partial, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return err_errno(err, errno, "open the download of %s", digest);
    struct resp r = {.fd = fd, .limit = size, .ctx = ctx, .what = digest};
    sha256_init(&r.sha);
    struct stat st;
    int64_t have = fstat(fd, &st) == 0 ? st.st_size : 0;
    if (have >= size || rehash(fd, have, &r.sha) < 0) {
        have = 0;
        sha256_init(&r.sha);
    }
    if (ftruncate(fd, have) < 0 || lseek(fd, have, SEEK_SET) < 0)
        return err_errno(err, errno, "prepare the download of %s", digest);
    _cleanup_free_ char *url = xasprintf("%s/v2/%s/blobs/%s", c->base, c->ref.repo, digest);
    char range[64];
    snprintf(range, sizeof(range), "%lld-", (long long)have);
    curl_easy_reset(c->h);
    if (have > 0 && have < size) {
        curl_easy_setopt(c->h, CURLOPT_RANGE, range);
        r.got = have;
        r.base_off = have; /* curl counts the bytes of the range */
        r.resumed = true;
        log_msg(PYRO_LOG_INFO, "resuming the download of %s at %lld of %lld bytes", digest, (long long)have,
                (long long)size);
    }
    int rc = perform(c, url, NULL, &r, err);
    if (r.fd < -1) /* a write failed: ENOSPC and the like */
        return err_errno(err, -(r.fd + 1), "write layer %s", digest);
    if (rc < 0 && r.over) { /* a lie, not an interruption: nothing to resume */
        unlinkat(dirfd, partial, 0);
        return err_prefix(err, "layer %s: download discarded", digest);
    }
    if (rc < 0)
        return err_prefix(err, "layer %s (%lld of %lld bytes kept for a resumed pull)", digest, (long long)r.got,
                          (long long)size);
    if (r.status != 200 && r.status != 206)
        return status_error(c, &r, digest, err);
    char got[SHA256_HEX_LEN];
    sha256_final_hex(&r.sha, got);
    if (r.got != size || strcmp(got, hex)) {
        unlinkat(dirfd, partial, 0);
        return err_set(err, -PYRO_E_CORRUPT,
                       "registry %s: layer %s: got %lld bytes with digest sha256:%s (expected %lld bytes); "
                       "download discarded",
                       c->ref.registry, digest, (long long)r.got, got, (long long)size);
    }
    if (fsync(fd) < 0 || renameat(dirfd, partial, dirfd, hex) < 0)
        return err_errno(err, errno, "store layer %s", digest);
    if (ctx) /* the updates are rate-limited: the last one may not have said so */
        ctx_progress(ctx, "pull", "download", size, size, digest);
    return 0;
}

int oci_request(struct oci_client *c, const char *method, const char *path_or_url, const char *ctype, const char *mem,
                int fd, int64_t len, long *status, char *location, size_t locsize, pyro_error *err)
{
    _cleanup_free_ char *url = strncmp(path_or_url, "http", 4) ? xasprintf("%s%s", c->base, path_or_url)
                                                               : xstrdup(path_or_url);
    struct resp r = {.fd = -1,
                     .cap = 64 * 1024,
                     .limit = -1,
                     .method = method,
                     .up_mem = mem,
                     .up_fd = fd,
                     .up_len = len,
                     .up_type = ctype};
    sha256_init(&r.sha);
    curl_easy_reset(c->h);
    int rc = perform(c, url, NULL, &r, err);
    free(r.mem);
    if (rc < 0)
        return rc;
    *status = r.status;
    if (location)
        snprintf(location, locsize, "%s", r.location);
    if (r.status / 100 != 2 && r.status != 404)
        return status_error(c, &r, method, err);
    return 0;
}

const char *oci_client_base(const struct oci_client *c)
{
    return c->base;
}
