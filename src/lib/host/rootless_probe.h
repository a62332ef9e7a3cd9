/* Host pieces that pyro as an ordinary user needs beyond the kernel
 * (docs/doctor.md "Rootless operation"): the setuid id-map helpers, a
 * user-mode network stack, access to /dev/kvm, a live id mapping, and which
 * sandbox limits can be enforced. Decisions are pure functions of what the
 * probes found, so tests feed them fixtures. */
#ifndef PYRO_ROOTLESS_PROBE_H
#define PYRO_ROOTLESS_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/idmap.h"
#include "lib/host/cgroup_probe.h"

/* newuidmap or newgidmap. */
struct map_helper {
    char path[256]; /* "" when not found on $PATH */
    bool setuid_root;
    bool filecap; /* its security.capability grants the capability it needs */
};

/* Finds name on $PATH and reads its mode, owner and file capabilities;
 * cap is CAP_SETUID or CAP_SETGID. */
void map_helper_probe(const char *name, int cap, struct map_helper *h);
bool map_helper_ok(const struct map_helper *h);
/* A security.capability value (struct vfs_cap_data, revision 2 or 3)
 * grants cap: in the permitted set, with the effective bit, and (revision
 * 3) for the initial user namespace's root. */
bool filecap_grants(const void *value, size_t len, int cap);

/* Maps a child that has just unshared its user namespace with
 * idmap_write (newuidmap/newgidmap as a user) and reads its uid_map back:
 * the live proof that the range maps. */
int rootless_map_probe(const struct idmap *m, pyro_error *err);

/* pasta (Debian package passt) or slirp4netns: found and answers
 * --version. */
struct usernet_tool {
    const char *name;
    char path[256];   /* "" when not found */
    char version[96]; /* the first line of --version */
    bool runs;        /* --version exited 0 */
};
enum { USERNET_PASTA = 0, USERNET_SLIRP4NETNS, USERNET_COUNT };
void usernet_probe(struct usernet_tool t[USERNET_COUNT]);

/* Whether the user can open /dev/kvm. */
enum kvm_access {
    KVM_ACCESS_NO_DEVICE = 0,
    KVM_ACCESS_OK,       /* opens read-write */
    KVM_ACCESS_RELOGIN,  /* a member of its group, but not in this session yet */
    KVM_ACCESS_NO_GROUP, /* not a member of its group */
};
/* device: /dev/kvm exists; opens: it opened read-write; member_db: the
 * group database lists the user in the device's group (or it is the
 * user's primary group); member_now: the process has that group. */
enum kvm_access kvm_access_decide(bool device, bool opens, bool member_db, bool member_now);
/* The group database lists user (primary group pgid) in group gid. */
bool group_has_user(gid_t gid, const char *user, gid_t pgid);

/* How a sandbox limit is enforced for the current user. */
enum limit_by { LIMIT_NONE = 0, LIMIT_CGROUP_V1, LIMIT_CGROUP_V2, LIMIT_RLIMIT_NPROC };
const char *limit_by_name(enum limit_by b);
/* Only a cgroup enforces a limit per sandbox; RLIMIT_NPROC is per uid and
 * only stands in for pids (results list pids in limits_unenforced). */
bool limit_by_enforced(enum limit_by b);
/* What the sandbox backend does (src/backend/sandbox/start.c): as root,
 * the controllers the cgroup probe found usable; as a user, those of its
 * delegated cgroup v2 subtree (u, from cgroup_delegation_probe; NULL or no
 * base: none), the others not enforced, with RLIMIT_NPROC standing in for
 * pids. */
void sandbox_limits_decide(bool root, const struct cgroup_probe *p, const struct cgroups_user *u,
                           enum limit_by out[CGROUP_CTL_COUNT]);

#endif
