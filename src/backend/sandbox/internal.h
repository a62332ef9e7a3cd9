/* Modules of the sandbox backend (not for use outside src/backend/sandbox). */
#ifndef PYRO_SANDBOX_INTERNAL_H
#define PYRO_SANDBOX_INTERNAL_H

#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/sandbox/sandbox.h"

/* ---- cgroup.c: v1 (per-controller hierarchies) or v2 ------------------- */

#define SANDBOX_CGROUP_MAX 5

/* The cgroup directories of one sandbox: one per v1 hierarchy in use
 * (cpu, memory, pids, devices; comounted ones appear once), or the one v2
 * directory. */
struct sandbox_cgroups {
    int version;
    int count;
    char *paths[SANDBOX_CGROUP_MAX];
};

struct sandbox_limits {
    int vcpu_count;
    int mem_mib;
    int pids_max;
    int64_t parent_mem_mib; /* memory limit of the shared parent; 0: left alone */
};

/* Computes the directories for parent/id (nothing is created). */
int sandbox_cgroup_plan(const char *parent, const char *id, struct sandbox_cgroups *out, pyro_error *err);
/* Creates the directories and writes the limits (and on v1 the device
 * allow list). With lim->parent_mem_mib, the memory limit of the parent
 * shared by all sandboxes is set to it first (memory.limit_in_bytes and
 * memory.memsw.limit_in_bytes on v1, memory.max on v2), so the kernel holds
 * their sum to the host-wide cap. */
int sandbox_cgroup_create(const struct sandbox_cgroups *cg, const struct sandbox_limits *lim, pyro_error *err);
int sandbox_cgroup_attach(const struct sandbox_cgroups *cg, pid_t pid, pyro_error *err);
/* Kills every member, waits until empty, removes the directories.
 * Missing directories are fine. */
int sandbox_cgroup_remove(const struct sandbox_cgroups *cg, pyro_error *err);
void sandbox_cgroup_free(struct sandbox_cgroups *cg);

/* ---- net.c: host side of egress networking ------------------------------ */

struct sandbox_net {
    char ifname[IF_NAMESIZE];  /* host end of the veth */
    struct in_addr host_addr;  /* .1 of the /30, the guest's gateway */
    struct in_addr guest_addr; /* .2 of the /30 */
    int lock_fd;               /* held from prepare to attach */
};

/* "pyro-" and 10 hex digits of a hash of id. */
void sandbox_net_ifname(const char *id, char out[IF_NAMESIZE]);
/* Takes the host-wide network lock, allocates a free /30 in 10.213.0.0/16,
 * enables IPv4 forwarding and installs the masquerade rule. */
int sandbox_net_prepare(const char *id, bool allow_host, struct sandbox_net *net, pyro_error *err);
/* Creates the veth pair with its inner end as eth0 in pid's network
 * namespace, addresses and raises the host end, drops the lock. */
int sandbox_net_attach(struct sandbox_net *net, pid_t pid, pyro_error *err);
/* Removes the veth and the NAT rule of id; missing ones are fine. */
int sandbox_net_teardown(const char *id, bool nat, pyro_error *err);
/* Writes dir/resolv.conf with the host's non-loopback resolvers; returns 1
 * when written, 0 when the host has none usable. */
int sandbox_net_resolv(const char *dir, pyro_error *err);

/* ---- cmd.c: run ip and nft ---------------------------------------------- */

/* Runs argv[0] (an absolute path) without a shell; stdout (up to a bound)
 * goes to *out when out is not NULL. A non-zero exit is an error whose
 * message carries the command and its stderr. */
int sandbox_cmd_run(char *const *argv, char **out, pyro_error *err);
/* The absolute path of a system tool (ip, nft) or NULL. */
const char *sandbox_cmd_find(const char *name);

/* ---- seccomp.c ---------------------------------------------------------- */

/* Builds the default filter (Docker's default profile, denials as EPERM,
 * clone3 as ENOSYS) and returns it as BPF; free filter with free(). */
int sandbox_seccomp_build(struct sock_fprog *out, pyro_error *err);

/* ---- state.c: dir/sandbox.json ------------------------------------------ */

struct sandbox_state {
    char *id;
    char *cgroup_parent;
    bool network;
    bool user_net;       /* egress through pasta (an ordinary user), not veth + NAT */
    pid_t pasta_pid;     /* 0: none */
    int64_t pasta_start; /* its start time (proc_start_time) */
};

int sandbox_state_save(const char *dir, const struct sandbox_state *st, pyro_error *err);
/* Returns 0 and fills st, or -ENOENT when there is no state file. */
int sandbox_state_load(const char *dir, struct sandbox_state *st, pyro_error *err);
void sandbox_state_free(struct sandbox_state *st);

/* ---- net_pasta.c, net_userguard.c: egress as an ordinary user ---------- */

/* The sandbox's side of pasta's network (the slirp4netns convention):
 * eth0 is 10.0.2.100/24 with the default route via 10.0.2.2. */
#define SANDBOX_PASTA_GUEST "10.0.2.100"
#define SANDBOX_PASTA_GATEWAY "10.0.2.2"
#define SANDBOX_PASTA_PREFIX 24

/* pasta, nft and /dev/net/tun, checked before anything is created: a
 * missing piece is -PYRO_E_UNSUPPORTED naming it and the fix. */
int sandbox_pasta_check(pyro_error *err);
/* With pid cloned and its ids mapped, still waiting for "m" (so that the
 * user may open its /proc/PID/ns files): installs the guard in its network
 * namespace, starts pasta attached to its network and user namespaces and
 * waits until pasta is ready (its tap eth0 exists; the child addresses it).
 * st is saved again with pasta's pid once pasta runs. */
int sandbox_pasta_attach(const char *dir, pid_t pid, bool allow_host, struct sandbox_state *st, pyro_error *err);
/* Kills the pasta of a state file (pid and start time; a reused pid is
 * left alone) and reaps it when it is this process's child. */
void sandbox_pasta_stop(pid_t pid, int64_t start_time);
/* net_userguard.c: writes dir/guard.nft and loads it into the network
 * namespace netns_fd of the user namespace userns_fd, from a helper that
 * joins both (the sandbox's root holds no CAP_NET_ADMIN to undo it). */
int sandbox_userguard_install(const char *dir, int userns_fd, int netns_fd, bool allow_host, pyro_error *err);

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
    int cg_tasks_fd[SANDBOX_CGROUP_MAX];
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
/* Child helpers in child_fs.c and child_net.c: 0 or -1 with errno set and
 * *what pointing at a static description of the failed step. */
int sandbox_child_rootfs(const struct sandbox_plan *plan, const char **what);
/* The host paths of the device nodes bound into /dev (SANDBOX_PATH_DEV). */
extern const char *const sandbox_dev_nodes[SANDBOX_DEV_NODES];
int sandbox_child_net(const struct sandbox_plan *plan, const char **what);

/* Docker's default capabilities as a bit mask. */
uint64_t sandbox_caps_keep(void);

#endif
