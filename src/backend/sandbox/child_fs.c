/* The sandbox's file system view, built by the child (no allocation), in
 * its user namespace.
 *
 * The overlay root is mounted (with the new mount API, so the child holds
 * the mount itself) and proc and sysfs are attached inside it through
 * descriptors opened without following symlinks, while the host's own proc
 * and sysfs are still in this mount namespace (the kernel lets a user
 * namespace mount them only then). Then pivot_root, and every later mount
 * target is resolved inside the new root: a symlink planted in the upper
 * layer by an earlier run cannot point a mount at the host. Host files that
 * must appear inside (init, resolv.conf, the device nodes a user namespace
 * may not mknod) come in as detached bind mounts (open_tree(OPEN_TREE_CLONE)
 * in the parent) and are attached with move_mount. Writable mounts are
 * nodev, /dev is read-only after its nodes are bound. */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
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

const char *const sandbox_dev_nodes[SANDBOX_DEV_NODES] = {
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
};

static const struct {
    const char *target, *link;
} dev_links[] = {
    {"pts/ptmx", "/dev/ptmx"},          {"/proc/self/fd", "/dev/fd"},       {"/proc/self/fd/0", "/dev/stdin"},
    {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
};

static int dev_setup(const struct sandbox_plan *p, const char **what)
{
    STEP("create /dev", mkdir_if("/dev", 0755));
    STEP("mount /dev", mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"));
    for (size_t i = 0; i < SANDBOX_DEV_NODES; i++) {
        int fd;
        STEP("create a device node's file in /dev",
             fd = open(sandbox_dev_nodes[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
        close(fd);
        STEP("bind a device node into /dev", move_tree(p->paths[SANDBOX_PATH_DEV + i].fd, sandbox_dev_nodes[i]));
    }
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
    STEP("bind the init binary", move_tree(p->paths[SANDBOX_PATH_INIT].fd, SANDBOX_INIT_PATH));
    STEP("make the init binary read-only", remount_ro(SANDBOX_INIT_PATH));
    STEP("make /.pyro read-only",
         mount(NULL, "/.pyro", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=755,size=64k"));
    return 0;
}

static int resolv_setup(const struct sandbox_plan *p, const char **what)
{
    if (!p->paths[SANDBOX_PATH_RESOLV].path)
        return 0;
    int fd;
    STEP("create /etc/resolv.conf",
         fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC | O_NONBLOCK, 0644));
    close(fd);
    STEP("bind /etc/resolv.conf", move_tree(p->paths[SANDBOX_PATH_RESOLV].fd, "/etc/resolv.conf"));
    STEP("make /etc/resolv.conf read-only", remount_ro("/etc/resolv.conf"));
    return 0;
}

/* A new mount of fstype (with flag, when set) from the new mount API;
 * returns its descriptor. */
static int fs_new(const char *fstype, const struct sandbox_plan *p, unsigned attrs)
{
    int fs = (int)syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC);
    if (fs < 0)
        return -1;
    int r = 0;
    if (p) {
        static const char *const keys[] = {"lowerdir", "upperdir", "workdir"};
        for (int i = 0; r == 0 && i < 3; i++)
            r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, keys[i], p->paths[i].proc, 0);
        /* user.overlay.* xattrs: a user namespace may not set trusted.* */
        if (r == 0)
            r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0);
    }
    if (r == 0)
        r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    int m = r < 0 ? -1 : (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs);
    int saved = errno;
    close(fs);
    errno = saved;
    return m;
}

/* Attaches a new mount of fstype at name below the current directory
 * (the new root), never through a symlink. */
static int fs_attach(const char *name, const char *fstype, unsigned attrs)
{
    if (mkdir_if(name, 0555) < 0)
        return -1;
    int dir = open(name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return -1;
    int m = fs_new(fstype, NULL, attrs), r = -1;
    if (m >= 0)
        r = (int)syscall(SYS_move_mount, m, "", dir, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
    int saved = errno;
    close(dir);
    if (m >= 0)
        close(m);
    errno = saved;
    return r;
}

int sandbox_child_rootfs(const struct sandbox_plan *p, const char **what)
{
    STEP("make the mount tree private", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    int root;
    STEP("mount the overlay root", root = fs_new("overlay", p, MOUNT_ATTR_NODEV));
    STEP("attach the overlay root", (int)syscall(SYS_move_mount, root, "", p->paths[SANDBOX_PATH_MERGED].fd, "",
                                                 MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
    STEP("enter the new root", fchdir(root));
    close(root);
    umask(0);
    STEP("mount /proc", fs_attach("proc", "proc", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    STEP("mount /sys",
         fs_attach("sys", "sysfs", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    STEP("pivot_root", (int)syscall(SYS_pivot_root, ".", "."));
    STEP("detach the old root", umount2(".", MNT_DETACH));
    STEP("chdir /", chdir("/"));
    if (dev_setup(p, what) < 0)
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
