/* Pulling OCI images as environments (oci.h, docs/environments.md "OCI
 * images"): resolve the reference (an index to its linux/amd64 manifest),
 * download the layers into the shared blob store, apply them in order into
 * a temporary install next to the old one, write the same manifest as a
 * built environment (plus an "oci" object) and rename it into place under
 * the environment's lock, exactly as env_pull.c does for builds. */
#include "lib/env/oci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MAX_LAYERS 128
#define DEFAULT_MAX_BYTES (INT64_C(32) << 30)
#define DPKG_STATUS_MAX (32u * 1024 * 1024)

static void progress(struct pyro_ctx *ctx, const char *phase, const char *name)
{
    ctx_progress(ctx, "pull", phase, -1, -1, name);
}

char *env_oci_blob_dir(struct pyro_ctx *ctx)
{
    return xasprintf("%s/environments/.oci-blobs/sha256", ctx->cache_dir);
}

static bool is_index(const char *mt, const json_t *m)
{
    if (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST))
        return true;
    const char *inner = json_get_str(m, "mediaType", "");
    return !strcmp(inner, MT_OCI_INDEX) || !strcmp(inner, MT_DOCKER_LIST) ||
           (json_is_array(json_object_get(m, "manifests")) && !json_object_get(m, "layers"));
}

/* The digest of the linux/amd64 image in an index. */
static int pick_platform(const json_t *idx, char digest[72], pyro_error *err)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(idx, "manifests"), i, d) {
        const json_t *p = json_object_get(d, "platform");
        if (!strcmp(json_get_str(p, "os", ""), "linux") && !strcmp(json_get_str(p, "architecture", ""), "amd64") &&
            oci_digest_ok(json_get_str(d, "digest", NULL))) {
            snprintf(digest, 72, "%s", json_get_str(d, "digest", ""));
            return 0;
        }
    }
    return err_set(err, -PYRO_E_NOT_FOUND, "the image index has no linux/amd64 image");
}

/* Where an image comes from: a registry or an OCI layout directory. */
struct source {
    struct oci_client *c;
    struct oci_layout *l;
};

static void source_close(struct source *s)
{
    oci_client_free(s->c);
    oci_layout_free(s->l);
}

static int get_manifest(struct source *s, const char *ref, char **body, size_t *len, char *mt, size_t mtsize,
                        char digest[72], pyro_error *err)
{
    return s->l ? oci_layout_get_manifest(s->l, ref, body, len, mt, mtsize, digest, err)
                : oci_get_manifest(s->c, ref, body, len, mt, mtsize, digest, err);
}

static int get_blob_mem(struct source *s, const char *digest, int64_t size, char **body, pyro_error *err)
{
    return s->l ? oci_layout_get_blob_mem(s->l, digest, size, body, err)
                : oci_get_blob_mem(s->c, digest, size, body, err);
}

static int get_blob_file(struct pyro_ctx *ctx, struct source *s, const char *digest, int64_t size, int dirfd,
                         pyro_error *err)
{
    return s->l ? oci_layout_get_blob_file(ctx, s->l, digest, size, dirfd, err)
                : oci_get_blob_file(ctx, s->c, digest, size, dirfd, err);
}

/* Resolves ref to an image manifest: *m, its digest. */
static int resolve(struct source *c, const struct oci_ref *ref, json_t **m, char digest[72], pyro_error *err)
{
    const char *want = ref->digest[0] ? ref->digest : ref->tag;
    char wanted[72];
    snprintf(wanted, sizeof(wanted), "%s", want);
    for (int depth = 0; depth < 2; depth++) {
        _cleanup_free_ char *body = NULL;
        size_t len = 0;
        char mt[128];
        int rc = get_manifest(c, wanted, &body, &len, mt, sizeof(mt), digest, err);
        if (rc < 0)
            return rc;
        json_error_t je;
        json_auto_t *j = json_loadb(body, len, 0, &je);
        if (!json_is_object(j))
            return err_set(err, -PYRO_E_PROTOCOL, "manifest %s is not a JSON object: %s", wanted, je.text);
        if (!is_index(mt, j)) {
            *m = json_incref(j);
            return 0;
        }
        if (depth > 0)
            return err_set(err, -PYRO_E_PROTOCOL, "an image index points at another index");
        if ((rc = pick_platform(j, wanted, err)) < 0)
            return rc;
    }
    return err_set(err, -PYRO_E_PROTOCOL, "unreachable");
}

