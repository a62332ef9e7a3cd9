#include "base/paths.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h && h[0] == '/')
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

static int resolve(char **out, const char *own_var, const char *xdg_var, const char *fallback, pyro_error *err)
{
    const char *v = getenv(own_var);
    if (v && v[0]) {
        if (v[0] != '/')
            return err_set(err, -PYRO_E_INVALID, "%s must be an absolute path, got '%s'", own_var, v);
        *out = xstrdup(v);
        return 0;
    }
    v = getenv(xdg_var);
    if (v && v[0] == '/') {
        *out = xasprintf("%s/pyro", v);
        return 0;
    }
    const char *home = home_dir();
    if (!home)
        return err_set(err, -PYRO_E_INVALID, "cannot find a home directory: set %s or HOME", own_var);
    *out = xasprintf("%s/%s/pyro", home, fallback);
    return 0;
}

int paths_state_dir_resolve(char **out, pyro_error *err)
{
    return resolve(out, "PYRO_HOME", "XDG_STATE_HOME", ".local/state", err);
}

int paths_cache_dir_resolve(char **out, pyro_error *err)
{
    return resolve(out, "PYRO_CACHE_DIR", "XDG_CACHE_HOME", ".cache", err);
}

int mkdir_p(const char *path, mode_t mode, pyro_error *err)
{
    _cleanup_free_ char *p = xstrdup(path);
    size_t len = strlen(p);
    if (len == 0)
        return err_set(err, -PYRO_E_INVALID, "empty directory path");
    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return err_errno(err, errno, "create directory %s", p);
        p[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return err_errno(err, errno, "stat %s", path);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, -ENOTDIR, "%s exists and is not a directory", path);
    return 0;
}

/* One level of the walk in rm_rf_at: the directory's name in its parent and
 * the identity the parent must have when the walk climbs back to it. */
struct rm_level {
    char name[NAME_MAX + 1];
    dev_t parent_dev;
    ino_t parent_ino;
};

/* Removes the tree below the open directory fd *cur (which it owns).
 * Iterative and holding one directory fd at a time, so that no depth of
 * tree a sandbox can build runs the process out of descriptors or stack.
 * It descends into the first subdirectory it meets and climbs back through
 * "..", checking that ".." is still the directory it came from (a tree moved
 * while being removed is an error, never a walk outside it). Levels are kept
 * on a heap stack bounded by RM_MAX_DEPTH. */
#define RM_MAX_DEPTH (1 << 20)
static int rm_tree_fd(int top, const char *topname, pyro_error *err)
{
    _cleanup_free_ struct rm_level *stack = NULL;
    size_t depth = 0, cap = 0;
    int cur = top, r = 0;
    for (;;) {
        DIR *d = fdopendir(cur);
        if (!d) {
            r = err_errno(err, errno, "remove %s: open a directory at depth %zu", topname, depth);
            close(cur);
            return r;
        }
        struct dirent *de;
        bool descended = false;
        while ((errno = 0, de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (unlinkat(dirfd(d), de->d_name, 0) == 0 || errno == ENOENT)
                continue;
            if (errno != EISDIR && errno != EPERM) {
                r = err_errno(err, errno, "remove %s: remove an entry at depth %zu", topname, depth + 1);
                break;
            }
            if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0 || errno == ENOENT)
                continue;
            if (errno != ENOTEMPTY && errno != EEXIST) {
                r = err_errno(err, errno, "remove %s: remove a directory at depth %zu", topname, depth + 1);
                break;
            }
            struct stat pst;
            int child = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child < 0 || fstat(dirfd(d), &pst) < 0) {
                r = err_errno(err, errno, "remove %s: open a directory at depth %zu", topname, depth + 1);
                if (child >= 0)
                    close(child);
                break;
            }
            if (depth >= RM_MAX_DEPTH) {
                close(child);
                r = err_set(err, -ELOOP, "remove %s: tree deeper than %d levels", topname, RM_MAX_DEPTH);
                break;
            }
            if (depth == cap) {
                cap = cap ? cap * 2 : 64;
                stack = xrealloc(stack, cap * sizeof(*stack));
            }
            snprintf(stack[depth].name, sizeof(stack[depth].name), "%s", de->d_name);
            stack[depth].parent_dev = pst.st_dev;
            stack[depth].parent_ino = pst.st_ino;
            depth++;
            closedir(d);
            cur = child;
            descended = true;
            break;
        }
        if (descended)
            continue;
        if (r == 0 && errno != 0)
            r = err_errno(err, errno, "remove %s: read a directory at depth %zu", topname, depth);
        if (r < 0 || depth == 0) {
            closedir(d);
            return r;
        }
        /* This level is empty: climb to the parent and remove it there. */
        depth--;
        int parent = openat(dirfd(d), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        closedir(d);
        struct stat st;
        if (parent < 0)
            return err_errno(err, errno, "remove %s: climb back at depth %zu", topname, depth + 1);
        if (fstat(parent, &st) < 0 || st.st_dev != stack[depth].parent_dev || st.st_ino != stack[depth].parent_ino) {
            close(parent);
            return err_set(err, -ESTALE, "remove %s: the tree was moved while it was being removed", topname);
        }
        if (unlinkat(parent, stack[depth].name, AT_REMOVEDIR) < 0 && errno != ENOENT && errno != ENOTEMPTY) {
            r = err_errno(err, errno, "remove %s: remove a directory at depth %zu", topname, depth + 1);
            close(parent);
            return r;
        }
        /* ENOTEMPTY: something appeared meanwhile; the rescan finds it. */
        cur = parent;
    }
}

int rm_rf_at(int dirfd, const char *name, pyro_error *err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : err_errno(err, errno, "stat %s", name);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
            return err_errno(err, errno, "remove %s", name);
        return 0;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open %s", name);
    int r = rm_tree_fd(fd, name, err);
    if (r < 0)
        return r;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return err_errno(err, errno, "remove directory %s", name);
    return 0;
}

int rm_rf(const char *path, pyro_error *err)
{
    return rm_rf_at(AT_FDCWD, path, err);
}
