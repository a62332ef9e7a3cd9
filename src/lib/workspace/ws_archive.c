#include "lib/workspace/ws_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/confine.h"
#include "base/json.h"
#include "base/relpath.h"
#include "lib/workspace/gitindex.h"

#define WS_WALK_DEPTH_MAX 128

/* ---- building the checked stream ------------------------------------ */

struct builder {
    struct archive *w;
    const struct ws_import_limits *lim;
    long long entries, bytes, skipped;
    json_t *links;     /* symlink paths seen (a set) */
    json_t *files;     /* regular file paths seen, for hard links */
    json_t *only;      /* when set: the paths to import (files and links) ... */
    json_t *only_dirs; /* ... and every directory above them; .git always */
    long long untracked;
    char buf[65536];
};

static int arch_err(pyro_error *err, struct archive *a, const char *what)
{
    const char *m = archive_error_string(a);
    return err_set(err, -PYRO_E_INVALID, "%s: %s", what, m ? m : "archive error");
}

/* Common checks of one entry (path normalised, type, size): every name the
 * stream carries is canonical, so the guest reads the names it was shown. */
static int builder_admit(struct builder *b, const char *path, mode_t type, long long size, pyro_error *err)
{
    int r = relpath_check(path, RELPATH_CANONICAL, err);
    if (r < 0) {
        err_prefix(err, "import");
        return r;
    }
    if (++b->entries > b->lim->max_entries)
        return err_set(err, -PYRO_E_LIMIT, "more than %lld entries (the import limit)", b->lim->max_entries);
    if (size > 0 && (b->bytes += size) > b->lim->max_bytes)
        return err_set(err, -PYRO_E_LIMIT,
                       "the content expands to more than %lld bytes at '%s' (the import limit; a "
                       "decompression bomb?)",
                       b->lim->max_bytes, path);
    /* Nothing may be written beneath a symlink of the same import. */
    _cleanup_free_ char *pfx = xstrdup(path);
    for (char *s = strchr(pfx, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        bool hit = json_object_get(b->links, pfx) != NULL;
        *s = '/';
        if (hit)
            return err_set(err, -PYRO_E_INVALID, "'%s' lies beneath the symlink '%.*s' of the same archive", path,
                           (int)(s - pfx), pfx);
    }
    if (type == AE_IFLNK)
        json_object_set_new(b->links, path, json_null());
    else
        json_object_del(b->links, path);
    if (type == AE_IFREG)
        json_object_set_new(b->files, path, json_null());
    return 0;
}

static int builder_header(struct builder *b, struct archive_entry *e, pyro_error *err)
{
    if (archive_write_header(b->w, e) != ARCHIVE_OK)
        return arch_err(err, b->w, "write archive");
    return 0;
}

static int walk_dir(struct builder *b, int dirfd, const char *rel, int depth, pyro_error *err);

static bool builder_wants(const struct builder *b, const char *rel, bool is_dir)
{
    if (!b->only || !strcmp(rel, ".git") || !strncmp(rel, ".git/", 5))
        return true;
    return json_object_get(is_dir ? b->only_dirs : b->only, rel) != NULL;
}

static int walk_entry(struct builder *b, int dirfd, const char *name, const char *rel, int depth, pyro_error *err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return err_errno(err, errno, "stat %s", rel);
    mode_t t = st.st_mode & S_IFMT;
    if (!builder_wants(b, rel, t == S_IFDIR)) {
        b->untracked++;
        return 0;
    }
    if (t != S_IFREG && t != S_IFDIR && t != S_IFLNK) {
        b->skipped++; /* fifos, sockets, devices are not imported */
        return 0;
    }
    char target[PATH_MAX] = "";
    if (t == S_IFLNK) {
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
        if (n < 0)
            return err_errno(err, errno, "readlink %s", rel);
        target[n] = '\0';
        int r = relpath_link_check(rel, target, err);
        if (r < 0)
            return r;
    }
    int r = builder_admit(b, rel,
                          t == S_IFREG   ? AE_IFREG
                          : t == S_IFDIR ? AE_IFDIR
                                         : AE_IFLNK,
                          t == S_IFREG ? (long long)st.st_size : 0, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = -1;
    if (t == S_IFREG) {
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return err_errno(err, errno, "open %s", rel);
        if (fstat(fd, &st) < 0)
            return err_errno(err, errno, "stat %s", rel);
    }
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, rel);
    archive_entry_set_perm(e, st.st_mode & 07777);
    archive_entry_set_mtime(e, st.st_mtim.tv_sec, 0);
    archive_entry_set_filetype(e, t == S_IFREG ? AE_IFREG : t == S_IFDIR ? AE_IFDIR : AE_IFLNK);
    archive_entry_set_size(e, t == S_IFREG ? st.st_size : 0);
    if (t == S_IFLNK)
        archive_entry_set_symlink(e, target);
    r = builder_header(b, e, err);
    archive_entry_free(e);
    if (r < 0)
        return r;
    if (t == S_IFREG) {
        long long left = (long long)st.st_size;
        while (left > 0) {
            ssize_t n = read(fd, b->buf, sizeof(b->buf) < (size_t)left ? sizeof(b->buf) : (size_t)left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return err_errno(err, errno, "read %s", rel);
            if (n == 0)
                break; /* shrank meanwhile: libarchive pads */
            if (archive_write_data(b->w, b->buf, (size_t)n) < 0)
                return arch_err(err, b->w, "write archive");
            left -= n;
        }
    }
    if (t == S_IFDIR) {
        if (depth >= WS_WALK_DEPTH_MAX)
            return err_set(err, -PYRO_E_LIMIT, "%s is nested deeper than %d directories", rel, WS_WALK_DEPTH_MAX);
        _cleanup_close_ int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            return err_errno(err, errno, "open %s", rel);
        return walk_dir(b, sub, rel, depth + 1, err);
    }
    return 0;
}

static int walk_dir(struct builder *b, int dirfd, const char *rel, int depth, pyro_error *err)
{
    int fd = dup(dirfd);
    if (fd < 0)
        return err_errno(err, errno, "dup");
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return err_errno(err, errno, "opendir %s", *rel ? rel : ".");
    }
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_free_ char *path = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
        r = walk_entry(b, dirfd, de->d_name, path, depth, err);
    }
    closedir(d);
    return r;
}

