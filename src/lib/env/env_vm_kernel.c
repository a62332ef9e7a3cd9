/* The VM's kernel and modules, taken from Debian's cloud kernel package
 * file: `apt-get download` of linux-image-cloud-amd64 and of the image
 * package it depends on, `dpkg-deb -x` into a temporary directory (never
 * installed anywhere), then the kernel image is copied out and the modules
 * the initramfs needs are packed into a cpio archive. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/record.h"
#include "base/spawn_capture.h"
#include "lib/env/env_cpio.h"
#include "lib/env/env_vm.h"

#define APT_TIMEOUT_MS (10 * 60 * 1000)
#define DEB_TIMEOUT_MS (5 * 60 * 1000)
#define KERNEL_MAX (64u * 1024 * 1024)

/* The modules the initramfs loads, in load order (each after what it
 * depends on), relative to lib/modules/<release>/kernel. A module the
 * kernel has built in (modules.builtin) is skipped. */
static const char *const vm_modules[] = {
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_mmio.ko",
    "drivers/char/virtio_console.ko",
    "drivers/block/virtio_blk.ko",
    "drivers/char/hw_random/virtio-rng.ko",
    "fs/overlayfs/overlay.ko",
    "net/core/failover.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/virtio_net.ko",
    NULL,
};

/* Runs a command line in dir (through sh: apt-get download writes into its
 * working directory). */
static int run_in(const char *dir, const char *cmd, int timeout_ms, char **out, pyro_error *err)
{
    _cleanup_free_ char *script = xasprintf("cd \"$1\" && %s", cmd);
    char *const argv[] = {"/bin/sh", "-c", script, "sh", (char *)dir, NULL};
    return proc_run(argv, timeout_ms, out, err);
}

/* The .deb file apt-get left in dir for package pkg. */
static char *find_deb(const char *dir, const char *pkg)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    size_t pl = strlen(pkg);
    for (struct dirent *de; d && (de = readdir(d));) {
        size_t n = strlen(de->d_name);
        if (n > pl + 4 && !strncmp(de->d_name, pkg, pl) && de->d_name[pl] == '_' && !strcmp(de->d_name + n - 4, ".deb"))
            return xasprintf("%s/%s", dir, de->d_name);
    }
    return NULL;
}

static int download(const char *dir, const char *pkg, char **deb, pyro_error *err)
{
    _cleanup_free_ char *cmd = xasprintf("exec apt-get -q -o APT::Sandbox::User=root download %s 2>&1", pkg);
    int r = run_in(dir, cmd, APT_TIMEOUT_MS, NULL, err);
    if (r < 0)
        return err_prefix(err,
                          "download the kernel package %s (the host's apt sources must reach a Debian mirror; "
                          "apt-get update may help)",
                          pkg);
    *deb = find_deb(dir, pkg);
    if (!*deb)
        return err_set(err, -PYRO_E_STATE, "apt-get download %s left no package file", pkg);
    return 0;
}

/* "linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)" -> the first name. */
static int image_package(const char *deb, char **out, pyro_error *err)
{
    _cleanup_free_ char *deps = NULL;
    _cleanup_free_ char *prog = NULL;
    int r = proc_find_program("dpkg-deb", &prog, err);
    if (r < 0)
        return err_set(err, r, "dpkg-deb not found: install dpkg (scripts/deps.sh)");
    char *const av[] = {prog, "-f", (char *)deb, "Depends", NULL};
    if ((r = proc_run(av, DEB_TIMEOUT_MS, &deps, err)) < 0)
        return r;
    size_t n = strspn(deps, "abcdefghijklmnopqrstuvwxyz0123456789.+-");
    if (n == 0 || strncmp(deps, "linux-image-", 12))
        return err_set(err, -PYRO_E_STATE, "%s depends on no kernel image package", VM_KERNEL_PACKAGE);
    *out = xstrndup(deps, n);
    return 0;
}

/* The one lib/modules/<release> directory of the extracted package. */
static char *module_dir(const char *root)
{
    _cleanup_free_ char *base = xasprintf("%s/lib/modules", root);
    _cleanup_closedir_ DIR *d = opendir(base);
    for (struct dirent *de; d && (de = readdir(d));)
        if (de->d_name[0] != '.')
            return xasprintf("%s/%s", base, de->d_name);
    return NULL;
}

