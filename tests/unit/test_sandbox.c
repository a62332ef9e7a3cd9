/* The namespace sandbox backend against a real Debian rootfs, with the
 * static probe (tests/helpers/probe.c) as PID 1 reporting what it sees.
 *
 * Needs root, overlayfs and a rootfs: $PYRO_TEST_ROOTFS, or debian:12-base
 * from the shared test environment cache. Exits 77 (skip) without root or
 * usable cgroups; failing to get a rootfs is a failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/sandbox/sandbox.h"
#include "base/cleanup.h"
#include "lib/contract/ctx.h"
#include "lib/env/env.h"
#include "base/id.h"
#include "base/paths.h"

static char *rootfs;
static char *probe;
static char *workdir;

/* ---- helpers ------------------------------------------------------------ */

struct run {
    char id[32];
    char dir[512];
    struct backend_config cfg;
    struct backend_instance inst;
    int chan; /* our end of the channel */
    char out[16384];
};

/* Sandboxes a test started and has not finished: a failing assertion
 * jumps out of the test, and the teardown destroys what is left. */
struct live {
    char dir[512], id[32];
};
static struct live live[8];

static void live_add(const char *dir, const char *id)
{
    for (size_t i = 0; i < ARRAY_SIZE(live); i++)
        if (!live[i].id[0]) {
            snprintf(live[i].dir, sizeof(live[i].dir), "%s", dir);
            snprintf(live[i].id, sizeof(live[i].id), "%s", id);
            return;
        }
}

static void live_drop(const char *id)
{
    for (size_t i = 0; i < ARRAY_SIZE(live); i++)
        if (strcmp(live[i].id, id) == 0)
            live[i].id[0] = '\0';
}

static char teardown_cmd[256]; /* extra host cleanup of the current test */

static int teardown(void **state)
{
    if (teardown_cmd[0]) {
        (void)!system(teardown_cmd);
        teardown_cmd[0] = '\0';
    }
    for (size_t i = 0; i < ARRAY_SIZE(live); i++)
        if (live[i].id[0]) {
            pyro_error err = {0};
            if (sandbox_destroy(live[i].dir, live[i].id, &err) < 0)
                fprintf(stderr, "teardown: %s\n", err.message);
            live[i].id[0] = '\0';
        }
    return 0;
}

static void run_init(struct run *r, const char *tag, bool network, char **argv)
{
    memset(r, 0, sizeof(*r));
    char rnd[8];
    id_random(rnd, sizeof(rnd));
    snprintf(r->id, sizeof(r->id), "t%s%s", tag, rnd);
    snprintf(r->dir, sizeof(r->dir), "%s/%s", workdir, r->id);
    r->cfg = (struct backend_config){
        .id = r->id, .rootfs = rootfs, .dir = r->dir, .init_path = probe, .init_argv = argv,
        .stdio_fd = -1, .vcpu_count = 1, .mem_mib = 256, .pids_max = 64, .network = network,
        .cgroup_parent = "pyro-test",
    };
    r->chan = -1;
    live_add(r->dir, r->id);
}

static int run_start(struct run *r, pyro_error *err)
{
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    r->cfg.channel_fd = sp[1];
    int rc = sandbox_start(&r->cfg, &r->inst, err);
    close(sp[1]);
    r->chan = sp[0];
    return rc;
}

/* Reads the channel until EOF (the probe exited) or until a line "stop"
 * arrives, at most timeout_ms. */
static void run_read(struct run *r, const char *stop, int timeout_ms)
{
    size_t used = strlen(r->out);
    while (used < sizeof(r->out) - 1) {
        if (stop && strstr(r->out, stop))
            return;
        struct pollfd p = {.fd = r->chan, .events = POLLIN};
        int n = poll(&p, 1, timeout_ms);
        assert_true(n > 0); /* else the probe hung */
        ssize_t k = read(r->chan, r->out + used, sizeof(r->out) - 1 - used);
        if (k <= 0)
            return;
        used += (size_t)k;
        r->out[used] = '\0';
    }
}

/* The value of "key=" in the probe's output ("" when absent). */
static const char *kv(const struct run *r, const char *key)
{
    static char val[1024];
    size_t n = strlen(key);
    for (const char *p = r->out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, n) == 0 && p[n] == '=') {
            size_t len = strcspn(p + n + 1, "\n");
            if (len >= sizeof(val))
                len = sizeof(val) - 1;
            memcpy(val, p + n + 1, len);
            val[len] = '\0';
            return val;
        }
    }
    return "";
}

