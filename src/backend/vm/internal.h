/* The vm backend's files: argv.c (QEMU's command line), state.c (vm.json),
 * confine.c (QEMU's namespaces and capabilities), jail.c (QEMU's cgroup
 * and network namespace, from the host's side), qmp.c (QEMU's monitor),
 * template.c (memory templates), start.c (the disk and QEMU: cold boot or
 * restore), destroy.c (kill, release, destroy). */
#ifndef PYRO_BACKEND_VM_INTERNAL_H
#define PYRO_BACKEND_VM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "backend/cgroups.h"
#include "backend/netguard.h"
#include "backend/usernet.h"
#include "backend/vm/vm.h"
#include "base/idmap.h"
#include "base/sha256.h"

/* TCG's translated-code buffer, in MiB (-accel tcg,tb-size=): QEMU's
 * default (1 GiB, touched as the guest runs new code) would make QEMU's own
 * memory grow far past the guest's, and its cgroup's limit (below) must
 * hold it. When full, QEMU drops its translations and starts again. */
#define VM_TCG_TB_MIB 128
#define VM_TCG_TB_MIB_STR "128"

/* dir/vm.json: what destroy() needs beyond dir and id. */
struct vm_state {
    char *id;
    pid_t qemu_pid;      /* 0 before QEMU runs */
    int64_t qemu_start;  /* its start time (base/proc.h), against pid reuse */
    char *disk;          /* the writable disk's path */
    bool disk_owned;     /* in dir: destroy removes it */
    char *cgroup_parent; /* QEMU's cgroup is <parent>/<id> in each hierarchy */
    bool network;        /* a veth and guard rules named after id exist */
    char *cgroup;        /* an ordinary user's QEMU: its cgroup in the
                          * subtree delegated to the user, or NULL */
    bool rootless;       /* an ordinary user's QEMU: no veth; */
    pid_t pasta_pid;     /* with network, its pasta (backend/usernet.h), */
    int64_t pasta_start; /* 0 when none, and pasta's start time */
};

int vm_state_save(const char *dir, const struct vm_state *st, pyro_error *err);
/* -ENOENT when there is none. */
int vm_state_load(const char *dir, struct vm_state *st, pyro_error *err);
void vm_state_free(struct vm_state *st);

/* QEMU's own memory above the guest's, which its cgroup's limit adds to
 * mem_mib: under TCG the translation buffer (VM_TCG_TB_MIB) and about
 * 100 MiB of QEMU itself (measured: 89-123 MiB above a full guest RAM with
 * the buffer capped); under KVM the same slack. docs/vm.md. */
#define VM_QEMU_OVERHEAD_MIB 256
/* QEMU's tasks besides one thread per vCPU: the main loop, RCU, and the
 * block layer's worker pool (at most 64 threads); the pids limit is this
 * plus vcpu_count. */
#define VM_QEMU_TASKS 128

/* As root QEMU runs as the id this far past the base of the root id pool
 * (base/idmap.h): the first one after the pool, which no sandbox maps
 * (1879113728 by default). It owns nothing: QEMU's files are fds. */
#define VM_QEMU_ID_OFFSET IDMAP_COUNT

/* jail.c: QEMU's cgroup and network namespace from the host's side. As
 * an ordinary user (cfg->idmap->rootless) QEMU also gets a user namespace
 * of its own in which it is the user alone (base/idmap.h,
 * idmap_write_self), a cgroup only in a cgroup v2 subtree delegated to
 * the user (cgroups_plan_caller; else the result lists the limits not
 * held: limits_unenforced, with why) and egress through pasta
 * (backend/usernet.h). */
struct vm_jail {
    struct cgroups cg;
    struct cgroups_user cgu; /* as a user: its delegated cgroup, or why none */
    uid_t qemu_uid;          /* as root: the uid and gid QEMU runs as */
    gid_t qemu_gid;
    bool kvm; /* as root under KVM: QEMU keeps /dev/kvm's group */
    gid_t kvm_gid;
    bool rootless;
    bool network;
    bool allow_host;     /* as a user: the guard lets the host's addresses through */
    struct netguard net; /* with network: the veth, the /30, the rules */
    char *resolv;        /* with network: bound over QEMU's /etc/resolv.conf */
    int go[2];           /* the child waits on go[0] for "g" from attach */
};

