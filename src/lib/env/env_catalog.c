/* The environment catalog: every curated environment, declared once with
 * its recipe version. Bump an entry's version whenever its recipe (package
 * list, suite, variant or build options in env_build.c) changes: a new
 * version is a new install directory, and the old one becomes superseded
 * (removed by `pyro env prune` once nothing uses it). */
#include "lib/env/env.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "lib/contract/ctx.h"
#include "lib/env/oci.h"

static const char *const pkgs_base[] = {NULL};

#define PKGS_AGENT                                                                                                   \
    "bzip2", "ca-certificates", "curl", "file", "git", "jq", "less", "openssh-client", "patch", "procps", "python3", \
        "ripgrep", "unzip", "vim-tiny", "xz-utils", "zip"

static const char *const pkgs_agent[] = {PKGS_AGENT, NULL};

static const char *const pkgs_build[] = {
    PKGS_AGENT, "autoconf", "automake",    "bison",      "build-essential", "cmake",        "flex",
    "libtool",  "make",     "ninja-build", "pkg-config", "python3-pip",     "python3-venv", NULL,
};

const struct env_recipe env_catalog[] = {
    {
        .name = "debian:12",
        .description = "Debian 12 environment with Git preinstalled for common agent workflows",
        .version = "1",
        .suite = "bookworm",
        .variant = "minbase",
        .packages = pkgs_agent,
        .is_default = true,
    },
    {
        .name = "debian:12-base",
        .description = "Minimal Debian 12 environment for shell and core Unix tooling",
        .version = "1",
        .suite = "bookworm",
        .variant = "minbase",
        .packages = pkgs_base,
    },
    {
        .name = "debian:12-build",
        .description = "Debian 12 environment with Git and common build tools preinstalled",
        .version = "1",
        .suite = "bookworm",
        .variant = "minbase",
        .packages = pkgs_build,
    },
    {.name = NULL},
};

void env_catalog_names(char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (const struct env_recipe *r = env_catalog; r->name && off < size; r++)
        off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? ", " : "", r->name);
}

int env_recipe_find(const char *name, const struct env_recipe **out, pyro_error *err)
{
    for (const struct env_recipe *r = env_catalog; r->name; r++)
        if (name && !strcmp(r->name, name)) {
            *out = r;
            return 0;
        }
    char names[256];
    env_catalog_names(names, sizeof(names));
    /* Quote at most 64 bytes of what was given. */
    return err_set(err, -PYRO_E_NOT_FOUND, "unknown environment '%.*s'; valid names: %s", 64, name ? name : "", names);
}

int env_lookup(const char *name, const struct env_recipe **out, pyro_error *err)
{
    if (env_recipe_find(name, out, NULL) == 0)
        return 0;
    const struct env_recipe *img = name ? oci_recipe_intern(name) : NULL;
    if (img) {
        *out = img;
        return 0;
    }
    struct oci_ref ref;
    if (name && (strchr(name, '/') || strchr(name, '@')) && oci_ref_parse(name, NULL, &ref, err) < 0)
        return err_prefix(err, "unknown environment"); /* meant as an image: say what is wrong with it */
    int rc = env_recipe_find(name, out, err);
    if (err) {
        size_t l = strlen(err->message);
        snprintf(err->message + l, sizeof(err->message) - l, ", or an OCI image reference (pyro env pull)");
    }
    return rc;
}

bool env_dir_name(const char *name, char *buf, size_t size)
{
    size_t len = strlen(name);
    if (len == 0 || len >= ENV_NAME_MAX || len >= size || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == ':')
            c = '_';
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return false;
        buf[i] = c;
    }
    buf[len] = '\0';
    return true;
}

char *env_cache_root(const struct pyro_ctx *ctx)
{
    return xasprintf("%s/environments", ctx->cache_dir);
}

char *env_dir_path(const struct pyro_ctx *ctx, const struct env_recipe *r)
{
    if (r->dir)
        return xasprintf("%s/environments/%s", ctx->cache_dir, r->dir);
    char dir[ENV_NAME_MAX];
    if (!env_dir_name(r->name, dir, sizeof(dir)))
        abort(); /* catalog names are checked by the unit tests */
    return xasprintf("%s/environments/%s", ctx->cache_dir, dir);
}

char *env_install_path(const struct pyro_ctx *ctx, const struct env_recipe *r)
{
    _cleanup_free_ char *d = env_dir_path(ctx, r);
    return xasprintf("%s/%s", d, r->version);
}
