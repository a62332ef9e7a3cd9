/* vm_start: the writable disk, then QEMU as the monitor's child. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/vm/internal.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/json.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/proc.h"
#include "base/spawn_capture.h"
#include "base/timeutil.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

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
    /* As a user, egress is pasta's (jail.c): checked before anything exists. */
    if (cfg->idmap && cfg->idmap->rootless && cfg->network)
        return usernet_check(cfg->network_allow_hosts != NULL, err);
    return 0;
}

/* The files QEMU reads and writes, opened by the monitor (vm.h: fds 6-10). */
struct vm_files {
    int fd[5]; /* kernel, initramfs, root image, writable disk rw and ro */
};

static void files_close(struct vm_files *f)
{
    for (size_t i = 0; i < ARRAY_SIZE(f->fd); i++)
        if (f->fd[i] >= 0)
            close(f->fd[i]);
}

static int files_open(const struct backend_config *cfg, const char *disk, struct vm_files *f, pyro_error *err)
{
    const char *path[] = {cfg->vm_kernel, cfg->vm_initrd, cfg->vm_root_image, disk, disk};
    for (size_t i = 0; i < ARRAY_SIZE(f->fd); i++) {
        f->fd[i] = open(path[i], (i == 3 ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (f->fd[i] < 0)
            return err_errno(err, errno, "open %s for QEMU", path[i]);
    }
    return 0;
}

/* In the child: confined (confine.c), fd 3 the channel, 1 and 2 the
 * console, 0 /dev/null, 4 QMP and 5 a template's state when given, 6-10
 * its files; the rest closed; dies with the monitor. */
static void child_exec(const struct backend_config *cfg, char **argv, const struct vm_jail *jail, int qmp_fd,
                       int state_fd, const struct vm_files *files)
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
    int chan = fcntl(cfg->channel_fd, F_DUPFD_CLOEXEC, 16);
    int con = fcntl(out, F_DUPFD_CLOEXEC, 16);
    int qmp = qmp_fd >= 0 ? fcntl(qmp_fd, F_DUPFD_CLOEXEC, 16) : -1;
    int state = state_fd >= 0 ? fcntl(state_fd, F_DUPFD_CLOEXEC, 16) : -1;
    int file[ARRAY_SIZE(files->fd)];
    for (size_t i = 0; i < ARRAY_SIZE(file); i++)
        if ((file[i] = fcntl(files->fd[i], F_DUPFD_CLOEXEC, 16)) < 0)
            _exit(127);
    if (null < 0 || chan < 0 || con < 0 || dup2(null, 0) < 0 || dup2(con, 1) < 0 || dup2(con, 2) < 0 ||
        dup2(chan, 3) < 0 || (qmp_fd >= 0 && (qmp < 0 || dup2(qmp, VM_QMP_FD) < 0)) ||
        (state_fd >= 0 && (state < 0 || dup2(state, VM_STATE_FD) < 0)))
        _exit(127);
    for (size_t i = 0; i < ARRAY_SIZE(file); i++)
        if (dup2(file[i], VM_KERNEL_FD + (int)i) < 0)
            _exit(127);
    close_range(VM_DISK_RO_FD + 1, ~0U, 0);
    if (state_fd < 0)
        close(VM_STATE_FD);
    if (qmp_fd < 0)
        close(VM_QMP_FD);
    execv(argv[0], argv);
    dprintf(2, "pyro: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* How this start boots (template.c). */
enum boot_mode {
    BOOT_COLD,    /* boot, no template involved */
    BOOT_SAVE,    /* boot, then save this VM as the template */
    BOOT_RESTORE, /* restore the template's state */
};

/* Starts QEMU confined; with a QMP connection (*q) unless mode is
 * BOOT_COLD. out gets its pid and pidfd, vm.json records it. */
static int launch(const struct backend_config *cfg, const char *qemu, struct vm_state *st, enum boot_mode mode,
                  int state_fd, struct backend_instance *out, struct vm_qmp *q, int *qmp_out, pyro_error *err)
{
    int sv[2] = {-1, -1};
    if (mode != BOOT_COLD && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return err_errno(err, errno, "socketpair");
    _cleanup_close_ int qmp_child = sv[1];
    *qmp_out = sv[0];
    unsigned flags = (mode != BOOT_COLD ? VM_ARGV_QMP : 0) | (mode == BOOT_RESTORE ? VM_ARGV_INCOMING : 0);
    _cleanup_strv_ char **argv = vm_qemu_argv(cfg, qemu, flags);
    __attribute__((cleanup(files_close))) struct vm_files files = {{-1, -1, -1, -1, -1}};
    int r = files_open(cfg, st->disk, &files, err);
    if (r < 0)
        return r;
    __attribute__((cleanup(vm_jail_release))) struct vm_jail jail; /* jail.c: QEMU's cgroup and network */
    vm_jail_init(&jail);
    r = vm_jail_prepare(cfg, st, &jail, err);
    if (r < 0)
        return r;
    int pidfd = -1;
    pid_t pid = vm_confined_fork(st->rootless, &pidfd);
    if (pid < 0)
        return err_errno(err, errno, "clone3 (QEMU's namespaces)");
    if (pid == 0)
        child_exec(cfg, argv, &jail, qmp_child, mode == BOOT_RESTORE ? state_fd : -1, &files);
    st->qemu_pid = pid;
    st->qemu_start = proc_start_time(pid);
    if ((r = vm_state_save(cfg->dir, st, err)) < 0 || (r = vm_jail_attach(&jail, cfg->dir, st, pid, out, err)) < 0) {
        kill(pid, SIGKILL);
        close(pidfd);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) /* out of its cgroup, for destroy */
            ;
        return r;
    }
    out->pid = pid;
    out->pidfd = pidfd;
    if (mode != BOOT_COLD)
        r = vm_qmp_open(q, sv[0], pidfd, VM_QMP_TIMEOUT_MS, err);
    return r;
}

/* Ends a QEMU this start launched (a failed restore or start), and its
 * cgroup and network (a relaunch makes them again). */
static void unlaunch(const struct backend_config *cfg, struct vm_state *st, struct backend_instance *out, int *qmp_fd)
{
    if (out->pid > 0) {
        kill(out->pid, SIGKILL);
        while (waitpid(out->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    pyro_error e = {0};
    if (vm_jail_remove(st, &e) < 0)
        log_debug("vm %s: %s", cfg->id, e.message);
    st->pasta_pid = 0;
    st->pasta_start = 0;
    if (out->pidfd >= 0)
        close(out->pidfd);
    if (*qmp_fd >= 0)
        close(*qmp_fd);
    *qmp_fd = -1;
    out->pid = -1;
    out->pidfd = -1;
}

/* Waits until a restored guest runs. */
static int wait_restored(struct vm_qmp *q, pyro_error *err)
{
    int64_t deadline = time_mono_ms() + VM_QMP_TIMEOUT_MS;
    for (;;) {
        json_auto_t *st = NULL;
        int r = vm_qmp_cmd(q, "query-status", NULL, -1, VM_QMP_TIMEOUT_MS, &st, err);
        if (r < 0)
            return r;
        const char *s = json_get_str(st, "status", "");
        if (!strcmp(s, "running"))
            return 0;
        /* The template was saved stopped, so it arrives paused. */
        if (!strcmp(s, "paused"))
            return vm_qmp_cmd(q, "cont", NULL, -1, VM_QMP_TIMEOUT_MS, NULL, err);
        if (strcmp(s, "inmigrate") != 0 && strcmp(s, "prelaunch") != 0)
            return err_set(err, -PYRO_E_STATE, "the restored VM is %.40s, not running", s);
        if (time_mono_ms() > deadline)
            return err_set(err, -PYRO_E_TIMEOUT, "restoring the template took more than %d ms", VM_QMP_TIMEOUT_MS);
        usleep(5000);
    }
}

/* Chooses how to boot: from a template when the disk is new and one
 * matches (the disk is then the template's copy), else a cold boot on a
 * new or the kept disk. */
static enum boot_mode choose_boot(const struct backend_config *cfg, const char *qemu, const char *disk,
                                  char key[SHA256_HEX_LEN], int *state_fd, struct backend_instance *out)
{
    if (access(disk, F_OK) == 0) {
        snprintf(out->boot_reason, sizeof(out->boot_reason),
                 "the disk holds the instance's files: a template's disk would replace them");
        return BOOT_COLD;
    }
    if (!cfg->vm_template_dir) {
        snprintf(out->boot_reason, sizeof(out->boot_reason), "memory templates are off");
        return BOOT_COLD;
    }
    if (cfg->mem_mib > VM_TEMPLATE_MAX_MEM_MIB) {
        snprintf(out->boot_reason, sizeof(out->boot_reason),
                 "no templates above %d MiB of memory (saving one reads all of it)", VM_TEMPLATE_MAX_MEM_MIB);
        return BOOT_COLD;
    }
    vm_template_key(cfg, qemu, key);
    pyro_error e = {0};
    int r = vm_template_take(cfg, key, disk, state_fd, &e);
    if (r == 0)
        return BOOT_RESTORE;
    if (r == -ENOENT) {
        snprintf(out->boot_reason, sizeof(out->boot_reason), "no template for these settings yet: this boot saves one");
        return BOOT_SAVE;
    }
    snprintf(out->boot_reason, sizeof(out->boot_reason), "the template was unusable (%s): removed", e.message);
    vm_template_drop(cfg, key);
    return BOOT_COLD;
}

static int boot(const struct backend_config *cfg, const char *qemu, struct vm_state *st, struct backend_instance *out,
                pyro_error *err)
{
    char key[SHA256_HEX_LEN] = "";
    _cleanup_close_ int state_fd = -1;
    enum boot_mode mode = choose_boot(cfg, qemu, st->disk, key, &state_fd, out);
    int r;
    struct vm_qmp *q = xmalloc(sizeof(*q));
    _cleanup_close_ int qmp_fd = -1;
    if (mode == BOOT_RESTORE) {
        int64_t t0 = time_mono_ms();
        r = launch(cfg, qemu, st, mode, state_fd, out, q, &qmp_fd, err);
        if (r == 0)
            r = wait_restored(q, err);
        if (r == 0) {
            snprintf(out->boot, sizeof(out->boot), "template");
            snprintf(out->boot_reason, sizeof(out->boot_reason), "restored the memory template %.12s", key);
            log_debug("vm %s: restored template %.12s in %lld ms", cfg->id, key, (long long)(time_mono_ms() - t0));
            free(q);
            return 0;
        }
        /* A template that does not restore is removed, and this VM boots. */
        snprintf(out->boot_reason, sizeof(out->boot_reason), "restoring the template failed (%.150s): booted",
                 err->message);
        *err = (pyro_error){0};
        unlaunch(cfg, st, out, &qmp_fd);
        vm_template_drop(cfg, key);
        unlink(st->disk);
        mode = BOOT_COLD;
    }
    snprintf(out->boot, sizeof(out->boot), "cold");
    if (access(st->disk, F_OK) < 0 &&
        (r = backend_disk_make(st->disk, cfg->disk_mib > 0 ? cfg->disk_mib : BACKEND_VM_DISK_MIB, err)) < 0)
        goto out;
    r = launch(cfg, qemu, st, mode, -1, out, q, &qmp_fd, err);
    if (r == 0 && mode == BOOT_SAVE) {
        /* Saved once the guest's agent opened its port: booted, nothing of
         * this instance's own in it yet (its identity comes with the
         * hello, after this). */
        bool running = true;
        pyro_error e = {0};
        r = vm_qmp_wait_port(q, VM_QMP_TIMEOUT_MS, err);
        if (r == 0 && vm_template_save(cfg, key, q, st->disk, &running, &e) < 0) {
            snprintf(out->boot_reason, sizeof(out->boot_reason),
                     "no template for these settings yet; saving one failed (%.120s)", e.message);
            if (!running)
                r = err_set(err, e.code, "%s", e.message);
        }
    }
out:
    free(q);
    if (r < 0)
        unlaunch(cfg, st, out, &qmp_fd);
    return r;
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
                          .network = cfg->network,
                          .rootless = cfg->idmap && cfg->idmap->rootless};
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
    if ((r = boot(cfg, qemu, &st, out, err)) < 0)
        return r;
    out->network = cfg->network;
    snprintf(out->accelerator, sizeof(out->accelerator), "%s",
             cfg->vm_accel && !strcmp(cfg->vm_accel, "kvm") ? "kvm" : "tcg");
    if (cfg->network) {
        snprintf(out->host_addr, sizeof(out->host_addr), "10.0.2.2");
        snprintf(out->guest_addr, sizeof(out->guest_addr), "10.0.2.15");
        out->prefix_len = 24;
    }
    log_debug("vm %s: QEMU pid %d (%s, %s boot)", cfg->id, (int)out->pid, out->accelerator, out->boot);
    return 0;
}
