/* pyro-probe: a static test init that runs as PID 1 inside a sandbox (like
 * crun's tests/init.c) and reports what it sees as "key=value" lines on
 * fd 3 (the channel). Each argument is one check:
 *
 *   info            pid, hostname, visible pids, interfaces, capability and
 *                   seccomp lines of /proc/self/status, cgroup paths
 *   syscalls        errno of refused calls (0 when a call succeeded;
 *                   "signal:N" when the kernel killed the caller instead)
 *   paths           errno of writes that must fail (read-only mounts)
 *   exists:P        1 when path P exists
 *   write:P:TEXT    writes TEXT to P
 *   read:P          the first line of P
 *   connect:gw:PORT TCP to the default gateway (or an IPv4 address), sends
 *                   "ping\n" and reports the reply line
 *   rawnet          errno of opening a packet socket and a raw IPv4 socket
 *                   (CAP_NET_RAW) and of taking eth0 down (CAP_NET_ADMIN)
 *   oom:MIB         a child touches MIB MiB; reports how it ended
 *   forkbomb        forks until fork fails; reports the errno and count
 *   mknod:MAJ:MIN   errno of mknod of a block device and of opening it
 *   sleep           reports ready=1 and waits forever
 *   stdout          report on fd 1 from here on (for a probe run as a
 *                   command under pyro-agent, which is then PID 1)
 *   agent           errno of reaching into PID 1 (the agent): ptrace,
 *                   pidfd_open + pidfd_getfd of its fds 1 and 3, opening
 *                   /proc/1/mem, /proc/1/environ, /proc/1/fd/1 and
 *                   /proc/1/fd/3, listing /proc/1/fdinfo, readlink of
 *                   /proc/1/root, prlimit of PID 1; how many of /proc/1/fd/0..63 could be
 *                   read (readlink) or opened; own_fds: this process's
 *                   open fds
 *   signals         sends PID 1 STOP, KILL, TERM, INT, HUP, QUIT, USR1,
 *                   USR2, CHLD, PIPE, ALRM, TSTP (kill), TERM through its
 *                   pidfd and a TERM through sigqueueinfo claiming to come
 *                   from outside (si_pid 0); reports each errno
 * Numbers are errno values: 1 EPERM, 13 EACCES, 30 EROFS, 38 ENOSYS. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static int out_fd = 3;
#define OUT out_fd

static int err_of(long r)
{
    return r < 0 ? errno : 0;
}

static void status_lines(void)
{
    static const char *const keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"};
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof(line), f)) {
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            size_t n = strlen(keys[i]);
            if (strncmp(line, keys[i], n) == 0 && line[n] == ':') {
                char *v = line + n + 1;
                v += strspn(v, " \t");
                v[strcspn(v, "\n")] = '\0';
                dprintf(OUT, "%s=%s\n", keys[i], v);
            }
        }
    }
    if (f)
        fclose(f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Comma-separated sorted names in path (only numeric ones if asked). */
static void list_dir(const char *key, const char *path, int numeric_only)
{
    char *names[256];
    int n = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && n < 256 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || (numeric_only && (e->d_name[0] < '0' || e->d_name[0] > '9')))
            continue;
        names[n++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
    dprintf(OUT, "%s=", key);
    for (int i = 0; i < n; i++) {
        dprintf(OUT, "%s%s", i ? "," : "", names[i]);
        free(names[i]);
    }
    dprintf(OUT, "\n");
}

static void info(void)
{
    struct utsname u;
    uname(&u);
    dprintf(OUT, "pid=%d\nhostname=%s\nuid=%d\n", (int)getpid(), u.nodename, (int)getuid());
    list_dir("procs", "/proc", 1);
    list_dir("ifaces", "/sys/class/net", 0);
    status_lines();
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        c2[1 + strcspn(c2 + 1, "\n")] = '\0';
        if (strstr(c1 + 1, "memory") || c1[1] == '\0')
            dprintf(OUT, "cgroup_%s=%s\n", c1[1] ? c1 + 1 : "unified", c2 + 1);
    }
    if (f)
        fclose(f);
}