static int copy_archive(struct builder *b, int fd, const char *source, pyro_error *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_none(a);
    int r = 0;
    if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
        r = arch_err(err, a, source);
        archive_read_free(a);
        return r;
    }
    struct archive_entry *e;
    int ar;
    while (r == 0 && (ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *raw = archive_entry_pathname(e);
        _cleanup_free_ char *path = NULL;
        if ((r = relpath_normalize(raw, RELPATH_DOT_ROOT, &path, err)) < 0) {
            err_prefix(err, "archive member");
            break;
        }
        mode_t t = archive_entry_filetype(e);
        const char *hl = archive_entry_hardlink(e);
        if (!*path) {
            if (t != AE_IFDIR) {
                r = err_set(err, -PYRO_E_INVALID, "archive member '%s' names the destination itself", raw);
                break;
            }
            continue;
        }
        _cleanup_free_ char *hl_norm = NULL;
        if (hl) {
            if (relpath_normalize(hl, 0, &hl_norm, NULL) < 0 || !json_object_get(b->files, hl_norm)) {
                r = err_set(err, -PYRO_E_INVALID, "hard link '%s' must name a regular file earlier in the same archive",
                            path);
                break;
            }
        } else if (t != AE_IFREG && t != AE_IFDIR && t != AE_IFLNK) {
            r = err_set(err, -PYRO_E_INVALID,
                        "archive member '%s' is a %s: only files, directories and "
                        "symlinks are imported",
                        path,
                        t == AE_IFCHR   ? "character device"
                        : t == AE_IFBLK ? "block device"
                        : t == AE_IFIFO ? "fifo"
                                        : "special file");
            break;
        }
        if (t == AE_IFLNK && !hl && (r = relpath_link_check(path, archive_entry_symlink(e), err)) < 0)
            break;
        long long size = t == AE_IFREG && !hl ? (long long)archive_entry_size(e) : 0;
        if ((r = builder_admit(b, path, hl ? AE_IFREG : t, size, err)) < 0)
            break;
        struct archive_entry *o = archive_entry_new();
        archive_entry_set_pathname(o, path);
        archive_entry_set_perm(o, archive_entry_perm(e) & 07777);
        archive_entry_set_mtime(o, archive_entry_mtime(e), 0);
        if (hl) {
            archive_entry_set_filetype(o, AE_IFREG);
            archive_entry_set_hardlink(o, hl_norm);
            archive_entry_set_size(o, 0);
        } else {
            archive_entry_set_filetype(o, t);
            archive_entry_set_size(o, size);
            if (t == AE_IFLNK)
                archive_entry_set_symlink(o, archive_entry_symlink(e));
        }
        r = builder_header(b, o, err);
        archive_entry_free(o);
        if (r < 0 || size == 0)
            continue;
        long long copied = 0;
        for (;;) {
            la_ssize_t n = archive_read_data(a, b->buf, sizeof(b->buf));
            if (n < 0) {
                r = arch_err(err, a, source);
                break;
            }
            if (n == 0)
                break;
            copied += n;
            if (copied > size) {
                r = err_set(err, -PYRO_E_INVALID, "archive member '%s' is longer than its header says", path);
                break;
            }
            if (archive_write_data(b->w, b->buf, (size_t)n) < 0) {
                r = arch_err(err, b->w, "write archive");
                break;
            }
        }
    }
    if (r == 0 && ar != ARCHIVE_EOF)
        r = arch_err(err, a, source);
    archive_read_free(a);
    return r;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n > m && !strcmp(s + n - m, suf);
}

