/* The vm backend: a QEMU microvm with its own kernel (Debian's cloud
 * kernel), pyro's initramfs (the agent as /init and the virtio modules),
 * the environment's read-only ext4 image as /dev/vda and a writable ext4
 * disk as /dev/vdb, which the agent mounts as an overlay (agent/init_vm.c).
 * KVM where the caller chose it, else TCG (software emulation, -cpu max).
 *
 * QEMU runs as the monitor's child under its own seccomp sandbox
 * (-sandbox on,...), with no defaults, no display, no NIC unless the
 * network is on (then user-mode networking, inside QEMU's own network
 * namespace behind the egress guard), in its own cgroup (jail.c), and
 * dies with the monitor
 * (PR_SET_PDEATHSIG). The agent channel is the monitor's socket end
 * (cfg->channel_fd), handed to QEMU as fd 3 and used as the chardev of a
 * virtio-serial port named "pyro.agent"; the serial console is QEMU's
 * stdout, cfg->stdio_fd.
 *
 * Layout of cfg->dir (owned by the backend):
 *   vm.json    what start() created (QEMU's pid and start time, the disk,
 *              its cgroup's parent, network), written before QEMU starts so
 *              destroy() works after a crash
 *   resolv.conf  with network: the host's resolvers, QEMU's view of them
 *   disk.ext4  the writable disk, unless cfg->upper_dir names a
 *              caller-owned directory: then <upper_dir>/disk.ext4, kept
 *              across stop and start and never removed by destroy */
#ifndef PYRO_BACKEND_VM_H
#define PYRO_BACKEND_VM_H

#include "backend/backend.h"

/* The backend's ops table (ops.c); only backend_get() names it. */
extern const struct backend_ops vm_backend_ops;

#define VM_QEMU_BINARY "qemu-system-x86_64"
#define VM_DISK_NAME BACKEND_DISK_NAME
#define VM_PORT_NAME "pyro.agent"
#define VM_PORT_ID "agentport" /* its device id, named in QEMU's events */

int vm_start(const struct backend_config *cfg, struct backend_instance *out, pyro_error *err);
/* Kills a QEMU that still runs for dir (by its recorded pid and start
 * time), removes the instance's own disk and state files, and dir when
 * empty. Idempotent; needs only dir and id. */
int vm_destroy(const char *dir, const char *id, pyro_error *err);

/* QEMU's argument vector for cfg (NULL-terminated, malloc'ed strings):
 * exposed for tests. QEMU's fds: 3 the agent channel, 4 QMP
 * (VM_ARGV_QMP), 5 a template's state to restore (VM_ARGV_INCOMING), and
 * the files it reads or writes, opened by the monitor (QEMU, as root an
 * unprivileged id, could not open them by path): 6 the kernel and 7 the
 * initramfs (read through /proc/self/fd), 8 the root image (read-only),
 * 9 the writable disk read-write and 10 read-only (QEMU opens it both
 * ways), in fd sets 8 and 9 (-add-fd; a -drive of file=/dev/fdset/N). */
#define VM_ARGV_QMP (1u << 0)
#define VM_ARGV_INCOMING (1u << 1)
#define VM_QMP_FD 4
#define VM_QMP_FD_STR "4"
#define VM_STATE_FD 5
#define VM_STATE_FD_STR "5"
#define VM_KERNEL_FD 6
#define VM_KERNEL_FD_STR "6"
#define VM_INITRD_FD 7
#define VM_INITRD_FD_STR "7"
#define VM_ROOT_FD 8
#define VM_ROOT_FD_STR "8"
#define VM_DISK_FD 9
#define VM_DISK_FD_STR "9"
#define VM_DISK_RO_FD 10
#define VM_DISK_RO_FD_STR "10"
char **vm_qemu_argv(const struct backend_config *cfg, const char *qemu, unsigned flags);
/* The host's TSC frequency in kHz ("cpu MHz" of /proc/cpuinfo), 0 when
 * unknown: a TCG guest's TSC runs at it. */
long vm_host_tsc_khz(void);

#endif