/* getpid through the i386 ABI (int 0x80, number 20), in a child: on a
 * kernel without that entry (IA32 emulation off, or a PVM guest such as a
 * Firecracker VM with PVM) int 0x80 raises a general protection fault and
 * SIGSEGV would end the probe, which is PID 1. Reports the errno (0 when
 * the call succeeded) or "signal:N" when the child was killed. */
static void i386_getpid(void)
{
    pid_t p = fork();
    if (p == 0) {
        long r32;
        __asm__ volatile("int $0x80" : "=a"(r32) : "a"(20L) : "memory");
        dprintf(OUT, "i386_getpid=%ld\n", r32 < 0 ? -r32 : 0L);
        _exit(0);
    }
    int st = 0;
    if (p < 0 || waitpid(p, &st, 0) < 0)
        dprintf(OUT, "i386_getpid=fork:%d\n", errno);
    else if (WIFSIGNALED(st))
        dprintf(OUT, "i386_getpid=signal:%d\n", WTERMSIG(st));
}

static void syscalls(void)
{
    dprintf(OUT, "mount=%d\n", err_of(mount("tmpfs", "/mnt", "tmpfs", 0, NULL)));
    dprintf(OUT, "umount=%d\n", err_of(umount2("/proc", MNT_DETACH)));
    dprintf(OUT, "unshare=%d\n", err_of(syscall(SYS_unshare, CLONE_NEWNS)));
    dprintf(OUT, "unshare_net=%d\n", err_of(syscall(SYS_unshare, CLONE_NEWNET)));
    dprintf(OUT, "setns=%d\n", err_of(syscall(SYS_setns, 0, 0)));
    dprintf(OUT, "pivot_root=%d\n", err_of(syscall(SYS_pivot_root, "/tmp", "/tmp")));
    dprintf(OUT, "bpf=%d\n", err_of(syscall(SYS_bpf, 0, NULL, 0)));
    dprintf(OUT, "kexec_load=%d\n", err_of(syscall(SYS_kexec_load, 0, 0, NULL, 0)));
    dprintf(OUT, "init_module=%d\n", err_of(syscall(SYS_init_module, NULL, 0, "")));
    dprintf(OUT, "keyctl=%d\n", err_of(syscall(SYS_keyctl, 0, 0, 0, 0, 0)));
    /* What lets a process reach into another (PID 1, the agent, above all)
     * and vsock, which network namespaces do not separate: refused by the
     * filter itself (EPERM), before the kernel would look at the
     * arguments (which would give ESRCH, EBADF or EFAULT). */
    dprintf(OUT, "ptrace_attach=%d\n", err_of(syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0)));
    pid_t tp = fork(); /* a child may ask to be traced by its parent, unless the filter refuses */
    if (tp == 0) {
        dprintf(OUT, "ptrace_traceme=%d\n", err_of(syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0)));
        _exit(0);
    }
    if (tp > 0)
        waitpid(tp, NULL, 0);
    dprintf(OUT, "pidfd_getfd=%d\n", err_of(syscall(438 /* pidfd_getfd */, -1, 0, 0)));
    dprintf(OUT, "process_vm_readv=%d\n", err_of(syscall(SYS_process_vm_readv, 1, NULL, 0, NULL, 0, 0)));
    dprintf(OUT, "kcmp=%d\n", err_of(syscall(SYS_kcmp, 1, 1, 0, 0, 0)));
    dprintf(OUT, "io_uring_setup=%d\n", err_of(syscall(425 /* io_uring_setup */, 1, NULL)));
    dprintf(OUT, "socket_vsock=%d\n", err_of(socket(40 /* AF_VSOCK */, SOCK_STREAM | SOCK_CLOEXEC, 0)));
    dprintf(OUT, "userfaultfd=%d\n", err_of(syscall(SYS_userfaultfd, 0)));
    dprintf(OUT, "perf_event_open=%d\n", err_of(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)));
    dprintf(OUT, "reboot=%d\n", err_of(syscall(SYS_reboot, 0, 0, 0, NULL)));
    dprintf(OUT, "open_by_handle_at=%d\n", err_of(syscall(SYS_open_by_handle_at, -1, NULL, 0)));
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    dprintf(OUT, "clone_newuser=%d\n", err_of(r));
    struct clone_args ca = {.exit_signal = SIGCHLD};
    r = syscall(SYS_clone3, &ca, sizeof(ca));
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    dprintf(OUT, "clone3=%d\n", err_of(r));
    pid_t p = fork(); /* glibc falls back to clone without namespace flags */
    if (p == 0)
        _exit(0);
    if (p > 0)
        waitpid(p, NULL, 0);
    dprintf(OUT, "fork=%d\n", err_of(p));
    dprintf(OUT, "personality_rie=%d\n", err_of(syscall(SYS_personality, READ_IMPLIES_EXEC)));
    dprintf(OUT, "personality_query=%d\n", err_of(syscall(SYS_personality, 0xffffffffUL)));
    /* The compat ABIs: getpid through int 0x80 (i386 number 20) and through
     * the x32 bit. The filter allows the native ABI only. */
    i386_getpid();
    dprintf(OUT, "x32_getpid=%d\n", err_of(syscall(0x40000000L | SYS_getpid)));
}