/* "pyro" unless cfg names another parent. */
const char *vm_cgroup_parent(const struct backend_config *cfg);
/* The limits of QEMU's cgroup for cfg (above). */
struct cgroups_limits vm_jail_limits(const struct backend_config *cfg);
void vm_jail_init(struct vm_jail *j);
/* Before the clone: the cgroup with its limits (a user's recorded in st
 * and cfg->dir/vm.json first), and with network resolv.conf and the guard
 * and NAT rules (the host-wide network lock held until attach). Undone by
 * vm_jail_remove (from vm.json). */
int vm_jail_prepare(const struct backend_config *cfg, struct vm_state *st, struct vm_jail *j, pyro_error *err);
/* After the clone, while the child waits: pid into the cgroup, the veth's
 * inner end into its network namespace (as a user: its id maps, then
 * pasta, whose pid goes into st and dir/vm.json), then "go". Fills
 * out->cgroup_version, out->host_ifname and out->limits_unenforced. */
int vm_jail_attach(struct vm_jail *j, const char *dir, struct vm_state *st, pid_t pid, struct backend_instance *out,
                   pyro_error *err);
void vm_jail_release(struct vm_jail *j);
/* Kills what is left in the cgroup of st (<cgroup_parent>/<id>) and
 * removes it, the veth of id and (network) its rules; a user's pasta.
 * Missing pieces are fine. */
int vm_jail_remove(const struct vm_state *st, pyro_error *err);

/* clone3 into new PID, mount, IPC, UTS and network namespaces (QEMU's
 * user-mode network, when on, runs in that namespace, behind the veth of
 * jail.c), and with userns a user namespace that owns them; *pidfd gets
 * the child's pidfd. Returns like fork(). */
pid_t vm_confined_fork(bool userns, int *pidfd);
/* In that child: waits for the parent's "go" (it is in its cgroup then,
 * with eth0 in its namespace), sets up the network namespace, binds
 * j->resolv over /etc/resolv.conf, private mounts, its own /proc, no
 * capabilities, no_new_privs. -errno on failure (the parent gone: -EPIPE). */
int vm_confine_child(const struct vm_jail *j);

/* qmp.c: QEMU's monitor on a socketpair (fd is the monitor's end). Every
 * call waits at most timeout_ms and fails when QEMU exits (pidfd). */
#define VM_QMP_TIMEOUT_MS 30000
struct vm_qmp {
    int fd, pidfd;
    bool port_open; /* the guest opened the agent's port (VSERPORT_CHANGE) */
    size_t len;
    char buf[65536];
};
int vm_qmp_open(struct vm_qmp *q, int fd, int pidfd, int timeout_ms, pyro_error *err);
/* Runs cmd with args (may be NULL), passing pass_fd (>= 0) along; *ret
 * (optional) gets the "return" value. */
int vm_qmp_cmd(struct vm_qmp *q, const char *cmd, json_t *args, int pass_fd, int timeout_ms, json_t **ret,
               pyro_error *err);
int vm_qmp_wait_port(struct vm_qmp *q, int timeout_ms, pyro_error *err);

/* template.c: memory templates in cfg->vm_template_dir. */
#define VM_TEMPLATE_MAX 4
/* Saving reads every page of guest memory (~5 s a GiB on a busy nested
 * host): larger VMs always boot. */
#define VM_TEMPLATE_MAX_MEM_MIB 4096
/* The template key for cfg (hex sha256). */
void vm_template_key(const struct backend_config *cfg, const char *qemu, char key[SHA256_HEX_LEN]);
/* Copies the template's disk to disk and opens its state (*state_fd);
 * -ENOENT (err untouched) when there is no template for key. */
int vm_template_take(const struct backend_config *cfg, const char *key, const char *disk, int *state_fd,
                     pyro_error *err);
/* Makes room for one more in tdir: removes temporary directories older
 * than 10 minutes (their maker died) and the least recently used
 * templates until fewer than VM_TEMPLATE_MAX are left. */
void vm_template_evict(const char *tdir);
/* Removes the template key (one that failed to restore). */
void vm_template_drop(const struct backend_config *cfg, const char *key);
/* Saves the running VM behind q (its writable disk at disk) as the
 * template key: stops it, migrates its state to a file, copies the disk,
 * installs the template, lets the guest go on. *running is false when the
 * guest could not be resumed (the VM is then unusable). */
int vm_template_save(const struct backend_config *cfg, const char *key, struct vm_qmp *q, const char *disk,
                     bool *running, pyro_error *err);

#endif
