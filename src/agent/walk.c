#include "agent/walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"

static int names_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int walk_read_names(int dirfd, char ***out, pyro_error *err)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "opendir");
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return err_errno(err, e, "fdopendir");
    }
    size_t n = 0, cap = 16;
    char **v = xmalloc(cap * sizeof(char *));
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n + 1 >= cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof(char *));
        }
        v[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    v[n] = NULL;
    qsort(v, n, sizeof(char *), names_cmp);
    *out = v;
    return 0;
}

static char *join(const char *dir, const char *name)
{
    if (!*dir || strcmp(dir, ".") == 0)
        return xstrdup(name);
    size_t n = strlen(dir);
    return xasprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

static int walk_dir(struct walk *w, int dirfd, const char *rel, int depth, pyro_error *err)
{
    _cleanup_strv_ char **names = NULL;
    int r = walk_read_names(dirfd, &names, err);
    if (r < 0)
        return r;
    for (char **p = names; *p; p++) {
        if (w->count >= w->max) {
            w->truncated = true;
            return 0;
        }
        struct stat st;
        if (fstatat(dirfd, *p, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* vanished meanwhile */
        _cleanup_free_ char *path = join(rel, *p);
        r = w->visit(w, dirfd, *p, path, &st, err);
        if (r < 0)
            return r;
        w->count += (size_t)r;
        if (!w->recursive || !S_ISDIR(st.st_mode) || depth >= w->depth_max)
            continue;
        _cleanup_close_ int sub = openat(dirfd, *p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            r = walk_dir(w, sub, path, depth + 1, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int walk_run(struct walk *w, int dirfd, const char *rel, pyro_error *err)
{
    return walk_dir(w, dirfd, rel, 0, err);
}
