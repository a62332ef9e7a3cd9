#include "base/record.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/id.h"
#include "base/json.h"

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int write_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode, pyro_error *err)
{
    return write_atomic_at_flags(dirfd, name, data, len, mode, 0, err);
}

int write_atomic_at_flags(int dirfd, const char *name, const void *data, size_t len, mode_t mode, unsigned flags,
                          pyro_error *err)
{
    bool sync = !(flags & PYRO_WRITE_NOSYNC);
    char rnd[9];
    char tmp[512];
    int r;

    id_random(rnd, sizeof(rnd));
    if (snprintf(tmp, sizeof(tmp), ".%s.tmp-%s", name, rnd) >= (int)sizeof(tmp))
        return err_set(err, -PYRO_E_INVALID, "file name too long: %s", name);

    _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return err_errno(err, errno, "create %s", tmp);
    r = write_all(fd, data, len);
    if (r == 0 && sync && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && fchmod(fd, mode) < 0)
        r = -errno;
    if (r < 0) {
        unlinkat(dirfd, tmp, 0);
        return err_errno(err, -r, "write %s", name);
    }
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return err_errno(err, e, "rename into %s", name);
    }
    if (sync && fsync(dirfd) < 0 && errno != EINVAL)
        return err_errno(err, errno, "fsync directory of %s", name);
    return 0;
}

static int write_atomic_path(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                             pyro_error *err)
{
    _cleanup_free_ char *d1 = xstrdup(path);
    _cleanup_free_ char *d2 = xstrdup(path);
    const char *dir = dirname(d1);
    const char *base = basename(d2);
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_errno(err, errno, "open directory %s", dir);
    int r = write_atomic_at_flags(dfd, base, data, len, mode, flags, err);
    if (r < 0)
        return err_prefix(err, "%s", path);
    return 0;
}

int write_atomic(const char *path, const void *data, size_t len, mode_t mode, pyro_error *err)
{
    return write_atomic_path(path, data, len, mode, 0, err);
}

int record_parse(const char *buf, size_t len, json_t **out, pyro_error *err)
{
    json_t *v = NULL;
    if (len > PYRO_RECORD_MAX)
        return err_set(err, -PYRO_E_CORRUPT, "record of %zu bytes exceeds the %u byte limit", len, PYRO_RECORD_MAX);
    pyro_error perr = {0};
    if (json_parse(buf, len, &v, &perr) < 0)
        return err_set(err, -PYRO_E_CORRUPT, "%s", perr.message);
    if (!json_is_object(v)) {
        json_decref(v);
        return err_set(err, -PYRO_E_CORRUPT, "record is not a JSON object");
    }
    json_t *sv = json_object_get(v, "schema_version");
    if (sv && (!json_is_integer(sv) || json_integer_value(sv) < 1)) {
        json_decref(v);
        return err_set(err, -PYRO_E_CORRUPT, "record schema_version must be a positive integer");
    }
    *out = v;
    return 0;
}

int read_file_at(int dirfd, const char *name, size_t max, char **out, size_t *out_len, pyro_error *err)
{
    struct stat st;
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return err_errno(err, errno, "open %s", name);
    if (fstat(fd, &st) < 0)
        return err_errno(err, errno, "stat %s", name);
    if (!S_ISREG(st.st_mode))
        return err_set(err, -PYRO_E_CORRUPT, "%s is not a regular file", name);
    if ((size_t)st.st_size > max)
        return err_set(err, -PYRO_E_CORRUPT, "%s is %lld bytes, more than the %zu byte limit", name,
                       (long long)st.st_size, max);
    size_t cap = (size_t)st.st_size + 1, n = 0;
    _cleanup_free_ char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap - 1) {
            if (cap - 1 >= max) {
                /* grew while we read: refuse rather than truncate */
                char c;
                ssize_t extra = read(fd, &c, 1);
                if (extra > 0)
                    return err_set(err, -PYRO_E_CORRUPT, "%s grew beyond the %zu byte limit", name, max);
                break;
            }
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t rd = read(fd, buf + n, cap - 1 - n);
        if (rd < 0) {
            if (errno == EINTR)
                continue;
            return err_errno(err, errno, "read %s", name);
        }
        if (rd == 0)
            break;
        n += (size_t)rd;
    }
    buf[n] = '\0';
    *out = TAKE_PTR(buf);
    if (out_len)
        *out_len = n;
    return 0;
}

int record_load_at(int dirfd, const char *name, json_t **out, pyro_error *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r = read_file_at(dirfd, name, PYRO_RECORD_MAX, &buf, &len, err);
    if (r < 0)
        return r;
    r = record_parse(buf, len, out, err);
    if (r < 0)
        return err_prefix(err, "%s", name);
    return 0;
}

int record_load(const char *path, json_t **out, pyro_error *err)
{
    return record_load_at(AT_FDCWD, path, out, err);
}

int record_load_existing(const char *path, json_t **out, pyro_error *err)
{
    pyro_error e2 = {0};
    int r = record_load_at(AT_FDCWD, path, out, &e2);
    if (r < 0 && r != -ENOENT)
        err_set(err, r, "%s", e2.message);
    return r;
}

/* The on-disk form of a record: indented JSON and a final newline. */
static char *record_text(const json_t *rec, size_t *len)
{
    char *text = json_dump(rec, JSON_INDENT(2));
    *len = strlen(text);
    text = xrealloc(text, *len + 2);
    text[(*len)++] = '\n';
    text[*len] = '\0';
    return text;
}

int record_save_at(int dirfd, const char *name, const json_t *rec, pyro_error *err)
{
    size_t len;
    _cleanup_free_ char *text = record_text(rec, &len);
    return write_atomic_at(dirfd, name, text, len, 0600, err);
}

int record_save_flags(const char *path, const json_t *rec, unsigned flags, pyro_error *err)
{
    size_t len;
    _cleanup_free_ char *text = record_text(rec, &len);
    return write_atomic_path(path, text, len, 0600, flags, err);
}

int record_save(const char *path, const json_t *rec, pyro_error *err)
{
    return record_save_flags(path, rec, 0, err);
}
