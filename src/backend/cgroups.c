/* Instance cgroups (a sandbox's, a VM's QEMU's) on v1 (one hierarchy per
 * controller, as on hybrid hosts) and v2 (unified).
 *
 * Version choice: when the memory, pids and cpu controllers are each mounted
 * as a v1 hierarchy, v1 is used (a hybrid host's cgroup2 mount has no
 * controllers). Otherwise a cgroup2 mount whose cgroup.controllers lists all
 * three is used. Directories are <mount>/<parent>/<id>. The mounts come
 * from base/mountinfo.h, as doctor's do.
 *
 * An ordinary user's plan (cgroups_user.c finds its delegated cgroup, the
 * base) is <base>/<parent>/<id> on cgroup v2, with the controllers the
 * base offers. The no-internal-processes rule: a cgroup that enables
 * controllers for its children holds no process itself, so processes in
 * the base (a Delegate=yes scope pyro was started in) move to the leaf
 * <base>/CGROUPS_USER_LEAF first, as systemd's delegation contract asks. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/cgroups.h"
#include "base/cleanup.h"
#include "base/mountinfo.h"
#include "base/paths.h"
#include "base/relpath.h"

#define CPU_PERIOD_US 100000
/* Where the processes of a user's base go (see above). */
#define CGROUPS_USER_LEAF "pyro-leaf"

static const char *const v1_controllers[] = {"cpu", "memory", "pids", "devices"};

/* 1 (v1), 2 (v2) or a negative code; m holds the mounts either way. */
static int detect(struct mountinfo_cgroups *m, pyro_error *err)
{
    int r = mountinfo_cgroups(MOUNTINFO_PATH, m, err);
    if (r < 0)
        return r;
    if (mountinfo_cgroup_v1(m, "cpu") && mountinfo_cgroup_v1(m, "memory") && mountinfo_cgroup_v1(m, "pids"))
        return 1;
    if (m->v2 && mountinfo_cgroup_v2_has(m, "cpu") && mountinfo_cgroup_v2_has(m, "memory") &&
        mountinfo_cgroup_v2_has(m, "pids"))
        return 2;
    return err_set(err, -PYRO_E_UNSUPPORTED,
                   "no usable cgroup hierarchy: need the cpu, memory and pids controllers either as "
                   "cgroup v1 mounts or on a cgroup2 mount");
}

int cgroups_version(pyro_error *err)
{
    struct mountinfo_cgroups m;
    int r = detect(&m, err);
    mountinfo_cgroups_free(&m);
    return r;
}

static void add_path(struct cgroups *out, const char *mnt, const char *parent, const char *id)
{
    if (!mnt)
        return;
    char *p = xasprintf("%s/%s/%s", mnt, parent, id);
    for (int i = 0; i < out->count; i++)
        if (strcmp(out->paths[i], p) == 0) { /* comounted controllers */
            free(p);
            return;
        }
    out->paths[out->count++] = p;
}

int cgroups_plan(const char *parent, const char *id, struct cgroups *out, pyro_error *err)
{
    *out = (struct cgroups){0};
    struct mountinfo_cgroups m;
    int r = detect(&m, err);
    if (r < 0) {
        mountinfo_cgroups_free(&m);
        return r;
    }
    out->version = r;
    out->ctl = CGROUPS_ALL;
    if (r == 1) {
        for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++)
            add_path(out, mountinfo_cgroup_v1(&m, v1_controllers[i]), parent, id);
    } else
        add_path(out, m.v2, parent, id);
    mountinfo_cgroups_free(&m);
    return 0;
}

void cgroups_plan_user(const struct cgroups_user *u, const char *parent, const char *id, struct cgroups *out)
{
    *out = (struct cgroups){0};
    if (!u->base[0] || !(u->ctl & CGROUPS_ALL))
        return;
    out->version = 2;
    out->ctl = u->ctl & CGROUPS_ALL;
    out->base = xstrdup(u->base);
    add_path(out, u->base, parent, id);
}

