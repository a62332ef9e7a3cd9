/* A chat host's config file: read without following a symlink, replaced
 * atomically after a backup copy, never written through a link or over a
 * read-only file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/paths.h"
#include "base/record.h"
#include "lib/host/chathost.h"

/* Config files pyro edits are small; a bigger one is refused, not cut. */
#define CHATHOST_FILE_MAX (4u << 20)

static int file_check(const char *path, struct stat *st, pyro_error *err)
{
    if (lstat(path, st) < 0) {
        if (errno == ENOENT)
            return -ENOENT;
        return err_errno(err, errno, "cannot read %s", path);
    }
    if (S_ISLNK(st->st_mode))
        return err_set(err, -PYRO_E_INVALID,
                       "%s is a symbolic link: pyro does not edit a host config through a link (edit its target, "
                       "or use 'pyro host print-config')",
                       path);
    if (!S_ISREG(st->st_mode))
        return err_set(err, -PYRO_E_INVALID, "%s is not a regular file", path);
    return 0;
}

int chathost_file_read(const char *path, char **text, pyro_error *err)
{
    *text = NULL;
    struct stat st;
    int r = file_check(path, &st, err);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    size_t len = 0;
    r = read_file_at(AT_FDCWD, path, CHATHOST_FILE_MAX, text, &len, err);
    if (r < 0)
        return r;
    if (strlen(*text) != len) {
        free(*text);
        *text = NULL;
        return err_set(err, -PYRO_E_INVALID, "%s holds a NUL byte: not a config file", path);
    }
    return 0;
}

int chathost_file_write(const char *path, const char *text, char **backup, pyro_error *err)
{
    *backup = NULL;
    struct stat st;
    int r = file_check(path, &st, err);
    mode_t mode = 0600;
    _cleanup_free_ char *old = NULL;
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0) {
        if (!(st.st_mode & S_IWUSR) || access(path, W_OK) < 0)
            return err_set(err, -PYRO_E_INVALID,
                           "%s is read-only: not changed (make it writable, or use 'pyro host "
                           "print-config' and edit it yourself)",
                           path);
        mode = st.st_mode & 07777;
        r = chathost_file_read(path, &old, err);
        if (r < 0)
            return r;
    } else {
        _cleanup_free_ char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            r = mkdir_p(dir, 0700, err);
            if (r < 0)
                return r;
        }
    }
    _cleanup_free_ char *bak = NULL;
    if (old) {
        bak = xasprintf("%s.pyro-backup", path);
        struct stat bst;
        if (lstat(bak, &bst) == 0 && !S_ISREG(bst.st_mode))
            return err_set(err, -PYRO_E_INVALID, "%s exists and is not a regular file: not changed", bak);
        r = write_atomic(bak, old, strlen(old), mode & 0600 ? mode : 0600, err);
        if (r < 0)
            return err_prefix(err, "backup of %s", path);
    }
    r = write_atomic(path, text, strlen(text), mode, err);
    if (r < 0)
        return r;
    *backup = bak;
    bak = NULL;
    return 0;
}
