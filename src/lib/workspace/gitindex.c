#include "lib/workspace/gitindex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"

/* ctime, mtime (8 bytes each), dev, ino, mode, uid, gid, size (4 each). */
#define ENTRY_STAT 40
#define FLAG_EXTENDED 0x4000
#define NAME_MASK 0xfff

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* git's offset varint (varint.c); false when it runs past end or overflows. */
static bool varint(const unsigned char **p, const unsigned char *end, size_t *out)
{
    if (*p >= end)
        return false;
    unsigned char c = *(*p)++;
    size_t v = c & 127;
    while (c & 128) {
        if (*p >= end || v >= (SIZE_MAX >> 8))
            return false;
        c = *(*p)++;
        v = ((v + 1) << 7) + (c & 127);
    }
    *out = v;
    return true;
}

/* The 12-bit name length of the flags: exact, or 0xfff for longer names. */
static bool name_len_ok(uint16_t flags, size_t len)
{
    return (flags & NAME_MASK) == NAME_MASK ? len >= NAME_MASK : len == (flags & NAME_MASK);
}

/* One parse with hash length hl. Returns 0, -1 when the layout does not
 * fit (try another hash length), or -2 for a split index. */
static int parse_with(const unsigned char *b, size_t n, size_t hl, json_t *out)
{
    uint32_t version = be32(b + 4), count = be32(b + 8);
    const unsigned char *end = b + n - hl; /* the trailing checksum */
    const unsigned char *p = b + 12;
    _cleanup_free_ char *prev = xstrdup("");
    size_t prev_len = 0;
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *start = p;
        if ((size_t)(end - p) < ENTRY_STAT + hl + 2)
            return -1;
        uint32_t mode = be32(p + 24);
        uint16_t flags = be16(p + ENTRY_STAT + hl);
        p += ENTRY_STAT + hl + 2;
        if (flags & FLAG_EXTENDED) {
            if (version < 3 || end - p < 2)
                return -1;
            p += 2;
        }
        char *name;
        size_t len;
        if (version == 4) {
            size_t strip;
            if (!varint(&p, end, &strip) || strip > prev_len)
                return -1;
            const unsigned char *nul = memchr(p, '\0', (size_t)(end - p));
            if (!nul)
                return -1;
            size_t keep = prev_len - strip, add = (size_t)(nul - p);
            len = keep + add;
            name = xmalloc(len + 1);
            memcpy(name, prev, keep);
            memcpy(name + keep, p, add);
            name[len] = '\0';
            p = nul + 1;
            if (!name_len_ok(flags, len)) {
                free(name);
                return -1;
            }
        } else {
            const unsigned char *nul = memchr(p, '\0', (size_t)(end - p));
            if (!nul)
                return -1;
            len = (size_t)(nul - p);
            if (!name_len_ok(flags, len))
                return -1;
            /* Entries are padded with 1 to 8 NULs to a multiple of 8. */
            size_t size = ((size_t)(p - start) + len + 8) & ~(size_t)7;
            if (size > (size_t)(end - start))
                return -1;
            for (const unsigned char *q = nul; q < start + size; q++)
                if (*q)
                    return -1;
            name = xstrndup((const char *)p, len);
            p = start + size;
        }
        /* Sparse-index directory entries (mode 040000) name a directory;
         * a split index's main file has nameless entries (it is refused
         * at its "link" extension below). */
        if (len && (mode & 0170000) != 0040000)
            json_array_append_new(out, json_bytes(name, len, NULL));
        free(prev);
        prev = name;
        prev_len = len;
    }
    /* Extensions: a 4-byte signature and a 32-bit size each, up to the
     * checksum. */
    while (p < end) {
        if (end - p < 8)
            return -1;
        uint32_t size = be32(p + 4);
        if (size > (size_t)(end - p) - 8)
            return -1;
        if (!memcmp(p, "link", 4))
            return -2;
        p += 8 + size;
    }
    return 0;
}