int cgroups_plan_caller(bool rootless, const char *parent, const char *id, struct cgroups *out, struct cgroups_user *u,
                        pyro_error *err)
{
    if (!rootless)
        return cgroups_plan(parent, id, out, err);
    cgroups_user_probe(u);
    cgroups_plan_user(u, parent, id, out);
    return 0;
}

int cgroups_plan_recorded(const char *dir, const char *parent, const char *id, struct cgroups *out, pyro_error *err)
{
    *out = (struct cgroups){0};
    _cleanup_free_ char *tail = xasprintf("/%s/%s", parent, id);
    size_t dl = strlen(dir), tl = strlen(tail);
    if (dir[0] != '/' || dl <= tl || dl >= CGROUPS_PATH_MAX || strcmp(dir + dl - tl, tail) ||
        relpath_check(dir + 1, RELPATH_CANONICAL, NULL) < 0)
        return err_set(err, -PYRO_E_CORRUPT, "recorded cgroup '%s' is not a canonical path ending in %s", dir, tail);
    struct mountinfo_cgroups m;
    int r = mountinfo_cgroups(MOUNTINFO_PATH, &m, err);
    size_t ml = m.v2 ? strlen(m.v2) : 0;
    bool under = r == 0 && m.v2 && !strncmp(dir, m.v2, ml) && dir[ml] == '/' && dl - tl > ml;
    mountinfo_cgroups_free(&m);
    if (r < 0)
        return r;
    if (!under)
        return err_set(err, -PYRO_E_CORRUPT, "recorded cgroup '%s' is not below the cgroup2 mount", dir);
    out->version = 2;
    out->ctl = CGROUPS_ALL;
    out->paths[out->count++] = xstrdup(dir);
    return 0;
}

unsigned cgroups_unenforced(const struct cgroups *cg)
{
    return cg->count ? CGROUPS_ALL & ~cg->ctl : CGROUPS_ALL;
}

void cgroups_free(struct cgroups *cg)
{
    for (int i = 0; i < cg->count; i++)
        free(cg->paths[i]);
    cg->count = 0;
    free(cg->base);
    cg->base = NULL;
}

static int write_file(const char *dir, const char *name, const char *value, pyro_error *err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open %s", path);
    size_t len = strlen(value);
    if (write(fd, value, len) != (ssize_t)len)
        return err_errno(err, errno, "write '%s' to %s", value, path);
    return 0;
}

static bool file_exists(const char *dir, const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Which v1 controller a directory belongs to, by its control files. */
static bool v1_is(const char *dir, const char *probe_file)
{
    return file_exists(dir, probe_file);
}

/* Docker's default device allow list (besides the pts and ptmx majors). */
static const char *const v1_devices_allow[] = {
    "c 1:3 rwm",    /* null */
    "c 1:5 rwm",    /* zero */
    "c 1:7 rwm",    /* full */
    "c 1:8 rwm",    /* random */
    "c 1:9 rwm",    /* urandom */
    "c 5:0 rwm",    /* tty */
    "c 5:1 rwm",    /* console */
    "c 5:2 rwm",    /* ptmx */
    "c 136:* rwm",  /* pts */
    "c 10:200 rwm", /* net/tun */
};

static int v1_limits(const char *dir, const struct cgroups_limits *lim, pyro_error *err)
{
    char buf[64];
    int r = 0;
    if (v1_is(dir, "cpu.cfs_quota_us")) {
        snprintf(buf, sizeof(buf), "%d", CPU_PERIOD_US);
        if ((r = write_file(dir, "cpu.cfs_period_us", buf, err)) < 0)
            return r;
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->vcpu_count * CPU_PERIOD_US);
        if ((r = write_file(dir, "cpu.cfs_quota_us", buf, err)) < 0)
            return r;
    }
    if (v1_is(dir, "memory.limit_in_bytes")) {
        snprintf(buf, sizeof(buf), "%" PRIu64, (uint64_t)lim->mem_mib << 20);
        if ((r = write_file(dir, "memory.limit_in_bytes", buf, err)) < 0)
            return r;
        /* memsw exists only with swap accounting; it must be >= the limit. */
        if (file_exists(dir, "memory.memsw.limit_in_bytes") &&
            (r = write_file(dir, "memory.memsw.limit_in_bytes", buf, err)) < 0)
            return r;
        if (file_exists(dir, "memory.swappiness") && (r = write_file(dir, "memory.swappiness", "0", err)) < 0)
            return r;
    }
    if (v1_is(dir, "pids.max")) {
        snprintf(buf, sizeof(buf), "%d", lim->pids_max);
        if ((r = write_file(dir, "pids.max", buf, err)) < 0)
            return r;
    }
    if (v1_is(dir, "devices.deny")) {
        if ((r = write_file(dir, "devices.deny", "a", err)) < 0)
            return r;
        for (size_t i = 0; i < ARRAY_SIZE(v1_devices_allow); i++)
            if ((r = write_file(dir, "devices.allow", v1_devices_allow[i], err)) < 0)
                return r;
        if (lim->allow_kvm && (r = write_file(dir, "devices.allow", "c 10:232 rwm", err)) < 0) /* kvm */
            return r;
    }
    return 0;
}

