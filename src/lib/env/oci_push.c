/* `pyro env push ENV DEST`: an installed environment (built or pulled) as a
 * one-layer OCI image, to a registry or an OCI layout directory
 * ("oci:PATH[:tag]", for air-gapped transfer). The layer is a
 * deterministic gzipped tar (oci_tar.c; the config's diff id is the
 * digest of the tar itself) kept in the blob store like a
 * pulled layer; the manifest carries the environment's content digest as
 * an annotation, which a pull of the image reproduces. */
#include "lib/env/oci.h"

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
#include "base/paths.h"
#include "base/record.h"
#include "base/sha256.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"
#include "lib/env/oci_tar.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"
#define ANN_CONTENT "dev.pyro.environment.content-sha256"
#define ANN_NAME "dev.pyro.environment.name"

struct blobref {
    char digest[72];
    int64_t size;
    char diff_id[72]; /* a layer: the digest of its uncompressed tar */
};

/* Tars and gzips the rootfs into the blob store; *layer gets its digest,
 * size and diff id. */
static int make_layer(struct pyro_ctx *ctx, const char *inst, struct blobref *layer, pyro_error *err)
{
    _cleanup_free_ char *bdir = env_oci_blob_dir(ctx);
    int rc = mkdir_p(bdir, 0755, err);
    if (rc < 0)
        return rc;
    _cleanup_close_ int bfd = open(bdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *rootfs = xasprintf("%s/%s", inst, ENV_ROOTFS_NAME);
    _cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0 || rootfd < 0)
        return err_errno(err, errno, "open %s", bfd < 0 ? bdir : rootfs);
    char tmp[64];
    snprintf(tmp, sizeof(tmp), ".push-%d", (int)getpid());
    _cleanup_close_ int fd = openat(bfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return err_errno(err, errno, "create %s/%s", bdir, tmp);
    ctx_progress(ctx, "push", "layer", -1, -1, rootfs);
    char hex[65];
    if ((rc = oci_tar_tree(rootfd, fd, layer->diff_id, NULL, err)) < 0 ||
        (rc = env_file_sha256(bfd, tmp, hex, &layer->size, err)) < 0) {
        unlinkat(bfd, tmp, 0);
        return rc;
    }
    if (fsync(fd) < 0 || renameat(bfd, tmp, bfd, hex) < 0) {
        rc = err_errno(err, errno, "store the layer");
        unlinkat(bfd, tmp, 0);
        return rc;
    }
    snprintf(layer->digest, sizeof(layer->digest), "sha256:%s", hex);
    return 0;
}

static char *sha_of(const char *s, size_t len, char digest[72])
{
    struct sha256 h;
    char hex[SHA256_HEX_LEN];
    sha256_init(&h);
    sha256_update(&h, s, len);
    sha256_final_hex(&h, hex);
    snprintf(digest, 72, "sha256:%s", hex);
    return digest;
}

/* The image config: linux/amd64, the environment's variables (a pulled
 * image's recorded config), the layer's diff id (uncompressed). */
static char *make_config(const json_t *m, const struct blobref *layer)
{
    const json_t *oc = json_object_get(json_object_get(m, "oci"), "config");
    json_t *cfg = json_object();
    static const char *const keys[][2] = {
        {"env", "Env"}, {"working_dir", "WorkingDir"}, {"user", "User"}, {"entrypoint", "Entrypoint"}, {"cmd", "Cmd"}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(oc, keys[i][0]);
        if (v && !json_is_null(v))
            json_object_set(cfg, keys[i][1], v);
    }
    if (!json_object_get(cfg, "Env"))
        json_object_set_new(cfg, "Env",
                            json_pack("[s]", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
    json_auto_t *c = json_pack("{s:s, s:s, s:o, s:{s:s, s:[s]}}", "architecture", "amd64", "os", "linux", "config", cfg,
                               "rootfs", "type", "layers", "diff_ids", layer->diff_id);
    return json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
}

static char *make_manifest(const char *name, const char *content, const struct blobref *cfg,
                           const struct blobref *layer)
{
    json_auto_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}], s:{s:s, s:s}}", "schemaVersion", 2,
                               "mediaType", MT_MANIFEST, "config", "mediaType", MT_CONFIG, "digest", cfg->digest,
                               "size", (json_int_t)cfg->size, "layers", "mediaType", MT_LAYER, "digest", layer->digest,
                               "size", (json_int_t)layer->size, "annotations", ANN_NAME, name, ANN_CONTENT, content);
    return json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
}

