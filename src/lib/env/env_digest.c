/* Digests of environment artifacts: the tree digest of a rootfs and file
 * checksums, used to describe an install (env_manifest.c) and to verify it
 * (env_verify.c). */
#include "lib/env/env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/idmap.h"
#include "base/sha256.h"

#define TREE_MAX_DEPTH 256
#define TREE_MAX_ENTRIES (4 * 1024 * 1024)
#define HASH_BUF (256 * 1024)

struct walk {
    uint32_t id_base; /* ids of the sandbox range hash as their offset */
    struct sha256 meta, full, stamp;
    bool with_content;
    dev_t dev;
    int64_t entries, bytes;
    char path[4096];
    uint8_t *buf;
};

/* An id as the digest records it: relative to the range it was shifted to
 * (base/idmap.h), so an install hashes the same before and after the shift
 * and in a user's host view (where the range is 0..65535 already). */
static unsigned id_rel(uint32_t id, uint32_t base)
{
    return id >= base && id - base < IDMAP_COUNT ? id - base : id;
}

static uint32_t id_base(void)
{
    struct idmap m;
    return geteuid() == 0 && idmap_resolve(&m, NULL) == 0 ? m.uid_base : 0;
}

static int hash_fd(int fd, struct sha256 *s, uint8_t *buf, int64_t *total, pyro_error *err)
{
    for (;;) {
        ssize_t n = read(fd, buf, HASH_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_errno(err, errno, "read");
        if (n == 0)
            return 0;
        sha256_update(s, buf, (size_t)n);
        if (total)
            *total += n;
    }
}

static int file_hash_at(int dirfd, const char *name, uint8_t *buf, char hex[65], int64_t *size, pyro_error *err)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open %s", name);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return err_errno(err, errno, "stat %s", name);
    if (!S_ISREG(st.st_mode))
        return err_set(err, -PYRO_E_CORRUPT, "%s is not a regular file", name);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    struct sha256 s;
    sha256_init(&s);
    int64_t total = 0;
    int r = hash_fd(fd, &s, buf, &total, err);
    if (r < 0)
        return err_prefix(err, "%s", name);
    sha256_final_hex(&s, hex);
    if (size)
        *size = total;
    return 0;
}

int env_file_sha256(int dirfd, const char *name, char hex[65], int64_t *size, pyro_error *err)
{
    _cleanup_free_ uint8_t *buf = xmalloc(HASH_BUF);
    return file_hash_at(dirfd, name, buf, hex, size, err);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the names in dirfd, sorted; *n gets their count. */
static int read_sorted(int dirfd, char ***out, size_t *n, pyro_error *err)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open");
    _cleanup_closedir_ DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return err_errno(err, e, "opendir");
    }
    size_t cap = 16, len = 0;
    _cleanup_strv_ char **names = xcalloc(cap + 1, sizeof(char *));
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (len == cap) {
            cap *= 2;
            names = xrealloc(names, (cap + 1) * sizeof(char *));
        }
        names[len++] = xstrdup(de->d_name);
        names[len] = NULL;
    }
    if (errno)
        return err_errno(err, errno, "readdir");
    qsort(names, len, sizeof(char *), cmp_names);
    *n = len;
    *out = TAKE_PTR(names);
    return 0;
}