static bool layer_type_ok(const char *mt)
{
    static const char *const ok[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        NULL,
    };
    for (size_t i = 0; ok[i]; i++)
        if (!strcmp(mt, ok[i]))
            return true;
    return false;
}

static int64_t max_bytes(void)
{
    const char *s = getenv("PYRO_OCI_MAX_BYTES");
    long long v = s ? atoll(s) : 0;
    return v > 0 ? v : DEFAULT_MAX_BYTES;
}

/* The manifest's descriptors, checked: digests, sizes (a layer at most
 * the unpack cap), media types. */
static int check_manifest(const json_t *m, pyro_error *err)
{
    const json_t *cfg = json_object_get(m, "config");
    if (!oci_digest_ok(json_get_str(cfg, "digest", NULL)) || json_get_int(cfg, "size", -1) < 0)
        return err_set(err, -PYRO_E_PROTOCOL, "the image manifest has no valid config descriptor");
    const json_t *layers = json_object_get(m, "layers");
    if (!json_is_array(layers) || json_array_size(layers) > MAX_LAYERS)
        return err_set(err, -PYRO_E_PROTOCOL, "the image manifest must list 0-%d layers", MAX_LAYERS);
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) {
        if (!oci_digest_ok(json_get_str(l, "digest", NULL)) || json_get_int(l, "size", -1) < 0)
            return err_set(err, -PYRO_E_PROTOCOL, "layer %zu has no valid digest and size", i);
        if (json_get_int(l, "size", 0) > max_bytes())
            return err_set(err, -PYRO_E_LIMIT, "layer %zu is %lld bytes, over the cap of %lld ($PYRO_OCI_MAX_BYTES)", i,
                           (long long)json_get_int(l, "size", 0), (long long)max_bytes());
        if (!layer_type_ok(json_get_str(l, "mediaType", "")))
            return err_set(err, -PYRO_E_UNSUPPORTED, "layer %zu has media type '%.100s' (tar, gzip or zstd only)", i,
                           json_get_str(l, "mediaType", ""));
    }
    return 0;
}

/* What of the image config pyro records (and applies, see the docs). */
static json_t *config_summary(const json_t *cfg)
{
    const json_t *c = json_object_get(cfg, "config");
    json_t *out = json_object();
    static const char *const keys[][2] = {
        {"Env", "env"}, {"WorkingDir", "working_dir"}, {"User", "user"}, {"Entrypoint", "entrypoint"}, {"Cmd", "cmd"}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(c, keys[i][0]);
        json_object_set(out, keys[i][1], v ? v : json_null());
    }
    return out;
}

