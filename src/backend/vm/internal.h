/* The vm backend's files: argv.c (QEMU's command line), state.c (vm.json),
 * confine.c (QEMU's namespaces and capabilities), start.c (the disk and
 * QEMU), destroy.c (kill, release, destroy). */
#ifndef PYRO_BACKEND_VM_INTERNAL_H
#define PYRO_BACKEND_VM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/vm/vm.h"

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

#endif