static int archive_build(int src_fd, const char *source, const json_t *only, int out_fd,
                         const struct ws_import_limits *lim, json_t **stats, pyro_error *err)
{
    struct stat st;
    if (fstat(src_fd, &st) < 0)
        return err_errno(err, errno, "%s", source);
    bool is_dir = S_ISDIR(st.st_mode);
    if (!is_dir && !(S_ISREG(st.st_mode) &&
                     (has_suffix(source, ".tar") || has_suffix(source, ".tar.gz") || has_suffix(source, ".tgz"))))
        return err_set(err, -PYRO_E_INVALID, "%s must be a directory or a .tar, .tar.gz or .tgz archive", source);
    struct builder b = {.lim = lim, .links = json_object(), .files = json_object()};
    if (only) {
        b.only = json_object();
        b.only_dirs = json_object();
        size_t i;
        json_t *v;
        json_array_foreach(only, i, v) {
            _cleanup_free_ char *p = xstrdup(json_string_value(v));
            json_object_set_new(b.only, p, json_null());
            for (char *sl = strrchr(p, '/'); sl; sl = strrchr(p, '/')) {
                *sl = '\0';
                json_object_set_new(b.only_dirs, p, json_null());
            }
        }
    }
    b.w = archive_write_new();
    archive_write_set_format_pax_restricted(b.w);
    archive_write_set_bytes_in_last_block(b.w, 1);
    int r = 0;
    if (archive_write_open_fd(b.w, out_fd) != ARCHIVE_OK)
        r = arch_err(err, b.w, "write archive");
    if (r == 0 && is_dir)
        r = walk_dir(&b, src_fd, "", 0, err);
    else if (r == 0)
        r = copy_archive(&b, src_fd, source, err);
    if (archive_write_close(b.w) != ARCHIVE_OK && r == 0)
        r = arch_err(err, b.w, "write archive");
    archive_write_free(b.w);
    json_decref(b.links);
    json_decref(b.files);
    json_decref(b.only);
    json_decref(b.only_dirs);
    if (r < 0)
        return r;
    if (stats) {
        *stats = json_pack("{s:s, s:I, s:I, s:I}", "kind",
                           only     ? "git_checkout"
                           : is_dir ? "directory"
                                    : "tar_archive",
                           "entries", (json_int_t)b.entries, "bytes", (json_int_t)b.bytes, "skipped",
                           (json_int_t)b.skipped);
        if (only)
            json_set(*stats, "untracked_skipped", json_integer(b.untracked));
    }
    return 0;
}