static int write_manifest(const struct env_recipe *r, const struct oci_ref *ref, const char *digest, const json_t *im,
                          const json_t *cfg, int tmpfd, int64_t ms, json_t **out, pyro_error *err)
{
    json_auto_t *pkgs = NULL;
    _cleanup_free_ char *status = NULL;
    size_t slen = 0;
    pyro_error e2 = {0};
    int rc;
    if (read_file_at(tmpfd, ENV_ROOTFS_NAME "/var/lib/dpkg/status", DPKG_STATUS_MAX, &status, &slen, &e2) < 0 ||
        env_dpkg_packages(status, slen, &pkgs, &e2) < 0)
        pkgs = json_array(); /* not a Debian image */
    json_t *art = NULL;
    if ((rc = env_artifact_describe(tmpfd, ENV_ROOTFS_NAME, "rootfs-tree", ENV_ROOTFS_NAME, &art, err)) < 0)
        return rc;
    json_t *layers = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(im, "layers"), i, l)
        json_array_append_new(layers, json_pack("{s:s, s:I, s:s}", "digest", json_get_str(l, "digest", ""), "size",
                                                (json_int_t)json_get_int(l, "size", 0), "media_type",
                                                json_get_str(l, "mediaType", "")));
    char when[PYRO_TIME_ISO_LEN];
    time_iso(when, time_wall_ms());
    json_t *oci = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s?}", "reference", r->name, "registry",
                            ref->layout[0] ? "oci-layout" : ref->registry, "repository",
                            ref->layout[0] ? ref->layout : ref->repo, "manifest_digest", digest, "config_digest",
                            json_get_str(json_object_get(im, "config"), "digest", ""), "platform", "linux/amd64",
                            "layers", layers, "config", config_summary(cfg), "created",
                            json_get_str(cfg, "created", NULL));
    json_auto_t *m = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:O, s:[o], s:o}",
                               "schema_version", ENV_MANIFEST_SCHEMA, "name", r->name, "recipe_version", r->version,
                               "catalog_version", PYRO_VERSION, "pyro_version", PYRO_VERSION, "source", "oci",
                               "architecture", "amd64", "mirror", ref->layout[0] ? "oci-layout" : ref->registry,
                               "built_at", when, "build_ms", (json_int_t)ms, "package_count",
                               (json_int_t)json_array_size(pkgs), "size_bytes",
                               (json_int_t)json_get_int(art, "size", 0), "packages", pkgs, "artifacts", art, "oci",
                               oci);
    if ((rc = env_manifest_write(tmpfd, m, err)) < 0)
        return rc;
    *out = json_incref(m);
    return 0;
}

/* Downloads every layer into the blob store (locked while it runs). */
static int fetch_layers(struct pyro_ctx *ctx, struct source *c, const json_t *im, int *blobfd_out, pyro_error *err)
{
    _cleanup_free_ char *bdir = env_oci_blob_dir(ctx);
    int rc = mkdir_p(bdir, 0755, err);
    if (rc < 0)
        return rc;
    _cleanup_close_ int lock = dirlock(bdir, PYRO_LOCK_EXCLUSIVE, -1, err);
    if (lock < 0)
        return lock;
    _cleanup_close_ int bfd = open(bdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0)
        return err_errno(err, errno, "open %s", bdir);
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(im, "layers"), i, l) {
        if ((rc = get_blob_file(ctx, c, json_get_str(l, "digest", ""), json_get_int(l, "size", 0), bfd, err)) < 0)
            return rc;
    }
    *blobfd_out = TAKE_FD(bfd);
    return 0;
}

struct unpack_args {
    struct pyro_ctx *ctx;
    const json_t *im;
    int blobfd, tmpfd;
    int64_t id_count; /* a user in the host view: the range's size */
};