void env_stamp_add(struct sha256 *s, const char *name, size_t len, const struct stat *st)
{
    char line[128];
    int ll = snprintf(line, sizeof(line), "%ju %jd %jd.%09ld %jd.%09ld", (uintmax_t)st->st_ino, (intmax_t)st->st_size,
                      (intmax_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (intmax_t)st->st_ctim.tv_sec,
                      st->st_ctim.tv_nsec);
    sha256_update(s, name, len);
    sha256_update(s, line, (size_t)ll + 1);
}

static void hash_both(struct walk *w, const void *data, size_t len)
{
    sha256_update(&w->meta, data, len);
    if (w->with_content)
        sha256_update(&w->full, data, len);
}

static int walk_dir(struct walk *w, int dirfd, size_t plen, int depth, pyro_error *err)
{
    if (depth > TREE_MAX_DEPTH)
        return err_set(err, -PYRO_E_CORRUPT, "%s: tree deeper than %d levels", w->path, TREE_MAX_DEPTH);
    _cleanup_strv_ char **names = NULL;
    size_t n = 0;
    int r = read_sorted(dirfd, &names, &n, err);
    if (r < 0)
        return err_prefix(err, "%s", plen ? w->path : ".");
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i];
        size_t nlen = strlen(name);
        if (plen + 1 + nlen >= sizeof(w->path))
            return err_set(err, -PYRO_E_CORRUPT, "path too long below %s", w->path);
        w->path[plen] = '/';
        memcpy(w->path + plen + 1, name, nlen + 1);
        size_t len = plen + 1 + nlen;
        if (++w->entries > TREE_MAX_ENTRIES)
            return err_set(err, -PYRO_E_LIMIT, "tree has more than %d entries", TREE_MAX_ENTRIES);

        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return err_errno(err, errno, "stat %s", w->path);
        char type = S_ISDIR(st.st_mode)    ? 'd'
                    : S_ISREG(st.st_mode)  ? 'f'
                    : S_ISLNK(st.st_mode)  ? 'l'
                    : S_ISCHR(st.st_mode)  ? 'c'
                    : S_ISBLK(st.st_mode)  ? 'b'
                    : S_ISFIFO(st.st_mode) ? 'p'
                                           : 's';
        int64_t size = type == 'f' || type == 'l' ? (int64_t)st.st_size : 0;
        char line[160];
        int ll = snprintf(line, sizeof(line), "%c %04o %u %u %" PRId64 " %u:%u", type, (unsigned)(st.st_mode & 07777),
                          id_rel(st.st_uid, w->id_base), id_rel(st.st_gid, w->id_base), size,
                          type == 'c' || type == 'b' ? major(st.st_rdev) : 0,
                          type == 'c' || type == 'b' ? minor(st.st_rdev) : 0);
        hash_both(w, w->path, len + 1); /* with its NUL: no ambiguity */
        hash_both(w, line, (size_t)ll + 1);
        env_stamp_add(&w->stamp, w->path, len + 1, &st);

        if (type == 'l') {
            char target[4096];
            ssize_t tl = readlinkat(dirfd, name, target, sizeof(target));
            if (tl < 0)
                return err_errno(err, errno, "readlink %s", w->path);
            hash_both(w, target, (size_t)tl);
        } else if (type == 'f') {
            w->bytes += size;
            if (w->with_content) {
                char hex[65];
                int64_t got = 0;
                r = file_hash_at(dirfd, name, w->buf, hex, &got, err);
                if (r < 0)
                    return r;
                if (got != size)
                    return err_set(err, -PYRO_E_CORRUPT, "%s changed while it was hashed", w->path);
                sha256_update(&w->full, hex, 64);
            }
        } else if (type == 'd') {
            if (st.st_dev != w->dev)
                return err_set(err, -PYRO_E_CORRUPT, "%s is a mount point inside the tree", w->path);
            _cleanup_close_ int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                return err_errno(err, errno, "open %s", w->path);
            hash_both(w, "\n", 1);
            r = walk_dir(w, sub, len, depth + 1, err);
            if (r < 0)
                return r;
            w->path[len] = '\0';
        }
        hash_both(w, "\n", 1);
    }
    return 0;
}

static int digest_walk(int dirfd, const char *name, bool with_content, struct env_tree_digest *out, pyro_error *err)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open %s", name);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return err_errno(err, errno, "stat %s", name);
    _cleanup_free_ struct walk *w = xcalloc(1, sizeof(*w));
    _cleanup_free_ uint8_t *buf = with_content ? xmalloc(HASH_BUF) : NULL;
    w->buf = buf;
    w->with_content = with_content;
    w->dev = st.st_dev;
    w->id_base = id_base();
    sha256_init(&w->meta);
    sha256_init(&w->full);
    sha256_init(&w->stamp);
    env_stamp_add(&w->stamp, ".", 2, &st);
    /* The root's own mode and owner count too. */
    char line[64];
    int ll = snprintf(line, sizeof(line), "d %04o %u %u", (unsigned)(st.st_mode & 07777), id_rel(st.st_uid, w->id_base),
                      id_rel(st.st_gid, w->id_base));
    hash_both(w, line, (size_t)ll + 1);
    int r = walk_dir(w, fd, 0, 0, err);
    if (r < 0)
        return r;
    sha256_final_hex(&w->meta, out->meta);
    sha256_final_hex(&w->stamp, out->stamp);
    if (with_content)
        sha256_final_hex(&w->full, out->full);
    else
        out->full[0] = '\0';
    out->entries = w->entries;
    out->bytes = w->bytes;
    return 0;
}

struct digest_args {
    int dirfd;
    const char *name;
    bool with_content;
    struct env_tree_digest *out; /* shared with the parent */
};

static int digest_fn(void *arg, pyro_error *err)
{
    const struct digest_args *a = arg;
    return digest_walk(a->dirfd, a->name, a->with_content, a->out, err);
}

/* A user's install is owned by the subordinate range, with directories
 * (root's home, ...) the user cannot read: hashed in the host view. */
int env_tree_digest(int dirfd, const char *name, bool with_content, struct env_tree_digest *out, pyro_error *err)
{
    struct idmap m;
    if (geteuid() == 0 || idmap_resolve(&m, NULL) < 0)
        return digest_walk(dirfd, name, with_content, out, err);
    struct env_tree_digest *shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                                          0);
    if (shared == MAP_FAILED)
        return err_errno(err, errno, "mmap");
    struct digest_args a = {dirfd, name, with_content, shared};
    int r = idmap_run(&m, digest_fn, &a, err);
    if (r == 0)
        *out = *shared;
    munmap(shared, sizeof(*shared));
    return r;
}

int64_t env_tree_size(int dirfd, const char *name)
{
    struct env_tree_digest d;
    pyro_error e;
    return env_tree_digest(dirfd, name, false, &d, &e) < 0 ? 0 : d.bytes;
}
