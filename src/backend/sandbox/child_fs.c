/* The sandbox's file system view, built by the child (no allocation).
 *
 * The overlay root is mounted and pivoted into first, so every later mount
 * target is resolved inside the new root: a symlink planted in the upper
 * layer by an earlier run cannot point a mount at the host. Host files that
 * must appear inside (init, resolv.conf) come in as detached bind mounts
 * (open_tree(OPEN_TREE_CLONE) in the parent) and are attached with
 * move_mount. Writable mounts are nodev, /dev is read-only after
 * its nodes are made, so CAP_MKNOD cannot reach host devices. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/sandbox/internal.h"

#define STEP(desc, call) \
    do {                 \
        *what = (desc);  \
        if ((call) < 0)  \
            return -1;   \
    } while (0)

static int mkdir_if(const char *path, mode_t mode)
{
    return mkdir(path, mode) < 0 && errno != EEXIST ? -1 : 0;
}

/* Bind-remount path read-only, keeping the flags it already has. */
static int remount_ro(const char *path)
{
    struct statvfs sv;
    if (statvfs(path, &sv) < 0)
        return -1;
    unsigned long fl = MS_BIND | MS_REMOUNT | MS_RDONLY;
    if (sv.f_flag & ST_NOSUID)
        fl |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        fl |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        fl |= MS_NOEXEC;
    return mount(NULL, path, NULL, fl, NULL);
}

/* Attaches a detached mount (from open_tree) at path. */
static int move_tree(int tree_fd, const char *path)
{
    return (int)syscall(SYS_move_mount, tree_fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH);
}

/* Makes path (a file or directory inside /proc or /sys) read-only; a
 * missing path is fine. */
static int readonly_path(const char *path)
{
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
        return errno == ENOENT ? 0 : -1;
    return remount_ro(path);
}

/* Hides path: files behind /dev/null, directories behind an empty
 * read-only tmpfs. A missing path is fine. */
static int mask_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode))
        return mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0");
    return mount("/dev/null", path, NULL, MS_BIND, NULL);
}

static const char *const proc_readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
static const char *const proc_masked[] = {"/proc/acpi",        "/proc/kcore",
                                          "/proc/keys",        "/proc/latency_stats",
                                          "/proc/timer_list",  "/proc/timer_stats",
                                          "/proc/sched_debug", "/proc/scsi",
                                          "/sys/firmware",     "/sys/devices/virtual/powercap"};

static const struct {
    const char *path;
    unsigned major, minor;
} dev_nodes[] = {
    {"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
    {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
};

static const struct {
    const char *target, *link;
} dev_links[] = {
    {"pts/ptmx", "/dev/ptmx"},          {"/proc/self/fd", "/dev/fd"},       {"/proc/self/fd/0", "/dev/stdin"},
    {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
};

static int dev_setup(const char **what)
{
    STEP("create /dev", mkdir_if("/dev", 0755));
    STEP("mount /dev", mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"));
    for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++)
        STEP("create a device node in /dev",
             mknod(dev_nodes[i].path, S_IFCHR | 0666, makedev(dev_nodes[i].major, dev_nodes[i].minor)));
    for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++)
        STEP("create a symlink in /dev", symlink(dev_links[i].target, dev_links[i].link));
    STEP("create /dev/pts", mkdir_if("/dev/pts", 0755));
    STEP("mount /dev/pts",
         mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"));
    STEP("create /dev/shm", mkdir_if("/dev/shm", 01777));
    STEP("mount /dev/shm",
         mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k"));
    STEP("create /dev/mqueue", mkdir_if("/dev/mqueue", 0755));
    STEP("mount /dev/mqueue", mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
    STEP("make /dev read-only",
         mount(NULL, "/dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"));
    return 0;
}

/* /.pyro is a small read-only tmpfs holding the init binary, so nothing of
 * it lands in the upper layer but the empty mount point. */
static int init_setup(const struct sandbox_plan *p, const char **what)
{
    STEP("create /.pyro", mkdir_if("/.pyro", 0755));
    STEP("mount /.pyro", mount("tmpfs", "/.pyro", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k"));
    int fd;
    STEP("create /.pyro/agent", fd = open(SANDBOX_INIT_PATH, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755));
    close(fd);
    STEP("bind the init binary", move_tree(p->init_tree, SANDBOX_INIT_PATH));
    STEP("make the init binary read-only", remount_ro(SANDBOX_INIT_PATH));
    STEP("make /.pyro read-only",
         mount(NULL, "/.pyro", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=755,size=64k"));
    return 0;
}

static int resolv_setup(const struct sandbox_plan *p, const char **what)
{
    if (p->resolv_tree < 0)
        return 0;
    int fd;
    STEP("create /etc/resolv.conf",
         fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC | O_NONBLOCK, 0644));
    close(fd);
    STEP("bind /etc/resolv.conf", move_tree(p->resolv_tree, "/etc/resolv.conf"));
    STEP("make /etc/resolv.conf read-only", remount_ro("/etc/resolv.conf"));
    return 0;
}

int sandbox_child_rootfs(const struct sandbox_plan *p, const char **what)
{
    STEP("make the mount tree private", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    STEP("mount the overlay root", mount("overlay", p->merged, "overlay", MS_NODEV, p->overlay_opts));
    STEP("enter the new root", chdir(p->merged));
    STEP("pivot_root", (int)syscall(SYS_pivot_root, ".", "."));
    STEP("detach the old root", umount2(".", MNT_DETACH));
    STEP("chdir /", chdir("/"));
    umask(0);
    STEP("create /proc", mkdir_if("/proc", 0555));
    STEP("mount /proc", mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
    STEP("create /sys", mkdir_if("/sys", 0555));
    STEP("mount /sys", mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
    if (dev_setup(what) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(proc_readonly) / sizeof(proc_readonly[0]); i++)
        STEP("make a /proc path read-only", readonly_path(proc_readonly[i]));
    for (size_t i = 0; i < sizeof(proc_masked) / sizeof(proc_masked[0]); i++)
        STEP("mask a /proc or /sys path", mask_path(proc_masked[i]));
    STEP("create /run", mkdir_if("/run", 0755));
    STEP("mount /run", mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755"));
    if (init_setup(p, what) < 0 || resolv_setup(p, what) < 0)
        return -1;
    umask(022);
    return 0;
}
