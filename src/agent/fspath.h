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
#include "proto/proto.h"

#define FSPATH_DEFAULT_ROOT "/workspace"

/* Opens root (an absolute directory path) as an O_PATH directory fd. */
int fspath_open_root(const char *root, pyro_error *err);
/* openat2 beneath dirfd with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
 * extra_resolve; returns the fd or a negative code (EXDEV and ELOOP become
 * -PYRO_E_INVALID "escapes the root"). */
int fspath_open(int dirfd, const char *path, int flags, mode_t mode, uint64_t extra_resolve, pyro_error *err);
/* Opens the parent directory of path (creating missing directories when
 * mkdirs) and returns its fd; *base points at the last component inside
 * path. The root itself has no parent: -PYRO_E_INVALID. */
int fspath_open_parent(int rootfd, const char *path, bool mkdirs, uint64_t extra_resolve, const char **base,
                       pyro_error *err);
/* The arguments every path op takes: "root" (an absolute directory,
 * default /workspace) and "path" beneath it (default ""), checked, with the
 * root opened. root and path point into the request's header. */
struct fspath_req {
    const json_t *args;
    const char *root, *path;
    int rootfd;
};
int fspath_req_open(const struct proto_frame *req, struct fspath_req *out, pyro_error *err);
void fspath_req_close(struct fspath_req *q);
#define _cleanup_fspath_req_ __attribute__((cleanup(fspath_req_close)))
/* A count or size argument: def when absent or not positive, at most max. */
uint64_t fspath_arg_limit(const json_t *args, const char *key, uint64_t def, uint64_t max);
/* "file", "dir", "symlink", "fifo", "socket", "char", "block". */
const char *fspath_type_name(mode_t mode);
/* {path, type, size, mode, mtime_ms[, link_target]} for the entry name in
 * dirfd (name "": dirfd is an O_PATH fd of the entry itself). */
json_t *fspath_stat_json(int dirfd, const char *name, const char *path, const struct stat *st);

#endif
