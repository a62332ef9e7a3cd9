/* vm_start: the writable disk, then QEMU as the monitor's child. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/vm/internal.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/proc.h"
#include "base/spawn_capture.h"

#define VM_MKFS_TIMEOUT_MS 60000

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* A sparse ext4 image of size_mib, made by mkfs.ext4 (lazy inode tables:
 * the guest initialises them in the background). Made under a temporary
 * name, so a half-made disk is never used. */
static int make_disk(const char *path, int size_mib, pyro_error *err)
{
    _cleanup_free_ char *mkfs = NULL;
    int r = proc_find_program("mkfs.ext4", &mkfs, err);
    if (r < 0)
        return err_set(err, r, "mkfs.ext4 not found: install e2fsprogs (scripts/deps.sh)");
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
    unlink(tmp);
    _cleanup_free_ char *size = xasprintf("%dM", size_mib);
    char *const argv[] = {mkfs,      "-q",   "-F",
                          "-t",      "ext4", "-L",
                          "pyro-rw", "-E",   "lazy_itable_init=1,lazy_journal_init=1,discard",
                          tmp,       size,   NULL};
    r = proc_run(argv, VM_MKFS_TIMEOUT_MS, NULL, err);
    if (r < 0) {
        unlink(tmp);
        return err_prefix(err, "create the VM's writable disk");
    }
    if (chmod(tmp, 0600) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return err_errno(err, e, "install %s", path);
    }
    return 0;
}

static int check_file(const char *what, const char *path, pyro_error *err)
{
    struct stat st;
    if (!path || path[0] != '/')
        return err_set(err, -PYRO_E_INVALID, "the vm backend needs the %s as an absolute path", what);
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return err_set(err, -PYRO_E_CORRUPT, "the VM's %s %s is missing (%s): pull the environment again", what, path,
                       strerror(errno ? errno : EINVAL));
    return 0;
}

static int check_config(const struct backend_config *cfg, pyro_error *err)
{
    if (!cfg->id || !id_valid(cfg->id) || !cfg->dir || cfg->dir[0] != '/')
        return err_set(err, -PYRO_E_INVALID, "vm start needs an absolute dir and a valid id");
    int r;
    if ((r = check_file("kernel", cfg->vm_kernel, err)) < 0 || (r = check_file("initramfs", cfg->vm_initrd, err)) < 0 ||
        (r = check_file("root image", cfg->vm_root_image, err)) < 0)
        return r;
    if (cfg->channel_fd < 0)
        return err_set(err, -PYRO_E_INVALID, "vm start needs a channel fd");
    if (cfg->mem_mib < 64)
        return err_set(err, -PYRO_E_INVALID, "a VM needs at least 64 MiB of memory");
    /* QEMU's namespaces are made without a user namespace of their own, and
     * the root image of a tree shifted into a user's range is not made yet:
     * the vm backend runs as root only (its guest's ids never reach the
     * host: the range of cfg->idmap is the sandbox backend's). */
    if (cfg->idmap && cfg->idmap->rootless)
        return err_set(err, -PYRO_E_UNSUPPORTED,
                       "the vm backend needs root for now (QEMU is confined in namespaces only root can make); "
                       "use the sandbox backend as an ordinary user");
    return 0;
}

/* In the child: confined (confine.c), fd 3 the channel, 1 and 2 the
 * console, 0 /dev/null; the rest closed; dies with the monitor. */
