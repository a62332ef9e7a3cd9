/* Paths confined beneath a root directory. Every path operation of the
 * agent opens its root once (O_PATH) and resolves the caller's relative
 * path with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so neither
 * "..", absolute symlinks nor /proc magic links can leave the root. */
#ifndef PYRO_AGENT_FSPATH_H
#define PYRO_AGENT_FSPATH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "base/err.h"

#define FSPATH_DEFAULT_ROOT "/workspace"

/* Opens root (an absolute directory path) as an O_PATH directory fd. */
int fspath_open_root(const char *root, pyro_error *err);
/* openat2 beneath dirfd with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
 * extra_resolve; returns the fd or a negative code (EXDEV and ELOOP become
 * -PYRO_E_INVALID "escapes the root"). */
int fspath_open(int dirfd, const char *path, int flags, mode_t mode, uint64_t extra_resolve,
                pyro_error *err);
/* Opens the parent directory of path (creating missing directories when
 * mkdirs) and returns its fd; *base points at the last component inside
 * path. The root itself has no parent: -PYRO_E_INVALID. */
int fspath_open_parent(int rootfd, const char *path, bool mkdirs, uint64_t extra_resolve,
                       const char **base, pyro_error *err);
/* Reads root/path arguments from a request's args, checks path with
 * relpath_parse (relative, no "..", no NUL, bounded; "" and "." name the
 * root itself) and opens the root. */
int fspath_args(const json_t *args, const char **root, const char **path, int *rootfd,
                pyro_error *err);
/* "file", "dir", "symlink", "fifo", "socket", "char", "block". */
const char *fspath_type_name(mode_t mode);
/* {path, type, size, mode, mtime_ms[, link_target]} for an entry; fd is an
 * O_PATH fd of the entry (opened without following it). */
json_t *fspath_stat_json(int fd, const char *path, const struct stat *st);

/* The names in a directory (not . and ..), sorted, NULL-terminated;
 * NULL with err set on failure. */
char **fsops_read_names(int dirfd, pyro_error *err);

#endif
