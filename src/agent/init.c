/* PID 1 duties: the pseudo file systems a Linux userland expects, mounted
 * only where nothing is mounted yet (the sandbox backend may have prepared
 * some of them), and an orderly power-off. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/cleanup.h"

static bool is_mountpoint(const char *path)
{
    struct stat st, parent;
    _cleanup_free_ char *up = xasprintf("%s/..", path);
    if (stat(path, &st) < 0 || stat(up, &parent) < 0)
        return false;
    return st.st_dev != parent.st_dev || st.st_ino == parent.st_ino;
}

static int mount_fs(const char *src, const char *target, const char *type, unsigned long flags, const char *data)
{
    if (mkdir(target, 0755) < 0 && errno != EEXIST)
        return -errno;
    if (is_mountpoint(target))
        return 0;
    if (mount(src, target, type, flags, data) < 0)
        return -errno;
    return 1;
}

static void warn_mount(const char *target, int r)
{
    if (r < 0)
        fprintf(stderr, AGENT_NAME ": mount %s: %s\n", target, strerror(-r));
}

static void make_devices(void)
{
    static const struct {
        const char *name;
        unsigned maj, min;
        mode_t mode;
    } nodes[] = {
        {"/dev/null", 1, 3, 0666},   {"/dev/zero", 1, 5, 0666},    {"/dev/full", 1, 7, 0666},
        {"/dev/random", 1, 8, 0666}, {"/dev/urandom", 1, 9, 0666}, {"/dev/tty", 5, 0, 0666},
    };
    static const struct {
        const char *target, *path;
    } links[] = {
        {"pts/ptmx", "/dev/ptmx"},          {"/proc/self/fd", "/dev/fd"},       {"/proc/self/fd/0", "/dev/stdin"},
        {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
    };
    mode_t old = umask(0);
    for (size_t i = 0; i < ARRAY_SIZE(nodes); i++)
        if (mknod(nodes[i].name, S_IFCHR | nodes[i].mode, makedev(nodes[i].maj, nodes[i].min)) < 0 && errno != EEXIST)
            fprintf(stderr, AGENT_NAME ": mknod %s: %s\n", nodes[i].name, strerror(errno));
    umask(old);
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (symlink(links[i].target, links[i].path) < 0 && errno != EEXIST)
            fprintf(stderr, AGENT_NAME ": symlink %s: %s\n", links[i].path, strerror(errno));
}

int init_mounts(pyro_error *err)
{
    const unsigned long common = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    int r;

    warn_mount("/proc", mount_fs("proc", "/proc", "proc", common, NULL));
    warn_mount("/sys", mount_fs("sysfs", "/sys", "sysfs", common | MS_RDONLY, NULL));
    r = mount_fs("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=4m");
    warn_mount("/dev", r);
    if (r > 0)
        make_devices();
    warn_mount("/dev/pts",
               mount_fs("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"));
    warn_mount("/dev/shm", mount_fs("tmpfs", "/dev/shm", "tmpfs", common, "mode=1777"));
    warn_mount("/run", mount_fs("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
    return 0;
}

void init_guard_creds(void)
{
    /* The kernel lets a process ptrace, prlimit (RLIMIT_CPU, NOFILE, ...)
     * and read /proc of another without CAP_SYS_PTRACE or
     * CAP_SYS_RESOURCE only when all its uids and gids equal the other's
     * real, effective and saved ones. A saved gid of its own keeps the
     * commands, which run as root (gid 0), from matching the agent, while
     * its real and effective ids, and so what it may do to files, stay
     * root's. execve copies the effective gid into the saved one, so the
     * commands it runs are plain root again. */
    gid_t r, e, sv;
    if (getresgid(&r, &e, &sv) == 0 && sv == e && setresgid(r, e, INIT_SAVED_GID) < 0)
        fprintf(stderr, AGENT_NAME ": setresgid: %s\n", strerror(errno));
}

/* Flushes the root file system's data (syncfs: not every file system of a
 * sandbox's host, as sync(2) would). */
static void flush_root(void)
{
    int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)syncfs(fd);
        close(fd);
    }
}

void init_poweroff(bool flush)
{
    if (flush)
        flush_root();
    (void)kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    if (flush)
        flush_root();
    /* In a PID namespace this ends the namespace; on a VM it powers off. */
    (void)reboot(RB_POWER_OFF);
    _exit(0);
}
