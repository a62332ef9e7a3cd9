/* Memory templates: a VM's saved state right after its guest booted, from
 * which later VMs of the same settings start instead of booting.
 *
 * cfg->vm_template_dir holds one directory per key (vm_template_key: QEMU,
 * the artifacts and every setting that shapes the machine):
 *   <key>/state          QEMU's migration stream, saved with the guest
 *                        stopped just after its agent opened its port
 *   <key>/disk.ext4      the writable disk at that instant (sparse)
 *   <key>/template.json  what the key was made of, and when
 * A template is made in .tmp-<id>/ and renamed into place, so a half-made
 * one is never used; at most VM_TEMPLATE_MAX are kept (the least recently
 * used goes first). A VM restored from one gets a copy of the disk and
 * its own identity from the monitor's hello (agent/identity.c: hostname,
 * clock, fresh entropy). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "backend/vm/internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/record.h"
#include "base/sha256.h"
#include "base/timeutil.h"

#define TEMPLATE_META "template.json"
#define TEMPLATE_STATE "state"
/* A stale .tmp- directory (its maker died) is removed after this. */
#define TEMPLATE_TMP_STALE_S 600
#define TEMPLATE_MIGRATE_MS 180000

static void key_file(struct sha256 *h, const char *what, const char *path)
{
    struct stat st = {0};
    if (path)
        stat(path, &st);
    char line[4352];
    int n = snprintf(line, sizeof(line), "%s=%s %llu:%llu:%lld:%lld.%09ld\n", what, path ? path : "",
                     (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (long long)st.st_size,
                     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    sha256_update(h, line, (size_t)n);
}

void vm_template_key(const struct backend_config *cfg, const char *qemu, char key[SHA256_HEX_LEN])
{
    struct sha256 h;
    sha256_init(&h);
    char line[64];
    int n = snprintf(line, sizeof(line), "pyro-vm-template 2\ndisk=%d\n",
                     cfg->disk_mib > 0 ? cfg->disk_mib : BACKEND_VM_DISK_MIB);
    sha256_update(&h, line, (size_t)n);
    /* QEMU's whole command line but the instance's name and disk: every
     * setting (accelerator, vCPUs, memory, devices, network, the guest's
     * command line with the TSC frequency) and every option pyro adds. */
    _cleanup_strv_ char **argv = vm_qemu_argv(cfg, qemu, VM_ARGV_QMP);
    for (size_t i = 0; argv[i]; i++) {
        bool name = i > 0 && !strcmp(argv[i - 1], "-name");
        sha256_update(&h, name ? "NAME" : argv[i], name ? 4 : strlen(argv[i]) + 1);
    }
    key_file(&h, "qemu", qemu);
    key_file(&h, "kernel", cfg->vm_kernel);
    key_file(&h, "initrd", cfg->vm_initrd);
    key_file(&h, "image", cfg->vm_root_image);
    sha256_final_hex(&h, key);
}

/* Copies src to a new file dst (mode 0600): a reflink where the file
 * system has them, else the data extents only (the disks are sparse). */
static int copy_sparse(const char *src, const char *dst, pyro_error *err)
{
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return err_errno(err, errno, "open %s", src);
    struct stat st;
    if (fstat(in, &st) < 0)
        return err_errno(err, errno, "stat %s", src);
    _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return err_errno(err, errno, "create %s", dst);
    if (ioctl(out, FICLONE, in) == 0)
        return 0;
    if (ftruncate(out, st.st_size) < 0)
        return err_errno(err, errno, "size %s", dst);
    for (off_t pos = 0; pos < st.st_size;) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break; /* only a hole is left */
        if (data < 0)
            return err_errno(err, errno, "seek %s", src);
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            return err_errno(err, errno, "seek %s", src);
        for (off_t o = data; o < hole;) {
            loff_t si = o, di = o;
            ssize_t n = copy_file_range(in, &si, out, &di, (size_t)(hole - o), 0);
            if (n <= 0)
                return err_errno(err, n < 0 ? errno : EIO, "copy %s", src);
            o += n;
        }
        pos = hole;
    }
    return 0;
}

int vm_template_take(const struct backend_config *cfg, const char *key, const char *disk, int *state_fd,
                     pyro_error *err)
{
    _cleanup_free_ char *dir = xasprintf("%s/%s", cfg->vm_template_dir, key);
    _cleanup_free_ char *meta = xasprintf("%s/" TEMPLATE_META, dir);
    if (access(meta, F_OK) < 0)
        return -ENOENT;
    _cleanup_free_ char *state = xasprintf("%s/" TEMPLATE_STATE, dir);
    _cleanup_free_ char *tdisk = xasprintf("%s/" VM_DISK_NAME, dir);
    _cleanup_close_ int fd = open(state, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open the template %s", state);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", disk);
    unlink(tmp);
    int r = copy_sparse(tdisk, tmp, err);
    if (r == 0 && rename(tmp, disk) < 0)
        r = err_errno(err, errno, "install %s", disk);
    if (r < 0) {
        unlink(tmp);
        return err_prefix(err, "the template's disk");
    }
    /* Most recently used: the last to be evicted. */
    utimensat(AT_FDCWD, dir, NULL, 0);
    *state_fd = TAKE_FD(fd);
    return 0;
}

void vm_template_drop(const struct backend_config *cfg, const char *key)
{
    _cleanup_free_ char *dir = xasprintf("%s/%s", cfg->vm_template_dir, key);
    _cleanup_free_ char *gone = xasprintf("%s/.gone-%s-%d", cfg->vm_template_dir, key, (int)getpid());
    pyro_error e = {0};
    /* Renamed first: a starter never copies from a half-removed one. */
    if (rename(dir, gone) == 0)
        (void)rm_rf(gone, &e);
}

void vm_template_evict(const char *tdir)
{
    for (;;) {
        _cleanup_closedir_ DIR *d = opendir(tdir);
        if (!d)
            return;
        int count = 0;
        char oldest[NAME_MAX + 1] = "";
        struct timespec omt = {0};
        for (struct dirent *de; (de = readdir(d));) {
            struct stat st;
            if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
                !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            pyro_error e = {0};
            if (de->d_name[0] == '.') {
                if (time_wall_ms() / 1000 - st.st_mtim.tv_sec > TEMPLATE_TMP_STALE_S)
                    (void)rm_rf_at(dirfd(d), de->d_name, &e);
                continue;
            }
            count++;
            if (!oldest[0] || st.st_mtim.tv_sec < omt.tv_sec ||
                (st.st_mtim.tv_sec == omt.tv_sec && st.st_mtim.tv_nsec < omt.tv_nsec)) {
                snprintf(oldest, sizeof(oldest), "%s", de->d_name);
                omt = st.st_mtim;
            }
        }
        if (count < VM_TEMPLATE_MAX || !oldest[0])
            return;
        log_debug("vm templates: evicting %s", oldest);
        struct backend_config c = {.vm_template_dir = tdir};
        vm_template_drop(&c, oldest);
    }
}

/* QEMU's state into fd: migration with the guest stopped (nothing to
 * iterate), at full speed. */
static int template_migrate(struct vm_qmp *q, int fd, pyro_error *err)
{
    json_auto_t *params = json_pack("{s:I}", "max-bandwidth", (json_int_t)1 << 40);
    json_auto_t *getfd = json_pack("{s:s}", "fdname", "pyro-template");
    json_auto_t *mig = json_pack("{s:s}", "uri", "fd:pyro-template");
    int r;
    if ((r = vm_qmp_cmd(q, "migrate-set-parameters", params, -1, VM_QMP_TIMEOUT_MS, NULL, err)) < 0 ||
        (r = vm_qmp_cmd(q, "getfd", getfd, fd, VM_QMP_TIMEOUT_MS, NULL, err)) < 0 ||
        (r = vm_qmp_cmd(q, "migrate", mig, -1, VM_QMP_TIMEOUT_MS, NULL, err)) < 0)
        return r;
    int64_t deadline = time_mono_ms() + TEMPLATE_MIGRATE_MS;
    for (;;) {
        json_auto_t *st = NULL;
        if ((r = vm_qmp_cmd(q, "query-migrate", NULL, -1, VM_QMP_TIMEOUT_MS, &st, err)) < 0)
            return r;
        const char *s = json_get_str(st, "status", "");
        if (!strcmp(s, "completed"))
            return 0;
        if (!strcmp(s, "failed") || !strcmp(s, "cancelled"))
            return err_set(err, -PYRO_E_STATE, "QEMU's migration %s: %.200s", s, json_get_str(st, "error-desc", ""));
        if (time_mono_ms() > deadline)
            return err_set(err, -PYRO_E_TIMEOUT, "saving the VM's state took more than %d ms", TEMPLATE_MIGRATE_MS);
        usleep(10000);
    }
}

int vm_template_save(const struct backend_config *cfg, const char *key, struct vm_qmp *q, const char *disk,
                     bool *running, pyro_error *err)
{
    *running = true;
    if (mkdir_p(cfg->vm_template_dir, 0700, err) < 0)
        return err->code;
    vm_template_evict(cfg->vm_template_dir);
    _cleanup_free_ char *tmp = xasprintf("%s/.tmp-%s", cfg->vm_template_dir, cfg->id);
    pyro_error e = {0};
    (void)rm_rf(tmp, &e);
    if (mkdir(tmp, 0700) < 0)
        return err_errno(err, errno, "mkdir %s", tmp);
    int64_t t0 = time_mono_ms();
    _cleanup_free_ char *state = xasprintf("%s/" TEMPLATE_STATE, tmp);
    _cleanup_close_ int fd = open(state, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int r = fd < 0 ? err_errno(err, errno, "create %s", state) : 0;
    bool stopped = false;
    if (r == 0 && (r = vm_qmp_cmd(q, "stop", NULL, -1, VM_QMP_TIMEOUT_MS, NULL, err)) == 0)
        stopped = true;
    if (r == 0)
        r = template_migrate(q, fd, err);
    if (r == 0 && fsync(fd) < 0)
        r = err_errno(err, errno, "fsync %s", state);
    _cleanup_free_ char *tdisk = xasprintf("%s/" VM_DISK_NAME, tmp);
    if (r == 0)
        r = copy_sparse(disk, tdisk, err);
    if (r == 0) {
        char now[PYRO_TIME_ISO_LEN];
        time_iso(now, time_wall_ms());
        json_auto_t *meta = json_pack("{s:i, s:s, s:s, s:i, s:i, s:s, s:b}", "schema_version", 1, "key", key,
                                      "created_at", now, "vcpu_count", cfg->vcpu_count, "mem_mib", cfg->mem_mib,
                                      "accelerator", cfg->vm_accel ? cfg->vm_accel : "tcg", "network", cfg->network);
        _cleanup_free_ char *mp = xasprintf("%s/" TEMPLATE_META, tmp);
        r = record_save(mp, meta, err);
    }
    _cleanup_free_ char *dst = xasprintf("%s/%s", cfg->vm_template_dir, key);
    if (r == 0 && rename(tmp, dst) < 0 && errno != EEXIST && errno != ENOTEMPTY)
        r = err_errno(err, errno, "install the template %s", dst);
    (void)rm_rf(tmp, &e); /* gone after the rename, or another starter's won */
    /* The guest goes on either way (its disks were made inactive for the
     * migration: cont takes them back). */
    pyro_error e2 = {0};
    if (stopped && vm_qmp_cmd(q, "cont", NULL, -1, VM_QMP_TIMEOUT_MS, NULL, &e2) < 0) {
        *running = false;
        if (r == 0)
            r = err_set(err, e2.code, "%s", e2.message);
    }
    log_debug("vm %s: template %.12s saved in %lld ms (%s)", cfg->id, key, (long long)(time_mono_ms() - t0),
              r < 0 ? err->message : "ok");
    return r;
}
