/* Environments: the catalog of curated root filesystems, their local builds
 * from Debian packages (mmdebstrap) and the cache that holds them.
 * docs/environments.md describes the layout, the manifest and the rules.
 *
 * Cache layout, below ctx->cache_dir ($XDG_CACHE_HOME/pyro):
 *
 *   environments/<dir>/                 <dir> is the name with ':' as '_'
 *   environments/<dir>/.lock            flock held by a pull (and by prune)
 *   environments/<dir>/<version>/       one install per recipe version
 *       manifest.json                   what was built and how to verify it
 *       rootfs/                         the read-only tree (overlay lower dir)
 *       build.log                       mmdebstrap's output
 *   environments/<dir>/.tmp-<version>-<random>/   a build in progress
 *   environments/<dir>/build-failed.log           log of the last failed build
 */
#ifndef PYRO_ENV_H
#define PYRO_ENV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct pyro_ctx;

/* A catalog entry: one pinned recipe. */
struct env_recipe {
    const char *name; /* "debian:12-base" */
    const char *description;
    const char *version;         /* recipe version, bumped when the recipe changes */
    const char *suite;           /* Debian suite ("bookworm") */
    const char *variant;         /* mmdebstrap --variant */
    const char *const *packages; /* --include, NULL-terminated */
    bool is_default;
    const char *dir; /* the cache directory name; NULL: derived from name */
    bool oci;        /* a pulled OCI image (lib/env/oci.h), not a recipe */
};

#define ENV_DEFAULT_NAME "debian:12"
/* Catalog names are short; image references (oci.h) are up to 383 bytes. */
#define ENV_NAME_MAX 384
#define ENV_MANIFEST_NAME "manifest.json"
#define ENV_ROOTFS_NAME "rootfs"
#define ENV_MANIFEST_SCHEMA 1

extern const struct env_recipe env_catalog[]; /* ends with .name == NULL */

/* Looks name up in the catalog; -PYRO_E_NOT_FOUND naming the valid names
 * when unknown. */
int env_recipe_find(const char *name, const struct env_recipe **out, pyro_error *err);
/* The catalog, else name as an OCI image reference (oci.h; whether it is
 * pulled is for the caller to see): what every environment name accepted
 * from a user goes through. */
int env_lookup(const char *name, const struct env_recipe **out, pyro_error *err);
/* The cache directory name of an environment: ':' becomes '_'. Returns
 * false when name is not a plausible environment name. */
bool env_dir_name(const char *name, char *buf, size_t size);
/* "a, b, c": the catalog's names, for error messages. */
void env_catalog_names(char *buf, size_t size);

/* $cache/environments, and $cache/environments/<dir>[/<version>]. */
char *env_cache_root(const struct pyro_ctx *ctx);
char *env_dir_path(const struct pyro_ctx *ctx, const struct env_recipe *r);
char *env_install_path(const struct pyro_ctx *ctx, const struct env_recipe *r);

/* What a valid install offers its users (the sandbox and VM backends). */
struct env_install {
    char name[ENV_NAME_MAX];
    char version[32];  /* recipe version */
    char path[4096];   /* the install directory */
    char rootfs[4096]; /* <path>/rootfs: mount it read-only as the lower layer */
    int64_t size_bytes;
};

/* Makes sure name is installed and valid and fills out. Pulls (builds) on
 * first use and repairs an install whose manifest or artifacts fail the
 * presence check (manifest and artifacts there; `pull` and `inspect` verify
 * content); waits when another process is pulling. Uses the configured
 * mirror (PYRO_DEBIAN_MIRROR or the host's apt sources). */
int env_ensure(struct pyro_ctx *ctx, const char *name, struct env_install *out, pyro_error *err);
/* The image config of the pulled environment whose rootfs this is, as
 * command defaults (env_image.c): env (an object, owned by the caller) from
 * its Env, workdir from its WorkingDir when that is a directory of the
 * rootfs ("" otherwise). Empty for a built environment. */