static int unpack_fn(void *arg, pyro_error *err)
{
    const struct unpack_args *a = arg;
    struct pyro_ctx *ctx = a->ctx;
    const json_t *im = a->im;
    int blobfd = a->blobfd, tmpfd = a->tmpfd;
    if (mkdirat(tmpfd, ENV_ROOTFS_NAME, 0755) < 0)
        return err_errno(err, errno, "create the rootfs");
    _cleanup_close_ int rootfd = openat(tmpfd, ENV_ROOTFS_NAME, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return err_errno(err, errno, "open the rootfs");
    struct oci_unpack u = {.max_bytes = max_bytes(), .chown = true, .mknod = !a->id_count, .id_count = a->id_count};
    if (fchown(rootfd, 0, 0) < 0)
        return err_errno(err, errno, "chown the rootfs");
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(im, "layers"), i, l) {
        const char *d = json_get_str(l, "digest", "");
        char what[96];
        snprintf(what, sizeof(what), "layer %zu (%.23s)", i + 1, d);
        ctx_progress(ctx, "pull", "unpack", (int64_t)i, (int64_t)json_array_size(json_object_get(im, "layers")), what);
        _cleanup_close_ int fd = openat(blobfd, d + 7, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            return err_errno(err, errno, "open %s", what);
        int rc = oci_layer_apply(fd, rootfd, what, &u, err);
        if (rc < 0)
            return rc;
    }
    if (fchmod(rootfd, 0755) < 0)
        return err_errno(err, errno, "chmod the rootfs");
    return 0;
}

/* Applies the layers into tmpfd/rootfs with the image's owners: as root
 * directly (env_rootfs_own shifts them into the pool later), as a user in
 * the host view, where the subordinate range is 0.., so the tree is owned
 * by the range like a user's built environment (ids beyond the range
 * become nobody's; device nodes are not made). */
static int unpack(struct pyro_ctx *ctx, const json_t *im, int blobfd, int tmpfd, pyro_error *err)
{
    struct unpack_args a = {ctx, im, blobfd, tmpfd, 0};
    struct idmap m;
    if (geteuid() == 0)
        return unpack_fn(&a, err);
    int rc = idmap_resolve(&m, err);
    if (rc < 0)
        return rc;
    a.id_count = m.count;
    return idmap_run(&m, unpack_fn, &a, err);
}

static int install(struct pyro_ctx *ctx, const struct env_recipe *r, const struct oci_ref *ref, const char *digest,
                   const json_t *im, const json_t *cfg, int blobfd, const char *dir, int dirfd, bool replace,
                   struct env_pull_result *res, pyro_error *err)
{
    _cleanup_free_ char *tmpdir = xasprintf("%s/.tmp-%s-XXXXXX", dir, r->version);
    if (!mkdtemp(tmpdir))
        return err_errno(err, errno, "create a directory in %s", dir);
    chmod(tmpdir, 0755);
    const char *tmpname = strrchr(tmpdir, '/') + 1;
    _cleanup_close_ int tmpfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int64_t t0 = time_mono_ms();
    int rc = tmpfd < 0 ? err_errno(err, errno, "open %s", tmpdir) : 0;
    progress(ctx, "unpack", r->name);
    if (rc == 0)
        rc = unpack(ctx, im, blobfd, tmpfd, err);
    res->build_ms = time_mono_ms() - t0;
    if (rc == 0 && (rc = env_rootfs_own(tmpdir, err)) == 0) {
        progress(ctx, "verify", r->name);
        rc = write_manifest(r, ref, digest, im, cfg, tmpfd, res->build_ms, &res->manifest, err);
    }
    if (rc == 0) {
        progress(ctx, "install", r->name);
        rc = replace ? renameat2(dirfd, tmpname, dirfd, r->version, RENAME_EXCHANGE)
                     : renameat(dirfd, tmpname, dirfd, r->version);
        if (rc < 0)
            rc = err_errno(err, errno, "install %s/%s", dir, r->version);
    }
    if (rc < 0 || replace) { /* the partial tree, or the old install after the exchange */
        pyro_error e2 = {0};
        if (idmap_rm_rf_at(dirfd, tmpname, &e2) < 0)
            log_debug("cleanup of %s failed: %s", tmpdir, e2.message);
    }
    if (rc < 0) {
        json_decref(res->manifest);
        res->manifest = NULL;
        return err_prefix(err, "pull %s", r->name);
    }
    fsync(dirfd);
    snprintf(res->action, sizeof(res->action), "%s", replace ? "repaired" : "pulled");
    return 0;
}

int env_oci_pull(struct pyro_ctx *ctx, const struct env_recipe *r, enum env_verify_level check,
                 struct env_pull_result *res, pyro_error *err)
{
    memset(res, 0, sizeof(*res));
    struct oci_ref ref;
    int rc = oci_ref_parse(r->name, NULL, &ref, err);
    if (rc < 0)
        return rc;
    progress(ctx, "resolve", r->name);
    __attribute__((cleanup(source_close))) struct source src = {0};
    struct source *c = &src;
    json_auto_t *im = NULL;
    char digest[72];
    if ((rc = ref.layout[0] ? oci_layout_open(ctx, &ref, &src.l, err) : oci_client_open(&ref, &src.c, err)) < 0 ||
        (rc = resolve(c, &ref, &im, digest, err)) < 0 || (rc = check_manifest(im, err)) < 0)
        return err_prefix(err, "%s", r->name);
    _cleanup_free_ char *dir = env_dir_path(ctx, r);
    _cleanup_free_ char *inst = env_install_path(ctx, r);
    _cleanup_close_ int lock = -1, dirfd = -1;
    if ((rc = env_dir_lock(ctx, dir, r->name, &lock, &dirfd, &res->waited, err)) < 0)
        return rc;
    progress(ctx, "verify", r->name);
    pyro_error verr = {0};
    json_t *m = NULL;
    rc = env_install_verify_stamped(inst, r, check, &m, &res->unchanged, &verr);
    if (rc == 0 && !strcmp(json_get_str(json_object_get(m, "oci"), "manifest_digest", ""), digest)) {
        res->manifest = m;
        snprintf(res->action, sizeof(res->action), "reused");
        return 0;
    }
    bool replace = rc != -ENOENT;
    json_decref(m);
    if ((rc = env_clean_stale(dirfd, dir, NULL, NULL, err)) < 0)
        return rc;
    const char *cd = json_get_str(json_object_get(im, "config"), "digest", "");
    _cleanup_free_ char *cbody = NULL;
    if ((rc = get_blob_mem(c, cd, json_get_int(json_object_get(im, "config"), "size", 0), &cbody, err)) < 0)
        return err_prefix(err, "%s: config", r->name);
    json_auto_t *cfg = json_loads(cbody, 0, NULL);
    if (!json_is_object(cfg))
        return err_set(err, -PYRO_E_PROTOCOL, "%s: the image config is not a JSON object", r->name);
    const char *os = json_get_str(cfg, "os", "linux"), *arch = json_get_str(cfg, "architecture", "amd64");
    if (strcmp(os, "linux") || strcmp(arch, "amd64"))
        return err_set(err, -PYRO_E_UNSUPPORTED, "%s is a %.32s/%.32s image; pyro runs linux/amd64", r->name, os, arch);
    _cleanup_close_ int blobfd = -1;
    if ((rc = fetch_layers(ctx, c, im, &blobfd, err)) < 0)
        return err_prefix(err, "%s", r->name);
    rc = install(ctx, r, &ref, digest, im, cfg, blobfd, dir, dirfd, replace, res, err);
    if (rc == 0)
        progress(ctx, "ready", r->name);
    return rc;
}

int env_oci_installed(struct pyro_ctx *ctx, const struct env_recipe ***out, size_t *count, pyro_error *err)
{
    *out = NULL;
    *count = 0;
    _cleanup_free_ char *root = env_cache_root(ctx);
    _cleanup_closedir_ DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? 0 : err_errno(err, errno, "open %s", root);
    size_t cap = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (strncmp(de->d_name, "oci-", 4))
            continue;
        _cleanup_free_ char *mp = xasprintf("%s/%s/1/%s", root, de->d_name, ENV_MANIFEST_NAME);
        json_auto_t *m = NULL;
        pyro_error e2 = {0};
        if (record_load(mp, &m, &e2) < 0)
            continue;
        const struct env_recipe *r = oci_recipe_intern(json_get_str(m, "name", ""));
        if (!r || strcmp(r->dir, de->d_name))
            continue;
        if (*count == cap)
            *out = xrealloc(*out, (cap = cap ? cap * 2 : 8) * sizeof(**out));
        (*out)[(*count)++] = r;
    }
    return 0;
}
