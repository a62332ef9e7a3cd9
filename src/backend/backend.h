/* The isolation backends behind one ops table.
 *
 * A backend turns a prepared environment (a read-only root tree, or for the
 * VM a disk image) into a running isolated machine whose PID 1 is the
 * pyro-agent, connected to the host through one channel fd. The monitor
 * (one host process per sandbox) owns the instance; `reap` and `destroy`
 * can clean up from the on-disk state alone after the monitor died. */
#ifndef PYRO_BACKEND_H
#define PYRO_BACKEND_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/idmap.h"

/* What to start. Strings are borrowed for the duration of start(). */
struct backend_config {
    const char *id;     /* [a-z0-9_-]{1,64}; the hostname inside */
    const char *rootfs; /* read-only lower root tree (absolute) */
    const char *dir;    /* per-instance directory owned by the backend (absolute) */
    /* The overlay's writable layer when it must outlive the instance (a
     * workspace across stop and start): owned by the caller, created when
     * missing, on the file system of dir, never removed by destroy. NULL:
     * dir/upper, removed by destroy. */
    const char *upper_dir;
    const char *init_path;  /* host path of the static init, run as PID 1 */
    char *const *init_argv; /* argv of init; NULL means { "/.pyro/agent", NULL } */
    char *const *init_envp; /* NULL means a minimal PATH/HOME/TERM environment */
    int channel_fd;         /* becomes fd 3 of init */
    /* stdout and stderr of init: the write end of a pipe (or a socket) the
     * caller reads, never a file (start() refuses one: init could
     * truncate, seek, chmod it or make it setuid); -1 means /dev/null. The
     * monitor drains it into console.log. */
    int stdio_fd;
    int vcpu_count; /* CPU quota in whole CPUs (>= 1) */
    int mem_mib;    /* memory limit, swap off (>= 16) */
    int pids_max;   /* task limit (>= 8) */
    /* The writable layer's quota: a sparse ext4 image of disk_mib MiB
     * (BACKEND_DISK_NAME in upper_dir, else in dir), made when missing. The
     * vm backend attaches it as its writable disk (0: BACKEND_VM_DISK_MIB);
     * the sandbox backend loop-mounts it as the overlay's upper layer as
     * root, and as an ordinary user (no loop mounts) uses a plain
     * directory and reports BACKEND_LIMIT_DISK. 0 for a sandbox: no image
     * (a plain directory, no quota). */
    int disk_mib;
    bool network; /* false: only lo; true: egress (veth + NAT as root, pasta as a user) */
    /* With network: also the host's own addresses and link-local ones, which
     * the egress guard refuses otherwise (an explicit opt-in). */
    bool network_allow_host;
    /* With network: the egress allow-list (names and IPv4 CIDRs,
     * backend/dnsfilter.h), NULL-terminated; NULL: no allow-list. Needs
     * root (the sandbox backend refuses it as a user). */
    char *const *network_allow_hosts;
    /* The host id range the instance's ids map to (base/idmap.h): every
     * sandbox runs in a user namespace of its own, as root or as a user. */
    const struct idmap *idmap;
    const char *cgroup_parent; /* cgroup path below each hierarchy's root; NULL means "pyro" */
    /* Memory limit of that parent cgroup, shared by every instance in it:
     * the host-wide cap on their sum (MiB; 0 leaves the parent's alone). */
    int64_t cgroup_parent_mem_mib;
    /* ---- the vm backend only (the sandbox backend ignores them) ---- */
    const char *vm_kernel;     /* the guest kernel (bzImage) */
    const char *vm_initrd;     /* pyro's initramfs: the agent as /init, the virtio modules */
    const char *vm_root_image; /* the environment's read-only ext4 root image */
    const char *vm_accel;      /* QEMU's -accel: "kvm" or "tcg" (NULL: "tcg") */
    const char *vm_qemu;       /* the QEMU binary (NULL: qemu-system-x86_64 on $PATH) */
    /* Memory templates of this environment (backend/vm/template.c): a VM
     * with a new writable disk starts from one matching its settings, or
     * boots and saves one. NULL: always boot. */
    const char *vm_template_dir;
};

/* The default size of a VM's writable disk (a sparse ext4 image). */
#define BACKEND_VM_DISK_MIB 8192
/* The writable disk image's file name (in upper_dir or dir). */
#define BACKEND_DISK_NAME "disk.ext4"

