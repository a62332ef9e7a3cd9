/* Verifying environment installs: the shape of a manifest, and the check of
 * an install directory against its manifest (digests from env_digest.c). */
#include "lib/env/env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/record.h"
#include "base/relpath.h"
#include "base/sha256.h"

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

int env_manifest_check(const json_t *m, const struct env_recipe *r, pyro_error *err)
{
    if (!json_is_object(m))
        return err_set(err, -PYRO_E_CORRUPT, "manifest is not an object");
    if (json_get_int(m, "schema_version", 0) != ENV_MANIFEST_SCHEMA)
        return err_set(err, -PYRO_E_CORRUPT, "manifest schema_version is not %d", ENV_MANIFEST_SCHEMA);
    if (strcmp(json_get_str(m, "name", ""), r->name))
        return err_set(err, -PYRO_E_CORRUPT, "manifest names another environment");
    if (strcmp(json_get_str(m, "recipe_version", ""), r->version))
        return err_set(err, -PYRO_E_CORRUPT, "manifest recipe_version is not %s", r->version);
    if (!json_is_array(json_object_get(m, "packages")))
        return err_set(err, -PYRO_E_CORRUPT, "manifest has no package list");
    const json_t *arts = json_object_get(m, "artifacts");
    if (!json_is_array(arts) || json_array_size(arts) == 0 || json_array_size(arts) > 64)
        return err_set(err, -PYRO_E_CORRUPT, "manifest has no artifacts");
    bool rootfs = false;
    size_t i;
    json_t *a;
    json_array_foreach(arts, i, a) {
        if (!json_is_string(json_object_get(a, "name")) || !json_is_string(json_object_get(a, "kind")) ||
            !json_is_string(json_object_get(a, "path")) || !json_is_integer(json_object_get(a, "size")) ||
            !is_hex64(json_get_str(a, "sha256", NULL)))
            return err_set(err, -PYRO_E_CORRUPT, "manifest artifact %zu is malformed", i);
        if (!strcmp(json_get_str(a, "name", ""), ENV_ROOTFS_NAME) &&
            !strcmp(json_get_str(a, "kind", ""), "rootfs-tree"))
            rootfs = true;
    }
    if (!rootfs)
        return err_set(err, -PYRO_E_CORRUPT, "manifest lists no rootfs artifact");
    return 0;
}

