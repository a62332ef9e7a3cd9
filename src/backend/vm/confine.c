/* Confining QEMU the way Firecracker's jailer confines its VMM, with what
 * needs no extra files: QEMU starts as PID 1 of its own PID namespace
 * (it cannot see or signal host processes), in its own mount, IPC and UTS
 * namespaces and, without network, its own network namespace with nothing
 * in it (the agent channel is an inherited fd, the disks are opened by
 * path), with no capabilities at all (an empty bounding set, so root's
 * exec gains none) and no_new_privs; then QEMU's own seccomp sandbox
 * applies. */
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/vm/internal.h"

/* struct clone_args of <linux/sched.h> (which clashes with <sched.h>). */
struct vm_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

pid_t vm_confined_fork(bool network, int *pidfd)
{
    uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_PIDFD;
    if (!network)
        flags |= CLONE_NEWNET;
    struct vm_clone_args args = {.flags = flags, .pidfd = (uint64_t)(uintptr_t)pidfd, .exit_signal = SIGCHLD};
    return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

int vm_confine_child(void)
{
    /* Nothing mounted here reaches the host; /proc shows only QEMU. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return -errno;
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return -errno;
    for (int c = 0; c <= 63; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return -errno;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -errno;
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {{0}, {0}};
    if (syscall(SYS_capset, &h, d) < 0)
        return -errno;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return 0;
}
