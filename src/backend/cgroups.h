/* The cgroups of one instance (a sandbox, or a VM's QEMU), shared by the
 * backends: cgroup v1 (one hierarchy per controller, as on hybrid hosts) or
 * v2 (unified). Each instance's directories are <mount>/<parent>/<id>, the
 * parent (default "pyro") shared by every instance and holding the
 * host-wide memory cap. */
#ifndef PYRO_BACKEND_CGROUPS_H
#define PYRO_BACKEND_CGROUPS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define CGROUPS_MAX 5

/* The cgroup directories of one instance: one per v1 hierarchy in use
 * (cpu, memory, pids, devices; comounted ones appear once), or the one v2
 * directory. */
struct cgroups {
    int version;
    int count;
    char *paths[CGROUPS_MAX];
};

struct cgroups_limits {
    int vcpu_count;         /* CPU quota in whole CPUs */
    int mem_mib;            /* memory limit; swap off */
    int pids_max;           /* task limit */
    int64_t parent_mem_mib; /* memory limit of the shared parent; 0: left alone */
    bool allow_kvm;         /* v1 devices: /dev/kvm too (a VM's QEMU) */
};

/* The cgroup version cgroups_plan would use on this host: 1 (v1
 * controllers, hybrid hosts) or 2 (unified), or -PYRO_E_UNSUPPORTED. */
int cgroups_version(pyro_error *err);
/* Computes the directories for parent/id (nothing is created). */
int cgroups_plan(const char *parent, const char *id, struct cgroups *out, pyro_error *err);
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