/* Turns an error into a validation failure, with context. */
__attribute__((format(printf, 3, 4))) static int recode(pyro_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    char ctx[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    err_prefix(err, "%s", ctx);
    err->code = code;
    return code;
}

/* A relative path with no "..", no empty or "." components. */
static bool artifact_path_ok(const char *p)
{
    return strlen(p) <= 255 && relpath_check(p, RELPATH_CANONICAL, NULL) == 0;
}

static int verify_artifact(int dfd, const json_t *a, enum env_verify_level level, struct sha256 *stamp, pyro_error *err)
{
    const char *name = json_get_str(a, "name", "?");
    const char *kind = json_get_str(a, "kind", "");
    const char *path = json_get_str(a, "path", "");
    const char *sha = json_get_str(a, "sha256", "");
    long long size = json_get_int(a, "size", -1);
    if (!artifact_path_ok(path))
        return err_set(err, -PYRO_E_CORRUPT, "artifact %s: bad path '%s'", name, path);
    if (!strcmp(kind, "rootfs-tree") && level == ENV_VERIFY_PRESENT) {
        struct stat st;
        if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            return err_set(err, -PYRO_E_CORRUPT, "artifact %s: %s is not a directory", name, path);
        return 0;
    }
    if (!strcmp(kind, "rootfs-tree")) {
        struct env_tree_digest d;
        int r = env_tree_digest(dfd, path, level == ENV_VERIFY_FULL, &d, err);
        if (r < 0)
            return recode(err, -PYRO_E_CORRUPT, "artifact %s", name);
        if (d.entries != json_get_int(a, "entries", -1) || d.bytes != size ||
            strcmp(d.meta, json_get_str(a, "meta_sha256", "")))
            return err_set(err, -PYRO_E_CORRUPT,
                           "artifact %s: tree metadata differs from the manifest (%lld entries, %lld bytes "
                           "now)",
                           name, (long long)d.entries, (long long)d.bytes);
        if (level == ENV_VERIFY_FULL && strcmp(d.full, sha))
            return err_set(err, -PYRO_E_CORRUPT, "artifact %s: content digest differs from the manifest", name);
        sha256_update(stamp, path, strlen(path) + 1);
        sha256_update(stamp, d.stamp, 64);
        return 0;
    }
    struct stat st;
    if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return err_set(err, -PYRO_E_CORRUPT, "artifact %s: %s: %s", name, path, strerror(errno));
    env_stamp_add(stamp, path, strlen(path) + 1, &st);
    if (!S_ISREG(st.st_mode) || st.st_size != size)
        return err_set(err, -PYRO_E_CORRUPT, "artifact %s: %s is not a regular file of %lld bytes", name, path, size);
    if (level == ENV_VERIFY_FULL) {
        char hex[65];
        int r = env_file_sha256(dfd, path, hex, NULL, err);
        if (r < 0)
            return recode(err, -PYRO_E_CORRUPT, "artifact %s", name);
        if (strcmp(hex, sha))
            return err_set(err, -PYRO_E_CORRUPT, "artifact %s: sha256 differs from the manifest", name);
    }
    return 0;
}

/* Every artifact at level (QUICK or FULL), and the install's stamp. */
static int verify_all(int dfd, const json_t *m, enum env_verify_level level, char stamp[65], pyro_error *err)
{
    struct sha256 s;
    sha256_init(&s);
    struct stat st;
    if (fstatat(dfd, ENV_MANIFEST_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return err_set(err, -PYRO_E_CORRUPT, "%s: %s", ENV_MANIFEST_NAME, strerror(errno));
    env_stamp_add(&s, ENV_MANIFEST_NAME, sizeof(ENV_MANIFEST_NAME), &st);
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(m, "artifacts"), i, a) {
        int rc = verify_artifact(dfd, a, level, &s, err);
        if (rc < 0)
            return rc;
    }
    sha256_final_hex(&s, stamp);
    return 0;
}

/* Whether the stamp recorded by the last full pass is stamp. */
static bool stamp_recorded(int dfd, const char *stamp)
{
    json_auto_t *rec = NULL;
    pyro_error e = {0};
    return record_load_at(dfd, ENV_STAMP_NAME, &rec, &e) == 0 && !strcmp(json_get_str(rec, "stamp", ""), stamp);
}

static void stamp_record(int dfd, const char *stamp)
{
    json_auto_t *rec = json_pack("{s:s}", "stamp", stamp);
    pyro_error e = {0};
    /* A cache of the last pass: without it the next pull hashes again. */
    if (record_save_at(dfd, ENV_STAMP_NAME, rec, &e) < 0)
        log_debug("recording the verified stamp failed: %s", e.message);
}

int env_install_verify_stamped(const char *install_dir, const struct env_recipe *r, enum env_verify_level level,
                               json_t **manifest, bool *unchanged, pyro_error *err)
{
    if (manifest)
        *manifest = NULL;
    if (unchanged)
        *unchanged = false;
    _cleanup_close_ int dfd = open(install_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0 && errno == ENOENT)
        return err_set(err, -ENOENT, "%s is not installed", r->name);
    if (dfd < 0)
        return err_set(err, -PYRO_E_CORRUPT, "%s: %s", install_dir, strerror(errno));
    json_auto_t *m = NULL;
    int rc = record_load_at(dfd, ENV_MANIFEST_NAME, &m, err);
    if (rc < 0)
        return recode(err, -PYRO_E_CORRUPT, "%s", ENV_MANIFEST_NAME);
    rc = env_manifest_check(m, r, err);
    char stamp[65];
    if (rc == 0 && level == ENV_VERIFY_FULL_STAMPED) {
        rc = verify_all(dfd, m, ENV_VERIFY_QUICK, stamp, err);
        if (rc == 0 && stamp_recorded(dfd, stamp)) {
            if (unchanged)
                *unchanged = true;
        } else if (rc == 0 && (rc = verify_all(dfd, m, ENV_VERIFY_FULL, stamp, err)) == 0) {
            stamp_record(dfd, stamp);
        }
    } else if (rc == 0) {
        rc = verify_all(dfd, m, level, stamp, err);
    }
    if (manifest)
        *manifest = json_incref(m);
    return rc;
}

int env_install_verify(const char *install_dir, const struct env_recipe *r, enum env_verify_level level,
                       json_t **manifest, pyro_error *err)
{
    return env_install_verify_stamped(install_dir, r, level, manifest, NULL, err);
}
