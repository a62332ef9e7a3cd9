/* The environment operations of the contract table: vm_list_environments
 * ("env list"), env_pull, env_inspect and env_prune (env_prune.c). */
#include "lib/env/env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"
#include "lib/env/env_vm.h"
#include "lib/env/oci.h"
#include "lib/host/agent_path.h"

static const char *status_name(int rc)
{
    return rc == 0 ? "installed" : rc == -ENOENT ? "not_installed" : "invalid";
}

static json_t *string_array(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* True when a pull holds the environment's lock right now. Creates nothing. */
static bool pull_in_progress(const char *dir)
{
    _cleanup_free_ char *p = xasprintf("%s/.lock", dir);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    return flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

static int list_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    json_t *envs = json_array();
    _cleanup_free_ const struct env_recipe **images = NULL;
    size_t nimages = 0;
    pyro_error ierr = {0};
    if (env_oci_installed(ctx, &images, &nimages, &ierr) < 0)
        log_debug("listing pulled images: %s", ierr.message);
    size_t ncat = 0;
    while (env_catalog[ncat].name)
        ncat++;
    for (size_t k = 0; k < ncat + nimages; k++) {
        const struct env_recipe *r = k < ncat ? &env_catalog[k] : images[k - ncat];
        _cleanup_free_ char *inst = env_install_path(ctx, r);
        json_auto_t *m = NULL;
        pyro_error verr = {0};
        int rc = env_install_verify(inst, r, ENV_VERIFY_QUICK, &m, &verr);
        json_t *e = json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:I, s:s, s:s}", "name", r->name, "description",
                              r->description, "version", r->version, "default", r->is_default, "installed", rc == 0,
                              "status", status_name(rc), "size_bytes",
                              (json_int_t)(rc == 0 ? json_get_int(m, "size_bytes", 0) : 0), "cache_path", inst,
                              "source", r->oci ? "oci" : "catalog");
        const char *digest = json_get_str(json_object_get(m, "oci"), "manifest_digest", NULL);
        if (r->oci && digest)
            json_object_set_new(e, "digest", json_string(digest));
        json_array_append_new(envs, e);
    }
    _cleanup_free_ char *root = env_cache_root(ctx);
    *result = json_pack("{s:s, s:s, s:s, s:o}", "catalog_version", PYRO_VERSION, "default_environment",
                        ENV_DEFAULT_NAME, "cache_dir", root, "environments", envs);
    return 0;
}

static int inspect_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    const struct env_recipe *r;
    int rc = env_lookup(json_get_str(args, "environment", ""), &r, err);
    if (rc < 0)
        return rc;
    _cleanup_free_ char *dir = env_dir_path(ctx, r);
    _cleanup_free_ char *inst = env_install_path(ctx, r);
    json_auto_t *m = NULL;
    pyro_error verr = {0};
    rc = env_install_verify(inst, r, ENV_VERIFY_FULL, &m, &verr);
    if (rc == -ENOENT && r->oci && !pull_in_progress(dir)) {
        char names[256];
        env_catalog_names(names, sizeof(names));
        return err_set(err, -PYRO_E_NOT_FOUND,
                       "unknown environment '%.*s'; valid names: %s, or a pulled OCI image (%s is not pulled)", 64,
                       json_get_str(args, "environment", ""), names, r->name);
    }
    int stale = 0;
    _cleanup_closedir_ DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d));)
        stale += !strncmp(de->d_name, ".tmp-", 5);
    _cleanup_free_ char *rootfs = xasprintf("%s/%s", inst, ENV_ROOTFS_NAME);
    *result = json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:s?, s:s, s:s, s:o, s:I, s:I, s:s?, s:i, s:b, s:O?}", "name",
                        r->name, "description", r->description, "version", r->version, "default", r->is_default,
                        "installed", rc == 0, "status", status_name(rc), "problem",
                        rc == 0 || rc == -ENOENT ? NULL : verr.message, "cache_path", inst, "rootfs_path", rootfs,
                        "requested_packages", string_array(r->packages), "size_bytes",
                        (json_int_t)(m ? json_get_int(m, "size_bytes", 0) : 0), "package_count",
                        (json_int_t)(m ? json_get_int(m, "package_count", 0) : 0), "built_at",
                        m ? json_get_str(m, "built_at", NULL) : NULL, "stale_builds", stale, "pull_in_progress",
                        pull_in_progress(dir), "manifest", m);
    json_t *oci = json_object_get(m, "oci");
    if (r->oci && oci)
        json_object_set(*result, "oci", oci);
    return 0;
}

