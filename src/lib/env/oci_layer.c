/* Applying an image layer onto a root filesystem tree (docs/environments.md
 * "OCI images"), in one pass over the blob: the entries are written as they
 * come, and a whiteout or opaque marker removes what lower layers made but
 * not what this layer wrote, before or after it (the layer's own paths are
 * remembered while it is applied). Every path is
 * opened beneath the root (confine_openat: no "..", absolute path or
 * symlink leads out); device nodes and links out of the tree are refused;
 * the total unpacked size is capped. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/confine.h"
#include "base/json.h"
#include "base/paths.h"
#include "lib/env/oci.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define MAX_ENTRIES 2000000

/* Cleans an entry path into buf: no leading "./", no trailing '/'.
 * Refuses absolute paths and ".." components. "" is the root itself. */
static int clean_path(const char *p, char *buf, size_t size, const char *what, pyro_error *err)
{
    if (!p)
        return err_set(err, -PYRO_E_CORRUPT, "%s: an entry has no path", what);
    if (p[0] == '/')
        return err_set(err, -PYRO_E_CORRUPT, "%s: entry '%.200s' is an absolute path; refused", what, p);
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    if (!strcmp(p, "."))
        p = "";
    size_t n = strlen(p);
    if (n >= size)
        return err_set(err, -PYRO_E_LIMIT, "%s: entry path longer than %zu bytes", what, size - 1);
    memcpy(buf, p, n + 1);
    while (n && buf[n - 1] == '/')
        buf[--n] = '\0';
    for (const char *c = buf; *c;) {
        const char *e = strchr(c, '/');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if ((l == 2 && !strncmp(c, "..", 2)) || l == 0)
            return err_set(err, -PYRO_E_CORRUPT,
                           "%s: entry '%.200s' leaves the root (or has an empty component); "
                           "refused",
                           what, p);
        if (!e)
            break;
        c = e + 1;
    }
    return 0;
}

/* Opens (creating as directories what is missing) the parent of path
 * beneath rootfd; *base gets the last component. */
static int open_parent(int rootfd, char *path, bool create, const char **base, const char *what, pyro_error *err)
{
    char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash)
        return fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    *slash = '\0';
    int fd = confine_openat(rootfd, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd == -ENOENT && create) { /* make the missing directories, one at a time */
        int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
        for (char *c = path; cur >= 0;) {
            char *e = strchr(c, '/');
            if (e)
                *e = '\0';
            int next = confine_openat(cur, c, O_RDONLY | O_DIRECTORY, 0);
            if (next == -ENOENT && mkdirat(cur, c, 0755) == 0)
                next = confine_openat(cur, c, O_RDONLY | O_DIRECTORY, 0);
            close(cur);
            cur = next;
            if (e)
                *e = '/';
            if (!e)
                break;
            c = e + 1;
        }
        fd = cur;
    }
    *slash = '/';
    if (fd < 0)
        return err_set(err, fd == -EXDEV || fd == -ELOOP ? -PYRO_E_CORRUPT : fd, "%s: the parent of '%.200s' %s", what,
                       path,
                       fd == -EXDEV || fd == -ELOOP ? "leads out of the root through a link; refused"
                                                    : "cannot be opened");
    return fd;
}

static int clear_lower(int dirfd, const char *dirpath, const json_t *mine, pyro_error *err);

/* Removes dirfd/name (path from the root) as far as it comes from lower
 * layers: what this layer made (mine: its entries and their parent
 * directories) stays, a directory of it is cleared of the rest. Per the
 * image spec a whiteout hides only lower layers' content, in whatever
 * order the layer lists its entries. */
static int remove_lower(int dirfd, const char *name, const char *path, const json_t *mine, pyro_error *err)
{
    if (!json_object_get(mine, path))
        return rm_rf_at(dirfd, name, err);
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
        return 0;
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open %.200s", path);
    return clear_lower(fd, path, mine, err);
}

/* An opaque directory: everything in it from lower layers goes. */
static int clear_lower(int dirfd, const char *dirpath, const json_t *mine, pyro_error *err)
{
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    _cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return err_errno(err, errno, "read a directory");
    }
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_free_ char *p = dirpath[0] ? xasprintf("%s/%s", dirpath, de->d_name) : xstrdup(de->d_name);
        int rc = remove_lower(dirfd, de->d_name, p, mine, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Records path and its parents as this layer's (a parent already there
 * has its own parents recorded). */
