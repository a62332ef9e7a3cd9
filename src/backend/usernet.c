/* Egress for the instances of an ordinary user (backend/usernet.h): pasta
 * (Debian package passt), a user-mode network stack. A user may not create
 * a veth pair or NAT on the host, so pasta, a process of the user's, joins
 * the instance's user and network namespaces (a sandbox's; a VM's QEMU's),
 * creates the tap eth0 there, and carries its TCP, UDP and ICMP over
 * sockets of its own on the host.
 *
 * How it runs:
 *   - started by the process that starts the instance (the monitor) while
 *     the child still has the user's credentials and waits for "m": the
 *     user may open the child's /proc/PID/ns files only then (later the
 *     child of a sandbox is the range's root and not dumpable);
 *   - in the foreground, as that process's child, killed with it
 *     (PR_SET_PDEATHSIG), and by destroy from the state file (pid and start
 *     time) otherwise: this pasta does not notice the namespace going away,
 *     since it holds it open itself;
 *   - ready once it wrote its pid to dir/pasta.ready, a FIFO this process
 *     reads (pasta writes it after the tap exists);
 *   - IPv4 only; the instance is 10.0.2.100/24 via 10.0.2.2 (the child
 *     addresses eth0 as it does a veth); no port forwarded either way (-t,
 *     -u, -T, -U none: the last two would otherwise bind the host's
 *     loopback ports inside); --no-map-gw (pasta would otherwise take
 *     connections to the gateway to the host's loopback); no DHCP, NDP or
 *     router advertisements.
 * What pasta would let through (the host's own addresses, link-local) the
 * guard refuses inside the namespace (userguard.c). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/hostcmd.h"
#include "backend/usernet.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/spawn_capture.h"
#include "base/timeutil.h"

#define PASTA_READY_MS 15000
#define PASTA_ERR_MAX 1024
#define TUN_DEV "/dev/net/tun"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int usernet_check(bool allow_hosts, pyro_error *err)
{
    if (allow_hosts)
        return err_set(err, -PYRO_E_UNSUPPORTED,
                       "allow_hosts needs root: as an ordinary user egress goes through pasta, where pyro cannot "
                       "filter by destination; use network policy egress without allow_hosts, or run as root");
    _cleanup_free_ char *bin = NULL;
    if (proc_find_program("pasta", &bin, NULL) < 0)
        return err_set(err, -PYRO_E_UNSUPPORTED,
                       "network=true as an ordinary user needs pasta (a user-mode network stack), which is not "
                       "on PATH: install it with `apt-get install passt`, or run without network");
    if (!hostcmd_find("nft"))
        return err_set(err, -PYRO_E_UNSUPPORTED,
                       "network=true as an ordinary user needs nft(8) for the egress guard: install it with "
                       "`apt-get install nftables`");
    if (access(TUN_DEV, R_OK | W_OK) < 0)
        return err_set(err, -PYRO_E_UNSUPPORTED,
                       "network=true as an ordinary user needs read and write access to " TUN_DEV
                       " (pasta creates the instance's interface through it): %s; Debian's udev rules make it "
                       "mode 0666; as root: chmod 0666 " TUN_DEV,
                       strerror(errno));
    return 0;
}

/* A starting pasta: its pid and the descriptors this process watches. */
struct pasta_run {
    pid_t pid;
    int pidfd;
    int ready_fd; /* read end of dir/pasta.ready */
    int err_fd;   /* read end of its stderr */
    char err_text[PASTA_ERR_MAX];
    size_t err_len;
};

static void run_close(struct pasta_run *pr)
{
    int fds[] = {pr->pidfd, pr->ready_fd, pr->err_fd};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pr->pidfd = pr->ready_fd = pr->err_fd = -1;
}

/* The forked child: dies with its parent, stdin and stdout /dev/null,
 * stderr the pipe, nothing else open, default signals, its own process
 * group, an empty environment. Returns only on failure. */
