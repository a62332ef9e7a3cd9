/* Writing cpio "newc" archives (the initramfs format), see env_cpio.c. */
#ifndef PYRO_ENV_CPIO_H
#define PYRO_ENV_CPIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

struct env_cpio {
    int fd;       /* borrowed */
    uint32_t ino; /* next inode number */
    uint64_t off; /* bytes written */
};

void env_cpio_init(struct env_cpio *c, int fd);
/* One entry: mode holds the type (S_IFDIR, S_IFREG, S_IFCHR, ...); rdev
 * for device nodes; data for regular files and links' targets. */
int env_cpio_add(struct env_cpio *c, const char *name, mode_t mode, dev_t rdev, const void *data, size_t len,
                 pyro_error *err);
/* A regular file with the content of path (below dirfd). */
int env_cpio_add_file(struct env_cpio *c, const char *name, mode_t mode, int dirfd, const char *path, pyro_error *err);
/* The trailer that ends the archive. */
int env_cpio_finish(struct env_cpio *c, pyro_error *err);

#endif
