/* Pulling an environment: under the environment's lock, reuse a valid
 * install or build a new one into a temporary directory next to it and
 * rename it into place. A pull killed at any moment leaves either the old
 * state or the new install; its temporary directory is removed by the next
 * pull (or prune) that holds the lock. */
#include "lib/env/env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/idmap.h"
#include "base/json.h"
#include "base/lock.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/record.h"
#include "base/timeutil.h"
#include "lib/contract/ctx.h"
#include "lib/env/oci.h"

#define ENV_TMP_PREFIX ".tmp-"
#define ENV_FAILED_LOG "build-failed.log"
#define DPKG_STATUS_MAX (32u * 1024 * 1024)

static void progress(struct pyro_ctx *ctx, const char *phase, const struct env_recipe *r)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "environment=%s", r->name);
    ctx_progress(ctx, "pull", phase, -1, -1, msg);
}

static json_t *string_list(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Writes the manifest of the build in tmpfd (its rootfs is complete). */
static int write_manifest(const struct env_recipe *r, const struct env_sources *src, int tmpfd, int64_t build_ms,
                          json_t **out, pyro_error *err)
{
    _cleanup_free_ char *status = NULL;
    size_t slen = 0;
    int rc = read_file_at(tmpfd, ENV_ROOTFS_NAME "/var/lib/dpkg/status", DPKG_STATUS_MAX, &status, &slen, err);
    if (rc < 0)
        return err_prefix(err, "read the package database");
    json_auto_t *pkgs = NULL;
    if ((rc = env_dpkg_packages(status, slen, &pkgs, err)) < 0)
        return rc;
    const char *arch = "";
    size_t i;
    json_t *p;
    json_array_foreach(pkgs, i, p)
        if (!strcmp(json_get_str(p, "name", ""), "dpkg"))
            arch = json_get_str(p, "architecture", "");
    json_t *art = NULL;
    if ((rc = env_artifact_describe(tmpfd, ENV_ROOTFS_NAME, "rootfs-tree", ENV_ROOTFS_NAME, &art, err)) < 0)
        return rc;
    json_t *sources = json_array();
    for (int k = 0; k < src->count; k++)
        json_array_append_new(sources, json_string(src->lines[k]));
    char when[PYRO_TIME_ISO_LEN];
    time_iso(when, time_wall_ms());
    json_auto_t *m =
        json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:I, s:I, s:I, s:I, s:O, s:[o]}",
                  "schema_version", ENV_MANIFEST_SCHEMA, "name", r->name, "recipe_version", r->version,
                  "catalog_version", PYRO_VERSION, "pyro_version", PYRO_VERSION, "suite", r->suite, "variant",
                  r->variant, "architecture", arch, "requested_packages", string_list(r->packages), "mirror",
                  src->primary, "sources", sources, "built_at", when, "build_ms", (json_int_t)build_ms,
                  "source_date_epoch", (json_int_t)1700000000, "package_count", (json_int_t)json_array_size(pkgs),
                  "size_bytes", (json_int_t)json_get_int(art, "size", 0), "packages", pkgs, "artifacts", art);
    if ((rc = env_manifest_write(tmpfd, m, err)) < 0)
        return rc;
    *out = json_incref(m);
    return 0;
}

/* Builds into a fresh temporary directory and moves it into place. */
static int build_and_install(struct pyro_ctx *ctx, const struct env_recipe *r, const struct env_sources *src,
                             const char *dir, int dirfd, bool replace, struct env_pull_result *res, pyro_error *err)
{
    _cleanup_free_ char *tmpdir = xasprintf("%s/" ENV_TMP_PREFIX "%s-XXXXXX", dir, r->version);
    if (!mkdtemp(tmpdir))
        return err_errno(err, errno, "create a build directory in %s", dir);
    chmod(tmpdir, 0755);
    const char *tmpname = strrchr(tmpdir, '/') + 1;
    _cleanup_close_ int tmpfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = tmpfd < 0 ? err_errno(err, errno, "open %s", tmpdir) : 0;

    progress(ctx, "build", r);
    int64_t t0 = time_mono_ms();
    if (rc == 0)
        rc = env_build_rootfs(ctx, r, src, tmpfd, tmpdir, err);
    if (rc < 0) {
        /* Keep the log for the user, drop the partial tree. */
        if (tmpfd >= 0 && renameat(tmpfd, "build.log", dirfd, ENV_FAILED_LOG) == 0) {
            size_t len = strlen(err->message);
            snprintf(err->message + len, sizeof(err->message) - len, " (log: %s/%s)", dir, ENV_FAILED_LOG);
        }
        pyro_error e2 = {0};
        env_unmount_below(tmpdir);
        if (idmap_rm_rf_at(dirfd, tmpname, &e2) < 0)
            log_debug("cleanup of %s failed: %s", tmpdir, e2.message);
        return rc;
    }
    res->build_ms = time_mono_ms() - t0;
    if ((rc = env_rootfs_own(tmpdir, err)) < 0) {
        pyro_error e2 = {0};
        idmap_rm_rf_at(dirfd, tmpname, &e2);
        return err_prefix(err, "%s", r->name);
    }

    progress(ctx, "verify", r);
    json_t *m = NULL;
    rc = write_manifest(r, src, tmpfd, res->build_ms, &m, err);
    if (rc < 0) {
        pyro_error e2 = {0};
        idmap_rm_rf_at(dirfd, tmpname, &e2);
        return err_prefix(err, "%s", r->name);
    }

    progress(ctx, "install", r);
    if (replace)
        rc = renameat2(dirfd, tmpname, dirfd, r->version, RENAME_EXCHANGE);
    else
        rc = renameat(dirfd, tmpname, dirfd, r->version);
    if (rc < 0) {
        int e = errno;
        json_decref(m);
        pyro_error e2 = {0};
        idmap_rm_rf_at(dirfd, tmpname, &e2);
        return err_errno(err, e, "install %s/%s", dir, r->version);
    }
    fsync(dirfd);
    if (replace) { /* tmpname now holds the old, invalid install */
        pyro_error e2 = {0};
        if (idmap_rm_rf_at(dirfd, tmpname, &e2) < 0)
            log_debug("removing the replaced install failed: %s", e2.message);
    }
    unlinkat(dirfd, ENV_FAILED_LOG, 0);
    res->manifest = m;
    snprintf(res->action, sizeof(res->action), "%s", replace ? "repaired" : "built");
    return 0;
}