/* The parent of an instance's cgroup directory (shared by every instance). */
static char *parent_of(const char *dir)
{
    char *p = xstrdup(dir);
    char *slash = strrchr(p, '/');
    if (slash && slash != p)
        *slash = '\0';
    return p;
}

/* The memory limit of the v1 parent. memsw (swap accounting) must stay at
 * or above the limit at every step: raised before it, lowered after it.
 * Lowering under the current usage fails with EBUSY (the kernel reclaims
 * what it can, and kills nothing). */
static int v1_parent_memory(const char *parent, int64_t mib, pyro_error *err)
{
    if (!file_exists(parent, "memory.limit_in_bytes"))
        return 0; /* not the memory hierarchy */
    char buf[64];
    snprintf(buf, sizeof(buf), "%" PRIu64, (uint64_t)mib << 20);
    bool memsw = file_exists(parent, "memory.memsw.limit_in_bytes");
    pyro_error first = {0};
    int r = write_file(parent, "memory.limit_in_bytes", buf, &first);
    if (r == -EINVAL && memsw) { /* above memsw: raise that first */
        if ((r = write_file(parent, "memory.memsw.limit_in_bytes", buf, err)) < 0)
            return r;
        r = write_file(parent, "memory.limit_in_bytes", buf, err);
    } else if (r < 0) {
        *err = first;
    }
    if (r == 0 && memsw)
        r = write_file(parent, "memory.memsw.limit_in_bytes", buf, err);
    return r;
}

/* The memory limit of the v2 parent. Under its current usage the kernel
 * would OOM-kill in running sandboxes to meet it: refused instead, as v1
 * does (EBUSY). */
static int v2_parent_memory(const char *parent, int64_t mib, pyro_error *err)
{
    uint64_t limit = (uint64_t)mib << 20, used = 0;
    _cleanup_free_ char *cur = xasprintf("%s/memory.current", parent);
    _cleanup_fclose_ FILE *f = fopen(cur, "re");
    if (f && fscanf(f, "%" SCNu64, &used) == 1 && used > limit)
        return err_set(err, -EBUSY, "the instances in it already use %" PRIu64 " MiB, more than %lld MiB", used >> 20,
                       (long long)mib);
    char buf[64];
    snprintf(buf, sizeof(buf), "%" PRIu64, limit);
    return write_file(parent, "memory.max", buf, err);
}

/* Moves every process of a user's base into base/CGROUPS_USER_LEAF, so
 * that base may enable controllers; one forked meanwhile moves next round. */