static int pull_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    const struct env_recipe *r;
    int rc = env_lookup(json_get_str(args, "environment", ""), &r, err);
    if (rc < 0)
        return rc;
    const char *mirror = json_get_str(args, "mirror", NULL);
    if (mirror && (rc = env_mirror_check(mirror, err)) < 0)
        return err_prefix(err, "--mirror");
    if (r->oci && mirror)
        return err_set(err, -PYRO_E_INVALID, "--mirror is for catalog environments, not image references");
    struct env_pull_result res;
    /* Every byte, unless nothing moved since the last pull hashed it. */
    rc = r->oci ? env_oci_pull(ctx, r, ENV_VERIFY_FULL_STAMPED, &res, err)
                : env_pull(ctx, r, mirror, ENV_VERIFY_FULL_STAMPED, &res, err);
    const char *given = json_get_str(args, "environment", "");
    if (rc < 0 && r->oci && !strchr(given, '/')) { /* a short name: maybe meant for the catalog */
        char names[256], why[sizeof(err->message)];
        env_catalog_names(names, sizeof(names));
        snprintf(why, sizeof(why), "%s", err->message);
        snprintf(err->message, sizeof(err->message),
                 "unknown environment '%.64s'; valid names: %s; as an OCI image: %s", given, names, why);
    }
    if (rc < 0)
        return rc;
    json_auto_t *m = res.manifest;
    json_t *vm = NULL;
    if (json_get_bool(args, "vm", false)) {
        /* The VM backend's kernel, initramfs and root image too. */
        _cleanup_free_ char *agent = NULL;
        struct env_vm ev;
        if ((rc = host_agent_path(&agent, err)) < 0 || (rc = env_vm_ensure(ctx, r->name, agent, &ev, err)) < 0)
            return rc;
        vm = json_pack("{s:s, s:s, s:s, s:b}", "kernel", ev.kernel, "initramfs", ev.initrd, "root_image", ev.root_image,
                       "built", ev.built);
    }
    _cleanup_free_ char *inst = env_install_path(ctx, r);
    _cleanup_free_ char *rootfs = xasprintf("%s/%s", inst, ENV_ROOTFS_NAME);
    *result = json_pack("{s:s, s:s, s:b, s:s, s:b, s:s, s:s, s:I, s:I, s:I, s:s, s:s}", "name", r->name, "version",
                        r->version, "installed", 1, "action", res.action, "waited", res.waited, "cache_path", inst,
                        "rootfs_path", rootfs, "size_bytes", (json_int_t)json_get_int(m, "size_bytes", 0),
                        "package_count", (json_int_t)json_get_int(m, "package_count", 0), "build_ms",
                        (json_int_t)res.build_ms, "built_at", json_get_str(m, "built_at", ""), "mirror",
                        json_get_str(m, "mirror", ""));
    /* How a reused install was checked: every byte hashed ("content"), or
     * its stamp unchanged since the last pull that hashed it. */
    if (!strcmp(res.action, "reused"))
        json_object_set_new(*result, "verified", json_string(res.unchanged ? "unchanged" : "content"));
    if (vm)
        json_object_set_new(*result, "vm", vm);
    json_t *oci = json_object_get(m, "oci");
    if (r->oci && oci)
        json_object_set(*result, "oci", oci);
    return 0;
}

static const struct contract_param list_params[] = {PARAM_END};

#define ENV_PARAM                                                                                             \
    PARAM_STR("environment",                                                                                  \
              "Environment name from the catalog (see `pyro env list`), e.g. debian:12, or an OCI image "     \
              "reference (registry/name:tag, name@sha256:...; short names are on $PYRO_OCI_REGISTRY, else "   \
              "docker.io), or oci:/ABSOLUTE/PATH[:tag|@sha256:...] for an image in an OCI layout directory.", \
              .flags = PF_REQUIRED | PF_POSITIONAL, .metavar = "ENV", .max = ENV_NAME_MAX)

static const struct contract_param name_params[] = {ENV_PARAM, PARAM_END};

static const struct contract_param pull_params[] = {
    ENV_PARAM,
    PARAM_STR("mirror", "Debian mirror URL to build from (default: $PYRO_DEBIAN_MIRROR, else the host's apt sources).",
              .metavar = "URL", .max = 1024),
    PARAM_BOOL("vm", "Also build the VM backend's artifacts: the kernel (Debian's cloud kernel package), pyro's "
                     "initramfs and the rootfs as a read-only ext4 image."),
    PARAM_END,
};

#define STR "{\"type\":\"string\"}"
#define NSTR "{\"type\":[\"string\",\"null\"]}"
#define INT "{\"type\":\"integer\",\"minimum\":0}"
#define BOOL "{\"type\":\"boolean\"}"
#define STATUS "{\"type\":\"string\",\"enum\":[\"installed\",\"not_installed\",\"invalid\"]}"

