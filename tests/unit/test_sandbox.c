/* The namespace sandbox backend against a real Debian rootfs, with the
 * static probe (tests/helpers/probe.c) as PID 1 reporting what it sees.
 *
 * Runs as root and as an ordinary user (label user), needs overlayfs and a
 * rootfs: $PYRO_TEST_ROOTFS, or debian:12-base from the test environment
 * cache. Exits 77 (skip) without usable cgroups or id ranges; failing to
 * get a rootfs is a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/cgroups.h"
#include "backend/sandbox/sandbox.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/paths.h"
#include "lib/contract/ctx.h"
#include "lib/env/env.h"
#include "sandbox_fixture.h"

/* What the sandbox's getpid through int 0x80 must report on this host: the
 * filter's ENOSYS ("38") where the kernel has the i386 syscall entry. Where
 * it has none (IA32 emulation off, or a PVM guest such as a Firecracker VM
 * with PVM) int 0x80 raises a general protection fault before any syscall
 * or seccomp code runs, outside a sandbox too; the probe must then see the
 * same "signal:N" (and never a successful call). Checked in a child here,
 * outside any sandbox. */
static const char *host_i386_expect(void)
{
    static char want[32];
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        /* Not cmocka's handlers, which would resume the test run here. */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGILL, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        long r32;
        __asm__ volatile("int $0x80" : "=a"(r32) : "a"(20L) : "memory");
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(p, &st, 0), p);
    if (!WIFSIGNALED(st))
        return "38";
    snprintf(want, sizeof(want), "signal:%d", WTERMSIG(st));
    print_message("this kernel has no i386 syscall entry (int 0x80 gets %s outside a sandbox too)\n",
                  strsignal(WTERMSIG(st)));
    return want;
}

/* ---- tests -------------------------------------------------------------- */

