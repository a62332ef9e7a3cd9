/* `pyro env prune`: removes partial builds, invalid and superseded installs
 * and environments the catalog no longer has, except installs that a VM or
 * workspace record still names ($state/vms/<id>/record.json and
 * $state/workspaces/<id>/record.json: "environment", "environment_version").
 * Environments whose lock is held (a pull is running) are skipped. */
#include "lib/env/env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"
#include "lib/env/oci.h"

#define PRUNE_MAX_RECORDS 100000

/* [{user: "workspace:<id>", environment, version}] from the state records. */
static json_t *scan_users(const struct pyro_ctx *ctx)
{
    static const struct {
        const char *sub, *kind;
    } kinds[] = {{"vms", "vm"}, {"workspaces", "workspace"}};
    json_t *users = json_array();
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        _cleanup_free_ char *base = xasprintf("%s/%s", ctx->state_dir, kinds[k].sub);
        _cleanup_closedir_ DIR *d = opendir(base);
        for (struct dirent *de; d && (de = readdir(d)) && json_array_size(users) < PRUNE_MAX_RECORDS;) {
            if (de->d_name[0] == '.')
                continue;
            _cleanup_free_ char *rec = xasprintf("%s/%s/record.json", base, de->d_name);
            json_auto_t *v = NULL;
            pyro_error e = {0};
            if (record_load(rec, &v, &e) < 0) {
                if (e.code != -ENOENT)
                    log_debug("prune: ignoring %s: %s", rec, e.message);
                continue;
            }
            const char *env = json_get_str(v, "environment", NULL);
            const char *ver = json_get_str(v, "environment_version", NULL);
            if (!env)
                continue;
            const struct env_recipe *img = oci_recipe_intern(env); /* an image's canonical name */
            if (img)
                env = img->name;
            _cleanup_free_ char *who = xasprintf("%s:%s", kinds[k].kind, de->d_name);
            json_array_append_new(users,
                                  json_pack("{s:s, s:s, s:s?}", "user", who, "environment", env, "version", ver));
        }
    }
    return users;
}

/* Who uses environment/version; a record without a version holds every version. */
static json_t *users_of(const json_t *users, const char *env, const char *version)
{
    json_t *out = json_array();
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u) {
        const char *ver = json_get_str(u, "version", NULL);
        if (!strcmp(json_get_str(u, "environment", ""), env) && (!ver || !strcmp(ver, version)))
            json_array_append_new(out, json_string(json_get_str(u, "user", "")));
    }
    return out;
}

static const struct env_recipe *recipe_by_dir(const char *root, const char *dirname, char *display, size_t size)
{
    char buf[ENV_NAME_MAX];
    if (!strncmp(dirname, "oci-", 4)) { /* a pulled image: its manifest names it */
        _cleanup_free_ char *mp = xasprintf("%s/%s/1/%s", root, dirname, ENV_MANIFEST_NAME);
        json_auto_t *m = NULL;
        pyro_error e = {0};
        const struct env_recipe *r = record_load(mp, &m, &e) == 0 ? oci_recipe_intern(json_get_str(m, "name", ""))
                                                                  : NULL;
        snprintf(display, size, "%s", r && !strcmp(r->dir, dirname) ? r->name : dirname);
        return r && !strcmp(r->dir, dirname) ? r : NULL;
    }
    for (const struct env_recipe *r = env_catalog; r->name; r++)
        if (env_dir_name(r->name, buf, sizeof(buf)) && !strcmp(buf, dirname)) {
            snprintf(display, size, "%s", r->name);
            return r;
        }
    /* Not in the catalog: show the name as it probably was. */
    snprintf(display, size, "%s", dirname);
    for (char *c = display; *c; c++)
        if (*c == '_')
            *c = ':';
    return NULL;
}

struct prune {
    struct pyro_ctx *ctx;
    json_t *users, *removed, *kept, *busy;
    int64_t freed;
};

