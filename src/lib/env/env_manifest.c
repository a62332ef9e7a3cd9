/* Environment manifests: the package list read from dpkg's status file,
 * artifact entries, and adding artifacts later (the VM backend's disk image,
 * kernel and initramfs). Format: docs/environments.md. */
#include "lib/env/env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/lock.h"
#include "base/record.h"
#include "base/relpath.h"
#include "lib/contract/ctx.h"

#define DPKG_MAX_PACKAGES 20000

static int cmp_pkg(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    return strcmp(json_get_str(x, "name", ""), json_get_str(y, "name", ""));
}

/* Copies the value of "Field: value" when line starts with field. */
static bool field(const char *line, size_t len, const char *name, char *buf, size_t size)
{
    size_t nl = strlen(name);
    if (len <= nl || strncmp(line, name, nl) != 0 || line[nl] != ':')
        return false;
    const char *v = line + nl + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\r'))
        vl--;
    if (vl >= size)
        vl = size - 1;
    memcpy(buf, v, vl);
    buf[vl] = '\0';
    return true;
}

int env_dpkg_packages(const char *status, size_t len, json_t **out, pyro_error *err)
{
    size_t cap = 64, n = 0;
    json_t **pkgs = xcalloc(cap, sizeof(json_t *));
    char pkg[256] = "", ver[256] = "", arch[64] = "", st[128] = "";
    const char *p = status, *end = status + len;
    int rc = 0;
    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (ll == 0) { /* end of a stanza */
            if (pkg[0] && ver[0] && strstr(st, " installed") && !strncmp(st, "install ", 8)) {
                if (n == DPKG_MAX_PACKAGES) {
                    rc = err_set(err, -PYRO_E_LIMIT, "dpkg status lists more than %d packages", DPKG_MAX_PACKAGES);
                    break;
                }
                if (n == cap)
                    pkgs = xrealloc(pkgs, (cap *= 2) * sizeof(json_t *));
                pkgs[n++] = json_pack("{s:s, s:s, s:s}", "name", pkg, "version", ver, "architecture", arch);
            }
            pkg[0] = ver[0] = arch[0] = st[0] = '\0';
        } else if (p[0] != ' ' && p[0] != '\t') {
            if (!field(p, ll, "Package", pkg, sizeof(pkg)) && !field(p, ll, "Version", ver, sizeof(ver)) &&
                !field(p, ll, "Architecture", arch, sizeof(arch)))
                field(p, ll, "Status", st, sizeof(st));
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (rc == 0 && pkg[0] && ver[0] && strstr(st, " installed") && !strncmp(st, "install ", 8) &&
        n < DPKG_MAX_PACKAGES) {
        if (n == cap)
            pkgs = xrealloc(pkgs, (cap *= 2) * sizeof(json_t *));
        pkgs[n++] = json_pack("{s:s, s:s, s:s}", "name", pkg, "version", ver, "architecture", arch);
    }
    if (rc == 0) {
        qsort(pkgs, n, sizeof(json_t *), cmp_pkg);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, TAKE_PTR(pkgs[i]));
        *out = arr;
    }
    for (size_t i = 0; i < n; i++)
        json_decref(pkgs[i]);
    free(pkgs);
    return rc;
}

int env_artifact_describe(int install_dirfd, const char *name, const char *kind, const char *path, json_t **out,
                          pyro_error *err)
{
    if (!strcmp(kind, "rootfs-tree")) {
        struct env_tree_digest d;
        int r = env_tree_digest(install_dirfd, path, true, &d, err);
        if (r < 0)
            return r;
        *out = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I}", "name", name, "kind", kind, "path", path, "size",
                         (json_int_t)d.bytes, "sha256", d.full, "meta_sha256", d.meta, "entries",
                         (json_int_t)d.entries);
        return 0;
    }
    char hex[65];
    int64_t size = 0;
    int r = env_file_sha256(install_dirfd, path, hex, &size, err);
    if (r < 0)
        return r;
    *out = json_pack("{s:s, s:s, s:s, s:I, s:s}", "name", name, "kind", kind, "path", path, "size", (json_int_t)size,
                     "sha256", hex);
    return 0;
}

