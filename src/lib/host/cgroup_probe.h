/* Which cgroup hierarchies the host mounts (v1, v2 or both, "hybrid") and
 * where the controllers the sandbox backend limits with live. */
#ifndef PYRO_CGROUP_PROBE_H
#define PYRO_CGROUP_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

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

/* Where an ordinary user may place sandbox cgroups (cgroup v2 delegation,
 * e.g. systemd's user@UID.service with Delegate=yes). */
struct cgroup_delegation {
    bool v2;                    /* a cgroup2 hierarchy is mounted */
    char dir[512];              /* the cgroup looked at ("" without v2) */
    bool writable;              /* we may create cgroups and move processes there */
    bool ctl[CGROUP_CTL_COUNT]; /* in its cgroup.controllers */
};

/* Reads the mounts through base/mountinfo.h, as the sandbox backend does,
 * and the cgroup2 root's cgroup.controllers. */
void cgroup_probe_run(struct cgroup_probe *p);
const char *cgroup_layout_name(enum cgroup_layout l);
/* The controller is bound to a hierarchy we can write. */
bool cgroup_controller_usable(const struct cgroup_controller *c);

/* The cgroup2 path of "0::<path>" in /proc/self/cgroup text; -ENOENT
 * without that line. */
int cgroup_v2_path_parse(const char *text, char *out, size_t size);
/* Marks memory, pids and cpu found in a cgroup.controllers text. */
void cgroup_controllers_parse(const char *text, bool ctl[CGROUP_CTL_COUNT]);
/* As a user: its own cgroup when writable, else its systemd user manager's
 * (user.slice/user-UID.slice/user@UID.service). As root: the cgroup2 root,
 * whose controllers are what systemd can delegate to users. */
void cgroup_delegation_probe(const struct cgroup_probe *p, uid_t uid, struct cgroup_delegation *d);

#endif
