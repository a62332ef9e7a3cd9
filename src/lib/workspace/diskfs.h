/* Offline inspection of a stopped workspace's disk image (docs/workspaces.md
 * "Disk tools"), through debugfs (e2fsprogs), never by mounting it: the
 * image is the guest's to shape, and a host mount of a crafted ext4 file
 * system is a kernel attack surface.
 *
 * The image is the writable layer both backends use (backend.h disk_mib):
 * the overlay's upper directory at /upper, so a guest path P is /upper/P
 * there. Paths are resolved here one component at a time by inode number:
 * no symlink is ever followed (a link in the middle of a path is an error,
 * a link at its end is reported as a link), so nothing leaves /upper. The
 * runtime directories run/pyro-secrets, run/pyro-shells and
 * run/pyro-services are not shown, not read, and removed from exports. */
#ifndef PYRO_WS_DISKFS_H
#define PYRO_WS_DISKFS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/err.h"

/* Entries a recursive list returns at most (truncated beyond). */
#define DISKFS_LIST_MAX 10000

/* Lists the guest path rel ("" for /) of img: entries of {path, type,
 * size, mode}; a file or link lists itself. *unlisted counts names debugfs
 * cannot print unambiguously (a newline in them), left out. */
int diskfs_list(const char *img, const char *rel, bool recursive, json_t **entries, bool *truncated, size_t *unlisted,
                pyro_error *err);
/* Reads at most max bytes of the regular file rel; *size gets its size. */
int diskfs_read(const char *img, const char *rel, size_t max, char **data, size_t *len, long long *size,
                pyro_error *err);
/* Removes the runtime directories from img (a copy, written in place)
 * and clears the blocks they held; *removed gets how many were there. */
int diskfs_scrub(const char *img, int *removed, pyro_error *err);

#endif