/* Copies blob store file hex to dirfd/hex unless it is there. */
static int copy_blob(int bfd, const char *hex, int dirfd, pyro_error *err)
{
    struct stat st;
    if (fstatat(dirfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    _cleanup_close_ int in = openat(bfd, hex, O_RDONLY | O_CLOEXEC);
    char tmp[96];
    snprintf(tmp, sizeof(tmp), ".%s.tmp", hex);
    _cleanup_close_ int out = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (in < 0 || out < 0)
        return err_errno(err, errno, "copy layer %s", hex);
    char buf[65536];
    for (ssize_t n; (n = read(in, buf, sizeof(buf))) != 0;) {
        if (n < 0 || write(out, buf, (size_t)n) != n) {
            int e = errno;
            unlinkat(dirfd, tmp, 0);
            return err_errno(err, e ? e : EIO, "copy layer %s", hex);
        }
    }
    if (fsync(out) < 0 || renameat(dirfd, tmp, dirfd, hex) < 0)
        return err_errno(err, errno, "copy layer %s", hex);
    return 0;
}

static int push_layout(struct pyro_ctx *ctx, const char *spec, const char *cfg, const char *man, const char *mdigest,
                       const struct blobref *layer, pyro_error *err)
{
    _cleanup_free_ char *path = xstrdup(spec);
    char *colon = strrchr(path, ':');
    const char *tag = "latest";
    if (colon && !strchr(colon, '/')) {
        *colon = '\0';
        tag = colon + 1;
    }
    if (!path[0] || !tag[0])
        return err_set(err, -PYRO_E_INVALID, "oci:PATH[:tag] needs a path");
    _cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", path);
    int rc = mkdir_p(blobs, 0755, err);
    if (rc < 0)
        return rc;
    _cleanup_close_ int dfd = open(blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *bdir = env_oci_blob_dir(ctx);
    _cleanup_close_ int bfd = open(bdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || bfd < 0)
        return err_errno(err, errno, "open %s", dfd < 0 ? blobs : bdir);
    if ((rc = copy_blob(bfd, layer->digest + 7, dfd, err)) < 0)
        return rc;
    char cd[72];
    sha_of(cfg, strlen(cfg), cd);
    if ((rc = write_atomic_at(dfd, cd + 7, cfg, strlen(cfg), 0644, err)) < 0 ||
        (rc = write_atomic_at(dfd, mdigest + 7, man, strlen(man), 0644, err)) < 0)
        return rc;
    _cleanup_free_ char *lp = xasprintf("%s/oci-layout", path);
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    if ((rc = write_atomic(lp, layout, strlen(layout), 0644, err)) < 0)
        return rc;
    /* index.json: this tag replaces an older image of the same tag. */
    _cleanup_free_ char *ip = xasprintf("%s/index.json", path);
    json_auto_t *idx = NULL;
    pyro_error e2 = {0};
    if (record_load(ip, &idx, &e2) < 0 || !json_is_array(json_object_get(idx, "manifests"))) {
        json_decref(idx);
        idx = json_pack("{s:i, s:[]}", "schemaVersion", 2, "manifests");
    }
    json_t *ms = json_object_get(idx, "manifests");
    for (size_t i = json_array_size(ms); i-- > 0;)
        if (!strcmp(json_get_str(json_object_get(json_array_get(ms, i), "annotations"),
                                 "org.opencontainers.image.ref.name", ""),
                    tag))
            json_array_remove(ms, i);
    json_array_append_new(ms,
                          json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", MT_MANIFEST, "digest", mdigest, "size",
                                    (json_int_t)strlen(man), "annotations", "org.opencontainers.image.ref.name", tag));
    _cleanup_free_ char *text = json_dumps(idx, JSON_COMPACT);
    return write_atomic(ip, text, strlen(text), 0644, err);
}

/* Uploads a blob (from memory or the blob store) unless the registry has it. */
static int upload(struct oci_client *c, const char *repo, const char *digest, const char *mem, int fd, int64_t len,
                  pyro_error *err)
{
    _cleanup_free_ char *head = xasprintf("/v2/%s/blobs/%s", repo, digest);
    long st = 0;
    int rc = oci_request(c, "HEAD", head, NULL, NULL, -1, 0, &st, NULL, 0, err);
    if (rc < 0 || st == 200)
        return rc;
    char loc[2048];
    _cleanup_free_ char *post = xasprintf("/v2/%s/blobs/uploads/", repo);
    if ((rc = oci_request(c, "POST", post, NULL, NULL, -1, 0, &st, loc, sizeof(loc), err)) < 0)
        return rc;
    if (st != 202 || !loc[0])
        return err_set(err, -PYRO_E_PROTOCOL, "upload of %s: the registry answered %ld without a Location", digest, st);
    _cleanup_free_ char *put = loc[0] == '/' ? xasprintf("%s%s%sdigest=%s", oci_client_base(c), loc,
                                                         strchr(loc, '?') ? "&" : "?", digest)
                                             : xasprintf("%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?", digest);
    if (strncmp(put, oci_client_base(c), strlen(oci_client_base(c))))
        return err_set(err, -PYRO_E_PROTOCOL, "upload of %s: the registry sent it elsewhere (%.200s)", digest, loc);
    if ((rc = oci_request(c, "PUT", put, "application/octet-stream", mem, fd, len, &st, NULL, 0, err)) < 0)
        return rc;
    return st == 201 ? 0 : err_set(err, -PYRO_E_PROTOCOL, "upload of %s: HTTP %ld", digest, st);
}

static int push_registry(struct pyro_ctx *ctx, const char *dest, const char *cfg, const char *man,
                         const struct blobref *layer, char *canon, size_t csize, pyro_error *err)
{
    struct oci_ref ref;
    int rc = oci_ref_parse(dest, NULL, &ref, err);
    if (rc < 0)
        return rc;
    if (ref.digest[0])
        return err_set(err, -PYRO_E_INVALID, "push needs a tag, not a digest");
    oci_ref_format(&ref, canon, csize);
    __attribute__((cleanup(oci_client_freep))) struct oci_client *c = NULL;
    if ((rc = oci_client_open(&ref, &c, err)) < 0)
        return rc;
    oci_client_set_push(c);
    _cleanup_free_ char *bdir = env_oci_blob_dir(ctx);
    _cleanup_free_ char *lp = xasprintf("%s/%s", bdir, layer->digest + 7);
    _cleanup_close_ int lfd = open(lp, O_RDONLY | O_CLOEXEC);
    if (lfd < 0)
        return err_errno(err, errno, "open %s", lp);
    char cd[72];
    sha_of(cfg, strlen(cfg), cd);
    ctx_progress(ctx, "push", "upload", -1, -1, canon);
    if ((rc = upload(c, ref.repo, layer->digest, NULL, lfd, layer->size, err)) < 0 ||
        (rc = upload(c, ref.repo, cd, cfg, -1, (int64_t)strlen(cfg), err)) < 0)
        return err_prefix(err, "push %s", canon);
    _cleanup_free_ char *mp = xasprintf("/v2/%s/manifests/%s", ref.repo, ref.tag);
    long st = 0;
    if ((rc = oci_request(c, "PUT", mp, MT_MANIFEST, man, -1, (int64_t)strlen(man), &st, NULL, 0, err)) < 0)
        return err_prefix(err, "push %s", canon);
    return st == 201 ? 0 : err_set(err, -PYRO_E_PROTOCOL, "push %s: manifest: HTTP %ld", canon, st);
}

int env_oci_push(struct pyro_ctx *ctx, const struct env_recipe *r, const char *dest, json_t **result, pyro_error *err)
{
    _cleanup_free_ char *dir = env_dir_path(ctx, r);
    _cleanup_free_ char *inst = env_install_path(ctx, r);
    _cleanup_close_ int lock = dirlock(dir, PYRO_LOCK_SHARED, -1, err);
    if (lock < 0)
        return err_set(err, -PYRO_E_NOT_FOUND, "%s is not installed (pyro env pull it first)", r->name);
    json_auto_t *m = NULL;
    int rc = env_install_verify(inst, r, ENV_VERIFY_QUICK, &m, err);
    if (rc < 0)
        return err_prefix(err, "push %s", r->name);
    const char *content = "";
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(m, "artifacts"), i, a)
        if (!strcmp(json_get_str(a, "name", ""), ENV_ROOTFS_NAME))
            content = json_get_str(a, "sha256", "");
    struct blobref layer, cref;
    if ((rc = make_layer(ctx, inst, &layer, err)) < 0)
        return err_prefix(err, "push %s", r->name);
    _cleanup_free_ char *cfg = make_config(m, &layer);
    sha_of(cfg, strlen(cfg), cref.digest);
    cref.size = (int64_t)strlen(cfg);
    _cleanup_free_ char *man = make_manifest(r->name, content, &cref, &layer);
    char mdigest[72];
    sha_of(man, strlen(man), mdigest);
    char canon[OCI_REF_MAX + 8];
    if (!strncmp(dest, "oci:", 4)) {
        snprintf(canon, sizeof(canon), "%s", dest);
        rc = push_layout(ctx, dest + 4, cfg, man, mdigest, &layer, err);
    } else {
        rc = push_registry(ctx, dest, cfg, man, &layer, canon, sizeof(canon), err);
    }
    if (rc < 0)
        return rc;
    *result = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "environment", r->name, "destination", canon,
                        "manifest_digest", mdigest, "content_sha256", content, "layer_digest", layer.digest,
                        "layer_size", (json_int_t)layer.size);
    return 0;
}