int gitindex_parse(const unsigned char *buf, size_t len, json_t **paths, pyro_error *err)
{
    *paths = NULL;
    if (len < 12 + 20 || memcmp(buf, "DIRC", 4))
        return err_set(err, -PYRO_E_INVALID, "the git index is not an index file (no DIRC header)");
    uint32_t version = be32(buf + 4);
    if (version < 2 || version > 4)
        return err_set(err, -PYRO_E_INVALID, "the git index has version %u (versions 2 to 4 are read)", version);
    /* SHA-1 or SHA-256: the layout tells which (every length must fit). */
    static const size_t hash_len[] = {20, 32};
    for (size_t h = 0; h < ARRAY_SIZE(hash_len); h++) {
        if (len < 12 + hash_len[h])
            continue;
        json_t *out = json_array();
        int r = parse_with(buf, len, hash_len[h], out);
        if (r == 0) {
            *paths = out;
            return 0;
        }
        json_decref(out);
        if (r == -2)
            return err_set(err, -PYRO_E_UNSUPPORTED,
                           "the git index is split (core.splitIndex); run 'git update-index --no-split-index' "
                           "in the checkout, or give seed_path");
    }
    return err_set(err, -PYRO_E_INVALID, "the git index is malformed (truncated or inconsistent entries)");
}

/* Reads a regular file into memory: no symlink as last component, no
 * blocking open of a fifo, at most max bytes. -ENOENT when absent. */
static int slurp(int dirfd, const char *path, size_t max, unsigned char **out, size_t *len, pyro_error *err)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT : err_errno(err, errno, "open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return err_errno(err, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode))
        return err_set(err, -PYRO_E_INVALID, "%s is not a regular file", path);
    if ((size_t)st.st_size > max)
        return err_set(err, -PYRO_E_LIMIT, "%s is larger than %zu bytes", path, max);
    size_t cap = (size_t)st.st_size, n = 0;
    _cleanup_free_ unsigned char *buf = xmalloc(cap + 1);
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return err_errno(err, errno, "read %s", path);
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *out = TAKE_PTR(buf);
    *len = n;
    return 0;
}

int gitindex_tracked(int dirfd, json_t **paths, pyro_error *err)
{
    *paths = NULL;
    struct stat st;
    if (fstatat(dirfd, ".git", &st, AT_SYMLINK_NOFOLLOW) < 0)
        return err_errno(err, errno, "stat .git");
    _cleanup_free_ char *index = NULL;
    if (S_ISDIR(st.st_mode)) {
        index = xstrdup(".git/index");
    } else if (S_ISREG(st.st_mode)) {
        _cleanup_free_ unsigned char *txt = NULL;
        size_t n = 0;
        int r = slurp(dirfd, ".git", 4096, &txt, &n, err);
        if (r < 0)
            return r == -ENOENT ? err_errno(err, ENOENT, "open .git") : r;
        char *s = (char *)txt;
        if (strncmp(s, "gitdir: ", 8) != 0 || memchr(s, '\0', n))
            return err_set(err, -PYRO_E_INVALID, "the .git file does not say 'gitdir: DIR'");
        s += 8;
        s[strcspn(s, "\r\n")] = '\0';
        if (!*s)
            return err_set(err, -PYRO_E_INVALID, "the .git file names no directory");
        index = xasprintf("%s/index", s);
    } else {
        return err_set(err, -PYRO_E_INVALID, ".git is neither a directory nor a 'gitdir:' file");
    }
    _cleanup_free_ unsigned char *buf = NULL;
    size_t len = 0;
    int r = slurp(dirfd, index, GITINDEX_MAX_BYTES, &buf, &len, err);
    if (r == -ENOENT) { /* a fresh repository: nothing tracked yet */
        *paths = json_array();
        return 0;
    }
    if (r < 0)
        return r;
    return gitindex_parse(buf, len, paths, err);
}