static int open_errno(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static void paths(void)
{
    dprintf(OUT, "sysrq=%d\n", open_errno("/proc/sysrq-trigger", O_WRONLY));
    dprintf(OUT, "proc_sys=%d\n", open_errno("/proc/sys/kernel/hostname", O_WRONLY));
    dprintf(OUT, "sys=%d\n", open_errno("/sys/kernel/profiling", O_WRONLY));
    dprintf(OUT, "pyro_dir=%d\n", open_errno("/.pyro/new", O_WRONLY | O_CREAT));
    dprintf(OUT, "dev_new=%d\n", open_errno("/dev/new", O_WRONLY | O_CREAT));
    dprintf(OUT, "dev_null=%d\n", open_errno("/dev/null", O_WRONLY));
    dprintf(OUT, "ptmx=%d\n", open_errno("/dev/ptmx", O_RDWR | O_NOCTTY));
    char buf[256];
    int fd = open("/proc/timer_list", O_RDONLY | O_CLOEXEC);
    dprintf(OUT, "timer_list_bytes=%lld\n", fd < 0 ? -1LL : (long long)read(fd, buf, sizeof(buf)));
    if (fd >= 0)
        close(fd);
}

static void write_file(const char *arg)
{
    char path[512];
    const char *colon = strchr(arg, ':');
    if (!colon || (size_t)(colon - arg) >= sizeof(path))
        return;
    memcpy(path, arg, (size_t)(colon - arg));
    path[colon - arg] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0) {
        if (write(fd, colon + 1, strlen(colon + 1)) < 0)
            e = errno;
        close(fd);
    }
    dprintf(OUT, "write:%s=%d\n", path, e);
}

static void read_file(const char *path)
{
    char line[512] = "";
    FILE *f = fopen(path, "r");
    if (!f) {
        dprintf(OUT, "read:%s=-%d\n", path, errno);
        return;
    }
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    dprintf(OUT, "read:%s=%s\n", path, line);
}

static unsigned gateway(void)
{
    FILE *f = fopen("/proc/net/route", "r");
    char line[256];
    unsigned dst, gw, found = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%*s %x %x", &dst, &gw) == 2 && dst == 0)
            found = gw;
    if (f)
        fclose(f);
    return found;
}

