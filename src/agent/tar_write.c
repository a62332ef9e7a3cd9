/* Streaming tar writer: walks a tree depth first in sorted order (so equal
 * trees give equal archives) and emits ustar headers, with a pax extended
 * header in front of entries whose name, link target or size do not fit. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fspath.h"
#include "agent/tar.h"
#include "agent/walk.h"
#include "base/cleanup.h"

#define TARW_DEPTH_MAX 128

struct tarw_dir {
    int fd;
    char **names;
    size_t idx;
    char *prefix; /* archive name of this directory, "" for the top */
};

struct tarw {
    struct tarw_dir stack[TARW_DEPTH_MAX];
    int depth;
    int single_fd; /* a lone file or symlink to emit, -1 when none */
    char *single_name;
    int file_fd;
    uint64_t file_left;
    size_t pad;
    uint8_t *pend;
    size_t pend_len, pend_off, pend_cap;
    uint64_t entries, skipped, total, max_bytes;
    bool trailer_sent;
};

static void octal(char *field, size_t width, uint64_t v)
{
    /* width includes the terminating NUL */
    snprintf(field, width, "%0*llo", (int)(width - 1), (unsigned long long)v);
}

static void pend_reserve(struct tarw *w, size_t more)
{
    if (w->pend_cap - w->pend_len >= more)
        return;
    while (w->pend_cap - w->pend_len < more)
        w->pend_cap = w->pend_cap ? w->pend_cap * 2 : 4096;
    w->pend = xrealloc(w->pend, w->pend_cap);
}

/* Appends one pax record "LEN key=value\n", LEN counting itself. */
static void pax_record(char **buf, size_t *len, const char *key, const char *value)
{
    size_t body = strlen(key) + strlen(value) + 3; /* ' ', '=', '\n' */
    size_t n = body + 1;
    while (n != body + (size_t)snprintf(NULL, 0, "%zu", n))
        n = body + (size_t)snprintf(NULL, 0, "%zu", n);
    *buf = xrealloc(*buf, *len + n + 1);
    snprintf(*buf + *len, n + 1, "%zu %s=%s\n", n, key, value);
    *len += n;
}

static void header_block(uint8_t *blk, const char *name, char type, mode_t mode, uint64_t size, int64_t mtime,
                         uid_t uid, gid_t gid, const char *link)
{
    char *h = (char *)blk;
    memset(blk, 0, TAR_BLOCK);
    strncpy(h, name, 100);
    octal(h + 100, 8, mode & 07777);
    octal(h + 108, 8, uid & 07777777);
    octal(h + 116, 8, gid & 07777777);
    octal(h + 124, 12, size > 077777777777ull ? 0 : size);
    octal(h + 136, 12, mtime < 0 ? 0 : (uint64_t)mtime & 077777777777ull);
    h[156] = type;
    if (link)
        strncpy(h + 157, link, 100);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++)
        sum += blk[i];
    snprintf(h + 148, 8, "%06o", sum);
}

static void emit_entry(struct tarw *w, const char *name, const struct stat *st, const char *link)
{
    char type = S_ISDIR(st->st_mode) ? '5' : S_ISLNK(st->st_mode) ? '2' : '0';
    uint64_t size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
    _cleanup_free_ char *full = S_ISDIR(st->st_mode) ? xasprintf("%s/", name) : xstrdup(name);
    _cleanup_free_ char *pax = NULL;
    size_t pax_len = 0;

    if (strlen(full) > 100)
        pax_record(&pax, &pax_len, "path", full);
    if (link && strlen(link) > 100)
        pax_record(&pax, &pax_len, "linkpath", link);
    if (size > 077777777777ull) {
        char num[32];
        snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
        pax_record(&pax, &pax_len, "size", num);
    }
    if (pax_len) {
        size_t padded = (pax_len + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
        pend_reserve(w, TAR_BLOCK + padded);
        header_block(w->pend + w->pend_len, "PaxHeaders/entry", 'x', 0644, pax_len, st->st_mtim.tv_sec, 0, 0, NULL);
        w->pend_len += TAR_BLOCK;
        memset(w->pend + w->pend_len, 0, padded);
        memcpy(w->pend + w->pend_len, pax, pax_len);
        w->pend_len += padded;
    }
    pend_reserve(w, TAR_BLOCK);
    header_block(w->pend + w->pend_len, full, type, st->st_mode, size, st->st_mtim.tv_sec, st->st_uid, st->st_gid,
                 link);
    w->pend_len += TAR_BLOCK;
    w->entries++;
}

/* Emits the entry name (dirfd/base), opening files for their data and
 * pushing directories. */
static int add_entry(struct tarw *w, int dirfd, const char *base, const char *name, pyro_error *err)
{
    struct stat st;
    if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0; /* removed while we walk */
        return err_errno(err, errno, "stat %s", name);
    }
    if (S_ISREG(st.st_mode)) {
        int fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return err_errno(err, errno, "open %s", name);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return err_set(err, -EIO, "%s changed while archiving", name);
        }
        emit_entry(w, name, &st, NULL);
        if (st.st_size == 0) { /* no data to read: nothing would close it later */
            close(fd);
            return 0;
        }
        w->file_fd = fd;
        w->file_left = (uint64_t)st.st_size;
        w->pad = (TAR_BLOCK - st.st_size % TAR_BLOCK) % TAR_BLOCK;
    } else if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dirfd, base, target, sizeof(target) - 1);
        if (n < 0)
            return err_errno(err, errno, "readlink %s", name);
        target[n] = '\0';
        emit_entry(w, name, &st, target);
    } else if (S_ISDIR(st.st_mode)) {
        if (w->depth >= TARW_DEPTH_MAX)
            return err_set(err, -PYRO_E_LIMIT, "%s: directories nested too deeply", name);
        int fd = openat(dirfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return err_errno(err, errno, "open %s", name);
        char **names = NULL;
        int r = walk_read_names(fd, &names, err);
        if (r < 0) {
            close(fd);
            return r;
        }
        emit_entry(w, name, &st, NULL);
        w->stack[w->depth++] = (struct tarw_dir){.fd = fd, .names = names, .prefix = xstrdup(name)};
    } else {
        w->skipped++;
    }
    return 0;
}

