/* Which cgroup hierarchies the host mounts (v1, v2 or both, "hybrid") and
 * where the controllers the sandbox backend limits with live. */
#ifndef PYRO_CGROUP_PROBE_H
#define PYRO_CGROUP_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "backend/cgroups.h"

enum cgroup_layout { CGROUP_NONE = 0, CGROUP_V1, CGROUP_V2, CGROUP_HYBRID };

enum { CGROUP_CTL_MEMORY = 0, CGROUP_CTL_PIDS, CGROUP_CTL_CPU, CGROUP_CTL_COUNT };

struct cgroup_controller {
    const char *name; /* "memory", "pids", "cpu" */
    int version;      /* 1 or 2: the hierarchy it is bound to; 0 when nowhere */
    char mount[256];  /* that hierarchy's mount point */
    bool writable;    /* we may create cgroups there */
};

struct cgroup_probe {
    enum cgroup_layout layout;
    char v2_mount[256]; /* "" when no cgroup2 mount */
    struct cgroup_controller ctl[CGROUP_CTL_COUNT];
};

/* Reads the mounts through base/mountinfo.h, as the sandbox backend does,
 * and the cgroup2 root's cgroup.controllers. */
void cgroup_probe_run(struct cgroup_probe *p);
const char *cgroup_layout_name(enum cgroup_layout l);
/* The controller is bound to a hierarchy we can write. */
bool cgroup_controller_usable(const struct cgroup_controller *c);
/* The CGROUPS_* bit (backend/cgroups.h) of CGROUP_CTL_* i. */
unsigned cgroup_ctl_bit(int i);
/* Where an ordinary user's sandboxes get their cgroup: the backend's own
 * decision (cgroups_user_probe: the delegated cgroup v2 subtree this process
 * lives in). As root, what systemd can delegate to users: the cgroup2
 * root's controllers (u->base stays ""). */
void cgroup_delegation_probe(const struct cgroup_probe *p, bool root, struct cgroups_user *u);

#endif
