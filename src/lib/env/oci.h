/* Environments from OCI registries (docs/environments.md "OCI images").
 *
 * A pulled image is an environment named by its reference. Its install
 * has the same layout, manifest and verification as a built one, below
 * environments/oci-<sha256(reference)[:16]>/1/, with an "oci" object in
 * the manifest (reference, digests, layers, image config). Layer blobs
 * are kept once per digest in environments/.oci-blobs/sha256/<hex>, so
 * images that share a layer download it once; a download in progress is
 * <hex>.partial and is resumed by the next pull. */
#ifndef PYRO_ENV_OCI_H
#define PYRO_ENV_OCI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "lib/env/env.h"

struct pyro_ctx;

/* --- references (oci_ref.c) ------------------------------------------ */

#define OCI_DEFAULT_REGISTRY "docker.io"
#define OCI_REF_MAX 384

struct oci_ref {
    char registry[256];       /* host[:port]; "docker.io" for Docker Hub */
    char repo[256];           /* path, "library/debian" */
    char tag[129];            /* "" when only a digest was given */
    char digest[72];          /* "sha256:<64 hex>" or "" */
    char layout[OCI_REF_MAX]; /* oci:PATH: the layout directory; registry and repo "" */
};

/* Parses an image reference. Short names (no registry part: the first
 * component has no '.' or ':' and is not "localhost") take
 * default_registry (NULL: $PYRO_OCI_REGISTRY, else docker.io); a
 * one-component repository on docker.io gets "library/". The tag
 * defaults to "latest" when there is no digest. "oci:PATH[:tag|@digest]"
 * names an image in an OCI layout directory (PATH absolute, without ".",
 * ".." or empty components or '@'; the tag is after the last ':' that
 * follows the last '/'). */
int oci_ref_parse(const char *s, const char *default_registry, struct oci_ref *out, pyro_error *err);
/* "registry/repo[:tag][@digest]", the canonical name of the environment. */
void oci_ref_format(const struct oci_ref *r, char *buf, size_t size);
/* Whether s names an OCI image rather than a catalog environment: it is
 * not a catalog name and parses as a reference. */
bool oci_ref_looks(const char *s);
/* The recipe standing for image reference name (canonical name,
 * directory oci-<sha256(name)[:16]>, version "1", oci set), interned for
 * the life of the process (at most 256 distinct images); NULL when name
 * is a catalog name or not a reference. */
const struct env_recipe *oci_recipe_intern(const char *name);
/* The device nodes an image may carry: the standard character devices
 * a Debian root has in dev/ (null, zero, full, random, urandom, tty,
 * console, ptmx) with their usual numbers. Any other is refused. */
bool oci_dev_allowed(const char *path, unsigned major, unsigned minor);
/* True for "sha256:" followed by 64 lowercase hex digits. */
bool oci_digest_ok(const char *d);
/* A layer store (dirfd) already holds blob digest of size bytes as a
 * regular file: shared with another image, verified when it was written. */
bool oci_blob_present(int dirfd, const char *digest, int64_t size);

/* --- the registry client (oci_registry.c) ----------------------------- */

struct oci_client;

/* Opens a client for ref's registry: HTTPS, or plain HTTP for a loopback
 * registry that does not speak TLS or one listed in $PYRO_OCI_INSECURE
 * (comma-separated host[:port]). $PYRO_OCI_CA_FILE adds a CA bundle.
 * Credentials come from the first auth.json/config.json that names the
 * registry ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * ~/.config/containers/auth.json, $DOCKER_CONFIG/config.json,
 * ~/.docker/config.json). */
int oci_client_open(const struct oci_ref *ref, struct oci_client **out, pyro_error *err);
void oci_client_free(struct oci_client *c);
void oci_client_freep(struct oci_client **c);
/* Asks for push as well as pull rights from now on. */
void oci_client_set_push(struct oci_client *c);
/* The base64 "user:password" stored for registry in the first auth file
 * that names it (the list above), or NULL. */
char *oci_auth_lookup(const char *registry);
/* GETs a manifest or index by tag or digest (at most 4 MiB): *body, its
 * media type and its digest. When ref is a digest the body must hash to it. */
int oci_get_manifest(struct oci_client *c, const char *ref, char **body, size_t *len, char *media_type, size_t mtsize,
                     char digest[72], pyro_error *err);