const struct contract_op op_vm_list_environments = {
    .name = "vm_list_environments",
    .cli = "env list",
    .title = "List environments",
    .summary = "List curated environments and whether they are installed.",
    .description = "List the curated Linux environments (the catalog) with their recipe version, whether each is "
                   "installed in the local cache and its size. debian:12 is the default and recommended one.",
    .params = list_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"catalog_version\",\"default_environment\",\"cache_dir\","
                     "\"environments\"],\"properties\":{\"catalog_version\":" STR ",\"default_environment\":" STR
                     ",\"cache_dir\":" STR ",\"environments\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
                     "\"required\":[\"name\",\"description\",\"version\",\"default\",\"installed\",\"status\","
                     "\"size_bytes\",\"cache_path\"],\"additionalProperties\":false,\"properties\":{\"name\":" STR
                     ",\"description\":" STR ",\"version\":" STR ",\"default\":" BOOL ",\"installed\":" BOOL
                     ",\"status\":" STATUS ",\"size_bytes\":" INT ",\"cache_path\":" STR
                     ",\"source\":{\"type\":\"string\",\"enum\":[\"catalog\","
                     "\"oci\"]},\"digest\":" STR "}}}}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = EXPOSE(SURFACE_WORKSPACE_FULL),
    .handler = list_run,
};

const struct contract_op op_env_pull = {
    .name = "env_pull",
    .cli = "env pull",
    .title = "Pull an environment",
    .summary = "Build or pull an environment into the local cache.",
    .description = "Install a catalog environment by building it locally from Debian packages (mmdebstrap), or "
                   "an OCI image by pulling it from its registry or an OCI layout directory (oci:PATH[:tag], for "
                   "air-gapped transfer; docs/environments.md), verify it and move it "
                   "into the cache atomically. When it is already installed and valid this only "
                   "verifies it; an invalid install is rebuilt. Concurrent pulls of one environment build once.",
    .params = pull_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"name\",\"version\",\"installed\",\"action\",\"waited\","
                     "\"cache_path\",\"rootfs_path\",\"size_bytes\",\"package_count\",\"build_ms\",\"built_at\","
                     "\"mirror\"],\"additionalProperties\":false,\"properties\":{\"name\":" STR ",\"version\":" STR
                     ",\"installed\":" BOOL ",\"action\":{\"type\":\"string\",\"enum\":[\"built\",\"pulled\","
                     "\"repaired\",\"reused\"]},\"waited\":" BOOL ",\"cache_path\":" STR ",\"rootfs_path\":" STR
                     ",\"size_bytes\":" INT ",\"package_count\":" INT ",\"build_ms\":" INT ",\"built_at\":" STR
                     ",\"mirror\":" STR ",\"vm\":{\"type\":\"object\",\"required\":[\"kernel\",\"initramfs\","
                     "\"root_image\",\"built\"],\"properties\":{\"kernel\":" STR ",\"initramfs\":" STR
                     ",\"root_image\":" STR ",\"built\":" BOOL "}},\"oci\":{\"type\":\"object\"}}}",
    .annotations = PA_IDEMPOTENT | PA_OPEN_WORLD,
    .exposure = 0,
    .handler = pull_run,
};

const struct contract_op op_env_inspect = {
    .name = "env_inspect",
    .cli = "env inspect",
    .title = "Inspect an environment",
    .summary = "Show an environment's recipe, manifest and cache state.",
    .description = "Show one environment's recipe and cache state. An installed environment is fully verified "
                   "against its manifest (every file's content); an invalid one is reported with the problem and "
                   "is repaired by the next `pyro env pull`.",
    .params = name_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"name\",\"description\",\"version\",\"default\","
                     "\"installed\",\"status\",\"cache_path\",\"rootfs_path\",\"requested_packages\",\"size_bytes\","
                     "\"package_count\",\"stale_builds\",\"pull_in_progress\",\"manifest\"],"
                     "\"additionalProperties\":false,\"properties\":{\"name\":" STR ",\"description\":" STR
                     ",\"version\":" STR ",\"default\":" BOOL ",\"installed\":" BOOL ",\"status\":" STATUS
                     ",\"problem\":" NSTR ",\"cache_path\":" STR ",\"rootfs_path\":" STR
                     ",\"requested_packages\":{\"type\":\"array\",\"items\":" STR "},\"size_bytes\":" INT
                     ",\"package_count\":" INT ",\"built_at\":" NSTR ",\"stale_builds\":" INT
                     ",\"pull_in_progress\":" BOOL ",\"manifest\":{\"type\":[\"object\",\"null\"]},\"oci\":{\"type\":"
                     "\"object\"}}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = 0,
    .handler = inspect_run,
};
