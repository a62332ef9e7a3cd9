/* The library context: resolved directories, configuration and callbacks
 * shared by every operation of one front end. */
#ifndef PYRO_CTX_H
#define PYRO_CTX_H

#include <pyro/pyro.h>

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct host_policy;

struct pyro_ctx {
    char *state_dir;
    char *cache_dir;
    int max_active_vms; /* $PYRO_MAX_ACTIVE_VMS, default 4 */
    /* Host-wide caps on what running sandboxes may take together (docs/vm.md
     * "Host-wide caps"): $PYRO_MAX_TOTAL_MEM_MIB, default 75% of MemTotal;
     * $PYRO_MAX_TOTAL_VCPUS, default 4 x the online CPUs. The *_env flags say
     * an override set them. host_* are what the defaults came from. */
    int64_t max_total_mem_mib;
    int max_total_vcpus;
    bool max_total_mem_from_env;
    bool max_total_vcpus_from_env;
    /* $PYRO_EGRESS_ALLOW_HOST=1: sandboxes this process starts with network
     * may reach the host's own addresses and link-local ones
     * (docs/vm.md "Isolation of the sandbox backend"). */
    bool egress_allow_host;
    /* $PYRO_VM_TEMPLATES (default 1): a VM with a new disk starts from a
     * memory template of its settings (docs/vm.md "Memory templates"); 0
     * always boots. */
    bool vm_templates;
    int64_t host_mem_mib; /* MemTotal, 0 when /proc/meminfo could not be read */
    int host_cpus;        /* online CPUs */
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
    /* The redactor of the secrets of the workspace the running operation
     * opened (base/redact.h), or NULL: progress, log messages, the result
     * and the error are redacted with it (ctx_redact_outcome). */
    struct redact *redact;
};

#define PYRO_DEFAULT_MAX_ACTIVE_VMS 4
/* Defaults of the host-wide caps: percent of MemTotal, vCPUs per online CPU. */
#define PYRO_DEFAULT_TOTAL_MEM_PERCENT 75
#define PYRO_DEFAULT_VCPUS_PER_CPU 4
/* Bounds of the overrides. */
#define PYRO_MAX_TOTAL_MEM_MIB_MIN 128
#define PYRO_MAX_TOTAL_MEM_MIB_MAX (INT64_C(1) << 24) /* 16 TiB */
#define PYRO_MAX_TOTAL_VCPUS_MAX 4096

/* Reports progress through the context's callback, if any. */
void ctx_progress(struct pyro_ctx *ctx, const char *operation, const char *phase, int64_t current, int64_t total,
                  const char *message);

/* Makes r (owned from now on, may be NULL) the context's redactor, and the
 * log's, replacing the previous one. */
void ctx_redact_set(struct pyro_ctx *ctx, struct redact *r);
/* After an operation's handler: redacts *result and err's message with the
 * context's redactor, then drops it. Every front end calls this. */
void ctx_redact_outcome(struct pyro_ctx *ctx, json_t **result, pyro_error *err);

#endif
