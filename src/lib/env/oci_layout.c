/* Reading an OCI image layout directory, the source of `pyro env pull
 * oci:PATH[:tag|@digest]` (docs/environments.md "OCI images"). The layout
 * is untrusted like a registry: a blob is opened only by the name of a
 * validated digest, one component at a time without following a symlink
 * (blobs, sha256, the blob), must be a regular file of its descriptor's
 * size and hash to its digest, and is copied into the blob store with the
 * same checks a download gets. Small documents (index.json, manifests,
 * configs) are capped at 4 MiB. Under the MCP server's host-path policy
 * the layout directory must lie beneath an allowed root. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/timeutil.h"
#include "lib/contract/ctx.h"
#include "lib/env/oci.h"
#include "lib/host/hostpaths.h"

#define SMALL_MAX (4u * 1024 * 1024)
#define REF_NAME "org.opencontainers.image.ref.name"

struct oci_layout {
    int dirfd;  /* the layout directory */
    int blobfd; /* its blobs/sha256 */
    char *path; /* for messages */
};

void oci_layout_free(struct oci_layout *l)
{
    if (!l)
        return;
    if (l->dirfd >= 0)
        close(l->dirfd);
    if (l->blobfd >= 0)
        close(l->blobfd);
    free(l->path);
    free(l);
}

void oci_layout_freep(struct oci_layout **l)
{
    oci_layout_free(*l);
}

/* Opens name beneath dirfd without following a link and without blocking
 * on a FIFO; it must be a regular file (dir false) or a directory. */