static void child_exec(const struct backend_config *cfg, char **argv, const struct vm_jail *jail)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int r = vm_confine_child(jail);
    if (r < 0) {
        dprintf(cfg->stdio_fd >= 0 ? cfg->stdio_fd : 2, "pyro: confine QEMU: %s\n", strerror(-r));
        _exit(126);
    }
    proc_signals_default();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int out = cfg->stdio_fd >= 0 ? cfg->stdio_fd : null;
    /* Above every target first, so no dup2 below overwrites a source. */
    int chan = fcntl(cfg->channel_fd, F_DUPFD_CLOEXEC, 10);
    int con = fcntl(out, F_DUPFD_CLOEXEC, 10);
    if (null < 0 || chan < 0 || con < 0 || dup2(null, 0) < 0 || dup2(con, 1) < 0 || dup2(con, 2) < 0 ||
        dup2(chan, 3) < 0)
        _exit(127);
    close_range(4, ~0U, 0);
    execv(argv[0], argv);
    dprintf(2, "pyro: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int vm_start(const struct backend_config *cfg, struct backend_instance *out, pyro_error *err)
{
    *out = (struct backend_instance){.pid = -1, .pidfd = -1, .userns_fd = -1};
    int r = check_config(cfg, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *qemu = NULL;
    r = proc_find_program(cfg->vm_qemu ? cfg->vm_qemu : VM_QEMU_BINARY, &qemu, err);
    if (r < 0)
        return err_set(err, -PYRO_E_UNSUPPORTED, "%s not found: install qemu-system-x86 (scripts/deps.sh)",
                       cfg->vm_qemu ? cfg->vm_qemu : VM_QEMU_BINARY);
    if ((r = mkdir_p(cfg->dir, 0700, err)) < 0)
        return r;
    struct vm_state st = {.id = (char *)cfg->id,
                          .cgroup_parent = (char *)vm_cgroup_parent(cfg),
                          .network = cfg->network};
    _cleanup_free_ char *disk = NULL;
    if (cfg->upper_dir) {
        if ((r = mkdir_p(cfg->upper_dir, 0700, err)) < 0)
            return r;
        disk = xasprintf("%s/%s", cfg->upper_dir, VM_DISK_NAME);
    } else {
        disk = xasprintf("%s/%s", cfg->dir, VM_DISK_NAME);
        st.disk_owned = true;
    }
    st.disk = disk;
    /* Recorded before anything else exists, so destroy finds it all. */
    if ((r = vm_state_save(cfg->dir, &st, err)) < 0)
        return r;
    if (access(disk, F_OK) < 0 &&
        (r = make_disk(disk, cfg->vm_disk_mib > 0 ? cfg->vm_disk_mib : BACKEND_VM_DISK_MIB, err)) < 0)
        return r;
    _cleanup_strv_ char **argv = vm_qemu_argv(cfg, qemu, disk);
    __attribute__((cleanup(vm_jail_release))) struct vm_jail jail; /* jail.c: QEMU's cgroup and network */
    vm_jail_init(&jail);
    if ((r = vm_jail_prepare(cfg, &jail, err)) < 0)
        return r;
    int pidfd = -1;
    pid_t pid = vm_confined_fork(&pidfd);
    if (pid < 0)
        return err_errno(err, errno, "clone3 (QEMU's namespaces)");
    if (pid == 0)
        child_exec(cfg, argv, &jail);
    st.qemu_pid = pid;
    st.qemu_start = proc_start_time(pid);
    if ((r = vm_state_save(cfg->dir, &st, err)) < 0 || (r = vm_jail_attach(&jail, pid, out, err)) < 0) {
        kill(pid, SIGKILL);
        close(pidfd);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) /* out of its cgroup, for destroy */
            ;
        return r;
    }
    out->pid = pid;
    out->pidfd = pidfd;
    out->network = cfg->network;
    snprintf(out->accelerator, sizeof(out->accelerator), "%s",
             cfg->vm_accel && !strcmp(cfg->vm_accel, "kvm") ? "kvm" : "tcg");
    if (cfg->network) {
        snprintf(out->host_addr, sizeof(out->host_addr), "10.0.2.2");
        snprintf(out->guest_addr, sizeof(out->guest_addr), "10.0.2.15");
        out->prefix_len = 24;
    }
    log_debug("vm %s: QEMU pid %d (%s)", cfg->id, (int)pid, out->accelerator);
    return 0;
}