int env_pull(struct pyro_ctx *ctx, const struct env_recipe *r, const char *mirror, enum env_verify_level check,
             struct env_pull_result *res, pyro_error *err)
{
    memset(res, 0, sizeof(*res));
    progress(ctx, "resolve", r);
    __attribute__((cleanup(env_sources_free))) struct env_sources src;
    int rc = env_sources_resolve(r, mirror, &src, err);
    if (rc < 0)
        return rc;
    _cleanup_free_ char *dir = env_dir_path(ctx, r);
    _cleanup_free_ char *inst = env_install_path(ctx, r);
    char wait_msg[96];
    snprintf(wait_msg, sizeof(wait_msg), "environment=%s", r->name);
    _cleanup_close_ int lock = -1, dirfd = -1;
    if ((rc = env_dir_lock(ctx, dir, wait_msg, &lock, &dirfd, &res->waited, err)) < 0)
        return rc;

    progress(ctx, "verify", r);
    pyro_error verr = {0};
    json_t *m = NULL;
    rc = env_install_verify_stamped(inst, r, check, &m, &res->unchanged, &verr);
    if (rc == 0) {
        res->manifest = m;
        snprintf(res->action, sizeof(res->action), "reused");
        progress(ctx, "ready", r);
        return 0;
    }
    json_decref(m);
    bool replace = rc != -ENOENT;
    if (replace)
        log_debug("environment %s: install is invalid (%s); rebuilding", r->name, verr.message);
    if ((rc = env_clean_stale(dirfd, dir, NULL, NULL, err)) < 0)
        return rc;
    rc = build_and_install(ctx, r, &src, dir, dirfd, replace, res, err);
    if (rc == 0)
        progress(ctx, "ready", r);
    return rc;
}

/* An install made before sandboxes had user namespaces (owned by host
 * root) moves into the range once, under the environment's lock. */
static int ensure_owned(struct pyro_ctx *ctx, const struct env_recipe *r, const char *inst, pyro_error *err)
{
    struct idmap m;
    int rc = idmap_resolve(&m, err);
    _cleanup_free_ char *rootfs = xasprintf("%s/%s", inst, ENV_ROOTFS_NAME);
    if (rc < 0 || m.rootless || idmap_tree_shifted(rootfs, m.uid_base))
        return rc;
    _cleanup_free_ char *dir = env_dir_path(ctx, r);
    _cleanup_close_ int lock = dirlock(dir, PYRO_LOCK_EXCLUSIVE, -1, err);
    if (lock < 0)
        return lock;
    return env_rootfs_own(inst, err);
}

int env_ensure(struct pyro_ctx *ctx, const char *name, struct env_install *out, pyro_error *err)
{
    const struct env_recipe *r;
    int rc = env_lookup(name, &r, err);
    if (rc < 0)
        return rc;
    _cleanup_free_ char *inst = env_install_path(ctx, r);
    json_auto_t *m = NULL;
    pyro_error verr = {0};
    rc = env_install_verify(inst, r, ENV_VERIFY_PRESENT, &m, &verr);
    if (rc == -ENOENT && r->oci) /* images are pulled explicitly, never on first use */
        return err_set(err, -PYRO_E_NOT_FOUND,
                       "unknown environment '%.*s': not in the catalog and no such image pulled (run `pyro env "
                       "pull %.*s` first)",
                       OCI_REF_MAX, name, OCI_REF_MAX, r->name);
    if (rc < 0) {
        struct env_pull_result res;
        rc = r->oci ? env_oci_pull(ctx, r, ENV_VERIFY_QUICK, &res, err)
                    : env_pull(ctx, r, NULL, ENV_VERIFY_QUICK, &res, err);
        if (rc < 0)
            return rc;
        json_decref(m);
        m = res.manifest;
    }
    if ((rc = ensure_owned(ctx, r, inst, err)) < 0)
        return err_prefix(err, "environment %s", r->name);
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", r->name);
    snprintf(out->version, sizeof(out->version), "%s", r->version);
    snprintf(out->path, sizeof(out->path), "%s", inst);
    snprintf(out->rootfs, sizeof(out->rootfs), "%s/%s", inst, ENV_ROOTFS_NAME);
    out->size_bytes = json_get_int(m, "size_bytes", 0);
    return 0;
}