int ws_archive_build_fd(int src_fd, const char *source, int out_fd, const struct ws_import_limits *lim, json_t **stats,
                        pyro_error *err)
{
    return archive_build(src_fd, source, NULL, out_fd, lim, stats, err);
}

int ws_archive_build(const char *source, int out_fd, const struct ws_import_limits *lim, json_t **stats,
                     pyro_error *err)
{
    _cleanup_close_ int fd = open(source, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "%s", source);
    return archive_build(fd, source, NULL, out_fd, lim, stats, err);
}

int ws_archive_build_git(int dir_fd, const char *checkout, int out_fd, const struct ws_import_limits *lim,
                         json_t **stats, pyro_error *err)
{
    json_auto_t *only = NULL;
    int r = gitindex_tracked(dir_fd, &only, err);
    if (r < 0)
        return err_prefix(err, "%s is a git checkout", checkout);
    return archive_build(dir_fd, checkout, only, out_fd, lim, stats, err);
}

/* ---- reading tar files ---------------------------------------------- */

int ws_archive_lookup(const char *tar_path, struct ws_blob *blobs, size_t n, size_t max_each, pyro_error *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    int r = 0;
    if (archive_read_open_filename(a, tar_path, 65536) != ARCHIVE_OK) {
        r = arch_err(err, a, tar_path);
        archive_read_free(a);
        return r;
    }
    size_t left = n;
    struct archive_entry *e;
    while (left && archive_read_next_header(a, &e) == ARCHIVE_OK) {
        if (archive_entry_filetype(e) != AE_IFREG)
            continue;
        _cleanup_free_ char *name = NULL;
        if (relpath_normalize(archive_entry_pathname(e), 0, &name, NULL) < 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (blobs[i].found || strcmp(blobs[i].name, name) != 0)
                continue;
            blobs[i].found = true;
            left--;
            long long size = archive_entry_size(e);
            if (size < 0 || (size_t)size > max_each) {
                blobs[i].too_large = true;
                break;
            }
            blobs[i].data = xmalloc((size_t)size + 1);
            la_ssize_t got = size ? archive_read_data(a, blobs[i].data, (size_t)size) : 0;
            if (got != size) {
                r = arch_err(err, a, tar_path);
                break;
            }
            blobs[i].len = (size_t)size;
            break;
        }
        if (r < 0)
            break;
    }
    archive_read_free(a);
    return r;
}

int ws_archive_extract_single(int tar_fd, int out_fd, char **link_target, mode_t *perm, long long *bytes,
                              pyro_error *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    int r = 0;
    struct archive_entry *e;
    *link_target = NULL;
    *bytes = 0;
    if (archive_read_open_fd(a, tar_fd, 65536) != ARCHIVE_OK || archive_read_next_header(a, &e) != ARCHIVE_OK) {
        r = arch_err(err, a, "exported archive");
        archive_read_free(a);
        return r;
    }
    if (archive_entry_filetype(e) == AE_IFLNK) {
        const char *t = archive_entry_symlink(e);
        if (!t || !*t)
            r = err_set(err, -PYRO_E_INVALID, "the exported symlink has no target");
        else
            *link_target = xstrdup(t);
    } else if (archive_entry_filetype(e) == AE_IFREG) {
        *perm = archive_entry_perm(e) & 0777;
        char buf[65536];
        for (la_ssize_t n; r == 0 && (n = archive_read_data(a, buf, sizeof(buf))) != 0;) {
            if (n < 0)
                r = arch_err(err, a, "exported archive");
            else if (write(out_fd, buf, (size_t)n) != n)
                r = err_errno(err, errno, "write the exported file");
            else
                *bytes += n;
        }
    } else
        r = err_set(err, -PYRO_E_INVALID, "the exported entry is neither a file nor a symlink");
    archive_read_free(a);
    return r;
}