static void pasta_exec(char *const *argv, int devnull, int errw, pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
        _exit(126);
    proc_signals_default();
    (void)setpgid(0, 0);
    if (dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0 || dup2(errw, STDERR_FILENO) < 0)
        _exit(126);
    (void)syscall(SYS_close_range, 3u, ~0u, 0u);
    char *envp[] = {NULL};
    execve(argv[0], argv, envp);
    dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int pasta_spawn(const char *dir, pid_t target, struct pasta_run *pr, pyro_error *err)
{
    _cleanup_free_ char *bin = NULL;
    int r = proc_find_program("pasta", &bin, err);
    if (r < 0)
        return err_prefix(err, "pasta (apt-get install passt)");
    _cleanup_free_ char *fifo = xasprintf("%s/" USERNET_READY_FILE, dir);
    if ((unlink(fifo) < 0 && errno != ENOENT) || mkfifo(fifo, 0600) < 0)
        return err_errno(err, errno, "create %s", fifo);
    pr->ready_fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (pr->ready_fd < 0)
        return err_errno(err, errno, "open %s", fifo);
    char netns[64], userns[64], prefix[8];
    snprintf(netns, sizeof(netns), "/proc/%d/ns/net", (int)target);
    snprintf(userns, sizeof(userns), "/proc/%d/ns/user", (int)target);
    snprintf(prefix, sizeof(prefix), "%d", USERNET_PREFIX);
    /* An option and its value a line. */
    // clang-format off
    char *argv[] = {bin, "--foreground", "--quiet", "--ipv4-only",
                    "--ns-ifname", "eth0",
                    "--address", USERNET_GUEST,
                    "--netmask", prefix,
                    "--gateway", USERNET_GATEWAY,
                    "--no-map-gw",
                    "--tcp-ports", "none", "--udp-ports", "none", "--tcp-ns", "none", "--udp-ns", "none",
                    "--no-dhcp", "--no-dhcpv6", "--no-ndp", "--no-ra",
                    "--pid", fifo,
                    "--netns", netns,
                    "--userns", userns,
                    NULL};
    // clang-format on
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    pr->err_fd = ep[0];
    _cleanup_close_ int errw = ep[1];
    _cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || fcntl(pr->err_fd, F_SETFL, O_NONBLOCK) < 0)
        return err_errno(err, errno, "open /dev/null");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return err_errno(err, errno, "fork");
    if (pid == 0)
        pasta_exec(argv, devnull, errw, parent);
    pr->pid = pid;
    pr->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pr->pidfd < 0)
        return err_errno(err, errno, "pidfd_open pasta");
    return 0;
}

/* Keeps the start of pasta's stderr (for the error message), drops the
 * rest; 0 at EOF. */
static int drain_err(struct pasta_run *pr)
{
    char buf[512];
    ssize_t n;
    while ((n = read(pr->err_fd, buf, sizeof(buf))) > 0) {
        size_t take = (size_t)n;
        if (take > sizeof(pr->err_text) - 1 - pr->err_len)
            take = sizeof(pr->err_text) - 1 - pr->err_len;
        memcpy(pr->err_text + pr->err_len, buf, take);
        pr->err_len += take;
        pr->err_text[pr->err_len] = '\0';
    }
    return n == 0 ? 0 : 1;
}

/* pasta's stderr as one line, without its complaints that there is no
 * system logger. */
static void err_summary(const struct pasta_run *pr, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    const char *p = pr->err_text;
    while (*p && used + 3 < size) {
        size_t len = strcspn(p, "\n");
        if (len && strncmp(p, "Failed to send ", 15) != 0)
            used += (size_t)snprintf(out + used, size - used, "%s%.*s", used ? "; " : "", (int)len, p);
        p += len + (p[len] == '\n');
    }
    if (used >= size)
        out[size - 1] = '\0';
}

static int pasta_failed(const struct pasta_run *pr, const char *what, pyro_error *err)
{
    char text[600];
    err_summary(pr, text, sizeof(text));
    return err_set(err, -PYRO_E_UNSUPPORTED, "pasta (user-mode networking) %s%s%s", what, text[0] ? ": " : "", text);
}

