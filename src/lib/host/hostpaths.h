/* The host-path policy (docs/mcp.md "Host-path policy", docs/threat-model.md
 * "Host paths").
 *
 * The MCP server's callers are not trusted with the host: a model that read
 * a prompt injection names the paths, and pyro often runs as root. So when
 * a context carries a policy (ctx->host_policy, set by the MCP server),
 * every host path a caller names resolves, symlinks included, beneath one
 * of its roots or is refused with an error naming the parameter and the
 * roots. Reads (seed_path, source_path) may use every root; writes
 * (output_path) only the roots marked writable, never into a .git
 * directory, never through or as a link leaving the root, and without
 * execute bits. Without a policy (the CLI, C programs: a user naming their
 * own paths) paths are not confined, but outputs are still created the
 * same careful way: never through an existing name or a final symlink. */
#ifndef PYRO_HOSTPATHS_H
#define PYRO_HOSTPATHS_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"

struct pyro_ctx;

#define HOST_ROOTS_MAX 64

struct host_root {
    char *path;         /* canonical directory */
    const char *origin; /* "--allow-host-path", "project source", ... (static text) */
    bool write;         /* outputs may be created beneath it */
    uid_t uid;          /* its owner, for outputs when pyro runs as root */
    gid_t gid;
};

struct host_policy {
    size_t n;
    struct host_root roots[HOST_ROOTS_MAX];
};

/* Adds dir (made canonical; it must be a directory) as a root. A root
 * already present keeps its place; write access is added to it. */
int host_policy_add(struct host_policy *p, const char *dir, bool write, const char *origin, pyro_error *err);
/* Removes the roots from index n on (roots added for one call). */
void host_policy_truncate(struct host_policy *p, size_t n);
/* "dir (origin), dir (origin)" of the read or write roots; malloc'ed. */
char *host_policy_describe(const struct host_policy *p, bool write);

/* A host file or directory to read: param names the caller's parameter
 * (for errors), or is NULL for a path the caller did not name (the
 * project source), which is not confined. *fd is opened read-only and
 * non-blocking; *canon (optional) gets the canonical path. */
int host_open_source(const struct pyro_ctx *ctx, const char *param, const char *path, int *fd, char **canon,
                     pyro_error *err);

/* A host path to create (output_path): checked and held open by its
 * directory; nothing exists at it yet. */
struct host_dest {
    int dirfd;         /* the directory it is created in */
    char *name;        /* its last component */
    char *path;        /* canonical path */
    char *rel;         /* confined: the path beneath its root (for link targets) */
    const char *param; /* the caller's parameter, for errors */
    bool confined;
    bool chown; /* created for another user: uid, gid */
    uid_t uid;
    gid_t gid;
};
int host_dest_open(const struct pyro_ctx *ctx, const char *param, const char *path, struct host_dest *d,
                   pyro_error *err);
void host_dest_close(struct host_dest *d);
/* An unnamed temporary file in the destination's directory (O_TMPFILE). */
int host_dest_tmpfile(struct host_dest *d, pyro_error *err);
/* Gives fd (from host_dest_tmpfile) its mode (confined: without execute
 * bits) and owner, syncs it and links it at the name; it fails when
 * anything, a dangling symlink included, appeared there meanwhile. */
int host_dest_commit(struct host_dest *d, int fd, mode_t mode, pyro_error *err);
/* Creates the name as a symlink to target; confined, the target must be
 * relative and stay beneath the root. */
int host_dest_symlink(struct host_dest *d, const char *target, pyro_error *err);

#endif