#define assert_kv(r, key, want)                                                                  \
    do {                                                                                         \
        if (strcmp(kv((r), (key)), (want)) != 0)                                                 \
            fail_msg("%s: got '%s', want '%s'\n--- probe output ---\n%s", (key), kv((r), (key)), \
                     (want), (r)->out);                                                          \
    } while (0)

static void run_wait_exit(struct run *r)
{
    siginfo_t si;
    assert_int_equal(waitid(P_PIDFD, (id_t)r->inst.pidfd, &si, WEXITED), 0);
}

static void run_finish(struct run *r)
{
    pyro_error err = {0};
    if (r->inst.pidfd >= 0 && r->inst.pid > 0) {
        sandbox_kill(&r->inst, SIGKILL, &err);
        siginfo_t si;
        (void)waitid(P_PIDFD, (id_t)r->inst.pidfd, &si, WEXITED);
    }
    sandbox_release(&r->inst);
    if (sandbox_destroy(r->dir, r->id, &err) < 0)
        fail_msg("destroy: %s", err.message);
    live_drop(r->id);
    if (r->chan >= 0)
        close(r->chan);
}

/* Starts a sandbox running the probe with argv, reads its report to EOF. */
static void run_probe(struct run *r, const char *tag, bool network, char **argv)
{
    pyro_error err = {0};
    run_init(r, tag, network, argv);
    if (run_start(r, &err) < 0)
        fail_msg("sandbox_start: %s", err.message);
    run_read(r, NULL, 60000);
    run_wait_exit(r);
}

static bool nft_has_rule(const char *id)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "nft list table ip pyro 2>/dev/null | grep -q 'pyro:%s\"'", id);
    return system(cmd) == 0;
}

static bool mounted_below(const char *dir)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    bool found = false;
    while (f && fgets(line, sizeof(line), f))
        if (strstr(line, dir))
            found = true;
    if (f)
        fclose(f);
    return found;
}

static bool cgroup_exists(const char *ctrl, const char *id)
{
    char path[512];
    snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/pyro-test/%s", ctrl, id);
    return access(path, F_OK) == 0;
}

static void assert_gone(const char *dir, const char *id)
{
    assert_false(mounted_below(dir));
    assert_int_equal(access(dir, F_OK), -1);
    assert_false(nft_has_rule(id));
    if (sandbox_cgroup_version(NULL) == 1) {
        assert_false(cgroup_exists("memory", id));
        assert_false(cgroup_exists("pids", id));
        assert_false(cgroup_exists("cpu", id));
    } else
        assert_false(cgroup_exists("unified", id) || cgroup_exists("", id));
}

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
    const char *eperm[] = {"mount", "umount", "unshare", "unshare_net", "setns", "pivot_root", "bpf",
                           "kexec_load", "init_module", "keyctl", "perf_event_open", "reboot",
                           "open_by_handle_at", "clone_newuser", "personality_rie", "ptrace_attach",
                           "ptrace_traceme", "pidfd_getfd", "process_vm_readv", "kcmp", "io_uring_setup",
                           "socket_vsock", "userfaultfd"};
    for (size_t i = 0; i < ARRAY_SIZE(eperm); i++)
        assert_kv(&r, eperm[i], "1");
    assert_kv(&r, "clone3", "38"); /* ENOSYS: glibc falls back to clone */
    assert_kv(&r, "fork", "0");
    assert_kv(&r, "personality_query", "0");
    assert_kv(&r, "i386_getpid", host_i386_expect()); /* ENOSYS: only the native ABI passes the filter */
    assert_kv(&r, "x32_getpid", "38");
    /* EROFS, where the kernel has the file at all */
    assert_kv(&r, "sysrq", access("/proc/sysrq-trigger", F_OK) == 0 ? "30" : "2");
    assert_kv(&r, "proc_sys", "30");
    assert_kv(&r, "sys", "30");
    assert_kv(&r, "pyro_dir", "30");
    assert_kv(&r, "dev_new", "30");
    assert_kv(&r, "dev_null", "0");
    assert_kv(&r, "ptmx", "0");
    assert_kv(&r, "timer_list_bytes", "0"); /* masked by /dev/null */
    assert_kv(&r, exists, "0");       /* host files are out of reach */
    assert_kv(&r, "exists:/.pyro/agent", "1");
    /* A block device node of the host's disk must not be usable. */
    assert_string_not_equal(kv(&r, "mknod_open"), "0");
    assert_string_not_equal(kv(&r, "mknod_open"), "");
    if (sandbox_cgroup_version(NULL) == 1)
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
    _cleanup_free_ char *upper = xasprintf("%s/upper/probe-a.txt", a.dir);
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
    assert_kv(&r, "oom", "signal:9"); /* the OOM killer, inside the 256 MiB cgroup */
    assert_kv(&r, "done", "1");       /* PID 1 survived */
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
static int listen_on(const char *addr, int *port)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    if (addr)
        assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(ls, 4), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return ls;
}