/* Until pasta wrote its pid to the FIFO (ready), exited, or the deadline. */
static int pasta_wait(struct pasta_run *pr, pyro_error *err)
{
    char ready[32];
    size_t rlen = 0;
    int64_t deadline = time_mono_ms() + PASTA_READY_MS;
    for (;;) {
        int left = (int)(deadline - time_mono_ms());
        if (left <= 0)
            return pasta_failed(pr, "was not ready within 15 s", err);
        struct pollfd p[3] = {{.fd = pr->ready_fd, .events = POLLIN},
                              {.fd = pr->err_fd, .events = POLLIN},
                              {.fd = pr->pidfd, .events = POLLIN}};
        if (poll(p, 3, left) < 0) {
            if (errno == EINTR)
                continue;
            return err_errno(err, errno, "poll");
        }
        if (p[1].revents && drain_err(pr) == 0) {
            close(pr->err_fd);
            pr->err_fd = -1;
        }
        if (p[0].revents) {
            ssize_t n = read(pr->ready_fd, ready + rlen, sizeof(ready) - 1 - rlen);
            if (n > 0) {
                rlen += (size_t)n;
                ready[rlen] = '\0';
                if (strchr(ready, '\n'))
                    return 0;
            } else if (n == 0 || rlen == sizeof(ready) - 1) {
                close(pr->ready_fd); /* closed without a pid: it is about to exit */
                pr->ready_fd = -1;
            }
        }
        if (p[2].revents) {
            if (pr->err_fd >= 0)
                (void)drain_err(pr);
            siginfo_t si = {0};
            (void)waitid(P_PIDFD, (id_t)pr->pidfd, &si, WEXITED);
            pr->pid = 0;
            char what[64];
            snprintf(what, sizeof(what), "exited (%s %d) before it was ready",
                     si.si_code == CLD_EXITED ? "status" : "signal", si.si_status);
            return pasta_failed(pr, what, err);
        }
    }
}

void usernet_stop(pid_t pid, int64_t start_time)
{
    if (pid <= 0)
        return;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return;
    /* The pidfd now holds the process; its start time says it is ours. */
    if (proc_start_time(pid) == start_time) {
        (void)syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
        siginfo_t si;
        if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED) < 0) {
            /* Not our child: wait (briefly) until it is gone. */
            struct pollfd p = {.fd = fd, .events = POLLIN};
            (void)poll(&p, 1, 2000);
        }
    }
    close(fd);
}

int usernet_attach(const char *dir, pid_t pid, bool allow_host, usernet_record_fn record, void *arg, pyro_error *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
    _cleanup_close_ int userns = open(path, O_RDONLY | O_CLOEXEC);
    if (userns < 0)
        return err_errno(err, errno, "open %s", path);
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    _cleanup_close_ int netns = open(path, O_RDONLY | O_CLOEXEC);
    if (netns < 0)
        return err_errno(err, errno, "open %s", path);
    struct pasta_run pr = {.pidfd = -1, .ready_fd = -1, .err_fd = -1};
    int64_t t0 = time_mono_ns(), t1 = 0;
    int r = pasta_spawn(dir, pid, &pr, err);
    /* Recorded before anything else can fail: destroy finds it. */
    if (r == 0)
        r = record(arg, pr.pid, proc_start_time(pr.pid), err);
    /* The guard goes in while pasta starts up (nothing in the instance
     * runs before its parent's "go"). */
    if (r == 0)
        r = usernet_guard_install(dir, userns, netns, allow_host, err);
    if (r == 0)
        t1 = time_mono_ns(), r = pasta_wait(&pr, err);
    if (r < 0 && pr.pid > 0) {
        (void)kill(pr.pid, SIGKILL);
        while (waitpid(pr.pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    run_close(&pr);
    _cleanup_free_ char *fifo = xasprintf("%s/" USERNET_READY_FILE, dir);
    (void)unlink(fifo);
    if (r == 0)
        log_debug("usernet: pasta %d ready in %.1f ms (the guard took %.1f ms of it)", (int)pr.pid,
                  (time_mono_ns() - t0) / 1e6, (t1 - t0) / 1e6);
    return r;
}
