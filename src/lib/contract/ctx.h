/* The library context: resolved directories, configuration and callbacks
 * shared by every operation of one front end. */
#ifndef PYRO_CTX_H
#define PYRO_CTX_H

#include <pyro/pyro.h>

#include <stdint.h>

struct host_policy;

struct pyro_ctx {
    char *state_dir;
    char *cache_dir;
    int max_active_vms;      /* $PYRO_MAX_ACTIVE_VMS, default 4 */
    pyro_progress_fn progress;
    void *progress_data;
    /* Called by instance_create() for each new instance: the MCP server's
     * workers report them, so a cancelled call removes what it created. */
    void (*instance_created)(void *data, const char *kind, const char *id);
    void *instance_created_data;
    /* The MCP server's project source (docs/mcp.md "Project source"):
     * workspace_create seeds from it when seed_path is omitted. NULL when
     * there is none. Owned by the context. */
    char *default_seed_path;
    /* The host-path policy (lib/host/hostpaths.h): when set, every host
     * path a caller names is confined to its roots. Set by the MCP server,
     * which owns it; NULL for the CLI and C programs. */
    const struct host_policy *host_policy;
};

#define PYRO_DEFAULT_MAX_ACTIVE_VMS 4

/* Reports progress through the context's callback, if any. */
void ctx_progress(struct pyro_ctx *ctx, const char *operation, const char *phase, int64_t current,
                   int64_t total, const char *message);

#endif
