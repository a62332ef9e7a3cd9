/* The namespace sandbox backend: Linux namespaces (user, mount, pid, ipc,
 * uts, net, cgroup), an overlay root over the environment's read-only tree,
 * cgroup limits (v2, or the v1 controllers of a hybrid host; none for a
 * user without delegation), Docker's default capability set,
 * no_new_privs and a default seccomp filter. The sandbox's root is the
 * unprivileged host range of cfg->idmap (docs/rootless.md).
 *
 * Layout of cfg->dir (owned by the backend):
 *   sandbox.json  what start() created (cgroup paths, link, subnet), written
 *                 before anything is created so destroy() works after a crash
 *   layers/       upper/ and work/, made by the sandbox's first process as the
 *                 range's root: the overlay's writable layer (unless
 *                 cfg->upper_dir names a caller-owned one, which destroy
 *                 leaves alone) and its work dir
 *   merged/       the overlay mount point (mounted only inside the sandbox's
 *                 own mount namespace, never on the host)
 *   resolv.conf   the host's usable resolvers, bound at /etc/resolv.conf
 *   guard.nft     as a user with network: the guard rules loaded into the
 *                 sandbox's network namespace (backend/userguard.c); pasta's
 *                 pid is in sandbox.json
 *
 * Inside: /proc (kernel knobs read-only or masked), /sys read-only, /dev
 * (tmpfs, read-only after null zero full random urandom tty, pts, shm,
 * mqueue), /run tmpfs, /.pyro/agent (the init, read-only). Every writable
 * mount is nodev. Init runs as PID 1 with fd 0 /dev/null, fds 1-2 stdio_fd
 * (a pipe or socket; /dev/null when -1) and fd 3 the channel; all other
 * fds are closed. */
#ifndef PYRO_SANDBOX_H
#define PYRO_SANDBOX_H

#include "backend/backend.h"

/* The backend's ops table (ops.c); only backend_get() names it. */
extern const struct backend_ops sandbox_backend_ops;

/* Where init is found inside the sandbox. */
#define SANDBOX_INIT_PATH "/.pyro/agent"

/* Starts a sandbox; on success out holds the pid and a pidfd of PID 1 and
 * the network addresses. On failure everything created is removed again. */
int sandbox_start(const struct backend_config *cfg, struct backend_instance *out, pyro_error *err);
/* sandbox_destroy from inside the sandbox's user namespace while start()'s
 * descriptor of it is held (as a user: no helper to map a host view). */
int sandbox_destroy_instance(struct backend_instance *inst, const char *dir, const char *id, pyro_error *err);
/* Kills every process of the sandbox (through its cgroup), removes the
 * cgroups, the veth and the NAT rule (as a user: kills its pasta), and
 * upper/ work/ merged/ and the state
 * files of dir (dir itself when empty). Idempotent; needs only dir and id. */
int sandbox_destroy(const char *dir, const char *id, pyro_error *err);

#endif
