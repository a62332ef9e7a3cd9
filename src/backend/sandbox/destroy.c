/* Stopping and removing sandboxes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/sandbox/internal.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/idmap.h"
#include "base/log.h"
#include "base/mountinfo.h"
#include "base/paths.h"
#include "base/timeutil.h"

struct destroy_args {
    const char *dir, *id;
};

static int destroy_fn(void *arg, pyro_error *err)
{
    const struct destroy_args *a = arg;
    return sandbox_destroy(a->dir, a->id, err);
}

/* The sandbox's cgroups: a user's recorded one (sandbox.json "cgroup"),
 * else <mount>/<parent>/<id>. st may be NULL (no state file). */
static int remove_cgroups(const struct sandbox_state *st, const char *id, pyro_error *err)
{
    struct cgroups cg;
    pyro_error e2 = {0};
    int r;
    if (st && st->cgroup)
        r = cgroups_plan_recorded(st->cgroup, st->cgroup_parent, id, &cg, err);
    else /* a host without usable cgroups cannot have started a sandbox */
        r = cgroups_plan(st ? st->cgroup_parent : "pyro", id, &cg, &e2) < 0 ? 1 : 0;
    if (r != 0)
        return r < 0 ? r : 0;
    r = cgroups_remove(&cg, err);
    cgroups_free(&cg);
    return r;
}

int sandbox_destroy_instance(struct backend_instance *inst, const char *dir, const char *id, pyro_error *err)
{
    if (inst->userns_fd < 0)
        return sandbox_destroy(dir, id, err);
    /* A user's delegated cgroup belongs to the user, whom the sandbox's
     * namespace does not map: removed from here first. */
    struct sandbox_state st;
    if (id_valid(id) && sandbox_state_load(dir, &st, NULL) == 0) {
        if (st.cgroup && !strcmp(st.id, id))
            (void)remove_cgroups(&st, id, NULL);
        sandbox_state_free(&st);
    }
    struct destroy_args a = {dir, id};
    int r = idmap_run_in(inst->userns_fd, destroy_fn, &a, err);
    /* whatever the namespace could not do, the host view can */
    return r < 0 ? sandbox_destroy(dir, id, err) : 0;
}

static int remove_files(const char *dir, pyro_error *err)
{
    static const char *const dirs[] = {"merged", "layers", "upper", "work"}; /* upper, work: older layouts */
    static const char *const files[] = {"resolv.conf",     USERNET_GUARD_FILE,       USERNET_READY_FILE,
                                        BACKEND_DISK_NAME, BACKEND_DISK_NAME ".tmp", "sandbox.json"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, dirs[i]);
        int r = idmap_rm_rf(p, err);
        if (r < 0)
            return r;
    }
    /* The disk image's mount point, unmounted by then: rmdir only, never
     * a recursive removal that could reach into a mounted image. */
    _cleanup_free_ char *mnt = xasprintf("%s/disk", dir);
    if (rmdir(mnt) < 0 && errno != ENOENT)
        return err_errno(err, errno, "remove %s", mnt);
    return backend_dir_remove(dir, files, ARRAY_SIZE(files), err);
}

int sandbox_destroy(const char *dir, const char *id, pyro_error *err)
{
    if (!id || !id_valid(id) || !dir || dir[0] != '/')
        return err_set(err, -PYRO_E_INVALID, "destroy needs an absolute dir and a valid id");
    struct sandbox_state st;
    int r = sandbox_state_load(dir, &st, err);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0 && strcmp(st.id, id) != 0) {
        int code = err_set(err, -PYRO_E_INVALID, "%s belongs to sandbox %s, not %s", dir, st.id, id);
        sandbox_state_free(&st);
        return code;
    }
    /* The state file is written before anything else exists, and removed
     * last: without it, or with network off or through pasta, no NAT rule
     * can exist, so the (slow) nft listing is skipped. */
    bool had_network = r == 0 && st.network && !st.user_net;
    /* A user's pasta first: it holds the sandbox's namespaces open. */
    if (r == 0 && st.user_net)
        usernet_stop(st.pasta_pid, st.pasta_start);
    pyro_error e2 = {0};
    int64_t t0 = time_mono_ns();
    int first = remove_cgroups(r == 0 ? &st : NULL, id, err);
    int64_t t1 = time_mono_ns();
    if (r == 0)
        sandbox_state_free(&st);
    /* The link is found from the id even without a state file. */
    r = netguard_teardown(id, had_network, first < 0 ? &e2 : err);
    if (r < 0 && first == 0)
        first = r;
    /* Host mounts below dir: the disk image's (disk.c); the overlay lives
     * in the sandbox's own mount namespace. Detached deepest first. */
    r = mountinfo_unmount_below(MOUNTINFO_PATH, dir, first < 0 ? &e2 : err);
    if (r < 0 && first == 0)
        first = r;
    int64_t t2 = time_mono_ns();
    if (first == 0)
        first = remove_files(dir, err);
    log_debug("sandbox %s: destroy: cgroups %.1f ms, network and mounts %.1f ms, files %.1f ms", id, (t1 - t0) / 1e6,
              (t2 - t1) / 1e6, (time_mono_ns() - t2) / 1e6);
    if (first < 0)
        return err_prefix(err, "destroy sandbox %s", id);
    return 0;
}