static int v2_base_vacate(const char *base, pyro_error *err)
{
    _cleanup_free_ char *leaf = xasprintf("%s/%s", base, CGROUPS_USER_LEAF);
    if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
        return err_errno(err, errno, "create %s", leaf);
    _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", base);
    for (int round = 0; round < 100; round++) {
        _cleanup_fclose_ FILE *f = fopen(procs, "re");
        if (!f)
            return err_errno(err, errno, "open %s", procs);
        int pid, n = 0;
        while (fscanf(f, "%d", &pid) == 1) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%d", pid);
            pyro_error e = {0};
            int r = write_file(leaf, "cgroup.procs", buf, &e);
            if (r < 0 && r != -ESRCH) /* (one that has exited meanwhile) */
                return err_set(err, r, "move the processes of %s into %s: %s", base, CGROUPS_USER_LEAF, e.message);
            n++;
        }
        if (n == 0)
            return 0;
    }
    return err_set(err, -EBUSY, "processes keep appearing in %s", base);
}

/* Enables the plan's controllers for the children of every ancestor of dir
 * below the mount point, or for a user's plan from its base down. */
static int v2_delegate(const struct cgroups *cg, const char *dir, pyro_error *err)
{
    char names[48], enable[64];
    cgroups_ctl_list(cg->ctl, " +", names, sizeof(names));
    snprintf(enable, sizeof(enable), "+%s", names);
    _cleanup_free_ char *p = xstrdup(dir);
    char *slash = strrchr(p, '/');
    if (!slash)
        return 0;
    *slash = '\0'; /* the parent of dir */
    /* Collect the ancestors up to the mount point (the last directory with
     * cgroup.controllers) or the base, then enable top-down. As root, only
     * a failure on the direct parent matters: above it the controllers may
     * already be on. In a user's base, every level matters. */
    char *ancestors[64];
    int n = 0;
    size_t bl = cg->base ? strlen(cg->base) : 0;
    for (char *q = p; n < 64 && file_exists(q, "cgroup.controllers");) {
        ancestors[n++] = xstrdup(q);
        char *s = strrchr(q, '/');
        if (!s || s == q || (cg->base && strlen(q) <= bl))
            break;
        *s = '\0';
    }
    int r = 0;
    for (int i = n - 1; i >= 0; i--) {
        if (r == 0) {
            pyro_error e = {0};
            int w = write_file(ancestors[i], "cgroup.subtree_control", enable, &e);
            if (w == -EBUSY && cg->base && i == n - 1 && (w = v2_base_vacate(ancestors[i], &e)) == 0)
                w = write_file(ancestors[i], "cgroup.subtree_control", enable, &e);
            if (w < 0 && (i == 0 || cg->base))
                r = err_set(err, w, "%s", e.message);
        }
        free(ancestors[i]);
    }
    return r;
}

static int v2_limits(const char *dir, const struct cgroups_limits *lim, unsigned ctl, pyro_error *err)
{
    char buf[64];
    int r;
    snprintf(buf, sizeof(buf), "%lld %d", (long long)lim->vcpu_count * CPU_PERIOD_US, CPU_PERIOD_US);
    if ((ctl & CGROUPS_CPU) && (r = write_file(dir, "cpu.max", buf, err)) < 0)
        return r;
    if (ctl & CGROUPS_MEMORY) {
        snprintf(buf, sizeof(buf), "%" PRIu64, (uint64_t)lim->mem_mib << 20);
        if ((r = write_file(dir, "memory.max", buf, err)) < 0)
            return r;
        if (file_exists(dir, "memory.swap.max") && (r = write_file(dir, "memory.swap.max", "0", err)) < 0)
            return r;
    }
    snprintf(buf, sizeof(buf), "%d", lim->pids_max);
    return (ctl & CGROUPS_PIDS) ? write_file(dir, "pids.max", buf, err) : 0;
}

