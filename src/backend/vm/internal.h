/* The vm backend's files: argv.c (QEMU's command line), state.c (vm.json),
 * confine.c (QEMU's namespaces and capabilities), qmp.c (QEMU's monitor),
 * template.c (memory templates), start.c (the disk and QEMU: cold boot or
 * restore), destroy.c (kill, release, destroy). */
#ifndef PYRO_BACKEND_VM_INTERNAL_H
#define PYRO_BACKEND_VM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "backend/vm/vm.h"
#include "base/sha256.h"

/* dir/vm.json: what destroy() needs beyond dir and id. */
struct vm_state {
    char *id;
    pid_t qemu_pid;     /* 0 before QEMU runs */
    int64_t qemu_start; /* its start time (base/proc.h), against pid reuse */
    char *disk;         /* the writable disk's path */
    bool disk_owned;    /* in dir: destroy removes it */
};

int vm_state_save(const char *dir, const struct vm_state *st, pyro_error *err);
/* -ENOENT when there is none. */
int vm_state_load(const char *dir, struct vm_state *st, pyro_error *err);
void vm_state_free(struct vm_state *st);

/* clone3 into new PID, mount, IPC, UTS (and without network, net)
 * namespaces; *pidfd gets the child's pidfd. Returns like fork(). */
pid_t vm_confined_fork(bool network, int *pidfd);
/* In that child: private mounts, its own /proc, no capabilities,
 * no_new_privs. -errno on failure. */
int vm_confine_child(void);

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