struct env_image_defaults {
    json_t *env;
    char workdir[4096];
};
void env_image_defaults(const char *rootfs, struct env_image_defaults *out);
/* As root, shifts install_dir/rootfs into the sandbox id range (base/idmap.h)
 * unless it is there already; a no-op for a user. Restartable. */
int env_rootfs_own(const char *install_dir, pyro_error *err);

/* --- digests (env_digest.c) -------------------------------------------- */

/* Digest of a directory tree: a sha256 over a sorted walk of every entry's
 * relative path, type, mode, owner, size, device number, link target and
 * (full) content sha256. The walk does not leave the tree's filesystem.
 * *entries and *bytes (optional) get the entry count and content size. */
struct env_tree_digest {
    char meta[65];  /* without content */
    char full[65];  /* with content sha256 of regular files */
    char stamp[65]; /* every entry's path, inode, size, modification and change times (ns) */
    int64_t entries;
    int64_t bytes;
};
int env_tree_digest(int dirfd, const char *name, bool with_content, struct env_tree_digest *out, pyro_error *err);
int env_file_sha256(int dirfd, const char *name, char hex[65], int64_t *size, pyro_error *err);
/* Recursively sizes a tree (bytes of regular files, st_blocks not used). */
int64_t env_tree_size(int dirfd, const char *name);
/* Adds name (len bytes, its NUL included) and st's inode, size and times to
 * a stamp. */
struct sha256;
struct stat;
void env_stamp_add(struct sha256 *s, const char *name, size_t len, const struct stat *st);

/* --- verification (env_verify.c) -------------------------------------- */

enum env_verify_level {
    ENV_VERIFY_PRESENT, /* manifest, and every artifact present with its type (and size for files) */
    ENV_VERIFY_QUICK,   /* manifest, and every artifact's metadata (types, modes, sizes, links) */
    ENV_VERIFY_FULL,    /* and every byte of content */
    /* FULL, but QUICK when the install's stamp (every artifact's and the
     * manifest's inode, size, modification and change times) is the one
     * a FULL pass of this level recorded in ENV_STAMP_NAME; a pass that
     * hashes records it. Content cannot change without moving a change
     * time, which only the kernel sets. */
    ENV_VERIFY_FULL_STAMPED,
};
#define ENV_STAMP_NAME "verified.json"

/* Checks a parsed manifest's shape and that it belongs to recipe r. */
int env_manifest_check(const json_t *m, const struct env_recipe *r, pyro_error *err);
/* Loads install_dir/manifest.json and checks every artifact at level.
 * Returns 0 when valid; -PYRO_E_CORRUPT (message says what failed) or
 * -ENOENT when there is no manifest. *manifest (optional) gets the parsed
 * manifest whenever it could be read. */
int env_install_verify(const char *install_dir, const struct env_recipe *r, enum env_verify_level level,
                       json_t **manifest, pyro_error *err);
/* The same; *unchanged (optional) tells whether FULL_STAMPED found the
 * recorded stamp and skipped the content. */
int env_install_verify_stamped(const char *install_dir, const struct env_recipe *r, enum env_verify_level level,
                               json_t **manifest, bool *unchanged, pyro_error *err);

/* --- manifest (env_manifest.c) ------------------------------------------ */

/* Parses a dpkg status file into [{name, version, architecture}], sorted by
 * name, installed packages only. */
int env_dpkg_packages(const char *status, size_t len, json_t **out, pyro_error *err);
/* An artifact entry {name, kind, path, size, sha256[, meta_sha256, entries]}
 * computed from install_dir/path. */
int env_artifact_describe(int install_dirfd, const char *name, const char *kind, const char *path, json_t **out,
                          pyro_error *err);
/* Adds (or replaces) an artifact to a valid install's manifest, under the
 * environment's lock. path is relative to the install directory and must
 * already be complete there (write it under a temporary name and rename it
 * first). kind: "rootfs-tree" (a directory) or a file kind such as
 * "disk-image", "kernel", "initramfs". For the VM backend. */
