/* Streaming, safe tar extraction. Bytes are pushed in as they arrive; each
 * entry is created beneath the destination with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS), so nothing is ever written through a symlink, and
 * names, link targets and types are checked before anything is created. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fspath.h"
#include "agent/tar.h"
#include "base/cleanup.h"
#include "base/relpath.h"

#define META_MAX (1u * 1024 * 1024)

enum tarx_state { TX_HEADER, TX_DATA, TX_META, TX_PAD, TX_DONE };

struct tarx {
    int destfd;
    uint64_t max_entries, max_bytes, entries, bytes;
    enum tarx_state st;
    uint8_t blk[TAR_BLOCK];
    size_t blk_len;
    int zero_blocks;
    /* overrides for the next entry, from pax 'x' and GNU 'L'/'K' entries */
    char *next_path, *next_link;
    int64_t next_size;
    /* current meta entry */
    char meta_type;
    uint8_t *meta;
    size_t meta_len, meta_need;
    /* current data */
    int fd;
    uint64_t left;
    size_t pad;
};

static uint64_t parse_num(const uint8_t *f, size_t w, bool *ok)
{
    uint64_t v = 0;
    *ok = true;
    if (f[0] & 0x80) { /* base-256 (GNU) */
        if (f[0] != 0x80) {
            *ok = false;
            return 0;
        }
        for (size_t i = 1; i < w; i++) {
            if (v >> 56) {
                *ok = false;
                return 0;
            }
            v = v << 8 | f[i];
        }
        return v;
    }
    size_t i = 0;
    while (i < w && f[i] == ' ')
        i++;
    for (; i < w && f[i] >= '0' && f[i] <= '7'; i++)
        v = v * 8 + (uint64_t)(f[i] - '0');
    for (; i < w; i++)
        if (f[i] != ' ' && f[i] != '\0')
            *ok = false;
    return v;
}

static bool checksum_ok(const uint8_t *b)
{
    bool ok;
    uint64_t want = parse_num(b + 148, 8, &ok);
    unsigned long u = 0;
    long s = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++) {
        uint8_t c = (i >= 148 && i < 156) ? ' ' : b[i];
        u += c;
        s += (signed char)c;
    }
    return ok && (want == u || (long)want == s);
}

static char *field_str(const uint8_t *f, size_t w)
{
    size_t n = strnlen((const char *)f, w);
    return xstrndup((const char *)f, n);
}

/* Parses pax records; keeps path, linkpath and size. */
static int pax_parse(struct tarx *x, pyro_error *err)
{
    const char *p = (const char *)x->meta, *end = p + x->meta_len;
    while (p < end) {
        size_t len = 0;
        const char *q = p;
        while (q < end && *q >= '0' && *q <= '9' && len < META_MAX)
            len = len * 10 + (size_t)(*q++ - '0');
        if (q == p || q >= end || *q != ' ' || len > (size_t)(end - p) || len < (size_t)(q - p) + 3 ||
            p[len - 1] != '\n')
            return err_set(err, -PYRO_E_INVALID, "tar: malformed pax header");
        const char *kv = q + 1, *rec_end = p + len - 1;
        const char *eq = memchr(kv, '=', (size_t)(rec_end - kv));
        if (!eq)
            return err_set(err, -PYRO_E_INVALID, "tar: malformed pax record");
        size_t klen = (size_t)(eq - kv);
        const char *val = eq + 1;
        size_t vlen = (size_t)(rec_end - val);
        if (memchr(val, '\0', vlen))
            return err_set(err, -PYRO_E_INVALID, "tar: NUL in pax value");
        if (klen == 4 && memcmp(kv, "path", 4) == 0) {
            free(x->next_path);
            x->next_path = xstrndup(val, vlen);
        } else if (klen == 8 && memcmp(kv, "linkpath", 8) == 0) {
            free(x->next_link);
            x->next_link = xstrndup(val, vlen);
        } else if (klen == 4 && memcmp(kv, "size", 4) == 0) {
            int64_t v = 0;
            if (!vlen || vlen > 18)
                return err_set(err, -PYRO_E_INVALID, "tar: bad pax size");
            for (size_t i = 0; i < vlen; i++) {
                if (val[i] < '0' || val[i] > '9')
                    return err_set(err, -PYRO_E_INVALID, "tar: bad pax size");
                v = v * 10 + (val[i] - '0');
            }
            x->next_size = v;
        }
        p += len;
    }
    return 0;
}

static void reset_overrides(struct tarx *x)
{
    free(x->next_path);
    free(x->next_link);
    x->next_path = x->next_link = NULL;
    x->next_size = -1;
}

/* Removes whatever non-directory sits at dirfd/base so a new entry can
 * take its place (never following it). */