static void tcp(const char *arg)
{
    char host[64];
    int port;
    if (sscanf(arg, "%63[^:]:%d", host, &port) != 2)
        return;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (strcmp(host, "gw") == 0)
        sa.sin_addr.s_addr = gateway();
    else
        inet_pton(AF_INET, host, &sa.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char buf[128] = "";
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(s, "ping\n", 5) != 5) {
        dprintf(OUT, "connect:%s=-%d\n", arg, errno);
        close(s);
        return;
    }
    ssize_t n = read(s, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    dprintf(OUT, "connect:%s=%s\n", arg, buf);
    close(s);
}

static void rawnet(void)
{
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    dprintf(OUT, "rawnet_packet=%d\n", s < 0 ? errno : 0);
    if (s >= 0)
        close(s);
    s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
    dprintf(OUT, "rawnet_raw=%d\n", s < 0 ? errno : 0);
    if (s >= 0)
        close(s);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags &= ~IFF_UP;
    dprintf(OUT, "rawnet_ifdown=%d\n", r < 0 ? -errno : err_of(ioctl(s, SIOCSIFFLAGS, &ifr)));
    close(s);
}

static void oom(int mib)
{
    pid_t p = fork();
    if (p == 0) {
        for (int i = 0; i < mib; i++) {
            char *m = malloc(1 << 20);
            if (!m)
                _exit(2);
            memset(m, i + 1, 1 << 20);
        }
        _exit(0);
    }
    int st = 0;
    waitpid(p, &st, 0);
    if (WIFSIGNALED(st))
        dprintf(OUT, "oom=signal:%d\n", WTERMSIG(st));
    else
        dprintf(OUT, "oom=exit:%d\n", WEXITSTATUS(st));
}

static void forkbomb(void)
{
    int count = 0, e = 0;
    for (int i = 0; i < 100000; i++) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0) {
            e = errno;
            break;
        }
        count++;
    }
    dprintf(OUT, "forkbomb_errno=%d\nforkbomb_count=%d\n", e, count);
    kill(-1, SIGKILL); /* every other process of the sandbox */
    while (waitpid(-1, NULL, 0) > 0)
        ;
}

static void blockdev(const char *arg)
{
    unsigned maj, min;
    if (sscanf(arg, "%u:%u", &maj, &min) != 2)
        return;
    int e = err_of(mknod("/tmp/probe-blk", S_IFBLK | 0600, makedev(maj, min)));
    dprintf(OUT, "mknod=%d\n", e);
    dprintf(OUT, "mknod_open=%d\n", open_errno("/tmp/probe-blk", O_RDONLY));
    unlink("/tmp/probe-blk");
}

static void agent_reach(void)
{
    dprintf(OUT, "agent_ptrace=%d\n", err_of(syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0)));
    long pidfd = syscall(434 /* pidfd_open */, 1, 0);
    dprintf(OUT, "agent_pidfd_open=%d\n", err_of(pidfd));
    if (pidfd >= 0) {
        dprintf(OUT, "agent_pidfd_getfd1=%d\n", err_of(syscall(438 /* pidfd_getfd */, pidfd, 1, 0)));
        dprintf(OUT, "agent_pidfd_getfd3=%d\n", err_of(syscall(438 /* pidfd_getfd */, pidfd, 3, 0)));
        close((int)pidfd);
    }
    /* Resource limits of another process need its credentials or
     * CAP_SYS_RESOURCE (RLIMIT_CPU would let a command kill init). */
    struct rlimit rl;
    dprintf(OUT, "agent_prlimit_get=%d\n", err_of(prlimit(1, RLIMIT_NOFILE, NULL, &rl)));
    if (prlimit(0, RLIMIT_NOFILE, NULL, &rl) == 0) /* our own value: harmless if it worked */
        dprintf(OUT, "agent_prlimit_set=%d\n", err_of(prlimit(1, RLIMIT_NOFILE, &rl, NULL)));
    dprintf(OUT, "agent_mem=%d\n", open_errno("/proc/1/mem", O_RDONLY));
    dprintf(OUT, "agent_environ=%d\n", open_errno("/proc/1/environ", O_RDONLY));
    dprintf(OUT, "agent_fd1=%d\n", open_errno("/proc/1/fd/1", O_WRONLY | O_APPEND));
    dprintf(OUT, "agent_fd3=%d\n", open_errno("/proc/1/fd/3", O_RDWR));
    /* The names in /proc/1/fd (the fd numbers) are listable, as for any
     * process; every link is checked for ptrace access, so count the ones
     * that can be read or opened. /proc/1/fdinfo is checked as a whole. */
    char buf[256];
    int links = 0, opened = 0;
    for (int fd = 0; fd < 64; fd++) {
        snprintf(buf, sizeof(buf), "/proc/1/fd/%d", fd);
        char target[256];
        links += readlink(buf, target, sizeof(target)) >= 0;
        opened += open_errno(buf, O_RDONLY | O_NONBLOCK | O_NOCTTY) == 0;
    }
    dprintf(OUT, "agent_fd_links=%d\n", links);
    dprintf(OUT, "agent_fd_opened=%d\n", opened);
    DIR *d = opendir("/proc/1/fdinfo");
    dprintf(OUT, "agent_fdinfo=%d\n", d ? 0 : errno);
    if (d)
        closedir(d);
    dprintf(OUT, "agent_root=%d\n", err_of(readlink("/proc/1/root", buf, sizeof(buf))));
    /* What this command inherited: 0, 1 and 2 only (the directory being
     * read is left out). */
    d = opendir("/proc/self/fd");
    char list[512] = "";
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) && strlen(list) + strlen(e->d_name) + 2 < sizeof(list))
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", list[0] ? "," : "", e->d_name);
    if (d)
        closedir(d);
    dprintf(OUT, "own_fds=%s\n", list);
}

