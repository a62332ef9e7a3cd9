/* The cgroups of one instance (a sandbox, or a VM's QEMU), shared by the
 * backends: cgroup v1 (one hierarchy per controller, as on hybrid hosts) or
 * v2 (unified). Each instance's directories are <mount>/<parent>/<id>, the
 * parent (default "pyro") shared by every instance and holding the
 * host-wide memory cap. An ordinary user's are <base>/<parent>/<id> in the
 * cgroup v2 subtree delegated to it (cgroups_user.c finds the base), with
 * the controllers the base offers; cgroups_plan_caller gives either to both
 * backends. */
#ifndef PYRO_BACKEND_CGROUPS_H
#define PYRO_BACKEND_CGROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define CGROUPS_MAX 5
#define CGROUPS_PATH_MAX 512

/* The limiting controllers, as bits. */
enum { CGROUPS_CPU = 1 << 0, CGROUPS_MEMORY = 1 << 1, CGROUPS_PIDS = 1 << 2, CGROUPS_ALL = 7 };

/* The cgroup directories of one instance: one per v1 hierarchy in use
 * (cpu, memory, pids, devices; comounted ones appear once), or the one v2
 * directory; none (version 0) when the caller may use no cgroup. */
struct cgroups {
    int version;
    int count;
    char *paths[CGROUPS_MAX];
    unsigned ctl; /* the CGROUPS_* enabled and limited (CGROUPS_ALL as root) */
    char *base;   /* an ordinary user's delegated cgroup the path lies in (the
                   * highest one cgroups_create writes), or NULL */
};

struct cgroups_limits {
    int vcpu_count;         /* CPU quota in whole CPUs */
    int mem_mib;            /* memory limit; swap off */
    int pids_max;           /* task limit */
    int64_t parent_mem_mib; /* memory limit of the shared parent; 0: left alone */
    bool allow_kvm;         /* v1 devices: /dev/kvm too (a VM's QEMU) */
};

/* Where an ordinary user may place cgroups (cgroups_user.c): the cgroup v2
 * subtree delegated to it that holds this process, and why not or not all
 * of memory, pids and cpu (then fix says how to get them). */
struct cgroups_user {
    char base[CGROUPS_PATH_MAX]; /* "" when there is none */
    unsigned ctl;                /* the CGROUPS_* its cgroup.controllers offers */
    char why[600];               /* "" when nothing is missing */
    char fix[600];
};

/* The cgroup2 path ("/...") of the "0::" line of a /proc/self/cgroup text:
 * -ENOENT without one, -EINVAL when malformed or longer than size. */
int cgroups_self_path(const char *text, char *out, size_t size);
/* The highest ancestor of self (a cgroup2 path, "/..." below the mount
 * point mnt) that uid owns, with every cgroup from self up to it: the
 * directory, cgroup.procs and cgroup.subtree_control are uid's and
 * writable by it. Never the root cgroup. -ENOENT when self is not uid's. */
int cgroups_delegated_find(const char *mnt, const char *self, uid_t uid, char *out, size_t size);
/* The decision from the cgroup2 mount (NULL: none), the controllers bound
 * to v1 hierarchies (CGROUPS_* bits), a /proc/self/cgroup text and the
 * uid; cgroups_user_probe does it for this process. */
void cgroups_user_decide(const char *v2, unsigned v1_bound, const char *self_text, uid_t uid, struct cgroups_user *u);
void cgroups_user_probe(struct cgroups_user *u);
/* Controller names of ctl ("memory", "pids", "cpu", in that order) joined
 * by sep; returns the length. And the bits named in a cgroup.controllers
 * text (whole words). */
size_t cgroups_ctl_list(unsigned ctl, const char *sep, char *buf, size_t size);
unsigned cgroups_ctl_parse(const char *text);

/* The cgroup version cgroups_plan would use on this host: 1 (v1
 * controllers, hybrid hosts) or 2 (unified), or -PYRO_E_UNSUPPORTED. */
int cgroups_version(pyro_error *err);
/* Computes the directories for parent/id (nothing is created). */
int cgroups_plan(const char *parent, const char *id, struct cgroups *out, pyro_error *err);
/* For an ordinary user: <u->base>/<parent>/<id>, limited by u->ctl; an
 * empty plan (version 0) when u found no base or no controller. */
void cgroups_plan_user(const struct cgroups_user *u, const char *parent, const char *id, struct cgroups *out);
/* The plan of the calling process, for both backends: as root (rootless
 * false) cgroups_plan; as an ordinary user cgroups_user_probe into u, then
 * cgroups_plan_user. Fails only as root. */
int cgroups_plan_caller(bool rootless, const char *parent, const char *id, struct cgroups *out, struct cgroups_user *u,
                        pyro_error *err);
/* A user's plan from its recorded directory (a state file's), for removal:
 * dir must be canonical, lie on a cgroup2 mount and end in /parent/id. */
int cgroups_plan_recorded(const char *dir, const char *parent, const char *id, struct cgroups *out, pyro_error *err);
/* The CGROUPS_* a plan does not enforce (CGROUPS_ALL for an empty one). */
unsigned cgroups_unenforced(const struct cgroups *cg);
/* cgroups_create for a user's plan: on failure, what was made is removed,
 * the plan emptied and u->why and u->fix say why; never a half-made
 * cgroup. */
void cgroups_create_user(struct cgroups *cg, const struct cgroups_limits *lim, struct cgroups_user *u);
/* What a user's made plan does not hold, as BACKEND_LIMIT_* bits (backend.h),
 * and then why with the fix into reason ("why (fix: fix)"). */
unsigned cgroups_user_lost(const struct cgroups *cg, const struct cgroups_user *u, char *reason, size_t size);
/* Creates the directories and writes the limits (and on v1 the device
 * allow list). With lim->parent_mem_mib, the memory limit of the parent
 * shared by all instances is set to it first (memory.limit_in_bytes and
 * memory.memsw.limit_in_bytes on v1, memory.max on v2), so the kernel holds
 * their sum to the host-wide cap. */
int cgroups_create(const struct cgroups *cg, const struct cgroups_limits *lim, pyro_error *err);
/* Moves pid (the whole process) into every directory (cgroup.procs). */
int cgroups_attach(const struct cgroups *cg, pid_t pid, pyro_error *err);
/* Kills every member, waits until empty, removes the directories.
 * Missing directories are fine. */
int cgroups_remove(const struct cgroups *cg, pyro_error *err);
void cgroups_free(struct cgroups *cg);

#endif