static int push_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    const struct env_recipe *r;
    int rc = env_lookup(json_get_str(args, "environment", ""), &r, err);
    if (rc < 0)
        return rc;
    return env_oci_push(ctx, r, json_get_str(args, "destination", ""), result, err);
}

static const struct contract_param push_params[] = {
    PARAM_STR("environment", "Installed environment to publish: a catalog name or a pulled image reference.",
              .flags = PF_REQUIRED | PF_POSITIONAL, .metavar = "ENV", .max = OCI_REF_MAX - 1),
    PARAM_STR("destination",
              "Image reference to push to (registry/name:tag), or oci:PATH[:tag] for an OCI layout directory.",
              .flags = PF_REQUIRED | PF_POSITIONAL, .metavar = "REF", .max = 4096),
    PARAM_END,
};

#define STR "{\"type\":\"string\"}"

const struct contract_op op_env_push = {
    .name = "env_push",
    .cli = "env push",
    .title = "Push an environment",
    .summary = "Publish an installed environment as an OCI image.",
    .description =
        "Publish an installed environment (built or pulled) as a one-layer OCI image (a gzipped tar) to a registry "
        "(credentials as for pulls) or to an OCI layout directory (oci:PATH[:tag]). `pyro env pull` of "
        "the image on another machine installs the identical tree: the same content digest, which the "
        "manifest carries as an annotation.",
    .params = push_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"environment\",\"destination\",\"manifest_digest\","
                     "\"content_sha256\",\"layer_digest\",\"layer_size\"],\"additionalProperties\":false,"
                     "\"properties\":{\"environment\":" STR ",\"destination\":" STR ",\"manifest_digest\":" STR
                     ",\"content_sha256\":" STR ",\"layer_digest\":" STR ",\"layer_size\":{\"type\":\"integer\"}}}",
    .annotations = PA_OPEN_WORLD,
    .exposure = 0,
    .handler = push_run,
};