/* GETs a small blob (the image config, at most 4 MiB) into memory,
 * verifying its size and digest. */
int oci_get_blob_mem(struct oci_client *c, const char *digest, int64_t size, char **body, pyro_error *err);
/* Downloads a blob into dirfd/<hex>, verifying size and digest while
 * streaming; resumes dirfd/<hex>.partial with a Range request. A blob
 * already there is trusted after a size check (its name is its digest and
 * it was verified when it was written). */
int oci_get_blob_file(struct pyro_ctx *ctx, struct oci_client *c, const char *digest, int64_t size, int dirfd,
                      pyro_error *err);
/* One request with auth: method HEAD, POST (empty) or PUT (the body from
 * mem, else from fd, len bytes); path_or_url is "/v2/..." or a whole URL
 * (an upload's Location). *status gets the HTTP status; a status that is
 * neither 2xx nor 404 is an error. location (optional) gets Location. */
int oci_request(struct oci_client *c, const char *method, const char *path_or_url, const char *ctype, const char *mem,
                int fd, int64_t len, long *status, char *location, size_t locsize, pyro_error *err);
/* "scheme://host[:port]" the client speaks to. */
const char *oci_client_base(const struct oci_client *c);

/* --- OCI layout directories (oci_layout.c) ------------------------------ */

struct oci_layout;

/* Opens the layout ref->layout names (oci-layout, blobs/sha256; beneath
 * an allowed root under ctx's host-path policy, as parameter
 * "environment"). The getters do what the registry client's do, from the
 * layout: a tag is looked up in index.json by its ref.name annotation. */
int oci_layout_open(struct pyro_ctx *ctx, const struct oci_ref *ref, struct oci_layout **out, pyro_error *err);
void oci_layout_free(struct oci_layout *l);
void oci_layout_freep(struct oci_layout **l);
int oci_layout_get_manifest(struct oci_layout *l, const char *ref, char **body, size_t *len, char *media_type,
                            size_t mtsize, char digest[72], pyro_error *err);
int oci_layout_get_blob_mem(struct oci_layout *l, const char *digest, int64_t size, char **body, pyro_error *err);
int oci_layout_get_blob_file(struct pyro_ctx *ctx, struct oci_layout *l, const char *digest, int64_t size, int dirfd,
                             pyro_error *err);

/* --- layers (oci_layer.c) ---------------------------------------------- */

struct oci_unpack {
    int64_t bytes;     /* uncompressed bytes written so far (all layers) */
    int64_t max_bytes; /* cap: $PYRO_OCI_MAX_BYTES or 32 GiB */
    int64_t entries;
    bool chown;       /* owners from the archive (as root, or a user in the host view) */
    bool mknod;       /* the allowed device nodes are made (real root only) */
    int64_t id_count; /* > 0: ids at or above it become OCI_OVERFLOW_ID */
};
#define OCI_OVERFLOW_ID 65534 /* nobody */
/* Applies a layer (tar, gzip or zstd) from blobfd onto rootfd: whiteouts
 * and opaque directories remove what lower layers made; every path is
 * opened beneath rootfd (no "..", absolute path or symlink leads out);
 * device nodes and hard links out of the tree are refused. */
int oci_layer_apply(int blobfd, int rootfd, const char *what, struct oci_unpack *u, pyro_error *err);

/* --- pushing (oci_push.c) ------------------------------------------------ */

/* Publishes an installed environment as a one-layer OCI image (a
 * deterministic gzipped tar of its rootfs, owners as the image sees
 * them) to a registry reference or an OCI layout "oci:PATH[:tag]". */
int env_oci_push(struct pyro_ctx *ctx, const struct env_recipe *r, const char *dest, json_t **result, pyro_error *err);

/* --- images as environments (env_oci.c) -------------------------------- */

/* Pulls ref into the cache (reusing a valid install of the same manifest
 * digest). res as for env_pull. */
int env_oci_pull(struct pyro_ctx *ctx, const struct env_recipe *r, enum env_verify_level check,
                 struct env_pull_result *res, pyro_error *err);
/* Every pulled image's install directory (oci-*), as recipes. */
int env_oci_installed(struct pyro_ctx *ctx, const struct env_recipe ***out, size_t *count, pyro_error *err);
/* The blob store, environments/.oci-blobs/sha256. */
char *env_oci_blob_dir(struct pyro_ctx *ctx);

#endif