static void test_isolation(void **state)
{
    struct stat st;
    assert_int_equal(stat(rootfs, &st), 0);
    char mk[64], marker[512], exists[600];
    snprintf(mk, sizeof(mk), "mknod:%u:%u", major(st.st_dev), minor(st.st_dev));
    snprintf(marker, sizeof(marker), "%s/host-marker", workdir);
    assert_int_equal(close(open(marker, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
    snprintf(exists, sizeof(exists), "exists:%s", marker);
    char *argv[] = {"/.pyro/agent", "info", "syscalls", "paths", mk, exists, "exists:/.pyro/agent", NULL};
    struct run r;
    run_probe(&r, "iso", false, argv);

    assert_kv(&r, "done", "1");
    assert_kv(&r, "pid", "1");
    assert_kv(&r, "procs", "1"); /* only the probe itself */
    assert_kv(&r, "hostname", r.id);
    assert_kv(&r, "ifaces", "lo");
    /* Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID
     * SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE
     * SETFCAP. */
    assert_kv(&r, "CapEff", "00000000a80425fb");
    assert_kv(&r, "CapPrm", "00000000a80425fb");
    assert_kv(&r, "CapBnd", "00000000a80425fb");
    assert_kv(&r, "CapInh", "0000000000000000");
    assert_kv(&r, "CapAmb", "0000000000000000");
    assert_kv(&r, "NoNewPrivs", "1");
    assert_kv(&r, "Seccomp", "2");
    const char *eperm[] = {"mount",
                           "umount",
                           "unshare",
                           "unshare_net",
                           "setns",
                           "pivot_root",
                           "bpf",
                           "kexec_load",
                           "init_module",
                           "keyctl",
                           "perf_event_open",
                           "reboot",
                           "open_by_handle_at",
                           "clone_newuser",
                           "personality_rie",
                           "ptrace_attach",
                           "ptrace_traceme",
                           "pidfd_getfd",
                           "process_vm_readv",
                           "kcmp",
                           "io_uring_setup",
                           "socket_vsock",
                           "userfaultfd"};
    for (size_t i = 0; i < ARRAY_SIZE(eperm); i++)
        assert_kv(&r, eperm[i], "1");
    assert_kv(&r, "clone3", "38"); /* ENOSYS: glibc falls back to clone */
    assert_kv(&r, "fork", "0");
    assert_kv(&r, "personality_query", "0");
    assert_kv(&r, "i386_getpid", host_i386_expect()); /* ENOSYS: only the native ABI passes the filter */
    assert_kv(&r, "x32_getpid", "38");
    /* EROFS, where the kernel has the file at all */
    assert_kv(&r, "sysrq", access("/proc/sysrq-trigger", F_OK) == 0 ? "30" : "2");
    /* EACCES: in its user namespace, the sandbox's root is not the owner
     * of /proc/sys and /sys files (host root's), before they are read-only */
    assert_kv(&r, "proc_sys", "13");
    assert_kv(&r, "sys", "13");
    assert_kv(&r, "pyro_dir", "30");
    assert_kv(&r, "dev_new", "30");
    assert_kv(&r, "dev_null", "0");
    assert_kv(&r, "ptmx", "0");
    assert_kv(&r, "timer_list_bytes", "0"); /* masked by /dev/null */
    assert_kv(&r, exists, "0");             /* host files are out of reach */
    assert_kv(&r, "exists:/.pyro/agent", "1");
    /* A block device node of the host's disk must not be usable. */
    assert_string_not_equal(kv(&r, "mknod_open"), "0");
    assert_string_not_equal(kv(&r, "mknod_open"), "");
    if (cgroups_version(NULL) == 1)
        assert_kv(&r, "cgroup_memory", "/"); /* cgroup namespace */
    run_finish(&r);
    assert_gone(r.dir, r.id);
}

static void test_overlay(void **state)
{
    char *wa[] = {"/.pyro/agent", "write:/probe-a.txt:hello", "write:/tmp/a.txt:x", NULL};
    struct run a;
    run_probe(&a, "ova", false, wa);
    assert_kv(&a, "write:/probe-a.txt", "0");
    assert_kv(&a, "write:/tmp/a.txt", "0");
    /* The write is in a's upper layer, not in the shared lower dir. */
    _cleanup_free_ char *lower = xasprintf("%s/probe-a.txt", rootfs);
    _cleanup_free_ char *upper = xasprintf("%s/layers/upper/probe-a.txt", a.dir);
    assert_int_equal(access(lower, F_OK), -1);
    assert_int_equal(access(upper, F_OK), 0);

    char *rb[] = {"/.pyro/agent", "exists:/probe-a.txt", "exists:/tmp/a.txt", "read:/etc/hostname", NULL};
    struct run b;
    run_probe(&b, "ovb", false, rb);
    assert_kv(&b, "exists:/probe-a.txt", "0");
    assert_kv(&b, "exists:/tmp/a.txt", "0");
    run_finish(&b);
    run_finish(&a);
    assert_gone(a.dir, a.id);
}

static void test_memory_limit(void **state)
{
    char *argv[] = {"/.pyro/agent", "oom:512", NULL};
    struct run r;
    run_probe(&r, "oom", false, argv);
    if (fixture_idmap.rootless && (r.inst.limits_unenforced & BACKEND_LIMIT_MEMORY)) {
        /* An ordinary user without cgroup delegation: not enforced, and
         * every result says so (docs/rootless.md). */
        print_message("memory not enforced as an ordinary user on this host (reported): oom=%s\n", kv(&r, "oom"));
    } else {
        assert_int_equal(r.inst.limits_unenforced, 0);
        assert_kv(&r, "oom", "signal:9"); /* the OOM killer, inside the 256 MiB cgroup */
    }
    assert_kv(&r, "done", "1"); /* PID 1 survived */
    run_finish(&r);
}

static void test_pids_limit(void **state)
{
    char *argv[] = {"/.pyro/agent", "forkbomb", NULL};
    struct run r;
    run_probe(&r, "pid", false, argv);
    assert_kv(&r, "forkbomb_errno", "11"); /* EAGAIN from pids.max */
    int count = atoi(kv(&r, "forkbomb_count"));
    assert_true(count > 0 && count < 64);
    run_finish(&r);
}

/* A listening TCP socket on addr (NULL: any) with a kernel-chosen port. */
static long long cg_value(const char *ctrl, const char *id, const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/pyro-test/%s/%s", ctrl, id, file);
    FILE *f = fopen(path, "r");
    long long v = -1;
    if (f) {
        if (fscanf(f, "%lld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* The process that started a sandbox is killed with SIGKILL; the sandbox
 * keeps running, and destroy() cleans everything up from dir and id. */
static void test_destroy_after_sigkill(void **state)
{
    char *argv[] = {"/.pyro/agent", "sleep", NULL};
    struct run r;
    run_init(&r, "kil", true, argv);
    r.cfg.vcpu_count = 2;
    r.cfg.pids_max = 40;
    int pp[2];
    assert_int_equal(pipe(pp), 0);
    pid_t helper = fork();
    assert_true(helper >= 0);
    if (helper == 0) {
        pyro_error err = {0};
        close(pp[0]);
        if (run_start(&r, &err) < 0) {
            dprintf(pp[1], "error %s\n", err.message);
            _exit(1);
        }
        run_read(&r, "ready=1", 30000);
        dprintf(pp[1], "ok %d %u %s\n", (int)r.inst.pid, r.inst.limits_unenforced, r.inst.host_ifname);
        for (;;)
            pause();
    }
    close(pp[1]);
    char line[1200] = "";
    FILE *f = fdopen(pp[0], "r");
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    if (strncmp(line, "ok ", 3) != 0)
        fail_msg("helper: %s", line);
    int init = 0;
    unsigned unenforced = 0;
    assert_int_equal(sscanf(line + 3, "%d %u", &init, &unenforced), 2);
    /* As root: a veth, NAT and guard rules, and cgroups, all removed by
     * destroy. An ordinary user has none of those (docs/rootless.md). */
    char ifname[IF_NAMESIZE] = "";
    if (!fixture_idmap.rootless) {
        assert_int_equal(sscanf(line + 3, "%*d %*u %15s", ifname), 1);
        assert_true(if_nametoindex(ifname) != 0);
    }

    if (fixture_idmap.rootless)
        assert_int_equal(unenforced, BACKEND_LIMIT_CPU | BACKEND_LIMIT_MEMORY | BACKEND_LIMIT_PIDS);
    else if (cgroups_version(NULL) == 1) {
        assert_int_equal(cg_value("memory", r.id, "memory.limit_in_bytes"), 256ll << 20);
        assert_int_equal(cg_value("cpu", r.id, "cpu.cfs_quota_us"), 200000);
        assert_int_equal(cg_value("cpu", r.id, "cpu.cfs_period_us"), 100000);
        assert_int_equal(cg_value("pids", r.id, "pids.max"), 40);
        assert_int_equal(cg_value("memory", r.id, "memory.swappiness"), 0);
    }

    assert_int_equal(kill(helper, SIGKILL), 0);
    assert_int_equal(waitpid(helper, NULL, 0), helper);
    assert_int_equal(kill(init, 0), 0); /* still running */
    assert_true(fixture_idmap.rootless || nft_has_rule(r.id));

    pyro_error err = {0};
    if (sandbox_destroy(r.dir, r.id, &err) < 0)
        fail_msg("destroy: %s", err.message);
    assert_gone(r.dir, r.id);
    assert_true(fixture_idmap.rootless || if_nametoindex(ifname) == 0);
    /* the init is gone (or a zombie about to be reaped by the host's init) */
    char stat_path[64], st[512] = "";
    snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", (int)init);
    FILE *sf = fopen(stat_path, "r");
    if (sf) {
        if (!fgets(st, sizeof(st), sf))
            st[0] = '\0';
        fclose(sf);
        char *rp = strrchr(st, ')');
        assert_true(!rp || rp[2] == 'Z' || rp[2] == 'X');
    }
    /* idempotent */
    assert_int_equal(sandbox_destroy(r.dir, r.id, &err), 0);
    live_drop(r.id);
}

static void test_start_errors(void **state)
{
    struct run r;
    pyro_error err = {0};
    char *argv[] = {"/.pyro/agent", NULL};
    run_init(&r, "err", false, argv);
    r.cfg.mem_mib = 1;
    assert_int_equal(run_start(&r, &err), -PYRO_E_INVALID);
    close(r.chan);
    r.cfg.mem_mib = 256;
    r.cfg.idmap = NULL; /* every sandbox has a user namespace */
    assert_int_equal(run_start(&r, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "id range"));
    close(r.chan);
    r.cfg.idmap = &fixture_idmap;
    /* init's stdout may be a pipe, never a host file it could rewrite. */
    _cleanup_free_ char *logf = xasprintf("%s/console.log", workdir);
    int lfd = open(logf, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(lfd >= 0);
    r.cfg.stdio_fd = lfd;
    assert_int_equal(run_start(&r, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "stdio_fd"));
    close(r.chan);
    close(lfd);
    r.cfg.stdio_fd = -1;
    /* A failure after the cgroups and dirs exist leaves nothing behind. */
    _cleanup_free_ char *noexec = xasprintf("%s/not-executable", workdir);
    assert_int_equal(close(open(noexec, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
    r.cfg.init_path = noexec;
    int rc = run_start(&r, &err);
    if (rc != -PYRO_E_INVALID)
        fail_msg("want invalid, got %d: %s", rc, err.message);
    close(r.chan);
    assert_gone(r.dir, r.id);
    /* A failure inside the child is reported with the failed step, and
     * cleaned up as well. */
    _cleanup_free_ char *bad = xasprintf("%s/bad-rootfs", workdir);
    _cleanup_free_ char *badproc = xasprintf("%s/proc", bad);
    assert_int_equal(mkdir(bad, 0755), 0);
    assert_int_equal(close(open(badproc, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
    r.cfg.init_path = probe;
    r.cfg.rootfs = bad;
    assert_int_equal(run_start(&r, &err), -ENOTDIR);
    close(r.chan);
    assert_non_null(strstr(err.message, "mount /proc"));
    assert_gone(r.dir, r.id);
}

/* Sandbox root is the range's uid 0 on the host, never host root: the map
 * is not the identity, files it makes belong to the range, and kernel
 * per-user counts it exhausts are not host root's. */
static void test_user_namespace(void **state)
{
    char *argv[] = {"/.pyro/agent", "uid_map", "write:/owned.txt:x", "inotify", "sleep", NULL};
    struct run r;
    run_init(&r, "usr", false, argv);
    pyro_error err = {0};
    if (run_start(&r, &err) < 0)
        fail_msg("start: %s", err.message);
    run_read(&r, "ready=1", 30000);
    char want[64];
    snprintf(want, sizeof(want), "0 %u %u", (unsigned)fixture_idmap.uid_base, fixture_idmap.count);
    assert_kv(&r, "uid_map", want);
    assert_true(fixture_idmap.uid_base != 0);
    _cleanup_free_ char *owned = xasprintf("%s/layers/upper/owned.txt", r.dir);
    struct stat st;
    assert_int_equal(stat(owned, &st), 0);
    assert_int_equal(st.st_uid, fixture_idmap.uid_base);
    assert_int_equal(st.st_gid, fixture_idmap.gid_base);
    /* The sandbox used up its user's inotify instances (EMFILE) ... */
    assert_kv(&r, "inotify_errno", "24");
    assert_true(atoi(kv(&r, "inotify_count")) > 0);
    /* ... and the host's root still gets one while the sandbox holds them.
     * An ordinary user's sandboxes count against the user, as any process
     * the user runs does (the kernel charges the namespace's creator). */
    if (fixture_idmap.rootless)
        print_message("as an ordinary user the sandbox's per-user counts are the user's own\n");
    else {
        int fd = inotify_init1(IN_CLOEXEC);
        assert_true(fd >= 0);
        close(fd);
    }
    run_finish(&r);
    assert_gone(r.dir, r.id);
}

/* ---- setup -------------------------------------------------------------- */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_isolation, teardown),
        cmocka_unit_test_teardown(test_overlay, teardown),
        cmocka_unit_test_teardown(test_memory_limit, teardown),
        cmocka_unit_test_teardown(test_pids_limit, teardown),
        cmocka_unit_test_teardown(test_destroy_after_sigkill, teardown),
        cmocka_unit_test_teardown(test_start_errors, teardown),
        cmocka_unit_test_teardown(test_user_namespace, teardown),
    };
    return sandbox_fixture_main(tests, ARRAY_SIZE(tests));
}