static int open_plain(int dirfd, const char *name, bool dir, const char *where, struct stat *st, pyro_error *err)
{
    int fd = openat(dirfd, name, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        return err_set(err, -PYRO_E_CORRUPT, "OCI layout %s: %s is a symlink or not a %s; refused", where, name,
                       dir ? "directory" : "file");
    if (fd < 0)
        return err_errno(err, errno, "OCI layout %s: %s", where, name);
    if (fstat(fd, st) < 0 || (!dir && !S_ISREG(st->st_mode))) {
        close(fd);
        return err_set(err, -PYRO_E_CORRUPT, "OCI layout %s: %s is not a regular file; refused", where, name);
    }
    return fd;
}

/* Reads fd whole (size bytes, at most SMALL_MAX). */
static int read_small(int fd, int64_t size, const char *what, const char *where, char **out, pyro_error *err)
{
    if (size < 0 || size > SMALL_MAX)
        return err_set(err, -PYRO_E_LIMIT, "OCI layout %s: %s is %lld bytes, over %u", where, what, (long long)size,
                       SMALL_MAX);
    _cleanup_free_ char *buf = xmalloc((size_t)size + 1);
    ssize_t n = pread(fd, buf, (size_t)size + 1, 0);
    if (n < 0)
        return err_errno(err, errno, "OCI layout %s: read %s", where, what);
    if (n != size)
        return err_set(err, -PYRO_E_CORRUPT, "OCI layout %s: %s has %zd bytes, expected %lld", where, what, n,
                       (long long)size);
    buf[n] = '\0';
    *out = TAKE_PTR(buf);
    return 0;
}

int oci_layout_open(struct pyro_ctx *ctx, const struct oci_ref *ref, struct oci_layout **out, pyro_error *err)
{
    __attribute__((cleanup(oci_layout_freep))) struct oci_layout *l = xcalloc(1, sizeof(*l));
    l->dirfd = l->blobfd = -1;
    l->path = xstrdup(ref->layout);
    struct stat st;
    int rc;
    if (ctx->host_policy) { /* a caller of the MCP server named it */
        if ((rc = host_open_source(ctx, "environment", ref->layout, &l->dirfd, NULL, err)) < 0)
            return rc;
        if (fstat(l->dirfd, &st) < 0 || !S_ISDIR(st.st_mode))
            return err_set(err, -PYRO_E_INVALID, "OCI layout %s is not a directory", l->path);
    } else if ((l->dirfd = open(ref->layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        return err_errno(err, errno, "OCI layout %s", l->path);
    }
    _cleanup_close_ int vfd = open_plain(l->dirfd, "oci-layout", false, l->path, &st, err);
    if (vfd < 0)
        return vfd;
    _cleanup_free_ char *ver = NULL;
    if ((rc = read_small(vfd, st.st_size, "oci-layout", l->path, &ver, err)) < 0)
        return rc;
    json_auto_t *v = json_loads(ver, 0, NULL);
    if (!json_is_string(json_object_get(v, "imageLayoutVersion")))
        return err_set(err, -PYRO_E_CORRUPT, "OCI layout %s: oci-layout has no imageLayoutVersion", l->path);
    _cleanup_close_ int bfd = open_plain(l->dirfd, "blobs", true, l->path, &st, err);
    if (bfd < 0)
        return bfd;
    if ((l->blobfd = open_plain(bfd, "sha256", true, l->path, &st, err)) < 0)
        return l->blobfd;
    *out = TAKE_PTR(l);
    return 0;
}

/* Opens the blob named by digest; it must have size bytes (-1: any up to
 * SMALL_MAX, *size gets it). */
static int open_blob(struct oci_layout *l, const char *digest, int64_t *size, pyro_error *err)
{
    if (!oci_digest_ok(digest))
        return err_set(err, -PYRO_E_CORRUPT, "OCI layout %s: bad digest '%.80s'", l->path, digest);
    struct stat st;
    int fd = open_plain(l->blobfd, digest + 7, false, l->path, &st, err);
    if (fd < 0)
        return fd;
    if (*size >= 0 && st.st_size != *size) {
        close(fd);
        return err_set(err, -PYRO_E_CORRUPT, "OCI layout %s: blob %s has %lld bytes, its descriptor says %lld", l->path,
                       digest, (long long)st.st_size, (long long)*size);
    }
    *size = st.st_size;
    return fd;
}

static bool hash_is(const char *buf, size_t len, const char *digest)
{
    struct sha256 h;
    char hex[SHA256_HEX_LEN];
    sha256_init(&h);
    sha256_update(&h, buf, len);
    sha256_final_hex(&h, hex);
    return !strcmp(hex, digest + 7);
}

int oci_layout_get_blob_mem(struct oci_layout *l, const char *digest, int64_t size, char **body, pyro_error *err)
{
    _cleanup_close_ int fd = open_blob(l, digest, &size, err);
    if (fd < 0)
        return fd;
    _cleanup_free_ char *buf = NULL;
    int rc = read_small(fd, size, digest, l->path, &buf, err);
    if (rc < 0)
        return rc;
    if (!hash_is(buf, (size_t)size, digest))
        return err_set(err, -PYRO_E_CORRUPT, "OCI layout %s: blob %s does not hash to its digest; refused", l->path,
                       digest);
    *body = TAKE_PTR(buf);
    return 0;
}

/* The descriptor index.json gives tag: the entry of that ref.name, else
 * the only entry when it has no name. */
static int find_tag(struct oci_layout *l, const char *tag, char digest[72], int64_t *size, char *mt, size_t mtsize,
                    pyro_error *err)
{
    struct stat st;
    _cleanup_close_ int fd = open_plain(l->dirfd, "index.json", false, l->path, &st, err);
    if (fd < 0)
        return fd;
    _cleanup_free_ char *text = NULL;
    int rc = read_small(fd, st.st_size, "index.json", l->path, &text, err);
    if (rc < 0)
        return rc;
    json_auto_t *idx = json_loads(text, 0, NULL);
    const json_t *ms = json_object_get(idx, "manifests");
    if (!json_is_array(ms))
        return err_set(err, -PYRO_E_CORRUPT, "OCI layout %s: index.json has no manifests array", l->path);
    const json_t *pick = NULL;
    size_t i;
    json_t *d;
    json_array_foreach(ms, i, d)
        if (!strcmp(json_get_str(json_object_get(d, "annotations"), REF_NAME, ""), tag))
            pick = d;
    if (!pick && json_array_size(ms) == 1 &&
        !json_get_str(json_object_get(json_array_get(ms, 0), "annotations"), REF_NAME, NULL))
        pick = json_array_get(ms, 0);
    if (!pick)
        return err_set(err, -PYRO_E_NOT_FOUND, "OCI layout %s has no image tagged '%s'", l->path, tag);
    const char *dg = json_get_str(pick, "digest", NULL);
    *size = json_get_int(pick, "size", -1);
    if (!oci_digest_ok(dg) || *size < 0)
        return err_set(err, -PYRO_E_CORRUPT, "OCI layout %s: the entry of '%s' has no valid digest and size", l->path,
                       tag);
    snprintf(digest, 72, "%s", dg);
    snprintf(mt, mtsize, "%s", json_get_str(pick, "mediaType", ""));
    return 0;
}

int oci_layout_get_manifest(struct oci_layout *l, const char *ref, char **body, size_t *len, char *media_type,
                            size_t mtsize, char digest[72], pyro_error *err)
{
    int64_t size = -1;
    media_type[0] = '\0';
    int rc = 0;
    if (oci_digest_ok(ref))
        snprintf(digest, 72, "%s", ref);
    else if ((rc = find_tag(l, ref, digest, &size, media_type, mtsize, err)) < 0)
        return rc;
    if ((rc = oci_layout_get_blob_mem(l, digest, size, body, err)) < 0)
        return rc;
    *len = strlen(*body);
    return 0;
}

int oci_layout_get_blob_file(struct pyro_ctx *ctx, struct oci_layout *l, const char *digest, int64_t size, int dirfd,
                             pyro_error *err)
{
    if (!oci_digest_ok(digest) || size < 0)
        return err_set(err, -PYRO_E_CORRUPT, "bad layer descriptor %.80s", digest);
    const char *hex = digest + 7;
    if (oci_blob_present(dirfd, digest, size))
        return 0;
    _cleanup_close_ int in = open_blob(l, digest, &size, err);
    if (in < 0)
        return in;
    char partial[80];
    snprintf(partial, sizeof(partial), "%s.partial", hex);
    _cleanup_close_ int out = openat(dirfd, partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (out < 0)
        return err_errno(err, errno, "create the copy of %s", digest);
    struct sha256 h;
    sha256_init(&h);
    char buf[1 << 16];
    int64_t got = 0, last = 0;
    int rc = 0;
    while (rc == 0) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = err_errno(err, errno, "OCI layout %s: read %s", l->path, digest);
        if (n <= 0)
            break;
        if (got + n > size) {
            rc = err_set(err, -PYRO_E_CORRUPT, "OCI layout %s: blob %s grew while it was read", l->path, digest);
            break;
        }
        sha256_update(&h, buf, (size_t)n);
        for (ssize_t off = 0; off < n && rc == 0;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR)
                rc = err_errno(err, errno, "write layer %s", digest);
            off += w > 0 ? w : 0;
        }
        got += n;
        int64_t now = time_mono_ms();
        if (now - last >= 200) {
            last = now;
            ctx_progress(ctx, "pull", "download", got, size, digest);
        }
    }
    char have[SHA256_HEX_LEN];
    sha256_final_hex(&h, have);
    if (rc == 0 && (got != size || strcmp(have, hex)))
        rc = err_set(err, -PYRO_E_CORRUPT,
                     "OCI layout %s: layer %s: read %lld bytes with digest sha256:%s (expected %lld bytes); refused",
                     l->path, digest, (long long)got, have, (long long)size);
    if (rc == 0 && (fsync(out) < 0 || renameat(dirfd, partial, dirfd, hex) < 0))
        rc = err_errno(err, errno, "store layer %s", digest);
    if (rc < 0) {
        unlinkat(dirfd, partial, 0);
        return rc;
    }
    ctx_progress(ctx, "pull", "download", size, size, digest);
    return 0;
}
