/* The sandbox's first process, between clone and exec of init.
 *
 * It runs in a copy of the parent's address space (fork semantics) but
 * without glibc's fork handlers, so it must not allocate, take stdio locks
 * or call anything that might: it only makes system calls on data the
 * parent prepared (struct sandbox_plan). Errors go back to the parent as a
 * struct sandbox_child_error on the sync socket. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/sandbox/internal.h"
#include "base/proc.h"

/* Docker's default capability set (moby oci/caps/defaults.go). */
static const int caps_default[] = {
    CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,  CAP_FOWNER,           CAP_MKNOD,      CAP_NET_RAW, CAP_SETGID,
    CAP_SETUID, CAP_SETFCAP,      CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL,    CAP_AUDIT_WRITE,
};

uint64_t sandbox_caps_keep(void)
{
    uint64_t m = 0;
    for (size_t i = 0; i < sizeof(caps_default) / sizeof(caps_default[0]); i++)
        m |= 1ull << caps_default[i];
    return m;
}

static void report(int fd, int errnum, const char *what)
{
    struct sandbox_child_error e = {.errnum = errnum};
    size_t i = 0;
    for (; what[i] && i < sizeof(e.what) - 1; i++)
        e.what[i] = what[i];
    e.what[i] = '\0';
    (void)!write(fd, &e, sizeof(e));
}

/* fd 0 /dev/null, 1 and 2 stdio (or /dev/null), 3 the channel, and every
 * other fd close-on-exec. */
static int fds_setup(const struct sandbox_plan *p)
{
    int nul = fcntl(p->devnull_fd, F_DUPFD_CLOEXEC, 10);
    int out = fcntl(p->stdio_fd >= 0 ? p->stdio_fd : p->devnull_fd, F_DUPFD_CLOEXEC, 10);
    int ch = fcntl(p->channel_fd, F_DUPFD_CLOEXEC, 10);
    if (nul < 0 || out < 0 || ch < 0)
        return -1;
    if (dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 || dup2(ch, 3) < 0)
        return -1;
    return syscall(SYS_close_range, 4u, ~0u, CLOSE_RANGE_CLOEXEC) < 0 ? -1 : 0;
}

static int caps_drop(const struct sandbox_plan *p)
{
    uint64_t keep = sandbox_caps_keep();
    if (p->no_net_raw)
        keep &= ~(1ull << CAP_NET_RAW);
    for (int c = 0; c <= p->cap_last; c++)
        if (!(keep & (1ull << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -1;
    /* Inheritable stays empty (moby since CVE-2022-24769): root's exec
     * gives permitted = effective = bounding. */
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {
        {.effective = (uint32_t)keep, .permitted = (uint32_t)keep, .inheritable = 0},
        {.effective = (uint32_t)(keep >> 32), .permitted = (uint32_t)(keep >> 32), .inheritable = 0},
    };
    return (int)syscall(SYS_capset, &h, d);
}

int sandbox_child_run(const struct sandbox_plan *p)
{
    const char *what = "move the sync socket";
    int sync = fcntl(p->sync_fd, F_DUPFD_CLOEXEC, 10);
    if (sync < 0)
        return 126;
    proc_signals_default();
    /* PID 1 dies with the process that started it (the monitor): a monitor
     * killed with SIGKILL takes its sandbox along, and reap clears the rest.
     * Armed before waiting, so a parent that died earlier is seen as EOF. */
    what = "set the parent-death signal";
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        goto fail;
    /* Still with the parent's file system ids: open the layers and the
     * files to bind here, in this mount namespace. */
    what = "open the sandbox's host paths";
    for (int i = 0; i < SANDBOX_PATHS; i++) {
        if (!p->paths[i].path)
            continue;
        int fd = open(p->paths[i].path, O_PATH | O_CLOEXEC | (p->paths[i].tree ? 0 : O_DIRECTORY));
        if (fd < 0 || dup3(fd, p->paths[i].fd, O_CLOEXEC) < 0)
            goto fail;
        close(fd);
    }
    char mapped;
    if (read(sync, &mapped, 1) != 1 || mapped != 'm')
        return 125; /* the parent gave up; it reports why */
    /* Root of the user namespace: the range's uid 0 on the host, without
     * the parent's supplementary groups (as a user, newgidmap may have
     * denied setgroups: the user's groups then stay, docs/rootless.md). */
    what = "become root of the user namespace";
    if (syscall(SYS_setresgid, 0, 0, 0) < 0 || (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM) ||
        syscall(SYS_setresuid, 0, 0, 0) < 0)
        goto fail; /* raw calls: glibc's would signal threads of the parent's list */
    what = "set the parent-death signal";
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        goto fail;
    what = "make the overlay's directories";
    for (int i = 0; i < SANDBOX_PATHS; i++) {
        const struct sandbox_child_path *cp = &p->paths[i];
        if (cp->create_in < 0)
            continue;
        int dir = p->paths[cp->create_in].fd;
        if (mkdirat(dir, cp->name, 0755) < 0)
            goto fail;
        int fd = openat(dir, cp->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || dup3(fd, cp->fd, O_CLOEXEC) < 0)
            goto fail;
        close(fd);
    }
    what = "clone the files to bind";
    for (int i = 0; i < SANDBOX_PATHS; i++) {
        if (!p->paths[i].path || !p->paths[i].tree)
            continue;
        int fd = (int)syscall(SYS_open_tree, p->paths[i].fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (fd < 0 || dup3(fd, p->paths[i].fd, O_CLOEXEC) < 0)
            goto fail;
        close(fd);
    }
    what = "set RLIMIT_NPROC";
    struct rlimit nproc = {(rlim_t)p->nproc_max, (rlim_t)p->nproc_max};
    if (p->nproc_max > 0 && setrlimit(RLIMIT_NPROC, &nproc) < 0)
        goto fail;
    /* The file system is set up while the parent moves this process into
     * its cgroups (on cgroup v1 the first move waits for an RCU grace
     * period): nothing of the user's runs before the "go" below. */
    what = "join the sandbox's cgroups";
    for (int i = 0; i < p->cg_tasks_count; i++)
        if (write(p->cg_tasks_fd[i], "0", 1) != 1)
            goto fail;
    what = "become a session leader";
    if (setsid() < 0)
        goto fail;
    what = "set the hostname";
    if (sethostname(p->hostname, strlen(p->hostname)) < 0)
        goto fail;
    if (sandbox_child_rootfs(p, &what) < 0)
        goto fail;
    char go;
    if (read(sync, &go, 1) != 1)
        return 125; /* the parent gave up; it reports why */
    /* Now in the sandbox's cgroups: they become the namespace's root. */
    what = "unshare the cgroup namespace";
    if (unshare(CLONE_NEWCGROUP) < 0)
        goto fail;
    if (netns_setup(p->network, p->guest_addr, p->host_addr, p->netmask, &what) < 0)
        goto fail;
    what = "set up file descriptors";
    if (fds_setup(p) < 0)
        goto fail;
    what = "drop capabilities";
    if (caps_drop(p) < 0)
        goto fail;
    what = "set no_new_privs";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        goto fail;
    what = "install the seccomp filter";
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p->seccomp, 0, 0) < 0)
        goto fail;
    what = "exec " SANDBOX_INIT_PATH;
    execve(SANDBOX_INIT_PATH, p->argv, p->envp);
fail:
    report(sync, errno, what);
    return 127;
}
