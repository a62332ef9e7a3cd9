/* Confining QEMU the way Firecracker's jailer confines its VMM, with what
 * needs no extra files: QEMU starts as PID 1 of its own PID namespace
 * (it cannot see or signal host processes), in its own mount, IPC, UTS and
 * network namespaces (without network nothing is in the latter; with it,
 * the inner end of a veth behind the egress guard, jail.c, and QEMU's
 * user-mode network opens its sockets there: the guest's 10.0.2.2 is that
 * namespace's loopback, not the host's), in its own cgroup (jail.c, joined
 * before exec), with no capabilities at all (an empty bounding set, so
 * root's exec gains none) and no_new_privs, and as root under an
 * unprivileged uid (the one past the root id pool; internal.h,
 * VM_QEMU_ID_OFFSET); then QEMU's own seccomp sandbox applies. The agent
 * channel and every file QEMU uses (kernel, initramfs, disks) are fds the
 * monitor opened (start.c, vm.h), so that uid needs access to nothing.
 *
 * As an ordinary user the same, in a user namespace of QEMU's own that owns
 * the others and maps the user alone (QEMU is the user, nobody else): no
 * cgroup, and egress through pasta instead of the veth (jail.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/netns.h"
#include "backend/vm/internal.h"

/* struct clone_args of <linux/sched.h> (which clashes with <sched.h>). */
struct vm_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

pid_t vm_confined_fork(bool userns, int *pidfd)
{
    uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_PIDFD |
                     (userns ? CLONE_NEWUSER : 0);
    struct vm_clone_args args = {.flags = flags, .pidfd = (uint64_t)(uintptr_t)pidfd, .exit_signal = SIGCHLD};
    return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* The namespace's network: with it, eth0 (the veth's inner end, which the
 * parent moved in before "go") addressed in its /30, the default route via
 * the host end (as a user: pasta's tap, USERNET_GUEST/24 via
 * USERNET_GATEWAY); QEMU's sockets leave through it. */
static int net_setup(const struct vm_jail *j)
{
    if (!j->network)
        return 0;
    const char *what;
    struct in_addr mask = {htonl(j->rootless ? 0xffffffffu << (32 - USERNET_PREFIX) : 0xfffffffcu)};
    if (netns_setup(true, j->net.guest_addr, j->net.host_addr, mask, &what) < 0)
        return -errno;
    /* QEMU's view of the resolvers (jail.c). */
    if (mount(j->resolv, "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int vm_confine_child(const struct vm_jail *j)
{
    close(j->go[1]);
    char go;
    ssize_t n;
    while ((n = read(j->go[0], &go, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        return -EPIPE; /* the parent gave up (and says why) */
    close(j->go[0]);
    /* Nothing mounted here reaches the host; /proc shows only QEMU. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return -errno;
    int r = net_setup(j);
    if (r < 0)
        return r;
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return -errno;
    for (int c = 0; c <= 63; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return -errno;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -errno;
    /* As root: QEMU becomes the unprivileged j->qemu_uid (with /dev/kvm's
     * group under KVM); its files are already open (start.c). Raw system
     * calls: glibc's would signal threads of the parent's that this child
     * does not have. The uid change clears the parent-death signal. */
    if (!j->rootless) {
        gid_t groups[1] = {j->kvm_gid};
        if (syscall(SYS_setgroups, j->kvm ? 1 : 0, groups) < 0 ||
            syscall(SYS_setresgid, j->qemu_gid, j->qemu_gid, j->qemu_gid) < 0 ||
            syscall(SYS_setresuid, j->qemu_uid, j->qemu_uid, j->qemu_uid) < 0 ||
            prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
            return -errno;
    }
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {{0}, {0}};
    if (syscall(SYS_capset, &h, d) < 0)
        return -errno;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return 0;
}
