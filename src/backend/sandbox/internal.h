/* Modules of the sandbox backend (not for use outside src/backend/sandbox). */
#ifndef PYRO_SANDBOX_INTERNAL_H
#define PYRO_SANDBOX_INTERNAL_H

#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/cgroups.h"
#include "backend/hostcmd.h"
#include "backend/netguard.h"
#include "backend/netns.h"
#include "backend/sandbox/sandbox.h"
#include "backend/usernet.h"

/* ---- seccomp.c ---------------------------------------------------------- */

/* Builds the default filter (Docker's default profile, denials as EPERM,
 * clone3 as ENOSYS) and returns it as BPF; free filter with free(). */
int sandbox_seccomp_build(struct sock_fprog *out, pyro_error *err);

/* ---- state.c: dir/sandbox.json ------------------------------------------ */

struct sandbox_state {
    char *id;
    char *cgroup_parent;
    char *cgroup; /* an ordinary user's cgroup (cgroups_plan_user), or NULL */
    bool network;
    bool user_net;       /* egress through pasta (an ordinary user), not veth + NAT */
    pid_t pasta_pid;     /* 0: none */
    int64_t pasta_start; /* its start time (proc_start_time) */
};

int sandbox_state_save(const char *dir, const struct sandbox_state *st, pyro_error *err);
/* Returns 0 and fills st, or -ENOENT when there is no state file. */
int sandbox_state_load(const char *dir, struct sandbox_state *st, pyro_error *err);
void sandbox_state_free(struct sandbox_state *st);

/* ---- disk.c: the disk quota's image as root ----------------------------- */

/* Makes (when missing) and loop-mounts the image of c->disk_mib at
 * c->dir/disk; *upper and *work get its layer directories, the range
 * root's. */
int sandbox_disk_attach(const struct backend_config *c, char **upper, char **work, pyro_error *err);

/* ---- child.c: runs after clone, allocates nothing ------------------------ */

/* Host device nodes bound into the sandbox's /dev (a user namespace may
 * not mknod them). */
#define SANDBOX_DEV_NODES 6

/* A host path the child opens itself, in its own mount namespace (overlayfs
 * takes its layers only from there, and a user may not clone mounts of the
 * host's) and with the parent's file system identity (which may cross
 * directories the range cannot), then puts at fd, the number the parent
 * reserved. Files bound into the sandbox (tree) become detached bind
 * mounts (open_tree) once the child is root of its user namespace. */
struct sandbox_child_path {
    const char *path; /* NULL: not used (resolv.conf without network), or made */
    bool tree;
    /* Or made by the child, as the range's root, as directory name in the
     * directory of entry create_in (-1: not made): the overlay's fresh
     * upper and work directories, which must be the range's. */
    int create_in;
    const char *name;
    int fd;
    char proc[32]; /* "/proc/self/fd/<fd>", as overlayfs takes it */
};

enum {
    SANDBOX_PATH_LOWER,
    SANDBOX_PATH_UPPER,
    SANDBOX_PATH_WORK,
    SANDBOX_PATH_MERGED,
    SANDBOX_PATH_LAYERS, /* dir/layers (mode 0777 in dir, 0700), where the child makes upper and work */
    SANDBOX_PATH_INIT,   /* the init binary */
    SANDBOX_PATH_RESOLV, /* dir/resolv.conf, with network */
    SANDBOX_PATH_DEV,    /* SANDBOX_DEV_NODES entries: sandbox_dev_nodes */
    SANDBOX_PATHS = SANDBOX_PATH_DEV + SANDBOX_DEV_NODES,
};

/* Everything the child needs, prepared by the parent. */
struct sandbox_plan {
    const char *hostname;
    struct sandbox_child_path paths[SANDBOX_PATHS];
    long nproc_max; /* RLIMIT_NPROC inside, or 0 when the pids cgroup holds the limit */
    char *const *argv;
    char *const *envp;
    int sync_fd; /* child end of the start socketpair */
    int channel_fd;
    int stdio_fd; /* -1: /dev/null */
    int devnull_fd;
    bool network;
    /* Egress through pasta: CAP_NET_RAW goes too, since packet and raw
     * sockets would pass the guard, which filters inside the namespace. */
    bool no_net_raw;
    struct in_addr guest_addr, host_addr, netmask;
    struct sock_fprog seccomp;
    int cap_last; /* /proc/sys/kernel/cap_last_cap */
    /* cgroup v1: the "tasks" files of the sandbox's cgroups, which the child
     * writes "0" into to move itself (see start.c); count 0 on v2. */
    int cg_tasks_fd[CGROUPS_MAX];
    int cg_tasks_count;
};

/* Messages on the sync socket. The parent sends "m" once the child's id maps
 * are written, then "g" when the child may proceed; the child reports a failure as this record, and success as EOF
 * (the socket is close-on-exec). */
struct sandbox_child_error {
    int errnum;
    char what[160];
};

/* The child's body; returns only on failure (its exit status). */
int sandbox_child_run(const struct sandbox_plan *plan);
/* Child helper in child_fs.c: 0 or -1 with errno set and *what pointing
 * at a static description of the failed step (as netns_setup). */
int sandbox_child_rootfs(const struct sandbox_plan *plan, const char **what);
/* The host paths of the device nodes bound into /dev (SANDBOX_PATH_DEV). */
extern const char *const sandbox_dev_nodes[SANDBOX_DEV_NODES];

/* Docker's default capabilities as a bit mask. */
uint64_t sandbox_caps_keep(void);

#endif
