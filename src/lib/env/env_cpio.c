/* A writer of cpio archives in the "newc" format, the one the Linux kernel
 * unpacks as an initramfs (Documentation/driver-api/early-userspace/
 * buffer-format.rst): a 110-byte ASCII header per entry, the name and the
 * data each padded to 4 bytes, and a "TRAILER!!!" entry at the end. Every
 * entry is owned by root with one link; times are 0, so the same input
 * gives the same bytes. */
#include "lib/env/env_cpio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/record.h"

#define CPIO_FILE_MAX (256u * 1024 * 1024)

static int write_all(struct env_cpio *c, const void *buf, size_t len, pyro_error *err)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(c->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_errno(err, errno, "write the cpio archive");
        p += n;
        len -= (size_t)n;
        c->off += (uint64_t)n;
    }
    return 0;
}

static int pad4(struct env_cpio *c, pyro_error *err)
{
    static const char zeros[4] = {0};
    size_t pad = (4 - (c->off & 3)) & 3;
    return pad ? write_all(c, zeros, pad, err) : 0;
}

void env_cpio_init(struct env_cpio *c, int fd)
{
    *c = (struct env_cpio){.fd = fd, .ino = 1};
}

int env_cpio_add(struct env_cpio *c, const char *name, mode_t mode, dev_t rdev, const void *data, size_t len,
                 pyro_error *err)
{
    size_t nl = strlen(name) + 1;
    if (nl > 4096 || len > CPIO_FILE_MAX)
        return err_set(err, -PYRO_E_INVALID, "cpio entry %s is too large", name);
    char hdr[111];
    snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", c->ino++, (unsigned)mode,
             0u, 0u, 1u, 0u, (unsigned)len, 0u, 0u, major(rdev), minor(rdev), (unsigned)nl, 0u);
    int r;
    if ((r = write_all(c, hdr, 110, err)) < 0 || (r = write_all(c, name, nl, err)) < 0 || (r = pad4(c, err)) < 0)
        return r;
    if (len && ((r = write_all(c, data, len, err)) < 0 || (r = pad4(c, err)) < 0))
        return r;
    return 0;
}

int env_cpio_add_file(struct env_cpio *c, const char *name, mode_t mode, int dirfd, const char *path, pyro_error *err)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = read_file_at(dirfd, path, CPIO_FILE_MAX, &data, &len, err);
    if (r < 0)
        return r;
    return env_cpio_add(c, name, S_IFREG | (mode & 07777), 0, data, len, err);
}

int env_cpio_finish(struct env_cpio *c, pyro_error *err)
{
    return env_cpio_add(c, "TRAILER!!!", 0, 0, NULL, 0, err);
}
