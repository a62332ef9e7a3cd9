/* A sandbox's disk quota as root: the writable layer on a sparse ext4
 * image (backend.h: disk_mib), loop-mounted at dir/disk in the host's
 * mount namespace, upper and work directories at its root (the layout the
 * VM's agent uses on its /dev/vdb). The sandbox's writes then end in
 * ENOSPC at disk_mib, and the host's file system holds at most the image.
 * The image is only ever written through the kernel's own mount of it
 * (the sandbox cannot reach the block device), and destroy unmounts it
 * (mountinfo_unmount_below); the loop device frees itself then. */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/sandbox/internal.h"
#include "base/cleanup.h"
#include "base/paths.h"

#define DISK_LOOP_TRIES 8

/* A free loop device backed by img (autoclear: it detaches itself when
 * its last user, the mount, goes); returns its fd. */
static int loop_attach(int img, char dev[32], pyro_error *err)
{
    _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return err_errno(err, errno, "open /dev/loop-control");
    for (int tries = 0;; tries++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0)
            return err_errno(err, errno, "find a free loop device");
        snprintf(dev, 32, "/dev/loop%d", n);
        int fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            return err_errno(err, errno, "open %s", dev);
        struct loop_config lc = {.fd = (uint32_t)img, .info = {.lo_flags = LO_FLAGS_AUTOCLEAR}};
        if (ioctl(fd, LOOP_CONFIGURE, &lc) == 0)
            return fd;
        int e = errno;
        close(fd);
        if (e != EBUSY || tries >= DISK_LOOP_TRIES) /* EBUSY: another taker won the race */
            return err_errno(err, e, "attach %s", dev);
    }
}

/* dir/name on the image: a directory (never a link) owned by the range's
 * root. */
static int layer_dir(const char *mnt, const char *name, mode_t mode, const struct idmap *m, char **out, pyro_error *err)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", mnt, name);
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return err_errno(err, errno, "create %s", p);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchown(fd, m->uid_base, m->gid_base) < 0)
        return err_errno(err, errno, "prepare %s", p);
    *out = TAKE_PTR(p);
    return 0;
}

int sandbox_disk_attach(const struct backend_config *c, char **upper, char **work, pyro_error *err)
{
    const char *home = c->upper_dir ? c->upper_dir : c->dir;
    int r = mkdir_p(home, 0700, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *img = xasprintf("%s/%s", home, BACKEND_DISK_NAME);
    if (access(img, F_OK) < 0 && (r = backend_disk_make(img, c->disk_mib, err)) < 0)
        return r;
    /* Two mounts of one ext4 image would corrupt it: a previous instance's
     * must be gone (its namespace may outlive it by a moment). */
    if ((r = backend_disk_wait_free(img, err)) < 0)
        return r;
    _cleanup_close_ int ifd = open(img, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (ifd < 0 || fstat(ifd, &st) < 0)
        return err_errno(err, errno, "open %s", img);
    if (!S_ISREG(st.st_mode))
        return err_set(err, -PYRO_E_CORRUPT, "%s is not a regular file", img);
    _cleanup_free_ char *mnt = xasprintf("%s/disk", c->dir);
    if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
        return err_errno(err, errno, "create %s", mnt);
    char dev[32];
    _cleanup_close_ int lfd = loop_attach(ifd, dev, err);
    if (lfd < 0)
        return lfd;
    if (mount(dev, mnt, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, NULL) < 0)
        return err_errno(err, errno, "mount the disk %s", img);
    if ((r = layer_dir(mnt, "upper", 0755, c->idmap, upper, err)) < 0 ||
        (r = layer_dir(mnt, "work", 0700, c->idmap, work, err)) < 0)
        return r; /* destroy unmounts it */
    return 0;
}
