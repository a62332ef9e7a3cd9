#include "base/paths.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
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

static int rm_rf_children(int dfd, pyro_error *err, int depth)
{
    if (depth > 4096)
        return err_set(err, -ELOOP, "directory tree too deep");
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return err_errno(err, e, "opendir");
    }
    _cleanup_closedir_ DIR *dir = d;
    struct dirent *de;
    while ((errno = 0, de = readdir(dir))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (unlinkat(dirfd(dir), de->d_name, 0) == 0 || errno == ENOENT)
            continue;
        if (errno != EISDIR && errno != EPERM)
            return err_errno(err, errno, "remove %s", de->d_name);
        int r = rm_rf_at(dirfd(dir), de->d_name, err);
        if (r < 0)
            return r;
    }
    return 0;
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
    int r = rm_rf_children(fd, err, 0);
    if (r < 0)
        return err_prefix(err, "%s", name);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return err_errno(err, errno, "remove directory %s", name);
    return 0;
}

int rm_rf(const char *path, pyro_error *err)
{
    return rm_rf_at(AT_FDCWD, path, err);
}
