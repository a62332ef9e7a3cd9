/* The monitor: one host process per running instance (DESIGN.md).
 *
 * It starts the instance through a backend, holds the one channel to the
 * pyro-agent inside, serves clients on <dir>/control.sock (the same framed
 * protocol as the agent's; requests are forwarded with their ids remapped, so
 * many clients share the channel), enforces the TTL, notices the instance
 * dying, cleans it up through the backend and records what happened in
 * <dir>/monitor.json. It is the only writer of monitor.json; clients own
 * record.json. Local requests: "monitor_status" and "monitor_stop". */
#ifndef PYRO_MONITOR_H
#define PYRO_MONITOR_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "base/idmap.h"

struct monitor_config {
    const char *backend;    /* backend_get() name, e.g. "sandbox" */
    const char *dir;        /* instance directory, absolute */
    const char *id;         /* instance id: hostname inside */
    const char *rootfs;     /* environment root tree (read-only lower layer) */
    const char *agent_path; /* host path of the static pyro-agent */
    const char *upper_dir;  /* kept writable layer (backend_config.upper_dir), or NULL */
    int vcpu_count;
    int mem_mib;
    int pids_max;
    int disk_mib;                  /* backend_config.disk_mib */
    int64_t cgroup_parent_mem_mib; /* backend_config.cgroup_parent_mem_mib */
    bool network;
    bool network_allow_host;          /* backend_config.network_allow_host */
    char *const *network_allow_hosts; /* backend_config.network_allow_hosts */
    int64_t expires_at_ms;            /* wall clock; the instance is stopped then */
    const struct idmap *idmap;        /* backend_config.idmap */
    /* The vm backend's artifacts and accelerator (backend_config.vm_*). */
    const char *vm_kernel;
    const char *vm_initrd;
    const char *vm_root_image;
    const char *vm_accel;
    const char *vm_template_dir;
};

/* How long a stop waits for the agent to power off before SIGKILL. */
#define MONITOR_STOP_GRACE_MS 3000

/* Starts a detached monitor (double fork, new session) for cfg and waits
 * until the instance runs and its agent answered the handshake, or failed.
 * On success *pid_out is the monitor's pid. Errors carry the monitor's own
 * message (for example the backend's reason). */
int monitor_spawn(const struct monitor_config *cfg, int timeout_ms, int *pid_out, pyro_error *err);

/* The monitor's main loop, in the already detached process; ready_fd gets
 * one line ("ok" or "error CODE MESSAGE") and is closed. Returns the
 * process exit status. */
int monitor_main(const struct monitor_config *cfg, int ready_fd);

#endif