int env_install_add_artifact(struct pyro_ctx *ctx, const char *name, const char *artifact, const char *kind,
                             const char *path, pyro_error *err);
/* The same for a caller that holds the environment's lock and verified
 * the install under it: adds (or replaces, by name) the entries (an array
 * of env_artifact_describe objects, extra keys kept) to the manifest of the
 * install inst, whose shape is checked again. */
int env_manifest_put_artifacts(const char *inst, const struct env_recipe *r, json_t *entries, pyro_error *err);
/* Writes manifest m into the install directory dirfd atomically, 0644
 * (world-readable like the tree it describes). */
int env_manifest_write(int dirfd, const json_t *m, pyro_error *err);
/* 1-64 of [a-z0-9._-]. */
bool env_artifact_name_ok(const char *s);

/* --- building (env_build.c) --------------------------------------------- */

/* The apt sources a build uses: --mirror, else $PYRO_DEBIAN_MIRROR, else the
 * host's /etc/apt/sources.list.d/debian.sources and /etc/apt/sources.list,
 * else http://deb.debian.org/debian. Each entry is one mmdebstrap MIRROR
 * argument ("deb URI SUITE COMPONENTS"). */
struct env_sources {
    char *lines[8];
    int count;
    char *primary;      /* the main archive URI, for messages and the manifest */
    const char *origin; /* "--mirror", "PYRO_DEBIAN_MIRROR", the file, or "default" */
};
int env_sources_resolve(const struct env_recipe *r, const char *mirror, struct env_sources *out, pyro_error *err);
/* Parses apt source files (deb822 .sources or one-line .list) for suite;
 * exposed for tests. Appends to out. */
int env_sources_parse(const char *text, bool deb822, const char *suite, struct env_sources *out);
void env_sources_free(struct env_sources *s);
/* Checks a mirror URL given by the user. */
int env_mirror_check(const char *mirror, pyro_error *err);

/* Runs mmdebstrap for r into tmpdir/rootfs, logging to tmpdir/build.log.
 * The child runs in its own process group (and, as root, its own mount and
 * PID namespaces) and dies with the caller (PR_SET_PDEATHSIG). On failure
 * the error carries the tail of the log. */
int env_build_rootfs(struct pyro_ctx *ctx, const struct env_recipe *r, const struct env_sources *src, int tmpfd,
                     const char *tmpdir, pyro_error *err);
/* The last lines of a log file, at most max bytes, valid UTF-8, one line. */
char *env_log_tail(int dirfd, const char *name, size_t max);

/* --- installs (env_install.c) --------------------------------------------- */

/* Detaches mounts left below path by a builder that died (as root). */
void env_unmount_below(const char *path);
/* Makes an environment's directory and takes its exclusive lock (a pull
 * that finds it held reports phase "wait" with wait_msg, sets *waited and
 * waits), then opens it: *lock and *dirfd for the caller to close. */
int env_dir_lock(struct pyro_ctx *ctx, const char *dir, const char *wait_msg, int *lock, int *dirfd, bool *waited,
                 pyro_error *err);

/* --- pulling (env_pull.c) ----------------------------------------------- */

struct env_pull_result {
    char action[16]; /* "built", "repaired", "reused" */
    bool waited;     /* another pull held the lock */
    bool unchanged;  /* reused without hashing: the install's stamp was the recorded one */
    int64_t build_ms;
    json_t *manifest; /* owned by the caller */
};
int env_pull(struct pyro_ctx *ctx, const struct env_recipe *r, const char *mirror, enum env_verify_level check,
             struct env_pull_result *res, pyro_error *err);

/* Removes stale .tmp-* build directories below the locked env_dir fd;
 * returns the number removed and adds their paths to removed (optional). */
int env_clean_stale(int env_dirfd, const char *env_dir, json_t *removed, int64_t *freed, pyro_error *err);

#endif
