/* Who a sandbox's ids are on the host (docs/rootless.md).
 *
 * Every sandbox runs in a user namespace whose uid and gid 0..65535 map to
 * an unprivileged host range, so that a process that escapes its
 * namespaces is nobody on the host and does not share host root's per-user
 * kernel limits:
 *
 *   - pyro as root: the documented pool 1879048192..+65535 (0x70000000;
 *     PYRO_IDMAP_BASE moves it), written to uid_map/gid_map directly;
 *   - pyro as an ordinary user: the user's first range of at least 65536
 *     ids in /etc/subuid and /etc/subgid, written by newuidmap/newgidmap.
 *
 * The environment's root tree is owned by that range (shifted once at
 * install as root; built that way by mmdebstrap's unshare mode as a user),
 * so ownership inside is right without idmapped mounts.
 *
 * Host-side work on files the range owns (removing an instance, hashing an
 * environment) runs as the caller when root, and as a user in the "host
 * view": a child in a user namespace where ids 0..65535 are the range (as
 * inside a sandbox) and 65536 is the user, with every capability there. */
#ifndef PYRO_IDMAP_H
#define PYRO_IDMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define IDMAP_COUNT 65536u
#define IDMAP_ROOT_POOL_BASE 1879048192u /* 0x70000000 */

struct idmap {
    bool rootless;  /* pyro runs as an ordinary user */
    uid_t uid_base; /* host uid of sandbox uid 0 */
    gid_t gid_base; /* host gid of sandbox gid 0 */
    uint32_t count; /* ids mapped (IDMAP_COUNT) */
    uid_t user_uid; /* pyro's own uid and gid */
    gid_t user_gid;
    /* Where ids of the range appear to host-side file work (idmap_run):
     * uid_base as root, 0 in a user's host view. */
    uid_t view_uid_base;
    gid_t view_gid_base;
};

/* Fills m for the current user. A user without a subordinate range of at
 * least IDMAP_COUNT ids, or without newuidmap/newgidmap, is -PYRO_E_UNSUPPORTED
 * with the fix in the message. */
int idmap_resolve(struct idmap *m, pyro_error *err);

/* One "owner:start:count" line of /etc/subuid or /etc/subgid. */
struct idmap_subid {
    char owner[64]; /* a user name or a numeric uid, as written */
    unsigned long start;
    unsigned long count;
};

/* Parses line (modified) into r; false for a malformed line, a negative
 * number, a range of 0 ids or one beyond 32-bit ids. The one parser of
 * these files (idmap_subid_find, doctor's lib/host/subid.c). */
bool idmap_subid_parse(char *line, struct idmap_subid *r);

/* Parses a subuid/subgid file for the user called name or with id `id`:
 * the first range of at least want ids. 0 with *start and *count, -ENOENT
 * when the file has none, -errno when it cannot be read. */
int idmap_subid_find(const char *file, const char *name, unsigned long id, uint32_t want, unsigned long *start,
                     uint32_t *count, pyro_error *err);

/* Writes the uid and gid maps of pid, which has just entered a user
 * namespace of its own: the sandbox's map (0..count-1 -> base), or with
 * host_view also the user as id count. */
int idmap_write(const struct idmap *m, pid_t pid, bool host_view, pyro_error *err);

/* Maps this process's own uid and gid, and nothing else, in the new user
 * namespace of pid (setgroups denied): a namespace that holds no range,
 * for a process that runs as the user itself (a VM's QEMU as a user). */
int idmap_write_self(pid_t pid, pyro_error *err);

/* Runs fn(arg, err) with authority over the range's files: in this process
 * as root; as a user in a forked child in the host view (pyro_error comes
 * back; other results through memory the caller shares, e.g. MAP_SHARED). */
typedef int (*idmap_fn)(void *arg, pyro_error *err);
int idmap_run(const struct idmap *m, idmap_fn fn, void *arg, pyro_error *err);

/* Changes the owner of every entry of the tree at path whose uid (gid) is
 * in [from, from + count) to the same offset from to; others stay. Keeps
 * setuid/setgid bits and file capabilities (rewritten for the new root).
 * The top directory is changed last, so a tree whose top is owned by
 * to_uid is done: idmap_tree_shifted(). Restartable after a crash. */
/* Runs fn(arg, err) in a forked child that joined the user namespace
 * userns_fd, where the process that created it (its owner) holds every
 * capability over the range's files: no newuidmap. */
int idmap_run_in(int userns_fd, idmap_fn fn, void *arg, pyro_error *err);

/* rm_rf_at and rm_rf (base/paths.h) that can also remove what the
 * range owns: as a user, what the user alone cannot remove is removed in
 * the host view. */
int idmap_rm_rf_at(int dirfd, const char *name, pyro_error *err);
int idmap_rm_rf(const char *path, pyro_error *err);

int idmap_shift_tree(const char *path, uid_t from_uid, gid_t from_gid, uid_t to_uid, gid_t to_gid, uint32_t count,
                     pyro_error *err);
bool idmap_tree_shifted(const char *path, uid_t to_uid);

#endif