static bool builtin(const char *builtin_list, const char *rel)
{
    _cleanup_free_ char *want = xasprintf("kernel/%s\n", rel);
    return builtin_list && strstr(builtin_list, want);
}

/* modules.cpio: /lib/modules/<name>.ko and /pyro/modules (the load order). */
static int write_modules(const char *moddir, int tmpfd, pyro_error *err)
{
    _cleanup_close_ int mfd = open(moddir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mfd < 0)
        return err_errno(err, errno, "open %s", moddir);
    _cleanup_free_ char *blist = NULL;
    size_t blen = 0;
    pyro_error ign = {0};
    (void)read_file_at(mfd, "modules.builtin", 1u << 20, &blist, &blen, &ign);
    _cleanup_close_ int fd = openat(tmpfd, VM_MODULES_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_errno(err, errno, "create %s", VM_MODULES_FILE);
    struct env_cpio c;
    env_cpio_init(&c, fd);
    int r;
    if ((r = env_cpio_add(&c, "lib", S_IFDIR | 0755, 0, NULL, 0, err)) < 0 ||
        (r = env_cpio_add(&c, "lib/modules", S_IFDIR | 0755, 0, NULL, 0, err)) < 0 ||
        (r = env_cpio_add(&c, "pyro", S_IFDIR | 0755, 0, NULL, 0, err)) < 0)
        return r;
    char order[1024] = "";
    size_t ol = 0;
    for (size_t i = 0; vm_modules[i]; i++) {
        if (builtin(blist, vm_modules[i]))
            continue;
        const char *base = strrchr(vm_modules[i], '/') + 1;
        _cleanup_free_ char *src = xasprintf("kernel/%s", vm_modules[i]);
        _cleanup_free_ char *dst = xasprintf("lib/modules/%s", base);
        if ((r = env_cpio_add_file(&c, dst, 0644, mfd, src, err)) < 0)
            return err_prefix(err, "module %s of the kernel package", base);
        ol += (size_t)snprintf(order + ol, sizeof(order) - ol, "%s\n", base);
    }
    if ((r = env_cpio_add(&c, "pyro/modules", S_IFREG | 0644, 0, order, ol, err)) < 0 ||
        (r = env_cpio_finish(&c, err)) < 0)
        return r;
    if (fsync(fd) < 0)
        return err_errno(err, errno, "fsync %s", VM_MODULES_FILE);
    return 0;
}

static int copy_kernel(const char *root, int tmpfd, pyro_error *err)
{
    _cleanup_free_ char *boot = xasprintf("%s/boot", root);
    _cleanup_closedir_ DIR *d = opendir(boot);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (strncmp(de->d_name, "vmlinuz-", 8))
            continue;
        _cleanup_close_ int bfd = open(boot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = read_file_at(bfd, de->d_name, KERNEL_MAX, &data, &len, err);
        if (r < 0)
            return r;
        return write_atomic_at(tmpfd, VM_KERNEL_FILE, data, len, 0644, err);
    }
    return err_set(err, -PYRO_E_STATE, "the kernel package holds no boot/vmlinuz-*");
}

int env_vm_fetch_kernel(const char *tmpdir, int tmpfd, char **package, pyro_error *err)
{
    _cleanup_free_ char *meta = NULL, *pkg = NULL, *deb = NULL;
    int r = download(tmpdir, VM_KERNEL_PACKAGE, &meta, err);
    if (r == 0)
        r = image_package(meta, &pkg, err);
    if (r == 0)
        r = download(tmpdir, pkg, &deb, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *root = xasprintf("%s/kernel-pkg", tmpdir);
    _cleanup_free_ char *prog = NULL;
    if ((r = proc_find_program("dpkg-deb", &prog, err)) < 0)
        return r;
    char *const argv[] = {prog, "-x", deb, root, NULL};
    if ((r = proc_run(argv, DEB_TIMEOUT_MS, NULL, err)) < 0)
        return err_prefix(err, "unpack %s", deb);
    _cleanup_free_ char *moddir = module_dir(root);
    if (!moddir)
        return err_set(err, -PYRO_E_STATE, "the kernel package %s holds no lib/modules", pkg);
    if ((r = copy_kernel(root, tmpfd, err)) < 0 || (r = write_modules(moddir, tmpfd, err)) < 0)
        return r;
    const char *base = strrchr(deb, '/') + 1;
    *package = xstrndup(base, strlen(base) - 4);
    log_debug("VM kernel from %s", base);
    return 0;
}