/* Accepts one connection, expects "ping\n", answers "pong\n"; returns the
 * peer's address in ip. */
static void serve_one(int ls, char ip[INET_ADDRSTRLEN])
{
    struct sockaddr_in peer;
    socklen_t pl = sizeof(peer);
    struct pollfd p = {.fd = ls, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 30000), 1);
    int c = accept4(ls, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
    assert_true(c >= 0);
    char buf[64] = "";
    assert_true(read(c, buf, sizeof(buf) - 1) > 0);
    assert_string_equal(buf, "ping\n");
    inet_ntop(AF_INET, &peer.sin_addr, ip, INET_ADDRSTRLEN);
    assert_int_equal(write(c, "pong\n", 5), 5);
    close(c);
}

static int sh(const char *cmd)
{
    return system(cmd);
}

/* Egress: the probe reaches a server in a separate "outside" network
 * namespace behind a second link, which sees the host's address there (the
 * masquerade rule did its job), and never a server on the host itself
 * through its gateway (the guard rules refuse it). */
static void test_network(void **state)
{
    char ns[32], link[16], cmd[512], ext_host[32], ext_srv[32];
    unsigned n = (unsigned)getpid() % 250 + 1;
    snprintf(ns, sizeof(ns), "pyro-test-ext%u", n);
    snprintf(link, sizeof(link), "pyrotx%u", n);
    snprintf(ext_host, sizeof(ext_host), "198.18.%u.1", n);
    snprintf(ext_srv, sizeof(ext_srv), "198.18.%u.2", n);
    snprintf(cmd, sizeof(cmd),
             "ip netns add %s && ip link add %s type veth peer name ext0 netns %s && "
             "ip addr add %s/30 dev %s && ip link set %s up && ip -n %s addr add %s/30 dev ext0 && "
             "ip -n %s link set ext0 up && ip -n %s link set lo up",
             ns, link, ns, ext_host, link, link, ns, ext_srv, ns, ns);
    snprintf(teardown_cmd, sizeof(teardown_cmd), "ip link del %s 2>/dev/null; ip netns del %s 2>/dev/null", link, ns);
    if (sh(cmd) != 0)
        fail_msg("setting up the outside namespace failed: %s", cmd);
    /* The outside server's socket is made inside that namespace. */
    char nspath[64];
    snprintf(nspath, sizeof(nspath), "/run/netns/%s", ns);
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), other = open(nspath, O_RDONLY | O_CLOEXEC);
    assert_true(self >= 0 && other >= 0);
    assert_int_equal(setns(other, CLONE_NEWNET), 0);
    int p2, ls2 = listen_on(ext_srv, &p2);
    assert_int_equal(setns(self, CLONE_NEWNET), 0);
    close(self);
    close(other);

    int p1, ls1 = listen_on(NULL, &p1);
    char c1[64], c2[64];
    snprintf(c1, sizeof(c1), "connect:gw:%d", p1);
    snprintf(c2, sizeof(c2), "connect:%s:%d", ext_srv, p2);
    char *argv[] = {"/.pyro/agent", "info", c1, c2, "read:/etc/resolv.conf", "sleep", NULL};
    struct run r;
    pyro_error err = {0};
    run_init(&r, "net", true, argv);
    if (run_start(&r, &err) < 0)
        fail_msg("sandbox_start: %s", err.message);
    assert_true(if_nametoindex(r.inst.host_ifname) != 0);
    assert_true(nft_has_rule(r.id));

    char ip[INET_ADDRSTRLEN];
    serve_one(ls2, ip);
    assert_string_equal(ip, ext_host); /* masqueraded */
    close(ls2);

    run_read(&r, "ready=1", 30000);
    assert_kv(&r, "ifaces", "eth0,lo");
    /* Refused with "administratively prohibited": EHOSTUNREACH. */
    char refused[16];
    snprintf(refused, sizeof(refused), "-%d", EHOSTUNREACH);
    assert_kv(&r, c1, refused);
    assert_kv(&r, c2, "pong");
    /* And nothing reached the host's server. */
    struct pollfd pfd = {.fd = ls1, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 0), 0);
    close(ls1);
    /* 10.213.0.0/16, a /30: host .1, guest .2 */
    assert_int_equal(strncmp(r.inst.host_addr, "10.213.", 7), 0);
    assert_int_equal(r.inst.prefix_len, 30);
    assert_int_equal(strncmp(kv(&r, "read:/etc/resolv.conf"), "nameserver ", 11), 0);
    char ifname[IF_NAMESIZE];
    snprintf(ifname, sizeof(ifname), "%s", r.inst.host_ifname);
    run_finish(&r);
    sh(teardown_cmd);
    teardown_cmd[0] = '\0';
    assert_int_equal(if_nametoindex(ifname), 0);
    assert_gone(r.dir, r.id);
}

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
        dprintf(pp[1], "ok %d %s\n", (int)r.inst.pid, r.inst.host_ifname);
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
    pid_t init = atoi(line + 3);
    char ifname[IF_NAMESIZE] = "";
    assert_int_equal(sscanf(line + 3, "%*d %15s", ifname), 1);
    assert_true(if_nametoindex(ifname) != 0);

    if (sandbox_cgroup_version(NULL) == 1) {
        assert_int_equal(cg_value("memory", r.id, "memory.limit_in_bytes"),
                         256ll << 20);
        assert_int_equal(cg_value("cpu", r.id, "cpu.cfs_quota_us"), 200000);
        assert_int_equal(cg_value("cpu", r.id, "cpu.cfs_period_us"), 100000);
        assert_int_equal(cg_value("pids", r.id, "pids.max"), 40);
        assert_int_equal(cg_value("memory", r.id, "memory.swappiness"), 0);
    }

    assert_int_equal(kill(helper, SIGKILL), 0);
    assert_int_equal(waitpid(helper, NULL, 0), helper);
    assert_int_equal(kill(init, 0), 0); /* still running */
    assert_true(nft_has_rule(r.id));

    pyro_error err = {0};
    if (sandbox_destroy(r.dir, r.id, &err) < 0)
        fail_msg("destroy: %s", err.message);
    assert_gone(r.dir, r.id);
    assert_int_equal(if_nametoindex(ifname), 0);
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
    r.cfg.userns = true;
    assert_int_equal(run_start(&r, &err), -PYRO_E_UNSUPPORTED);
    close(r.chan);
    r.cfg.userns = false;
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

