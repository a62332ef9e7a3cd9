/* Install helpers shared by built environments (env_pull.c) and pulled
 * images (env_oci.c): locking an environment's directory, removing stale
 * temporary directories and moving a tree into the sandbox id range. */
#include "lib/env/env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/idmap.h"
#include "base/lock.h"
#include "base/log.h"
#include "base/mountinfo.h"
#include "base/paths.h"
#include "base/timeutil.h"
#include "lib/contract/ctx.h"

#define ENV_TMP_PREFIX ".tmp-"

/* Detaches mounts left below path by a builder that died outside its own
 * mount namespace, so removing the tree never descends into /proc or /dev. */
void env_unmount_below(const char *path)
{
    pyro_error err = {0};
    if (geteuid() == 0 && mountinfo_unmount_below(MOUNTINFO_PATH, path, &err) < 0)
        log_debug("%s", err.message);
}

int env_clean_stale(int env_dirfd, const char *env_dir, json_t *removed, int64_t *freed, pyro_error *err)
{
    int fd = openat(env_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open");
    _cleanup_closedir_ DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return err_errno(err, errno, "open %s", env_dir);
    }
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, ENV_TMP_PREFIX, strlen(ENV_TMP_PREFIX)))
            continue;
        _cleanup_free_ char *p = xasprintf("%s/%s", env_dir, de->d_name);
        env_unmount_below(p);
        int64_t size = env_tree_size(env_dirfd, de->d_name);
        int rc = idmap_rm_rf_at(env_dirfd, de->d_name, err);
        if (rc < 0)
            return err_prefix(err, "remove stale build %s", p);
        log_debug("removed stale build directory %s", p);
        if (removed)
            json_array_append_new(removed, json_string(p));
        if (freed)
            *freed += size;
        count++;
    }
    return count;
}

int env_rootfs_own(const char *install_dir, pyro_error *err)
{
    struct idmap m;
    int rc = idmap_resolve(&m, err);
    if (rc < 0 || m.rootless) /* a user's mmdebstrap (unshare mode) built it owned by the range */
        return rc;
    _cleanup_free_ char *rootfs = xasprintf("%s/%s", install_dir, ENV_ROOTFS_NAME);
    if (idmap_tree_shifted(rootfs, m.uid_base))
        return 0;
    int64_t t0 = time_mono_ms();
    rc = idmap_shift_tree(rootfs, 0, 0, m.uid_base, m.gid_base, m.count, err);
    log_debug("%s: ownership shifted to %u.. in %lld ms", rootfs, (unsigned)m.uid_base,
              (long long)(time_mono_ms() - t0));
    return rc;
}

int env_dir_lock(struct pyro_ctx *ctx, const char *dir, const char *wait_msg, int *lock, int *dirfd, bool *waited,
                 pyro_error *err)
{
    *lock = *dirfd = -1;
    int rc = mkdir_p(dir, 0755, err);
    if (rc < 0)
        return rc;
    int fd = dirlock(dir, PYRO_LOCK_EXCLUSIVE, 0, err);
    if (fd == -PYRO_E_BUSY) {
        ctx_progress(ctx, "pull", "wait", -1, -1, wait_msg);
        *waited = true;
        fd = dirlock(dir, PYRO_LOCK_EXCLUSIVE, -1, err);
    }
    if (fd < 0)
        return fd;
    *dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dirfd < 0) {
        int e = errno;
        close(fd);
        return err_errno(err, e, "open %s", dir);
    }
    *lock = fd;
    return 0;
}