static int clear_slot(int dirfd, const char *base, const char *name, bool want_dir, pyro_error *err)
{
    struct stat st;
    if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : err_errno(err, errno, "tar: stat %s", name);
    if (S_ISDIR(st.st_mode))
        return want_dir ? 1 : err_set(err, -EISDIR, "tar: %s exists as a directory", name);
    if (unlinkat(dirfd, base, 0) < 0)
        return err_errno(err, errno, "tar: replace %s", name);
    return 0;
}

static int create_entry(struct tarx *x, char type, const char *name, mode_t mode, uint64_t size, const char *link,
                        pyro_error *err)
{
    const char *base;
    _cleanup_close_ int dirfd = fspath_open_parent(x->destfd, name, true, RESOLVE_NO_SYMLINKS, &base, err);
    if (dirfd < 0)
        return err_prefix(err, "tar: %s", name);
    int r;
    switch (type) {
    case '5':
        r = clear_slot(dirfd, base, name, true, err);
        if (r < 0)
            return r;
        if (r == 0 && mkdirat(dirfd, base, (mode & 0777) | 0700) < 0)
            return err_errno(err, errno, "tar: mkdir %s", name);
        return 0;
    case '2':
        if ((r = relpath_link_check(name, link, err)) < 0) {
            err_prefix(err, "tar");
            return r;
        }
        r = clear_slot(dirfd, base, name, false, err);
        if (r < 0)
            return r;
        if (symlinkat(link, dirfd, base) < 0)
            return err_errno(err, errno, "tar: symlink %s", name);
        return 0;
    case '1': {
        _cleanup_free_ char *src = NULL;
        if ((r = relpath_normalize(link, 0, &src, err)) < 0) {
            err_prefix(err, "tar: hard link %s", name);
            return r;
        }
        const char *sbase;
        _cleanup_close_ int sdir = fspath_open_parent(x->destfd, src, false, RESOLVE_NO_SYMLINKS, &sbase, err);
        if (sdir < 0)
            return err_prefix(err, "tar: hard link %s", name);
        struct stat st;
        if (fstatat(sdir, sbase, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            return err_set(err, -PYRO_E_INVALID, "tar: hard link %s -> %s: not an extracted file", name, link);
        r = clear_slot(dirfd, base, name, false, err);
        if (r < 0)
            return r;
        if (linkat(sdir, sbase, dirfd, base, 0) < 0)
            return err_errno(err, errno, "tar: link %s", name);
        return 0;
    }
    default: /* regular file */
        r = clear_slot(dirfd, base, name, false, err);
        if (r < 0)
            return r;
        x->fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
        if (x->fd < 0)
            return err_errno(err, errno, "tar: create %s", name);
        (void)fchmod(x->fd, mode & 0777);
        (void)size;
        return 0;
    }
}

static void begin_skip(struct tarx *x, uint64_t size)
{
    x->left = size;
    x->pad = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
    x->st = size ? TX_DATA : TX_PAD;
}

static int on_header(struct tarx *x, pyro_error *err)
{
    const uint8_t *b = x->blk;
    bool zero = true, ok;
    for (size_t i = 0; i < TAR_BLOCK && zero; i++)
        zero = b[i] == 0;
    if (zero) {
        if (++x->zero_blocks >= 2)
            x->st = TX_DONE;
        return 0;
    }
    x->zero_blocks = 0;
    if (!checksum_ok(b) || memcmp(b + 257, "ustar", 5) != 0)
        return err_set(err, -PYRO_E_INVALID, "tar: not a ustar header (bad checksum or magic)");
    uint64_t size = parse_num(b + 124, 12, &ok);
    if (!ok)
        return err_set(err, -PYRO_E_INVALID, "tar: bad size field");
    char type = (char)b[156];

    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
        if (size > META_MAX)
            return err_set(err, -PYRO_E_LIMIT, "tar: extended header of %llu bytes", (unsigned long long)size);
        x->meta_type = type;
        x->meta_need = (size_t)size;
        x->meta_len = 0;
        x->meta = xrealloc(x->meta, x->meta_need + 1);
        x->pad = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
        x->st = size ? TX_META : TX_PAD;
        if (!size)
            x->meta_type = 0;
        return 0;
    }
    if (x->next_size >= 0)
        size = (uint64_t)x->next_size;

    _cleanup_free_ char *raw = NULL;
    if (x->next_path) {
        raw = xstrdup(x->next_path);
    } else {
        _cleanup_free_ char *nm = field_str(b, 100), *pre = field_str(b + 345, 155);
        raw = *pre ? xasprintf("%s/%s", pre, nm) : xstrdup(nm);
    }
    _cleanup_free_ char *link = x->next_link ? xstrdup(x->next_link) : field_str(b + 157, 100);
    reset_overrides(x);

    _cleanup_free_ char *name = NULL;
    int r = relpath_normalize(raw, 0, &name, err);
    if (r < 0) {
        err_prefix(err, "tar: entry");
        return r;
    }
    if (++x->entries > x->max_entries)
        return err_set(err, -PYRO_E_LIMIT, "tar: more than %llu entries", (unsigned long long)x->max_entries);
    mode_t mode = (mode_t)parse_num(b + 100, 8, &ok);
    switch (type) {
    case '0':
    case '\0':
    case '7':
        if (size > x->max_bytes - x->bytes) /* x->bytes <= max_bytes: no overflow */
            return err_set(err, -PYRO_E_LIMIT, "tar: more than %llu bytes of file data",
                           (unsigned long long)x->max_bytes);
        x->bytes += size;
        type = '0';
        break;
    case '1':
    case '2':
    case '5': break;
    case '3':
    case '4': return err_set(err, -PYRO_E_INVALID, "tar: %s is a device node", name);
    case '6': return err_set(err, -PYRO_E_INVALID, "tar: %s is a fifo", name);
    default: return err_set(err, -PYRO_E_INVALID, "tar: %s has unsupported type '%c'", name, type);
    }
    r = create_entry(x, type, name, mode, size, link, err);
    if (r < 0)
        return r;
    begin_skip(x, size); /* data of links and directories, if any, is skipped */
    return 0;
}

int tarx_feed(struct tarx *x, const uint8_t *buf, size_t len, pyro_error *err)
{
    while (len) {
        size_t n;
        int r;
        switch (x->st) {
        case TX_DONE: return 0; /* whatever follows the end marker is ignored */
        case TX_HEADER:
            n = TAR_BLOCK - x->blk_len < len ? TAR_BLOCK - x->blk_len : len;
            memcpy(x->blk + x->blk_len, buf, n);
            x->blk_len += n;
            buf += n;
            len -= n;
            if (x->blk_len == TAR_BLOCK) {
                x->blk_len = 0;
                r = on_header(x, err);
                if (r < 0)
                    return r;
            }
            break;
        case TX_META:
            n = x->meta_need - x->meta_len < len ? x->meta_need - x->meta_len : len;
            memcpy(x->meta + x->meta_len, buf, n);
            x->meta_len += n;
            buf += n;
            len -= n;
            if (x->meta_len == x->meta_need) {
                x->meta[x->meta_len] = '\0';
                if (x->meta_type == 'x') {
                    r = pax_parse(x, err);
                    if (r < 0)
                        return r;
                } else if (x->meta_type == 'L' || x->meta_type == 'K') {
                    char **slot = x->meta_type == 'L' ? &x->next_path : &x->next_link;
                    free(*slot);
                    *slot = xstrndup((const char *)x->meta, strnlen((const char *)x->meta, x->meta_len));
                }
                x->st = TX_PAD;
            }
            break;
        case TX_DATA:
            n = x->left < len ? (size_t)x->left : len;
            if (x->fd >= 0) {
                for (size_t done = 0; done < n;) {
                    ssize_t w = write(x->fd, buf + done, n - done);
                    if (w < 0 && errno == EINTR)
                        continue;
                    if (w < 0)
                        return err_errno(err, errno, "tar: write");
                    done += (size_t)w;
                }
            }
            buf += n;
            len -= n;
            x->left -= n;
            if (!x->left)
                x->st = TX_PAD;
            break;
        case TX_PAD:
        default:
            n = x->pad < len ? x->pad : len;
            buf += n;
            len -= n;
            x->pad -= n;
            break;
        }
        if (x->st == TX_PAD && !x->pad) {
            if (x->fd >= 0) {
                close(x->fd);
                x->fd = -1;
            }
            x->st = TX_HEADER;
        }
    }
    return 0;
}

int tarx_finish(struct tarx *x, pyro_error *err)
{
    if (x->st == TX_DONE || (x->st == TX_HEADER && x->blk_len == 0 && !x->next_path && !x->next_link))
        return 0;
    return err_set(err, -PYRO_E_INVALID, "tar: archive is truncated");
}

struct tarx *tarx_new(int destfd, uint64_t max_entries, uint64_t max_bytes)
{
    struct tarx *x = xcalloc(1, sizeof(*x));
    x->destfd = destfd;
    x->max_entries = max_entries;
    x->max_bytes = max_bytes;
    x->next_size = -1;
    x->fd = -1;
    return x;
}

uint64_t tarx_entries(const struct tarx *x)
{
    return x->entries;
}

uint64_t tarx_bytes(const struct tarx *x)
{
    return x->bytes;
}

void tarx_free(struct tarx *x)
{
    if (!x)
        return;
    if (x->fd >= 0)
        close(x->fd);
    reset_overrides(x);
    free(x->meta);
    free(x);
}
