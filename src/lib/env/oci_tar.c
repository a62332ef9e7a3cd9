/* A deterministic gzipped tar of an environment's rootfs, the one layer of
 * a pushed image (oci_push.c): entries in byte order of their paths, a fixed mtime,
 * owners as the sandbox sees them (the sandbox id range shifted back to 0),
 * hard links as links to the first path; sockets and the device nodes a
 * pull refuses are left out (oci_dev_allowed). The sha256 of the
 * uncompressed tar is the image config's diff id. Pulled back, the
 * tree has the same content digest (env_tree_digest). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/idmap.h"
#include "base/log.h"
#include "base/sha256.h"
#include "lib/env/oci.h"
#include "lib/env/oci_tar.h"

#define TAR_MTIME 1700000000
#define MAX_DEPTH 256

struct link_seen {
    dev_t dev;
    ino_t ino;
    char *path;
};

struct tarw {
    struct archive *a;
    struct archive *gz; /* the gzip stream the tar goes into */
    struct sha256 diff; /* of the uncompressed tar: the diff id */
    bool gz_failed;
    struct idmap map;
    struct link_seen *links;
    size_t nlinks, caplinks;
    int64_t entries;
};

/* An owner as the sandbox sees it: the range (where host-side file work
 * sees it: at uid_base as root, from 0 in a user's host view) shifted
 * back to 0; in a user's host view the user itself (id count: a rootless
 * pull's files) is root's. */
static int64_t unshift(const struct tarw *w, int64_t id, uid_t view_base)
{
    if (id >= (int64_t)view_base && id < (int64_t)view_base + w->map.count)
        return id - view_base;
    if (w->map.rootless && id == (int64_t)w->map.count)
        return 0;
    return id;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int put(struct tarw *w, int dirfd, const char *name, const char *path, const struct stat *st, pyro_error *err)
{
    mode_t fmt = st->st_mode & S_IFMT;
    if (fmt == S_IFBLK || fmt == S_IFSOCK ||
        (fmt == S_IFCHR && !oci_dev_allowed(path, major(st->st_rdev), minor(st->st_rdev)))) {
        log_debug("push: %s left out (a device node a pull refuses, or a socket)", path);
        return 0;
    }
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_perm(e, st->st_mode & 07777);
    archive_entry_set_uid(e, unshift(w, st->st_uid, w->map.view_uid_base));
    archive_entry_set_gid(e, unshift(w, st->st_gid, w->map.view_gid_base));
    archive_entry_set_mtime(e, TAR_MTIME, 0);
    _cleanup_close_ int fd = -1;
    int rc = 0;
    if (fmt == S_IFREG && st->st_nlink > 1) {
        for (size_t i = 0; i < w->nlinks; i++)
            if (w->links[i].dev == st->st_dev && w->links[i].ino == st->st_ino) {
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_hardlink(e, w->links[i].path);
                archive_entry_set_size(e, 0);
                goto write_header;
            }
        if (w->nlinks == w->caplinks)
            w->links = xrealloc(w->links, (w->caplinks = w->caplinks ? w->caplinks * 2 : 64) * sizeof(*w->links));
        w->links[w->nlinks++] = (struct link_seen){st->st_dev, st->st_ino, xstrdup(path)};
    }
    if (fmt == S_IFDIR) {
        archive_entry_set_filetype(e, AE_IFDIR);
    } else if (fmt == S_IFLNK) {
        char target[4096];
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
        if (n < 0) {
            archive_entry_free(e);
            return err_errno(err, errno, "readlink %s", path);
        }
        target[n] = '\0';
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, target);
    } else if (fmt == S_IFCHR) {
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdevmajor(e, major(st->st_rdev));
        archive_entry_set_rdevminor(e, minor(st->st_rdev));
    } else if (fmt == S_IFIFO) {
        archive_entry_set_filetype(e, AE_IFIFO);
    } else {
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            archive_entry_free(e);
            return err_errno(err, errno, "open %s", path);
        }
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, st->st_size);
    }
write_header:
    if (archive_write_header(w->a, e) != ARCHIVE_OK)
        rc = err_set(err, -EIO, "tar %s: %s", path, archive_error_string(w->a));
    archive_entry_free(e);
    char buf[65536];
    for (int64_t left = fd >= 0 ? st->st_size : 0; rc == 0 && left > 0;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            rc = err_set(err, -EIO, "read %s: %s", path, n < 0 ? strerror(errno) : "file shrank");
            break;
        }
        if (n > left)
            n = (ssize_t)left;
        if (archive_write_data(w->a, buf, (size_t)n) != n)
            rc = err_set(err, -EIO, "tar %s: %s", path, archive_error_string(w->a));
        left -= n;
    }
    w->entries++;
    return rc;
}