static void note_removed(struct prune *p, const char *env, const char *version, const char *path, const char *reason,
                         int64_t size)
{
    json_array_append_new(p->removed, json_pack("{s:s, s:s?, s:s, s:s, s:I}", "environment", env, "version", version,
                                                "path", path, "reason", reason, "size_bytes", (json_int_t)size));
    p->freed += size;
}

static int prune_env(struct prune *p, const char *root, const char *dirname, pyro_error *err)
{
    char env[ENV_NAME_MAX + 8];
    const struct env_recipe *r = recipe_by_dir(root, dirname, env, sizeof(env));
    _cleanup_free_ char *dir = xasprintf("%s/%s", root, dirname);
    _cleanup_close_ int lock = dirlock(dir, PYRO_LOCK_EXCLUSIVE, 0, err);
    if (lock == -PYRO_E_BUSY) {
        json_array_append_new(p->busy, json_string(env));
        return 0;
    }
    if (lock < 0)
        return lock;
    _cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dirfd < 0)
        return err_errno(err, errno, "open %s", dir);

    json_auto_t *stale = json_array();
    int64_t freed = 0;
    int rc = env_clean_stale(dirfd, dir, stale, &freed, err);
    if (rc < 0)
        return rc;
    size_t i;
    json_t *s;
    json_array_foreach(stale, i, s)
        note_removed(p, env, NULL, json_string_value(s), "partial", 0);
    p->freed += freed;
    struct stat st;
    if (fstatat(dirfd, "build-failed.log", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        unlinkat(dirfd, "build-failed.log", 0) == 0) {
        _cleanup_free_ char *lp = xasprintf("%s/build-failed.log", dir);
        note_removed(p, env, NULL, lp, "failed_build_log", st.st_size);
    }

    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return err_errno(err, errno, "read %s", dir);
    }
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.' || fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        const char *ver = de->d_name;
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, ver);
        const char *reason = NULL;
        pyro_error verr = {0};
        if (!r)
            reason = "unknown_environment";
        else if (strcmp(ver, r->version))
            reason = "superseded";
        else if (env_install_verify(path, r, ENV_VERIFY_FULL, NULL, &verr) < 0)
            reason = "invalid";
        if (!reason)
            continue;
        json_auto_t *who = users_of(p->users, env, ver);
        if (json_array_size(who)) {
            json_array_append_new(p->kept, json_pack("{s:s, s:s, s:s, s:s, s:O}", "environment", env, "version", ver,
                                                     "path", path, "reason", reason, "used_by", who));
            continue;
        }
        int64_t size = env_tree_size(dirfd, ver);
        if ((rc = idmap_rm_rf_at(dirfd, ver, err)) < 0)
            return err_prefix(err, "remove %s", path);
        note_removed(p, env, ver, path, reason, size);
    }
    return 0;
}

/* Adds the layer digests of every pulled image's install to keep. */
static void layers_in_use(const char *root, json_t *keep)
{
    _cleanup_closedir_ DIR *d = opendir(root);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (strncmp(de->d_name, "oci-", 4))
            continue;
        _cleanup_free_ char *mp = xasprintf("%s/%s/1/%s", root, de->d_name, ENV_MANIFEST_NAME);
        json_auto_t *m = NULL;
        pyro_error e = {0};
        if (record_load(mp, &m, &e) < 0)
            continue;
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(json_object_get(m, "oci"), "layers"), i, l) {
            const char *dg = json_get_str(l, "digest", "");
            if (oci_digest_ok(dg))
                json_object_set_new(keep, dg + 7, json_true());
        }
    }
}

