/* The VM backend's artifacts of an installed environment, below its
 * install directory and listed in its manifest (docs/environments.md):
 *
 *   vm/vmlinuz         "vm-kernel" (kind kernel): the kernel image of
 *                      Debian's cloud kernel package
 *   vm/modules.cpio    "vm-modules" (kind initramfs-modules): the virtio,
 *                      overlay and network modules of that kernel, and
 *                      /pyro/modules, their load order
 *   vm/initramfs.cpio  "vm-initramfs" (kind initramfs): the static
 *                      pyro-agent as /init, then vm/modules.cpio
 *                      (concatenated archives); "agent_sha256" names the
 *                      agent, and a different agent rebuilds it
 *   vm/rootfs.ext4     "vm-rootfs-image" (kind disk-image): rootfs/ as a
 *                      read-only ext4 image (mkfs.ext4 -d)
 *
 * Built on first VM use (env_vm_ensure) or by `pyro env pull ENV --vm`,
 * in a temporary directory of the install, moved into vm/ file by file,
 * then recorded in the manifest, all under the environment's lock. They
 * are verified like the rootfs (size always, sha256 by pull and inspect). */
#ifndef PYRO_ENV_VM_H
#define PYRO_ENV_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

struct pyro_ctx;

#define VM_KERNEL_PACKAGE "linux-image-cloud-amd64"
#define VM_DIR "vm"
#define VM_KERNEL_FILE "vmlinuz"
#define VM_MODULES_FILE "modules.cpio"
#define VM_INITRD_FILE "initramfs.cpio"
#define VM_IMAGE_FILE "rootfs.ext4"
/* Memory templates (backend/vm/template.c): made by VMs, not listed in the
 * manifest; removed when the artifacts are rebuilt. */
#define VM_TEMPLATES_DIR "templates"

struct env_vm {
    char kernel[4096];
    char initrd[4096];
    char root_image[4096];
    char templates[4096];
    bool built; /* something was built by this call */
};

/* Makes sure environment name is installed with valid VM artifacts for
 * the agent at agent_path, building what is missing, and fills out. */
int env_vm_ensure(struct pyro_ctx *ctx, const char *name, const char *agent_path, struct env_vm *out, pyro_error *err);

/* env_vm_kernel.c: downloads the kernel package into tmpdir and writes
 * VM_KERNEL_FILE and VM_MODULES_FILE into tmpfd; *package is the package
 * file's name without .deb. */
int env_vm_fetch_kernel(const char *tmpdir, int tmpfd, char **package, pyro_error *err);

/* env_vm_image.c: the initramfs for the agent (its content, then the
 * modules archive), and the root image of the tree rootfs. */
int env_vm_write_initrd(int tmpfd, const char *agent_path, int modules_dirfd, pyro_error *err);
int env_vm_write_image(const char *rootfs, const char *image, pyro_error *err);

/* env_vm_shift.c: runs argv (argv[0] a path) as root of a user namespace
 * that maps 0..ENV_VM_SHIFT_SPAN-1 onto uid.. and gid.. of the host, with
 * the descriptors keep[] inherited, and waits for it (timeout_ms). For mkfs.ext4 -d of a tree the sandbox
 * backend shifted into an id range: the image then holds the unshifted
 * ids. Needs CAP_SETUID/CAP_SETGID over the range (root). */
#define ENV_VM_SHIFT_SPAN 65536u
int env_vm_run_shifted(char *const argv[], const int *keep, size_t nkeep, uid_t uid, gid_t gid, int timeout_ms,
                       pyro_error *err);

#endif