static void agent_signals(void)
{
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {
        {"STOP", SIGSTOP}, {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT},
        {"HUP", SIGHUP},   {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
        {"CHLD", SIGCHLD}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TSTP", SIGTSTP},
    };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        dprintf(OUT, "kill_%s=%d\n", sigs[i].name, err_of(kill(1, sigs[i].sig)));
    long pidfd = syscall(434 /* pidfd_open */, 1, 0);
    dprintf(OUT, "pidfd_TERM=%d\n",
            pidfd < 0 ? errno : err_of(syscall(424 /* pidfd_send_signal */, pidfd, SIGTERM, NULL, 0)));
    if (pidfd >= 0)
        close((int)pidfd);
    /* A queued signal may carry any si_pid when si_code is negative. */
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    si.si_signo = SIGTERM;
    si.si_code = SI_QUEUE;
    si.si_pid = 0;
    si.si_uid = 0;
    dprintf(OUT, "sigqueue_TERM=%d\n", err_of(syscall(SYS_rt_sigqueueinfo, 1, SIGTERM, &si)));
    usleep(200 * 1000); /* time for the agent to act on them */
}

/* The first line of /proc/self/uid_map, spaces collapsed. */
static void uid_map(void)
{
    unsigned a = 0, b = 0, c = 0;
    FILE *f = fopen("/proc/self/uid_map", "r");
    int n = f ? fscanf(f, "%u %u %u", &a, &b, &c) : 0;
    if (f)
        fclose(f);
    dprintf(OUT, "uid_map=%u %u %u\n", n == 3 ? a : 0, b, c);
}

/* Takes inotify instances until the kernel refuses one, and keeps them. */
static void inotify_all(void)
{
    int n = 0;
    while (n < 100000 && syscall(SYS_inotify_init1, 0) >= 0)
        n++;
    dprintf(OUT, "inotify_count=%d\ninotify_errno=%d\n", n, errno);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "info") == 0)
            info();
        else if (strcmp(a, "uid_map") == 0)
            uid_map();
        else if (strcmp(a, "inotify") == 0)
            inotify_all();
        else if (strcmp(a, "syscalls") == 0)
            syscalls();
        else if (strcmp(a, "paths") == 0)
            paths();
        else if (strncmp(a, "exists:", 7) == 0)
            dprintf(OUT, "%s=%d\n", a, access(a + 7, F_OK) == 0);
        else if (strncmp(a, "write:", 6) == 0)
            write_file(a + 6);
        else if (strncmp(a, "read:", 5) == 0)
            read_file(a + 5);
        else if (strncmp(a, "connect:", 8) == 0)
            tcp(a + 8);
        else if (strcmp(a, "rawnet") == 0)
            rawnet();
        else if (strncmp(a, "oom:", 4) == 0)
            oom(atoi(a + 4));
        else if (strcmp(a, "forkbomb") == 0)
            forkbomb();
        else if (strncmp(a, "mknod:", 6) == 0)
            blockdev(a + 6);
        else if (strcmp(a, "stdout") == 0)
            out_fd = 1;
        else if (strcmp(a, "agent") == 0)
            agent_reach();
        else if (strcmp(a, "signals") == 0)
            agent_signals();
        else if (strcmp(a, "sleep") == 0) {
            dprintf(OUT, "ready=1\n");
            for (;;)
                pause();
        } else
            dprintf(OUT, "unknown=%s\n", a);
    }
    dprintf(OUT, "done=1\n");
    return 0;
}