int cgroups_create(const struct cgroups *cg, const struct cgroups_limits *lim, pyro_error *err)
{
    for (int i = 0; i < cg->count; i++) {
        int r = mkdir_p(cg->paths[i], 0755, err);
        if (r < 0)
            return r;
        _cleanup_free_ char *parent = parent_of(cg->paths[i]);
        if (cg->version == 1) {
            if (lim->parent_mem_mib > 0 && (r = v1_parent_memory(parent, lim->parent_mem_mib, err)) < 0)
                return err_prefix(err, "memory limit of cgroup %s (the cap on all instances)", parent);
            r = v1_limits(cg->paths[i], lim, err);
        } else if ((r = v2_delegate(cg, cg->paths[i], err)) == 0) {
            if (lim->parent_mem_mib > 0 && (cg->ctl & CGROUPS_MEMORY) &&
                (r = v2_parent_memory(parent, lim->parent_mem_mib, err)) < 0)
                return err_prefix(err, "memory limit of cgroup %s (the cap on all instances)", parent);
            r = v2_limits(cg->paths[i], lim, cg->ctl, err);
        }
        if (r < 0)
            return err_prefix(err, "cgroup %s", cg->paths[i]);
    }
    return 0;
}

void cgroups_create_user(struct cgroups *cg, const struct cgroups_limits *lim, struct cgroups_user *u)
{
    pyro_error e = {0};
    if (!cg->count || cgroups_create(cg, lim, &e) == 0)
        return;
    (void)cgroups_remove(cg, NULL);
    size_t n = strlen(u->why);
    snprintf(u->why + n, sizeof(u->why) - n, "%scould not make a cgroup in %s: %s", n ? "; " : "",
             cg->base ? cg->base : "?", e.message);
    n = strlen(u->fix);
    snprintf(u->fix + n, sizeof(u->fix) - n,
             "%scheck that the cgroup and its cgroup.subtree_control are delegated to you (pyro doctor: "
             "cgroup_delegation)",
             n ? "; " : "");
    u->ctl = 0;
    cgroups_free(cg);
    *cg = (struct cgroups){0};
}

int cgroups_attach(const struct cgroups *cg, pid_t pid, pyro_error *err)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%d", (int)pid);
    for (int i = 0; i < cg->count; i++) {
        int r = write_file(cg->paths[i], "cgroup.procs", buf, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Signals every process listed in dir/cgroup.procs; returns how many were
 * listed (0: empty or gone). */
static int kill_members(const char *dir)
{
    _cleanup_free_ char *path = xasprintf("%s/cgroup.procs", dir);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int n = 0, pid;
    while (fscanf(f, "%d", &pid) == 1) {
        if (pid > 0)
            (void)kill(pid, SIGKILL);
        n++;
    }
    return n;
}

int cgroups_remove(const struct cgroups *cg, pyro_error *err)
{
    for (int i = 0; i < cg->count; i++) {
        const char *dir = cg->paths[i];
        if (access(dir, F_OK) < 0)
            continue;
        if (cg->version == 2 && file_exists(dir, "cgroup.kill"))
            (void)write_file(dir, "cgroup.kill", "1", NULL);
        /* Members leave the cgroup when they have exited; zombies of a
         * killed PID 1 are reaped by the kernel with their namespace. */
        int tries = 0;
        for (;;) {
            int n = kill_members(dir);
            if (rmdir(dir) == 0 || errno == ENOENT)
                break;
            if (errno != EBUSY || ++tries > 1000)
                return err_errno(err, errno, "remove cgroup %s (%d members left)", dir, n);
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

unsigned cgroups_user_lost(const struct cgroups *cg, const struct cgroups_user *u, char *reason, size_t size)
{
    unsigned lost = cgroups_unenforced(cg);
    if (lost)
        snprintf(reason, size, "%s (fix: %s)", u->why, u->fix);
    return (lost & CGROUPS_CPU ? BACKEND_LIMIT_CPU : 0) | (lost & CGROUPS_MEMORY ? BACKEND_LIMIT_MEMORY : 0) |
           (lost & CGROUPS_PIDS ? BACKEND_LIMIT_PIDS : 0);
}
