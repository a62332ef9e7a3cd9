/* env_vm_ensure: the VM backend's artifacts of an environment (env_vm.h),
 * built when missing, under the environment's lock. */
#include "lib/env/env_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/lock.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/timeutil.h"
#include "lib/contract/ctx.h"
#include "lib/env/env.h"

#define VM_TMP_PREFIX ".vm-tmp-"

static const json_t *artifact(const json_t *m, const char *name)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(m, "artifacts"), i, a)
        if (!strcmp(json_get_str(a, "name", ""), name))
            return a;
    return NULL;
}

/* Removes temporary directories of VM builds that were killed. */
static void clean_stale(int instfd)
{
    _cleanup_closedir_ DIR *d = fdopendir(openat(instfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (struct dirent *de; d && (de = readdir(d));)
        if (!strncmp(de->d_name, VM_TMP_PREFIX, strlen(VM_TMP_PREFIX))) {
            pyro_error e = {0};
            if (rm_rf_at(instfd, de->d_name, &e) < 0)
                log_debug("%s", e.message);
        }
}

/* Moves tmp/<file> to vm/<file> and describes it for the manifest. */
static int install_one(int instfd, const char *tmpname, const char *file, const char *name, const char *kind,
                       json_t *entries, json_t **entry_out, pyro_error *err)
{
    _cleanup_free_ char *from = xasprintf("%s/%s", tmpname, file);
    _cleanup_free_ char *to = xasprintf(VM_DIR "/%s", file);
    if (renameat(instfd, from, instfd, to) < 0)
        return err_errno(err, errno, "install %s", to);
    json_t *entry = NULL;
    int r = env_artifact_describe(instfd, name, kind, to, &entry, err);
    if (r < 0)
        return r;
    json_array_append_new(entries, entry);
    if (entry_out)
        *entry_out = entry;
    return 0;
}

static int build(struct pyro_ctx *ctx, const struct env_install *inst, const json_t *m, const char *agent_path,
                 const char *agent_sha, json_t *entries, pyro_error *err)
{
    _cleanup_close_ int instfd = open(inst->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (instfd < 0)
        return err_errno(err, errno, "open %s", inst->path);
    clean_stale(instfd);
    if (mkdirat(instfd, VM_DIR, 0755) < 0 && errno != EEXIST)
        return err_errno(err, errno, "create %s/%s", inst->path, VM_DIR);
    bool base = !artifact(m, "vm-kernel") || !artifact(m, "vm-modules") || !artifact(m, "vm-rootfs-image");
    const json_t *ird = artifact(m, "vm-initramfs");
    bool initrd = base || !ird || strcmp(json_get_str(ird, "agent_sha256", ""), agent_sha);
    if (!initrd)
        return 0;
    _cleanup_free_ char *tmpdir = xasprintf("%s/" VM_TMP_PREFIX "XXXXXX", inst->path);
    if (!mkdtemp(tmpdir))
        return err_errno(err, errno, "create a build directory in %s", inst->path);
    const char *tmpname = strrchr(tmpdir, '/') + 1;
    _cleanup_close_ int tmpfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_close_ int vmfd = openat(instfd, VM_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = tmpfd < 0 || vmfd < 0 ? err_errno(err, errno, "open %s", tmpdir) : 0;
    _cleanup_free_ char *package = NULL;
    int64_t t0 = time_mono_ms();
    if (r == 0 && base) {
        ctx_progress(ctx, "vm", "kernel", -1, -1, inst->name);
        r = env_vm_fetch_kernel(tmpdir, tmpfd, &package, err);
        if (r == 0) {
            ctx_progress(ctx, "vm", "image", -1, -1, inst->name);
            _cleanup_free_ char *img = xasprintf("%s/%s", tmpdir, VM_IMAGE_FILE);
            r = env_vm_write_image(inst->rootfs, img, err);
        }
    }
    if (r == 0) {
        ctx_progress(ctx, "vm", "initramfs", -1, -1, inst->name);
        r = env_vm_write_initrd(tmpfd, agent_path, base ? tmpfd : vmfd, err);
    }
    json_t *entry = NULL;
    if (r == 0 && base) {
        r = install_one(instfd, tmpname, VM_KERNEL_FILE, "vm-kernel", "kernel", entries, &entry, err);
        if (r == 0) {
            json_set(entry, "package", json_string(package));
            r = install_one(instfd, tmpname, VM_MODULES_FILE, "vm-modules", "initramfs-modules", entries, NULL, err);
        }
        if (r == 0)
            r = install_one(instfd, tmpname, VM_IMAGE_FILE, "vm-rootfs-image", "disk-image", entries, NULL, err);
    }
    if (r == 0 &&
        (r = install_one(instfd, tmpname, VM_INITRD_FILE, "vm-initramfs", "initramfs", entries, &entry, err)) == 0)
        json_set(entry, "agent_sha256", json_string(agent_sha));
    pyro_error e2 = {0};
    if (rm_rf_at(instfd, tmpname, &e2) < 0)
        log_debug("%s", e2.message);
    if (r == 0)
        log_debug("environment %s: VM artifacts built in %lld ms", inst->name, (long long)(time_mono_ms() - t0));
    return r < 0 ? err_prefix(err, "VM artifacts of %s", inst->name) : 0;
}

int env_vm_ensure(struct pyro_ctx *ctx, const char *name, const char *agent_path, struct env_vm *out, pyro_error *err)
{
    memset(out, 0, sizeof(*out));
    struct env_install inst;
    int r = env_ensure(ctx, name, &inst, err);
    if (r < 0)
        return r;
    const struct env_recipe *rec;
    if ((r = env_lookup(name, &rec, err)) < 0)
        return r;
    char agent_sha[65];
    if ((r = env_file_sha256(AT_FDCWD, agent_path, agent_sha, NULL, err)) < 0)
        return err_prefix(err, "pyro-agent");
    _cleanup_free_ char *dir = env_dir_path(ctx, rec);
    _cleanup_close_ int lock = dirlock(dir, PYRO_LOCK_EXCLUSIVE, -1, err);
    if (lock < 0)
        return lock;
    json_auto_t *m = NULL;
    if ((r = env_install_verify(inst.path, rec, ENV_VERIFY_PRESENT, &m, err)) < 0)
        return err_prefix(err, "environment %s (pull it again)", name);
    json_auto_t *entries = json_array();
    if ((r = build(ctx, &inst, m, agent_path, agent_sha, entries, err)) < 0)
        return r;
    snprintf(out->templates, sizeof(out->templates), "%s/" VM_DIR "/" VM_TEMPLATES_DIR, inst.path);
    if (json_array_size(entries)) {
        /* Templates of the old artifacts never match again. */
        pyro_error e2 = {0};
        if (rm_rf(out->templates, &e2) < 0)
            log_debug("%s", e2.message);
        if ((r = env_manifest_put_artifacts(inst.path, rec, entries, err)) < 0)
            return r;
        out->built = true;
    }
    snprintf(out->kernel, sizeof(out->kernel), "%s/" VM_DIR "/" VM_KERNEL_FILE, inst.path);
    snprintf(out->initrd, sizeof(out->initrd), "%s/" VM_DIR "/" VM_INITRD_FILE, inst.path);
    snprintf(out->root_image, sizeof(out->root_image), "%s/" VM_DIR "/" VM_IMAGE_FILE, inst.path);
    return 0;
}
