/* sandbox_start: prepare everything in the parent, clone the child into
 * new namespaces, place it into its cgroups and give it its veth while it
 * waits on the sync socket, then let it build its root and exec init.
 *
 * Order (each step can be undone by sandbox_destroy from dir and id):
 *   validate -> dirs -> sandbox.json -> cgroups -> seccomp BPF -> fds ->
 *   nft rule + subnet -> clone3 -> cgroup.procs -> veth -> "go" -> EOF
 * As an ordinary user egress is pasta's instead (backend/usernet.c): clone3 ->
 * id maps -> guard + pasta (its pid into sandbox.json) -> "m" -> ... */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/sandbox/internal.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/relpath.h"
#include "base/timeutil.h"

/* struct clone_args of <linux/sched.h> (which clashes with <sched.h>),
 * up to CLONE_ARGS_SIZE_VER0. */
struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static char *const default_argv[] = {(char *)SANDBOX_INIT_PATH, NULL};
static char *const default_envp[] = {
    (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    (char *)"HOME=/root",
    (char *)"container=pyro",
    NULL,
};

static bool path_ok(const char *p)
{
    /* absolute, and nothing the overlay option parser would split on */
    return p && p[0] == '/' && !strpbrk(p, ",:\\\n");
}

static int validate(const struct backend_config *c, pyro_error *err)
{
    if (!c->id || !id_valid(c->id))
        return err_set(err, -PYRO_E_INVALID, "invalid sandbox id '%s'", c->id ? c->id : "");
    if (!path_ok(c->rootfs) || !path_ok(c->dir) || !c->init_path || c->init_path[0] != '/')
        return err_set(err, -PYRO_E_INVALID,
                       "rootfs, dir and init_path must be absolute paths without ',', ':' or '\\'");
    if (c->vcpu_count < 1 || c->vcpu_count > 1024 || c->mem_mib < 16 || c->mem_mib > (1 << 24) || c->pids_max < 8 ||
        c->pids_max > (1 << 22))
        return err_set(err, -PYRO_E_INVALID,
                       "limits out of range: vcpu_count %d (1..1024), mem_mib %d (16..), pids_max %d (8..)",
                       c->vcpu_count, c->mem_mib, c->pids_max);
    if (c->channel_fd < 0)
        return err_set(err, -PYRO_E_INVALID, "channel_fd is not an open descriptor");
    if (c->disk_mib < 0 || (c->disk_mib > 0 && c->disk_mib < 16))
        return err_set(err, -PYRO_E_INVALID, "disk_mib %d out of range (0, or 16 and more)", c->disk_mib);
    /* init's stdout and stderr reach the host only through a pipe or a
     * socket: a host file would be init's to truncate, seek, chmod or make
     * setuid (and so the commands' it runs, had they its fds). */
    struct stat sfd;
    if (c->stdio_fd >= 0 && (fstat(c->stdio_fd, &sfd) < 0 || !(S_ISFIFO(sfd.st_mode) || S_ISSOCK(sfd.st_mode))))
        return err_set(err, -PYRO_E_INVALID, "stdio_fd must be a pipe or a socket, not a file");
    if (c->cgroup_parent && relpath_check(c->cgroup_parent, RELPATH_CANONICAL, err) < 0) {
        err_prefix(err, "cgroup_parent");
        return -PYRO_E_INVALID;
    }
    if (!c->idmap || c->idmap->count < 1)
        return err_set(err, -PYRO_E_INVALID, "no id range for the sandbox's user namespace");
    int r;
    if (c->idmap->rootless && c->network && (r = usernet_check(c->network_allow_hosts != NULL, err)) < 0)
        return r;
    struct stat st;
    if (stat(c->rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
        return err_set(err, -PYRO_E_NOT_FOUND, "rootfs %s is not a directory", c->rootfs);
    return 0;
}

static int cap_last(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    int n = 63;
    if (!f || fscanf(f, "%d", &n) != 1 || n < 0 || n > 63)
        n = 63;
    return n;
}

/* A kept upper layer (a workspace's) belongs to the range's root (the
 * mounter inside); in a user's host view that is uid 0. Opened here, so the
 * host view need not cross the user's directories (whose group it may not
 * have mapped). */
struct own_args {
    int fd;
    uid_t uid;
    gid_t gid;
};

static int own_dir(void *arg, pyro_error *err)
{
    const struct own_args *a = arg;
    if (fchownat(a->fd, "", a->uid, a->gid, AT_EMPTY_PATH) < 0)
        return err_errno(err, errno, "give the writable layer to the sandbox's root");
    return 0;
}

/* dir (0700), dir/merged, and dir/layers (0777, reachable only through dir)
 * where the child makes the overlay's work directory and, unless a kept
 * upper layer is given, its upper one, as the range's root: no host view
 * needed for a one-shot sandbox. */
static int make_dirs(const struct backend_config *c, bool image, pyro_error *err)
{
    int r = mkdir_p(c->dir, 0700, err);
    _cleanup_free_ char *merged = xasprintf("%s/merged", c->dir);
    _cleanup_free_ char *layers = xasprintf("%s/layers", c->dir);
    if (r == 0)
        r = mkdir_p(merged, 0755, err);
    if (r == 0 && (mkdir(layers, 0700) < 0 || chmod(layers, 0777) < 0))
        r = err_errno(err, errno, "create %s", layers);
    if (r < 0 || !c->upper_dir || image)
        return r;
    if (c->upper_dir[0] != '/')
        return err_set(err, -PYRO_E_INVALID, "upper_dir must be absolute");
    if ((r = mkdir_p(c->upper_dir, 0755, err)) < 0)
        return r;
    const struct idmap *m = c->idmap;
    struct stat st;
    if (lstat(c->upper_dir, &st) < 0)
        return err_errno(err, errno, "stat %s", c->upper_dir);
    if (st.st_uid == m->uid_base)
        return 0;
    /* A layer that ran without a user namespace (an older pyro as root):
     * its files move into the range once, opaque markers included. */
    if (!m->rootless && st.st_nlink > 2 &&
        (r = idmap_shift_tree(c->upper_dir, 0, 0, m->uid_base, m->gid_base, m->count, err)) < 0)
        return r;
    _cleanup_close_ int ufd = open(c->upper_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ufd < 0)
        return err_errno(err, errno, "open %s", c->upper_dir);
    struct own_args a = {ufd, m->view_uid_base, m->view_gid_base};
    return idmap_run(m, own_dir, &a, err);
}

/* Everything the parent owns during start; released on every path. */
struct start_ctx {
    struct cgroups cg;
    struct cgroups_user cgu; /* as a user: its delegated cgroup, or why none */
    struct netguard net;
    struct sandbox_plan plan;
    unsigned limits_unenforced;
    char limits_reason[BACKEND_LIMITS_REASON_MAX];
    char *paths[SANDBOX_PATHS];
    int devnull_fd, sync[2], pidfd;
    pid_t pid;
};

static void ctx_release(struct start_ctx *s)
{
    cgroups_free(&s->cg);
    for (int i = 0; i < s->plan.cg_tasks_count; i++)
        close(s->plan.cg_tasks_fd[i]);
    s->plan.cg_tasks_count = 0;
    free(s->plan.seccomp.filter);
    for (int i = 0; i < SANDBOX_PATHS; i++) {
        free(s->paths[i]);
        if (s->plan.paths[i].fd >= 0)
            close(s->plan.paths[i].fd);
    }
    int fds[] = {s->devnull_fd, s->sync[0], s->sync[1], s->net.lock_fd, s->pidfd};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (s->pid > 0) {
        (void)kill(s->pid, SIGKILL);
        while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
}

/* What sandbox.json holds (strings borrowed from c and cg): a user's
 * cgroup is recorded, as it depends on where the starting process lived. */
static struct sandbox_state state_of(const struct backend_config *c, const struct cgroups *cg)
{
    return (struct sandbox_state){.id = (char *)c->id,
                                  .cgroup_parent = (char *)(c->cgroup_parent ? c->cgroup_parent : "pyro"),
                                  .cgroup = cg->base ? cg->paths[0] : NULL,
                                  .network = c->network,
                                  .user_net = c->network && c->idmap->rootless};
}

/* A user's cgroup: made with the limits it can hold, or dropped whole. */
static void limits_user(const struct backend_config *c, struct start_ctx *s, const struct cgroups_limits *lim)
{
    cgroups_create_user(&s->cg, lim, &s->cgu);
    unsigned lost = cgroups_user_lost(&s->cg, &s->cgu, s->limits_reason, sizeof(s->limits_reason));
    if (lost & BACKEND_LIMIT_PIDS)
        s->plan.nproc_max = c->pids_max;
    s->limits_unenforced |= lost;
    int n = (int)strlen(s->limits_reason);
    if ((s->limits_unenforced & BACKEND_LIMIT_DISK) && n >= 0 && (size_t)n < sizeof(s->limits_reason))
        snprintf(s->limits_reason + n, sizeof(s->limits_reason) - (size_t)n,
                 "%sdisk: an ordinary user cannot loop-mount the disk image (fix: run as root, or use the VM backend)",
                 n ? "; " : "");
}

static int prepare(const struct backend_config *c, struct start_ctx *s, pyro_error *err)
{
    const char *parent = c->cgroup_parent ? c->cgroup_parent : "pyro";
    /* The disk quota needs a loop mount: as a user there is none, and the
     * result says the quota was not held (limits_unenforced "disk"). */
    bool image = c->disk_mib > 0 && !c->idmap->rootless;
    if (c->disk_mib > 0 && c->idmap->rootless)
        s->limits_unenforced |= BACKEND_LIMIT_DISK;
    /* As a user: a cgroup in the cgroup v2 subtree delegated to it, with
     * the controllers it offers; those it lacks (all, without delegation)
     * are reported with why and the fix, and RLIMIT_NPROC of the range's
     * root inside stands in for pids (docs/rootless.md). */
    int r = cgroups_plan_caller(c->idmap->rootless, parent, c->id, &s->cg, &s->cgu, err);
    if (r < 0)
        return r;
    if ((r = make_dirs(c, image, err)) < 0)
        return r;
    struct sandbox_state st = state_of(c, &s->cg);
    if ((r = sandbox_state_save(c->dir, &st, err)) < 0)
        return r;
    if (image && (r = sandbox_disk_attach(c, &s->paths[SANDBOX_PATH_UPPER], &s->paths[SANDBOX_PATH_WORK], err)) < 0)
        return r;
    struct cgroups_limits lim = {c->vcpu_count, c->mem_mib, c->pids_max, c->cgroup_parent_mem_mib, false};
    if (c->idmap->rootless)
        limits_user(c, s, &lim);
    else if ((r = cgroups_create(&s->cg, &lim, err)) < 0)
        return r;
    /* On cgroup v1 the child joins its cgroups itself, as a single thread
     * writing "0" to "tasks": the kernel then skips the global threadgroup
     * lock whose write side waits for an RCU grace period (~10 ms here),
     * which moving it from the parent through "cgroup.procs" pays. */
    for (int i = 0; s->cg.version == 1 && i < s->cg.count; i++) {
        _cleanup_free_ char *tasks = xasprintf("%s/tasks", s->cg.paths[i]);
        int fd = open(tasks, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return err_errno(err, errno, "open %s", tasks);
        s->plan.cg_tasks_fd[s->plan.cg_tasks_count++] = fd;
    }
    int64_t ts = time_mono_ns();
    if ((r = sandbox_seccomp_build(&s->plan.seccomp, err)) < 0)
        return r;
    log_debug("sandbox %s: seccomp filter built in %.2f ms", c->id, (time_mono_ns() - ts) / 1e6);
    struct stat sti;
    if (stat(c->init_path, &sti) < 0)
        return err_errno(err, errno, "init %s", c->init_path);
    if (!S_ISREG(sti.st_mode) || !(sti.st_mode & 0111))
        return err_set(err, -PYRO_E_INVALID, "init %s is not an executable file", c->init_path);
    s->paths[SANDBOX_PATH_INIT] = xstrdup(c->init_path);
    s->devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (s->devnull_fd < 0)
        return err_errno(err, errno, "open /dev/null");
    if (c->network) {
        if ((r = netguard_resolv(c->dir, err)) < 0)
            return r;
        if (r == 1)
            s->paths[SANDBOX_PATH_RESOLV] = xasprintf("%s/resolv.conf", c->dir);
        if (c->idmap->rootless) { /* pasta's network (backend/usernet.c) */
            inet_pton(AF_INET, USERNET_GUEST, &s->net.guest_addr);
            inet_pton(AF_INET, USERNET_GATEWAY, &s->net.host_addr);
        } else if ((r = netguard_prepare(c->id, c->network_allow_host, c->network_allow_hosts, &s->net, err)) < 0) {
            return r;
        }
        if (c->network_allow_hosts) { /* the DNS filter is the only resolver */
            if ((r = netguard_resolv_filter(c->dir, &s->net, err)) < 0)
                return r;
            free(s->paths[SANDBOX_PATH_RESOLV]);
            s->paths[SANDBOX_PATH_RESOLV] = xasprintf("%s/resolv.conf", c->dir);
        }
    }
    for (int i = 0; i < SANDBOX_DEV_NODES; i++)
        s->paths[SANDBOX_PATH_DEV + i] = xstrdup(sandbox_dev_nodes[i]);
    s->paths[SANDBOX_PATH_LOWER] = xstrdup(c->rootfs);
    if (!image)
        s->paths[SANDBOX_PATH_UPPER] = c->upper_dir ? xstrdup(c->upper_dir) : NULL;
    s->paths[SANDBOX_PATH_MERGED] = xasprintf("%s/merged", c->dir);
    s->paths[SANDBOX_PATH_LAYERS] = xasprintf("%s/layers", c->dir);
    /* Numbers for the child's own descriptors: placeholders now, replaced
     * in the child (struct sandbox_child_path). */
    for (int i = 0; i < SANDBOX_PATHS; i++) {
        struct sandbox_child_path *cp = &s->plan.paths[i];
        cp->path = s->paths[i];
        cp->tree = i >= SANDBOX_PATH_INIT;
        cp->create_in = -1;
        if ((i == SANDBOX_PATH_UPPER || i == SANDBOX_PATH_WORK) && !cp->path) {
            cp->create_in = SANDBOX_PATH_LAYERS;
            cp->name = i == SANDBOX_PATH_WORK ? "work" : "upper";
        }
        if ((cp->path || cp->create_in >= 0) && (cp->fd = open("/", O_PATH | O_CLOEXEC)) < 0)
            return err_errno(err, errno, "open /");
        snprintf(cp->proc, sizeof(cp->proc), "/proc/self/fd/%d", cp->fd);
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s->sync) < 0)
        return err_errno(err, errno, "socketpair");

    struct sandbox_plan *p = &s->plan;
    p->hostname = c->id;
    p->argv = c->init_argv ? c->init_argv : default_argv;
    p->envp = c->init_envp ? c->init_envp : default_envp;
    p->sync_fd = s->sync[1];
    p->channel_fd = c->channel_fd;
    p->stdio_fd = c->stdio_fd;
    p->devnull_fd = s->devnull_fd;
    p->network = c->network;
    p->guest_addr = s->net.guest_addr;
    p->host_addr = s->net.host_addr;
    p->netmask.s_addr = htonl(c->idmap->rootless ? 0xffffffffu << (32 - USERNET_PREFIX) : 0xfffffffcu);
    p->no_net_raw = c->network && c->idmap->rootless;
    p->cap_last = cap_last();
    return 0;
}

/* Clones the child into its namespaces, a user namespace first. As root,
 * this thread takes the range's root as its effective ids for the clone:
 * the kernel charges a user namespace's per-user counts (inotify
 * instances, ...) to the effective uid that created it, which must not be
 * host root. The file system ids stay, so that the child can open the
 * directories of its layers (struct sandbox_child_dir). Raw system calls:
 * only this thread's credentials change, for as long as the clone takes. */
static long clone_as(const struct idmap *m, struct clone3_args *args)
{
    if (m->rootless)
        return syscall(SYS_clone3, args, sizeof(*args));
    if (syscall(SYS_setresgid, -1, m->gid_base, -1) < 0)
        return -1;
    if (syscall(SYS_setresuid, -1, m->uid_base, -1) < 0) {
        int e = errno;
        (void)syscall(SYS_setresgid, -1, 0, -1);
        errno = e;
        return -1;
    }
    (void)syscall(SYS_setfsuid, 0);
    (void)syscall(SYS_setfsgid, 0);
    long pid = syscall(SYS_clone3, args, sizeof(*args));
    if (pid == 0)
        return 0;
    int e = errno;
    /* Back to root; failing that, this process must not go on. */
    if (syscall(SYS_setresuid, -1, 0, -1) < 0 || syscall(SYS_setresgid, -1, 0, -1) < 0)
        abort();
    errno = e;
    return pid;
}

/* usernet's record: pasta's pid into dir/sandbox.json, for destroy. */
struct pasta_rec {
    const char *dir;
    struct sandbox_state *st;
};

static int pasta_record(void *arg, pid_t pid, int64_t start, pyro_error *err)
{
    struct pasta_rec *pr = arg;
    pr->st->pasta_pid = pid;
    pr->st->pasta_start = start;
    return sandbox_state_save(pr->dir, pr->st, err);
}

static int spawn(const struct backend_config *c, struct start_ctx *s, pyro_error *err)
{
    int pidfd = -1;
    struct clone3_args args = {
        .flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_PIDFD,
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = SIGCHLD,
    };
    long pid = clone_as(c->idmap, &args);
    if (pid < 0)
        return err_errno(err, errno, "clone3");
    if (pid == 0) {
        close(s->sync[0]); /* so that the child sees EOF if the parent dies */
        _exit(sandbox_child_run(&s->plan));
    }
    s->pid = (pid_t)pid;
    s->pidfd = pidfd;
    close(TAKE_FD(s->sync[1]));
    int r = idmap_write(c->idmap, s->pid, false, err);
    if (r < 0)
        return err_prefix(err, "map the sandbox's ids");
    /* A user's egress is attached while the child still has the user's
     * credentials (backend/usernet.c). */
    struct sandbox_state st = state_of(c, &s->cg);
    struct pasta_rec rec = {c->dir, &st};
    if (st.user_net && (r = usernet_attach(c->dir, s->pid, c->network_allow_host, pasta_record, &rec, err)) < 0)
        return r;
    if (send(s->sync[0], "m", 1, MSG_NOSIGNAL) != 1 && errno != EPIPE && errno != ECONNRESET)
        return err_errno(err, errno, "start the sandbox child");
    return 0;
}

/* Lets the child go and waits for exec (EOF) or its error report. */
static int handshake(struct start_ctx *s, pyro_error *err)
{
    /* A child that failed during its early set-up has already written its
     * report and closed its end: read the report rather than fail here. */
    if (send(s->sync[0], "g", 1, MSG_NOSIGNAL) != 1 && errno != EPIPE && errno != ECONNRESET)
        return err_errno(err, errno, "start the sandbox child");
    struct sandbox_child_error ce;
    ssize_t n;
    /* A child that failed and exited without reading "g" resets the
     * connection: the error is reported once (and cleared), its report
     * still waits in the queue. */
    int resets = 0;
    while ((n = read(s->sync[0], &ce, sizeof(ce))) < 0 && (errno == EINTR || (errno == ECONNRESET && !resets++)))
        ;
    if (n == 0)
        return 0;
    if (n == (ssize_t)sizeof(ce)) {
        ce.what[sizeof(ce.what) - 1] = '\0';
        return err_errno(err, ce.errnum, "sandbox setup: %s", ce.what);
    }
    return err_errno(err, n < 0 ? errno : EPROTO, "read from the sandbox child");
}

int sandbox_start(const struct backend_config *cfg, struct backend_instance *out, pyro_error *err)
{
    *out = (struct backend_instance){.pidfd = -1, .userns_fd = -1};
    int r = validate(cfg, err);
    if (r < 0)
        return r;
    struct start_ctx s = {.devnull_fd = -1, .sync = {-1, -1}, .net = {.lock_fd = -1}, .pidfd = -1};
    for (int i = 0; i < SANDBOX_PATHS; i++)
        s.plan.paths[i].fd = -1;
    int64_t t0 = time_mono_ns(), t1 = 0, t2 = 0, t3 = 0;
    if ((r = prepare(cfg, &s, err)) == 0 && (t1 = time_mono_ns(), r = spawn(cfg, &s, err)) == 0 &&
        (t2 = time_mono_ns(), r = s.plan.cg_tasks_count ? 0 : cgroups_attach(&s.cg, s.pid, err)) == 0 &&
        (!cfg->network || cfg->idmap->rootless || (r = netguard_attach(&s.net, s.pid, err)) == 0))
        t3 = time_mono_ns(), r = handshake(&s, err);
    log_debug("sandbox %s: prepare %.1f ms, clone %.1f ms, cgroup+net %.1f ms, child set-up %.1f ms", cfg->id,
              (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, (time_mono_ns() - t3) / 1e6);
    if (r < 0) {
        int code = r;
        ctx_release(&s); /* kills and reaps the child */
        (void)sandbox_destroy(cfg->dir, cfg->id, NULL);
        (void)err_prefix(err, "start sandbox %s", cfg->id);
        return code;
    }
    /* As a user, the way back in for destroy (sandbox_destroy_instance). */
    if (cfg->idmap->rootless) {
        char ns[64];
        snprintf(ns, sizeof(ns), "/proc/%d/ns/user", (int)s.pid);
        out->userns_fd = open(ns, O_RDONLY | O_CLOEXEC);
    }
    out->pid = TAKE_PID(s.pid);
    out->pidfd = TAKE_FD(s.pidfd);
    out->cgroup_version = s.cg.version;
    out->limits_unenforced = s.limits_unenforced;
    memcpy(out->limits_reason, s.limits_reason, sizeof(out->limits_reason));
    out->network = cfg->network;
    if (cfg->network) {
        /* With pasta there is no host interface: host_ifname stays "". */
        memcpy(out->host_ifname, s.net.ifname, sizeof(out->host_ifname));
        inet_ntop(AF_INET, &s.net.host_addr, out->host_addr, sizeof(out->host_addr));
        inet_ntop(AF_INET, &s.net.guest_addr, out->guest_addr, sizeof(out->guest_addr));
        out->prefix_len = cfg->idmap->rootless ? USERNET_PREFIX : 30;
    }
    ctx_release(&s);
    return 0;
}
