/* The default seccomp filter: an allow-list modelled on Docker's default
 * profile (moby profiles/seccomp/default.json) for a container with Docker's
 * default capabilities, so without CAP_SYS_ADMIN, CAP_SYS_PTRACE,
 * CAP_SYS_BOOT, CAP_SYS_MODULE, CAP_SYS_TIME, CAP_SYSLOG, CAP_BPF and
 * CAP_PERFMON. Every system call not listed fails with EPERM. Where pyro is
 * stricter than Docker (docs/threat-model.md):
 * - ptrace, process_vm_readv/writev, kcmp, pidfd_getfd and process_madvise
 *   are never allowed (Docker allows the first three from kernel 4.8 on):
 *   nothing in a sandbox may inspect or steal from another process, PID 1
 *   (the agent) above all;
 * - io_uring_* and name_to_handle_at are not allowed;
 * - socket() is allowed for every family but AF_VSOCK (as Docker does):
 *   vsock is not separated by network namespaces.
 * clone3 fails with ENOSYS so that glibc falls back to clone, whose flags
 * can be inspected: clone is allowed without namespace flags. personality
 * is allowed for the same values as in Docker's profile. Only the native
 * ABI is allowed at all. Built here with libseccomp, exported as BPF, and
 * applied by the child with prctl(PR_SET_SECCOMP) right before exec. */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/sandbox/internal.h"
#include "base/cleanup.h"

/* Allowed without conditions. Names libseccomp does not know (newer system
 * calls on an older libseccomp) are skipped: they then fail with EPERM. */
// clang-format off: the names wrapped as a paragraph
static const char *const allowed[] = {
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "futex_waitv",
    "futex_wake",
    "futex_wait",
    "futex_requeue",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "socketpair",
    "splice",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "write",
    "writev",
    "arch_prctl",
    "modify_ldt",
    "chroot",
    "cachestat",
    "map_shadow_stack",
};
// clang-format on

/* Docker's mask of namespace flags for clone (CLONE_NEWNS | NEWCGROUP |
 * NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET). */
#define CLONE_NS_MASK 0x7E020000ull

/* personality values Docker allows: PER_LINUX, PER_LINUX32, UNAME26,
 * UNAME26|PER_LINUX32, and the query 0xffffffff. */
static const uint64_t personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffffull};

static int add_rules(scmp_filter_ctx ctx, pyro_error *err)
{
    int r;
    for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
        int nr = seccomp_syscall_resolve_name(allowed[i]);
        if (nr == __NR_SCMP_ERROR)
            continue;
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (r < 0)
            return err_errno(err, -r, "seccomp rule for %s", allowed[i]);
    }
    r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (r < 0)
        return err_errno(err, -r, "seccomp rule for clone3");
    r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NS_MASK, 0));
    if (r < 0)
        return err_errno(err, -r, "seccomp rule for clone");
    r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_NE, AF_VSOCK, 0));
    if (r < 0)
        return err_errno(err, -r, "seccomp rule for socket");
    for (size_t i = 0; i < ARRAY_SIZE(personalities); i++) {
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1, SCMP_A0(SCMP_CMP_EQ, personalities[i], 0));
        if (r < 0)
            return err_errno(err, -r, "seccomp rule for personality");
    }
    return 0;
}

/* Exports ctx as BPF through a memfd into a malloc'ed program. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *out, pyro_error *err)
{
    _cleanup_close_ int fd = memfd_create("pyro-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "memfd_create");
    int r = seccomp_export_bpf(ctx, fd);
    if (r < 0)
        return err_errno(err, -r, "seccomp_export_bpf");
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 || size > 4096 * 8)
        return err_set(err, -EIO, "seccomp_export_bpf wrote %lld bytes", (long long)size);
    _cleanup_free_ struct sock_filter *prog = xmalloc((size_t)size);
    if (pread(fd, prog, (size_t)size, 0) != size)
        return err_errno(err, errno, "read seccomp program");
    out->filter = TAKE_PTR(prog);
    out->len = (unsigned short)((size_t)size / sizeof(struct sock_filter));
    return 0;
}

int sandbox_seccomp_build(struct sock_fprog *out, pyro_error *err)
{
    *out = (struct sock_fprog){0};
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx)
        return err_set(err, -ENOMEM, "seccomp_init failed");
    int r = 0;
    /* Only the native ABI is allowed at all: a syscall through the i386
     * (int 0x80) or x32 ABI fails with ENOSYS, so no compat ABI is a way
     * around the rules below (and the filter is a third of the size). */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
    if (r < 0)
        r = err_errno(err, -r, "seccomp_attr_set");
    /* A binary tree of system call numbers instead of a linear list: the
     * allow-list is long and every system call of the sandbox walks it. */
    if (r == 0 && (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0)
        r = err_errno(err, -r, "seccomp_attr_set optimize");
    if (r == 0)
        r = add_rules(ctx, err);
    if (r == 0)
        r = export_bpf(ctx, out, err);
    seccomp_release(ctx);
    return r;
}