static int walk(struct tarw *w, int dirfd, const char *prefix, int depth, pyro_error *err)
{
    if (depth > MAX_DEPTH)
        return err_set(err, -PYRO_E_LIMIT, "%s: deeper than %d directories", prefix, MAX_DEPTH);
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return err_errno(err, errno, "read %s", prefix[0] ? prefix : "/");
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap)
            names = xrealloc(names, (cap = cap ? cap * 2 : 32) * sizeof(char *));
        names[n++] = xstrdup(de->d_name);
    }
    qsort(names, n, sizeof(char *), cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        _cleanup_free_ char *path = prefix[0] ? xasprintf("%s/%s", prefix, names[i]) : xstrdup(names[i]);
        struct stat st;
        if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = err_errno(err, errno, "stat %s", path);
            break;
        }
        if ((rc = put(w, dirfd, names[i], path, &st, err)) < 0)
            break;
        if (S_ISDIR(st.st_mode)) {
            _cleanup_close_ int sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            rc = sub < 0 ? err_errno(err, errno, "open %s", path) : walk(w, sub, path, depth + 1, err);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* The tar's bytes: hashed (the diff id), then gzipped. */
static la_ssize_t on_tar(struct archive *a, void *arg, const void *buf, size_t len)
{
    (void)a;
    struct tarw *w = arg;
    sha256_update(&w->diff, buf, len);
    if (archive_write_data(w->gz, buf, len) != (la_ssize_t)len) {
        w->gz_failed = true;
        return -1;
    }
    return (la_ssize_t)len;
}

/* A gzip stream without a timestamp or name (the same tree gives the
 * same bytes) holding one raw entry, to outfd. */
static int open_gzip(struct tarw *w, int outfd, pyro_error *err)
{
    w->gz = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "layer.tar");
    archive_entry_set_filetype(e, AE_IFREG);
    int rc = 0;
    if (archive_write_add_filter_gzip(w->gz) != ARCHIVE_OK ||
        archive_write_set_filter_option(w->gz, "gzip", "timestamp", NULL) != ARCHIVE_OK ||
        archive_write_set_format_raw(w->gz) != ARCHIVE_OK || archive_write_set_bytes_per_block(w->gz, 0) ||
        archive_write_open_fd(w->gz, outfd) != ARCHIVE_OK || archive_write_header(w->gz, e) != ARCHIVE_OK)
        rc = err_set(err, -EIO, "gzip: %s", archive_error_string(w->gz));
    archive_entry_free(e);
    return rc;
}

struct tar_args {
    const struct idmap *map;
    int rootfd, outfd;
    struct tar_out {
        char diff_id[72];
        int64_t entries;
    } * out; /* shared with the parent when run in a child */
};

static int tar_fn(void *arg, pyro_error *err)
{
    const struct tar_args *t = arg;
    struct tarw w = {.map = *t->map};
    int rc = 0, rootfd = t->rootfd, outfd = t->outfd;
    sha256_init(&w.diff);
    if ((rc = open_gzip(&w, outfd, err)) < 0) {
        archive_write_free(w.gz);
        return rc;
    }
    w.a = archive_write_new();
    archive_write_set_format_pax_restricted(w.a);
    archive_write_set_bytes_in_last_block(w.a, 1);
    if (archive_write_open2(w.a, &w, NULL, on_tar, NULL, NULL) != ARCHIVE_OK)
        rc = err_set(err, -EIO, "tar: %s", archive_error_string(w.a));
    if (rc == 0)
        rc = walk(&w, rootfd, "", 0, err);
    if (archive_write_close(w.a) != ARCHIVE_OK && rc == 0)
        rc = err_set(err, -EIO, "tar: %s", w.gz_failed ? archive_error_string(w.gz) : archive_error_string(w.a));
    archive_write_free(w.a);
    if (archive_write_close(w.gz) != ARCHIVE_OK && rc == 0)
        rc = err_set(err, -EIO, "gzip: %s", archive_error_string(w.gz));
    archive_write_free(w.gz);
    char hex[SHA256_HEX_LEN];
    sha256_final_hex(&w.diff, hex);
    snprintf(t->out->diff_id, sizeof(t->out->diff_id), "sha256:%s", hex);
    for (size_t i = 0; i < w.nlinks; i++)
        free(w.links[i].path);
    free(w.links);
    t->out->entries = w.entries;
    return rc;
}

int oci_tar_tree(int rootfd, int outfd, char diff_id[72], int64_t *entries, pyro_error *err)
{
    struct idmap m;
    int rc = idmap_resolve(&m, err);
    if (rc < 0)
        return rc;
    /* A user's install is owned by the subordinate range, with files the
     * user cannot read: tarred in the host view (as env_tree_digest). */
    struct tar_out *out = mmap(NULL, sizeof(*out), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (out == MAP_FAILED)
        return err_errno(err, errno, "mmap");
    struct tar_args t = {&m, rootfd, outfd, out};
    rc = m.rootless ? idmap_run(&m, tar_fn, &t, err) : tar_fn(&t, err);
    snprintf(diff_id, 72, "%s", out->diff_id);
    if (entries)
        *entries = out->entries;
    munmap(out, sizeof(*out));
    return rc;
}