static void mark_mine(json_t *mine, const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *slash = buf; buf[0] && !json_object_get(mine, buf);) {
        json_object_set_new_nocheck(mine, buf, json_true());
        if (!(slash = strrchr(buf, '/')))
            break;
        *slash = '\0';
    }
}

static int open_archive(int blobfd, struct archive **out, const char *what, pyro_error *err)
{
    if (lseek(blobfd, 0, SEEK_SET) < 0)
        return err_errno(err, errno, "%s", what);
    struct archive *a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_none(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_fd(a, blobfd, 65536) != ARCHIVE_OK) {
        int rc = err_set(err, -PYRO_E_CORRUPT, "%s: not a tar layer: %s", what, archive_error_string(a));
        archive_read_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* A whiteout entry (path's last component starts with ".wh."). */
static int apply_whiteout(int rootfd, char *path, const json_t *mine, const char *what, pyro_error *err)
{
    const char *bp;
    _cleanup_close_ int pfd = open_parent(rootfd, path, false, &bp, what, err);
    if (pfd == -ENOENT)
        return 0; /* nothing below to white out */
    if (pfd < 0)
        return pfd;
    const char *victim = bp + strlen(WH_PREFIX);
    size_t dlen = (size_t)(bp - path);
    _cleanup_free_ char *dir = xasprintf("%.*s", dlen ? (int)dlen - 1 : 0, path);
    int rc;
    if (!strcmp(bp, WH_OPAQUE))
        rc = clear_lower(pfd, dir, mine, err);
    else if (!strcmp(victim, ".") || !strcmp(victim, "..") || !*victim ||
             !strncmp(victim, WH_PREFIX, strlen(WH_PREFIX)))
        return err_set(err, -PYRO_E_CORRUPT, "%s: bad whiteout '%.200s'", what, path);
    else {
        _cleanup_free_ char *vp = dir[0] ? xasprintf("%s/%s", dir, victim) : xstrdup(victim);
        rc = remove_lower(pfd, victim, vp, mine, err);
    }
    return rc < 0 ? err_prefix(err, "%s: whiteout %.200s", what, path) : 0;
}

static int write_data(struct archive *a, int fd, const char *what, struct oci_unpack *u, pyro_error *err)
{
    char buf[65536];
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
        if (n == 0)
            return 0;
        if (n < 0)
            return err_set(err, -PYRO_E_CORRUPT, "%s: %s", what, archive_error_string(a));
        u->bytes += n;
        if (u->bytes > u->max_bytes)
            return err_set(err, -PYRO_E_LIMIT,
                           "%s: the image unpacks to more than %lld bytes (a decompression bomb?); the cap is "
                           "$PYRO_OCI_MAX_BYTES",
                           what, (long long)u->max_bytes);
        for (la_ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return err_errno(err, errno, "%s: write", what);
            off += w;
        }
    }
}

/* Writes one entry. */
static int put_entry(struct archive *a, struct archive_entry *e, int rootfd, char *path, const char *what,
                     struct oci_unpack *u, pyro_error *err)
{
    mode_t type = archive_entry_filetype(e);
    mode_t perm = archive_entry_perm(e) & 07777;
    const char *hl = archive_entry_hardlink(e);
    if (!path[0]) /* the root itself */
        return 0;
    if ((type == AE_IFCHR || type == AE_IFBLK) &&
        (type == AE_IFBLK ||
         !oci_dev_allowed(path, (unsigned)archive_entry_rdevmajor(e), (unsigned)archive_entry_rdevminor(e))))
        return err_set(err, -PYRO_E_CORRUPT,
                       "%s: entry '%.200s' is a device node (only dev/null, zero, full, random, urandom, tty, "
                       "console and ptmx with their usual numbers are allowed); refused",
                       what, path);
    const char *base;
    _cleanup_close_ int pfd = open_parent(rootfd, path, true, &base, what, err);
    if (pfd < 0)
        return pfd;
    struct stat st;
    bool exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && !(type == AE_IFDIR && S_ISDIR(st.st_mode)) && rm_rf_at(pfd, base, err) < 0)
        return err_prefix(err, "%s: replace %.200s", what, path);
    int rc = 0;
    int64_t euid = archive_entry_uid(e), egid = archive_entry_gid(e);
    uid_t uid = (uid_t)(u->id_count && (euid < 0 || euid >= u->id_count) ? OCI_OVERFLOW_ID : euid);
    gid_t gid = (gid_t)(u->id_count && (egid < 0 || egid >= u->id_count) ? OCI_OVERFLOW_ID : egid);
    if (hl) {
        char target[4096];
        if ((rc = clean_path(hl, target, sizeof(target), what, err)) < 0)
            return rc;
        const char *tbase;
        _cleanup_close_ int tfd = open_parent(rootfd, target, false, &tbase, what, err);
        if (tfd < 0)
            return tfd;
        if (!*tbase || linkat(tfd, tbase, pfd, base, 0) < 0)
            return err_errno(err, errno, "%s: hard link %.200s -> %.200s", what, path, hl);
        return 0;
    }
    switch (type) {
    case AE_IFDIR:
        if (!exists || !S_ISDIR(st.st_mode)) {
            if (mkdirat(pfd, base, 0700) < 0)
                return err_errno(err, errno, "%s: mkdir %.200s", what, path);
        }
        if (u->chown && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            return err_errno(err, errno, "%s: chown %.200s", what, path);
        if (fchmodat(pfd, base, perm, 0) < 0)
            return err_errno(err, errno, "%s: chmod %.200s", what, path);
        return 0;
    case AE_IFLNK: {
        const char *t = archive_entry_symlink(e);
        if (!t || symlinkat(t, pfd, base) < 0)
            return err_errno(err, errno, "%s: symlink %.200s", what, path);
        if (u->chown && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            return err_errno(err, errno, "%s: chown %.200s", what, path);
        return 0;
    }
    case AE_IFIFO:
        if (mkfifoat(pfd, base, 0600) < 0)
            return err_errno(err, errno, "%s: mkfifo %.200s", what, path);
        break;
    case AE_IFCHR: /* one of the standard devices (checked above); as root only */
        if (!u->mknod)
            return 0;
        if (mknodat(pfd, base, S_IFCHR | 0600,
                    makedev((unsigned)archive_entry_rdevmajor(e), (unsigned)archive_entry_rdevminor(e))) < 0)
            return err_errno(err, errno, "%s: mknod %.200s", what, path);
        break;
    case AE_IFSOCK: return 0; /* sockets are not content */
    case AE_IFREG:
    case 0: {
        _cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return err_errno(err, errno, "%s: create %.200s", what, path);
        if ((rc = write_data(a, fd, what, u, err)) < 0)
            return rc;
        if (u->chown && fchown(fd, uid, gid) < 0)
            return err_errno(err, errno, "%s: chown %.200s", what, path);
        if (fchmod(fd, perm) < 0)
            return err_errno(err, errno, "%s: chmod %.200s", what, path);
        struct timespec ts[2] = {{archive_entry_mtime(e), 0}, {archive_entry_mtime(e), 0}};
        futimens(fd, ts);
        return 0;
    }
    default: return err_set(err, -PYRO_E_CORRUPT, "%s: entry '%.200s' has an unknown type %o", what, path, type);
    }
    if (u->chown && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        return err_errno(err, errno, "%s: chown %.200s", what, path);
    if (fchmodat(pfd, base, perm, 0) < 0)
        return err_errno(err, errno, "%s: chmod %.200s", what, path);
    return 0;
}

int oci_layer_apply(int blobfd, int rootfd, const char *what, struct oci_unpack *u, pyro_error *err)
{
    struct archive *a = NULL;
    int rc = open_archive(blobfd, &a, what, err);
    if (rc < 0)
        return rc;
    json_auto_t *mine = json_object();
    struct archive_entry *e;
    int r;
    char path[4096];
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        if ((rc = clean_path(archive_entry_pathname(e), path, sizeof(path), what, err)) < 0)
            break;
        if (++u->entries > MAX_ENTRIES) {
            rc = err_set(err, -PYRO_E_LIMIT, "%s: more than %d entries", what, MAX_ENTRIES);
            break;
        }
        const char *slash = strrchr(path, '/');
        if (!strncmp(slash ? slash + 1 : path, WH_PREFIX, strlen(WH_PREFIX)))
            rc = apply_whiteout(rootfd, path, mine, what, err);
        else if ((rc = put_entry(a, e, rootfd, path, what, u, err)) == 0 && path[0])
            mark_mine(mine, path);
        if (rc < 0)
            break;
    }
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = err_set(err, -PYRO_E_CORRUPT, "%s: %s", what, archive_error_string(a));
    archive_read_free(a);
    return rc;
}
