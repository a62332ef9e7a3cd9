/* The default seccomp filter, modelled on Docker's default profile for a
 * container without CAP_SYS_ADMIN: everything is allowed except system
 * administration, kernel module and keyring calls, namespace and mount
 * manipulation, and a few legacy or risky interfaces, which fail with
 * EPERM. clone3 fails with ENOSYS so that glibc falls back to clone, whose
 * flags we can inspect. Built here with libseccomp, exported as BPF, and
 * applied by the child with prctl(PR_SET_SECCOMP) right before exec. */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "backend/sandbox/internal.h"

static const char *const denied[] = {
    /* mounts and namespaces */
    "mount", "umount", "umount2", "pivot_root", "unshare", "setns", "mount_setattr", "move_mount",
    "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
    /* kernel modules, kexec, reboot, swap, accounting */
    "init_module", "finit_module", "delete_module", "create_module", "query_module", "get_kernel_syms",
    "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
    /* keyrings */
    "keyctl", "add_key", "request_key",
    /* tracing, profiling, bpf, io_uring */
    "bpf", "perf_event_open", "lookup_dcookie", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "fanotify_init", "kcmp", "process_vm_readv", "process_vm_writev",
    /* clocks */
    "settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64",
    /* raw I/O and legacy */
    "iopl", "ioperm", "vm86", "vm86old", "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "quotactl",
    "quotactl_fd", "syslog", "vhangup", "open_by_handle_at", "name_to_handle_at",
    /* NUMA policy of other processes */
    "move_pages", "mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node", "migrate_pages",
};

static const uint64_t clone_ns_flags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                          CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, 0x00000080 /* NEWTIME */};

static int add_rules(scmp_filter_ctx ctx, pyro_error *err)
{
    int r;
    for (size_t i = 0; i < ARRAY_SIZE(denied); i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* unknown to libseccomp: not a syscall on any arch we filter */
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
        if (r < 0)
            return err_errno(err, -r, "seccomp rule for %s", denied[i]);
    }
    r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (r < 0)
        return err_errno(err, -r, "seccomp rule for clone3");
    /* clone creating namespaces (flags are argument 0 on x86 and x86_64). */
    for (size_t i = 0; i < ARRAY_SIZE(clone_ns_flags); i++) {
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]));
        if (r < 0)
            return err_errno(err, -r, "seccomp rule for clone");
    }
    /* personality: persona numbers and UNAME26 are fine, the address-space
     * flags (bits 18-30: ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO,
     * ...) are not; 0xffffffff (query) is. One comparison per rule, so
     * "bit k set and bit 31 clear" and "bit 31 set and bit k clear". */
    for (int k = 18; k <= 30; k++) {
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, (1ull << k) | (1ull << 31), 1ull << k));
        if (r < 0)
            return err_errno(err, -r, "seccomp rule for personality");
    }
    for (int k = 0; k <= 30; k++) {
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, (1ull << k) | (1ull << 31), 1ull << 31));
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
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return err_set(err, -ENOMEM, "seccomp_init failed");
    int r = 0;
    /* Only the native ABI is allowed at all: a syscall through the i386
     * (int 0x80) or x32 ABI fails with ENOSYS, so no compat ABI is a way
     * around the rules below (and the filter is a third of the size). */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
    if (r < 0)
        r = err_errno(err, -r, "seccomp_attr_set");
    if (r == 0)
        r = add_rules(ctx, err);
    if (r == 0)
        r = export_bpf(ctx, out, err);
    seccomp_release(ctx);
    return r;
}