#define BACKEND_ADDR_MAX 16 /* "255.255.255.255" */

/* Limits of backend_config that the host could not enforce (a user
 * without cgroup delegation): the result says so (limits_unenforced), and
 * why, with the fix (limits_unenforced_reason). */
#define BACKEND_LIMITS_REASON_MAX 1400
enum {
    BACKEND_LIMIT_CPU = 1 << 0,
    BACKEND_LIMIT_MEMORY = 1 << 1,
    BACKEND_LIMIT_PIDS = 1 << 2, /* per-uid RLIMIT_NPROC stands in */
    BACKEND_LIMIT_DISK = 1 << 3, /* disk_mib: no loop mount as a user */
};

/* What start() filled in. pidfd is owned by the caller (backend_release). */
struct backend_instance {
    pid_t pid;          /* host pid of PID 1 */
    int pidfd;          /* pidfd of PID 1, poll()able, O_CLOEXEC */
    int cgroup_version; /* 1 or 2 */
    bool network;
    char host_ifname[IF_NAMESIZE];                 /* host end of the veth ("" without network, or with pasta) */
    char host_addr[BACKEND_ADDR_MAX];              /* the guest's gateway: the veth's host end, or pasta's 10.0.2.2 */
    char guest_addr[BACKEND_ADDR_MAX];             /* eth0 inside */
    int prefix_len;                                /* of both addresses (30; 24 with pasta) */
    unsigned limits_unenforced;                    /* BACKEND_LIMIT_* bits */
    char limits_reason[BACKEND_LIMITS_REASON_MAX]; /* why, and the fix; "" when all are held */
    int userns_fd;                                 /* the instance's user namespace, or -1 (closed by release) */
    char accelerator[8];                           /* vm backend: "kvm" or "tcg"; "" for a sandbox */
    /* vm backend: "template" (restored from a memory template) or "cold"
     * (booted), and why a cold boot; "" for a sandbox. */
    char boot[12];
    char boot_reason[200];
};

struct backend_ops {
    const char *name; /* "sandbox", "vm": the execution_mode of results */
    int (*start)(const struct backend_config *cfg, struct backend_instance *out, pyro_error *err);
    /* Sends sig to PID 1 (SIGKILL ends the whole instance). */
    int (*kill)(const struct backend_instance *inst, int sig, pyro_error *err);
    /* Closes the caller's handles; does not stop the instance. */
    void (*release)(struct backend_instance *inst);
    /* Stops whatever runs and removes every trace of instance id under dir:
     * processes, cgroups, network links and rules, mounts, directories.
     * Idempotent, and works from the on-disk state alone. */
    int (*destroy)(const char *dir, const char *id, pyro_error *err);
    /* destroy for the process that started the instance, before release:
     * may use what inst still holds. Optional (NULL: destroy). */
    int (*destroy_instance)(struct backend_instance *inst, const char *dir, const char *id, pyro_error *err);
};

/* instance.c: the kill and release of both backends' ops tables. */
int backend_instance_kill(const struct backend_instance *inst, int sig, pyro_error *err);
void backend_instance_release(struct backend_instance *inst);
/* destroy's last step: unlinks dir/files[i] (missing ones are fine), then
 * dir itself unless something else is left in it. */
int backend_dir_remove(const char *dir, const char *const *files, size_t n, pyro_error *err);

/* diskimg.c: makes a sparse ext4 image of size_mib at path (mkfs.ext4,
 * no reserved blocks, under a temporary name so that a half-made image is
 * never used). */
int backend_disk_make(const char *path, int size_mib, pyro_error *err);
/* 0 once no loop device is backed by path, else -PYRO_E_BUSY. An instance
 * that just ended may still hold one: its last unmount writes the image's
 * dirty pages back, tens of MiB on a busy host, so this waits up to
 * BACKEND_DISK_FREE_WAIT_MS. */
#define BACKEND_DISK_FREE_WAIT_MS 30000
int backend_disk_wait_free(const char *path, pyro_error *err);

/* The backend called name ("sandbox" or "vm"). An unknown name
 * is -PYRO_E_INVALID with a message that lists the known ones. A new backend
 * is one more entry in backend.c's table. */
int backend_get(const char *name, const struct backend_ops **out, pyro_error *err);

#endif