/* Removes layer blobs no pulled image lists, and unfinished downloads. */
static int prune_blobs(struct prune *p, const char *root, pyro_error *err)
{
    _cleanup_free_ char *bdir = env_oci_blob_dir(p->ctx);
    _cleanup_close_ int bfd = open(bdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0)
        return 0;
    _cleanup_close_ int lock = dirlock(bdir, PYRO_LOCK_EXCLUSIVE, 0, err);
    if (lock == -PYRO_E_BUSY) {
        json_array_append_new(p->busy, json_string("layers"));
        return 0;
    }
    if (lock < 0)
        return lock;
    json_auto_t *keep = json_object();
    layers_in_use(root, keep);
    int fd = openat(bfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return err_errno(err, errno, "read %s", bdir);
    }
    for (struct dirent *de; (de = readdir(d));) {
        struct stat st;
        if (de->d_name[0] == '.' || json_object_get(keep, de->d_name) ||
            fstatat(bfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        bool partial = strstr(de->d_name, ".partial") != NULL;
        if (unlinkat(bfd, de->d_name, 0) < 0)
            return err_errno(err, errno, "remove %s/%s", bdir, de->d_name);
        _cleanup_free_ char *path = xasprintf("%s/%s", bdir, de->d_name);
        note_removed(p, "layers", NULL, path, partial ? "partial" : "unused_layer", st.st_size);
    }
    return 0;
}

static int prune_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    struct prune p = {.ctx = ctx};
    json_auto_t *users __attribute__((unused)) = p.users = scan_users(ctx); /* frees p.users */
    json_auto_t *removed = p.removed = json_array();
    json_auto_t *kept = p.kept = json_array();
    json_auto_t *busy = p.busy = json_array();
    _cleanup_free_ char *root = env_cache_root(ctx);
    _cleanup_closedir_ DIR *d = opendir(root);
    if (!d && errno != ENOENT)
        return err_errno(err, errno, "open %s", root);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.' || de->d_type != DT_DIR)
            continue;
        int rc = prune_env(&p, root, de->d_name, err);
        if (rc < 0)
            return rc;
    }
    int brc = prune_blobs(&p, root, err);
    if (brc < 0)
        return brc;
    *result = json_pack("{s:I, s:I, s:O, s:O, s:O}", "removed_count", (json_int_t)json_array_size(removed),
                        "freed_bytes", (json_int_t)p.freed, "removed", removed, "kept_in_use", kept, "skipped_busy",
                        busy);
    return 0;
}

static const struct contract_param prune_params[] = {PARAM_END};

const struct contract_op op_env_prune = {
    .name = "env_prune",
    .cli = "env prune",
    .title = "Prune the environment cache",
    .summary = "Remove partial, invalid and superseded environment installs and unused image layers.",
    .description =
        "Remove partial builds left by interrupted pulls, installs that fail verification, installs of "
        "superseded recipe versions, environments no longer in the catalog, and image layers no pulled image "
        "uses (with unfinished layer downloads). An install that an "
        "existing VM or workspace still uses is kept and listed; environments being pulled are skipped.",
    .params = prune_params,
    .output_schema =
        "{\"type\":\"object\",\"required\":[\"removed_count\",\"freed_bytes\",\"removed\",\"kept_in_use\","
        "\"skipped_busy\"],\"additionalProperties\":false,\"properties\":{\"removed_count\":{\"type\":\"integer\"},"
        "\"freed_bytes\":{\"type\":\"integer\"},\"removed\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
        "\"required\":[\"environment\",\"version\",\"path\",\"reason\",\"size_bytes\"],\"properties\":{"
        "\"environment\":{\"type\":\"string\"},\"version\":{\"type\":[\"string\",\"null\"]},\"path\":{\"type\":"
        "\"string\"},\"reason\":{\"type\":\"string\",\"enum\":[\"partial\",\"failed_build_log\",\"invalid\","
        "\"superseded\",\"unknown_environment\",\"unused_layer\"]},\"size_bytes\":{\"type\":\"integer\"}}}},\"kept_in_"
        "use\":{"
        "\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"environment\",\"version\",\"path\","
        "\"reason\",\"used_by\"]}},\"skipped_busy\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}",
    .annotations = PA_DESTRUCTIVE,
    .exposure = 0,
    .handler = prune_run,
};
