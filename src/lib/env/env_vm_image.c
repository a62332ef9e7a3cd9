/* The initramfs (the agent as /init, then the modules archive) and the
 * read-only root image of an environment, for the VM backend. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/spawn_capture.h"
#include "lib/env/env.h"
#include "lib/env/env_cpio.h"
#include "lib/env/env_vm.h"

#define MKFS_TIMEOUT_MS (10 * 60 * 1000)

static int append_file(int dst, int dirfd, const char *name, pyro_error *err)
{
    _cleanup_close_ int src = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (src < 0)
        return err_errno(err, errno, "open %s", name);
    char buf[65536];
    for (;;) {
        ssize_t n = read(src, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_errno(err, errno, "read %s", name);
        if (n == 0)
            return 0;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(dst, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return err_errno(err, errno, "write the initramfs");
            off += w;
        }
    }
}

int env_vm_write_initrd(int tmpfd, const char *agent_path, int modules_dirfd, pyro_error *err)
{
    _cleanup_close_ int fd = openat(tmpfd, VM_INITRD_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_errno(err, errno, "create %s", VM_INITRD_FILE);
    struct env_cpio c;
    env_cpio_init(&c, fd);
    static const char *const dirs[] = {"dev", "proc", "sys", "mnt", "newroot"};
    int r = 0;
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(dirs); i++)
        r = env_cpio_add(&c, dirs[i], S_IFDIR | 0755, 0, NULL, 0, err);
    /* The kernel opens /dev/console as init's stdin, stdout and stderr. */
    if (r == 0)
        r = env_cpio_add(&c, "dev/console", S_IFCHR | 0600, makedev(5, 1), NULL, 0, err);
    if (r == 0)
        r = env_cpio_add_file(&c, "init", 0755, AT_FDCWD, agent_path, err);
    if (r == 0)
        r = env_cpio_finish(&c, err);
    /* The kernel unpacks concatenated archives one after the other. */
    if (r == 0)
        r = append_file(fd, modules_dirfd, VM_MODULES_FILE, err);
    if (r == 0 && fsync(fd) < 0)
        r = err_errno(err, errno, "fsync %s", VM_INITRD_FILE);
    return r;
}

int env_vm_write_image(const char *rootfs, const char *image, pyro_error *err)
{
    struct env_tree_digest d;
    int r = env_tree_digest(AT_FDCWD, rootfs, false, &d, err);
    if (r < 0)
        return r;
    /* Room for the data, a block per entry, and slack; the file is sparse. */
    int64_t mib = (d.bytes + d.bytes / 4 + d.entries * 4096) / (1024 * 1024) + 64;
    _cleanup_free_ char *mkfs = NULL;
    if ((r = proc_find_program("mkfs.ext4", &mkfs, err)) < 0)
        return err_set(err, r, "mkfs.ext4 not found: install e2fsprogs (scripts/deps.sh)");
    _cleanup_free_ char *inodes = xasprintf("%lld", (long long)d.entries + 1024);
    _cleanup_free_ char *size = xasprintf("%lldM", (long long)mib);
    struct stat st;
    if (stat(rootfs, &st) < 0)
        return err_errno(err, errno, "stat %s", rootfs);
    if (st.st_uid == 0 && st.st_gid == 0) {
        char *const argv[] = {mkfs,        "-q", "-F",   "-t", "ext4",         "-O",          "^has_journal", "-L",
                              "pyro-root", "-N", inodes, "-d", (char *)rootfs, (char *)image, size,           NULL};
        r = proc_run(argv, MKFS_TIMEOUT_MS, NULL, err);
    } else {
        /* A tree shifted into an id range (its root's owner is the range's
         * first id): mkfs sees it, and writes the image, with the ids the
         * guest expects. It reaches both through descriptors (directories
         * on the way may be closed to the range), the image owned by the
         * range while it is made and handed back after. */
        _cleanup_close_ int tfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int ifd = open(image, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        /* (a user's image stays the user's: the host view maps the user) */
        if (tfd < 0 || ifd < 0 || (geteuid() == 0 && fchown(ifd, st.st_uid, st.st_gid) < 0))
            return err_errno(err, errno, "open %s and %s", rootfs, image);
        _cleanup_free_ char *tree = xasprintf("/proc/self/fd/%d", tfd);
        _cleanup_free_ char *out = xasprintf("/proc/self/fd/%d", ifd);
        char *const argv[] = {mkfs,        "-q", "-F",   "-t", "ext4", "-O", "^has_journal", "-L",
                              "pyro-root", "-N", inodes, "-d", tree,   out,  size,           NULL};
        const int keep[] = {tfd, ifd};
        r = env_vm_run_shifted(argv, keep, 2, st.st_uid, st.st_gid, MKFS_TIMEOUT_MS, err);
        if (r == 0 && fchown(ifd, geteuid(), getegid()) < 0)
            r = err_errno(err, errno, "chown %s", image);
    }
    if (r < 0)
        return err_prefix(err, "make the root image of %s", rootfs);
    return 0;
}