/* ---- setup -------------------------------------------------------------- */

/* The rootfs: $PYRO_TEST_ROOTFS, else debian:12-base from the test
 * environment cache (ctest's fixture env_base pulls it; env_ensure pulls it
 * here when the test runs alone). */
static char *rootfs_find(void)
{
    const char *env = getenv("PYRO_TEST_ROOTFS");
    if (env && env[0])
        return xstrdup(env);
    const char *cache = getenv("PYRO_TEST_CACHE");
    if (cache && cache[0])
        setenv("XDG_CACHE_HOME", cache, 1);
    struct pyro_ctx *ctx = NULL;
    struct env_install inst;
    pyro_error err = {0};
    if (pyro_ctx_new(&ctx, &err) < 0 || env_ensure(ctx, "debian:12-base", &inst, &err) < 0) {
        fprintf(stderr, "no test rootfs: %s\n", err.message);
        pyro_ctx_free(ctx);
        return NULL;
    }
    pyro_ctx_free(ctx);
    return xstrdup(inst.rootfs);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skip: the sandbox backend needs root\n");
        return 77;
    }
    pyro_error err = {0};
    int v = sandbox_cgroup_version(&err);
    if (v < 0) {
        fprintf(stderr, "skip: %s\n", err.message);
        return 77;
    }
    fprintf(stderr, "cgroup v%d\n", v);
    rootfs = rootfs_find();
    if (!rootfs) {
        fprintf(stderr, "no test rootfs (set PYRO_TEST_ROOTFS, or install mmdebstrap and a Debian mirror)\n");
        return 1;
    }
    const char *build = getenv("PYRO_TEST_BUILD_DIR");
    probe = xasprintf("%s/tests/pyro-probe", build ? build : ".");
    char tmpl[] = "/tmp/pyro-test-sandbox.XXXXXX";
    workdir = xstrdup(mkdtemp(tmpl));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_isolation, teardown),     cmocka_unit_test_teardown(test_overlay, teardown),
        cmocka_unit_test_teardown(test_memory_limit, teardown),  cmocka_unit_test_teardown(test_pids_limit, teardown),
        cmocka_unit_test_teardown(test_network, teardown),       cmocka_unit_test_teardown(test_destroy_after_sigkill, teardown),
        cmocka_unit_test_teardown(test_start_errors, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rm_rf(workdir, NULL);
    free(workdir);
    free(rootfs);
    free(probe);
    return rc;
}
