/* The HTTP transport's bearer token (docs/mcp.md "HTTP transport
 * security"). Every request needs it: from --auth-token-file, or a random
 * one written to a new 0600 file in the state directory. Only its SHA-256
 * is kept; requests are compared by digest in constant time, so neither
 * the token's bytes nor its length leak through timing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/paths.h"
#include "mcp/http.h"

#define TOKEN_MIN 16
#define TOKEN_MAX 4096

static void digest_of(const char *s, size_t n, uint8_t out[SHA256_DIGEST_LEN])
{
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, s, n);
    sha256_final(&h, out);
}

int http_auth_load(struct http_auth *a, const char *file, pyro_error *err)
{
    _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return err_errno(err, errno, "--auth-token-file %s", file);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return err_errno(err, errno, "--auth-token-file %s", file);
    if (!S_ISREG(st.st_mode))
        return err_set(err, -PYRO_E_INVALID, "--auth-token-file %s is not a regular file", file);
    if (st.st_mode & 0077)
        return err_set(err, -PYRO_E_INVALID,
                       "--auth-token-file %s is open to other users (mode %04o): the token would be theirs too; "
                       "chmod 600 it",
                       file, (unsigned)(st.st_mode & 07777));
    char buf[TOKEN_MAX + 2];
    size_t n = 0;
    while (n < sizeof(buf)) {
        ssize_t k = read(fd, buf + n, sizeof(buf) - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return err_errno(err, errno, "--auth-token-file %s", file);
        if (k == 0)
            break;
        n += (size_t)k;
    }
    size_t len = 0;
    while (len < n && buf[len] != '\n' && buf[len] != '\r')
        len++;
    if (len > TOKEN_MAX)
        return err_set(err, -PYRO_E_INVALID, "--auth-token-file %s: the token is longer than %d characters", file,
                       TOKEN_MAX);
    if (len < TOKEN_MIN)
        return err_set(err, -PYRO_E_INVALID, "--auth-token-file %s: the token must be at least %d characters", file,
                       TOKEN_MIN);
    for (size_t i = 0; i < len; i++)
        if (buf[i] <= 0x20 || buf[i] >= 0x7f)
            return err_set(err, -PYRO_E_INVALID, "--auth-token-file %s: the token must be visible ASCII without spaces",
                           file);
    digest_of(buf, len, a->digest);
    explicit_bzero(buf, sizeof(buf));
    a->generated = NULL;
    return 0;
}

int http_auth_generate(struct http_auth *a, const char *state_dir, pyro_error *err)
{
    _cleanup_free_ char *dir = xasprintf("%s/mcp", state_dir);
    int r = mkdir_p(dir, 0700, err);
    if (r < 0)
        return r;
    uint8_t rnd[32];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return err_errno(err, errno, "getrandom");
    char token[2 * sizeof(rnd) + 2];
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(token + 2 * i, 3, "%02x", rnd[i]);
    explicit_bzero(rnd, sizeof(rnd));
    size_t len = 2 * sizeof(rnd);
    _cleanup_free_ char *path = xasprintf("%s/http-token.XXXXXX", dir);
    /* O_CREAT|O_EXCL, mode 0600, a name nobody else holds. */
    _cleanup_close_ int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "cannot create a token file in %s", dir);
    (void)fchmod(fd, 0600);
    token[len] = '\n';
    bool ok = write(fd, token, len + 1) == (ssize_t)(len + 1) && fsync(fd) == 0;
    int e = errno;
    digest_of(token, len, a->digest);
    explicit_bzero(token, sizeof(token));
    if (!ok) {
        unlink(path);
        return err_errno(err, e, "cannot write the token file %s", path);
    }
    a->generated = TAKE_PTR(path);
    return 0;
}

void http_auth_fini(struct http_auth *a)
{
    if (a->generated)
        (void)unlink(a->generated);
    free(a->generated);
    a->generated = NULL;
    explicit_bzero(a->digest, sizeof(a->digest));
}

bool http_auth_bearer_ok(const uint8_t digest[SHA256_DIGEST_LEN], const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t n = strlen(tok);
    while (n && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
        n--;
    uint8_t given[SHA256_DIGEST_LEN];
    digest_of(tok, n, given);
    unsigned char diff = 0;
    for (size_t i = 0; i < SHA256_DIGEST_LEN; i++)
        diff |= (unsigned char)(given[i] ^ digest[i]);
    return n > 0 && diff == 0;
}