static int advance(struct tarw *w, pyro_error *err)
{
    if (w->single_fd >= 0) {
        int r = add_entry(w, w->single_fd, w->single_name, w->single_name, err);
        close(w->single_fd);
        w->single_fd = -1;
        return r;
    }
    while (w->depth > 0) {
        struct tarw_dir *d = &w->stack[w->depth - 1];
        if (d->names[d->idx]) {
            const char *base = d->names[d->idx++];
            _cleanup_free_ char *name = *d->prefix ? xasprintf("%s/%s", d->prefix, base) : xstrdup(base);
            return add_entry(w, d->fd, base, name, err);
        }
        close(d->fd);
        strv_free(d->names);
        free(d->prefix);
        w->depth--;
    }
    if (!w->trailer_sent) {
        pend_reserve(w, 2 * TAR_BLOCK);
        memset(w->pend + w->pend_len, 0, 2 * TAR_BLOCK);
        w->pend_len += 2 * TAR_BLOCK;
        w->trailer_sent = true;
    }
    return 0;
}

ssize_t tarw_read(struct tarw *w, uint8_t *buf, size_t cap, pyro_error *err)
{
    size_t out = 0;
    while (out < cap) {
        size_t room = cap - out;
        if (w->pend_off < w->pend_len) {
            size_t n = w->pend_len - w->pend_off < room ? w->pend_len - w->pend_off : room;
            memcpy(buf + out, w->pend + w->pend_off, n);
            w->pend_off += n;
            out += n;
            if (w->pend_off == w->pend_len)
                w->pend_off = w->pend_len = 0;
        } else if (w->file_left) {
            size_t want = w->file_left < room ? (size_t)w->file_left : room;
            ssize_t n = read(w->file_fd, buf + out, want);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return err_errno(err, errno, "read");
            if (n == 0) { /* the file shrank: keep the header's promise */
                memset(buf + out, 0, want);
                n = (ssize_t)want;
            }
            out += (size_t)n;
            w->file_left -= (uint64_t)n;
            if (!w->file_left) {
                close(w->file_fd);
                w->file_fd = -1;
            }
        } else if (w->pad) {
            size_t n = w->pad < room ? w->pad : room;
            memset(buf + out, 0, n);
            w->pad -= n;
            out += n;
        } else if (w->trailer_sent) {
            break;
        } else {
            int r = advance(w, err);
            if (r < 0)
                return r;
        }
    }
    w->total += out;
    if (w->max_bytes && w->total > w->max_bytes)
        return err_set(err, -PYRO_E_LIMIT, "archive larger than %llu bytes", (unsigned long long)w->max_bytes);
    return (ssize_t)out;
}

int tarw_open(int rootfd, const char *path, uint64_t max_bytes, struct tarw **out, pyro_error *err)
{
    struct stat st;
    _cleanup_close_ int fd = fspath_open(rootfd, path, O_PATH | O_NOFOLLOW, 0, 0, err);
    if (fd < 0)
        return fd;
    if (fstatat(fd, "", &st, AT_EMPTY_PATH) < 0)
        return err_errno(err, errno, "stat %s", path);
    struct tarw *w = xcalloc(1, sizeof(*w));
    w->single_fd = -1;
    w->file_fd = -1;
    w->max_bytes = max_bytes;
    if (S_ISDIR(st.st_mode)) {
        char **names = NULL;
        int r = walk_read_names(fd, &names, err);
        if (r < 0) {
            free(w);
            return r;
        }
        w->stack[0] = (struct tarw_dir){.fd = TAKE_FD(fd), .names = names, .prefix = xstrdup("")};
        w->depth = 1;
    } else {
        const char *base;
        int dirfd = fspath_open_parent(rootfd, path, false, 0, &base, err);
        if (dirfd < 0) {
            free(w);
            return dirfd;
        }
        w->single_fd = dirfd;
        w->single_name = xstrdup(base);
    }
    *out = w;
    return 0;
}

uint64_t tarw_entries(const struct tarw *w)
{
    return w->entries;
}

uint64_t tarw_skipped(const struct tarw *w)
{
    return w->skipped;
}

void tarw_free(struct tarw *w)
{
    if (!w)
        return;
    while (w->depth > 0) {
        struct tarw_dir *d = &w->stack[--w->depth];
        close(d->fd);
        strv_free(d->names);
        free(d->prefix);
    }
    if (w->single_fd >= 0)
        close(w->single_fd);
    if (w->file_fd >= 0)
        close(w->file_fd);
    free(w->single_name);
    free(w->pend);
    free(w);
}