bool env_artifact_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

int env_manifest_put_artifacts(const char *inst, const struct env_recipe *r, json_t *entries, pyro_error *err)
{
    /* The caller verified the install under the lock it still holds; the
     * artifacts replaced here may already differ from their old entries. */
    _cleanup_close_ int dfd = open(inst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_errno(err, errno, "open %s", inst);
    json_auto_t *m = NULL;
    int rc = record_load_at(dfd, ENV_MANIFEST_NAME, &m, err);
    if (rc == 0)
        rc = env_manifest_check(m, r, err);
    if (rc < 0)
        return err_prefix(err, "cannot add an artifact to %s", r->name);
    json_t *arts = json_object_get(m, "artifacts");
    size_t i, k;
    json_t *a, *entry;
    json_array_foreach(entries, k, entry) {
        const char *artifact = json_get_str(entry, "name", "");
        json_array_foreach(arts, i, a) {
            if (!strcmp(json_get_str(a, "name", ""), artifact)) {
                json_array_remove(arts, i);
                break;
            }
        }
        json_array_append(arts, entry);
    }
    int64_t total = 0;
    json_array_foreach(arts, i, a)
        total += json_get_int(a, "size", 0);
    json_set(m, "size_bytes", json_integer(total));
    return env_manifest_write(dfd, m, err);
}

int env_manifest_write(int dirfd, const json_t *m, pyro_error *err)
{
    /* record_save writes 0600; the manifest is world-readable like the tree. */
    _cleanup_free_ char *text = json_dump(m, JSON_INDENT(2));
    size_t tl = strlen(text);
    text = xrealloc(text, tl + 2);
    text[tl] = '\n';
    text[tl + 1] = '\0';
    return write_atomic_at(dirfd, ENV_MANIFEST_NAME, text, tl + 1, 0644, err);
}

int env_install_add_artifact(struct pyro_ctx *ctx, const char *name, const char *artifact, const char *kind,
                             const char *path, pyro_error *err)
{
    const struct env_recipe *r;
    int rc = env_lookup(name, &r, err);
    if (rc < 0)
        return rc;
    if (!env_artifact_name_ok(artifact) || !env_artifact_name_ok(kind) || !strcmp(artifact, ENV_ROOTFS_NAME))
        return err_set(err, -PYRO_E_INVALID, "artifact name and kind must be 1-64 of [a-z0-9._-] (not '%s')",
                       ENV_ROOTFS_NAME);
    if (relpath_check(path, RELPATH_CANONICAL, NULL) < 0 || !strcmp(path, ENV_MANIFEST_NAME) ||
        !strncmp(path, ENV_ROOTFS_NAME, strlen(ENV_ROOTFS_NAME)))
        return err_set(err, -PYRO_E_INVALID, "artifact path must be relative to the install, outside rootfs/");
    _cleanup_free_ char *dir = env_dir_path(ctx, r);
    _cleanup_free_ char *inst = env_install_path(ctx, r);
    _cleanup_close_ int lock = dirlock(dir, PYRO_LOCK_EXCLUSIVE, -1, err);
    if (lock < 0)
        return lock;
    json_auto_t *m = NULL;
    rc = env_install_verify(inst, r, ENV_VERIFY_QUICK, &m, err);
    if (rc < 0)
        return err_prefix(err, "cannot add an artifact to %s", name);
    _cleanup_close_ int dfd = open(inst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_errno(err, errno, "open %s", inst);
    json_t *entry = NULL;
    rc = env_artifact_describe(dfd, artifact, kind, path, &entry, err);
    if (rc < 0)
        return err_prefix(err, "artifact %s", artifact);
    json_auto_t *entries = json_pack("[o]", entry);
    return env_manifest_put_artifacts(inst, r, entries, err);
}
