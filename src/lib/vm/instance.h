/* An instance is one isolated machine that pyro manages: a VM of the raw
 * lifecycle (kind "vms"), and later a workspace. On disk:
 *
 *   <state>/<kind>/<id>/record.json   what clients decided (written under .lock)
 *   <state>/<kind>/<id>/monitor.json  what the monitor saw (only it writes)
 *   <state>/<kind>/<id>/control.sock  the monitor's socket while it runs
 *   <state>/<kind>/<id>/sandbox/      the backend's directory (overlay, ...)
 *   <state>/<kind>/<id>/upper/        the writable layer kept across stop and
 *                                     start when record.json has
 *                                     "persistent_upper": true (workspaces)
 *
 * State is derived on every call from these files and from whether the
 * monitor process is alive, so a client or monitor killed at any moment
 * leaves nothing that the next call cannot read or clean up.
 *
 * Creating and deleting take many steps. While one runs, record.json says
 * so ("state": "creating" or "deleting") and names the process doing it
 * ("owner": {pid, start_time}, base/proc.h); a one-shot run's record
 * ("ephemeral") names its owner for its whole life. The owner holds the
 * instance's lock throughout, so an instance whose lock is free and whose
 * owner is gone was abandoned midway: list and status show it, and
 * `vm reap-expired` (or a delete) removes it. A delete removes record.json
 * last, so a half-deleted instance is never invisible. */
#ifndef PYRO_INSTANCE_H
#define PYRO_INSTANCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "lib/contract/ctx.h"
#include "lib/env/env_vm.h"

struct instance {
    char *dir;
    char *id;
    json_t *rec; /* record.json */
    json_t *mon; /* monitor.json, or NULL */
    int lock_fd; /* held while the instance is open (-1 between
                  * instance_unlock and instance_relock) */
    /* The monitor that ran at instance_unlock (pid, start_time), so that
     * instance_relock can tell whether the sandbox changed meanwhile. */
    int64_t unlocked_pid, unlocked_start;
};

/* How long an operation waits for another one on the same instance. */
#define INSTANCE_LOCK_TIMEOUT_MS (10 * 60 * 1000)

/* <state>/<kind>, created when missing. */
int instance_base_dir(struct pyro_ctx *ctx, const char *kind, char **out, pyro_error *err);
/* Creates the directory and record of a new instance (locked on return). */
int instance_create(struct pyro_ctx *ctx, const char *kind, json_t *rec, struct instance *out, pyro_error *err);
/* Opens and locks an existing one; -PYRO_E_NOT_FOUND names the id. */
int instance_open(struct pyro_ctx *ctx, const char *kind, const char *id, struct instance *out, pyro_error *err);
/* The same, waiting at most timeout_ms for the lock (0: try once, and
 * -PYRO_E_BUSY when someone holds it). */
int instance_open_wait(struct pyro_ctx *ctx, const char *kind, const char *id, int timeout_ms, struct instance *out,
                       pyro_error *err);
/* Releases the lock and the memory; an instance never opened (all zero)
 * or already closed is left alone. */
void instance_close(struct instance *inst);
/* Closes the instance when the scope ends, on every path (crun's
 * cleanup_container_status). Initialise with {0}:
 *     _cleanup_instance_ struct instance inst = {0}; */
#define _cleanup_instance_ __attribute__((cleanup(instance_close)))
int instance_save(struct instance *inst, pyro_error *err);

/* Locks are held only as long as a state change needs them. An operation
 * that talks to the agent for a long time (an exec, a tree transfer) checks
 * and connects under the lock, calls instance_unlock, does its work, and
 * calls instance_relock before it writes anything (history, events, the
 * record). Meanwhile status, list, stop, delete and other calls go ahead.
 *
 * instance_unlock releases the lock; inst keeps what it read. */
void instance_unlock(struct instance *inst);
/* Takes the lock again and re-reads record.json and monitor.json (others
 * may have changed them). during says what ran ("the command ran"):
 *  - the instance was deleted meanwhile: -PYRO_E_NOT_FOUND ("workspace W
 *    was deleted while the command ran"), the lock not held and nothing
 *    written;
 *  - its sandbox is no longer the one that ran at instance_unlock
 *    (stopped, expired, restarted or reset): -PYRO_E_STATE or
 *    -PYRO_E_TIMEOUT (expired) with the lock held again ("workspace W was
 *    stopped while the command ran");
 *  - 0 with the lock held: nothing changed but the record.
 * Other failures (the lock wait timed out) leave the lock not held.
 * instance_locked() tells whether it is held. */
int instance_relock(struct instance *inst, const char *during, pyro_error *err);
bool instance_locked(const struct instance *inst);
/* Re-reads monitor.json (after the monitor changed it). */
void instance_reload_monitor(struct instance *inst);

/* Derived state: "created", "running", "stopped", "expired", "exited"
 * (the sandbox ended by itself), "failed" (could not start, or the monitor
 * died), "creating" and "deleting" (a create or delete runs, or was
 * abandoned midway: instance_abandoned). */
const char *instance_state(const struct instance *inst);
bool instance_monitor_alive(const struct instance *inst);
bool instance_expired(const struct instance *inst, int64_t now_ms);

/* Names the calling process as the owner of rec (see above). */
void instance_own(json_t *rec);
/* The reason an instance was abandoned by its owner ("create_interrupted",
 * "delete_interrupted", "run_interrupted"), or NULL when it was not: its
 * record says a create, delete or one-shot run is under way and the owner
 * process is gone. */
const char *instance_abandoned(const struct instance *inst);

/* What running instances of every kind take together (max_active_vms and
 * the host-wide caps of ctx). */
struct instance_usage {
    int running;     /* instances whose monitor is alive */
    int abandoned;   /* of those, left by a killed create, delete or run */
    int64_t mem_mib; /* their mem_mib, summed */
    int64_t vcpus;   /* their vcpu_count, summed */
};
/* Returns usage.running; fills *out when not NULL. */
int instance_count_running(struct pyro_ctx *ctx, struct instance_usage *out, pyro_error *err);

/* Refuses (-PYRO_E_LIMIT, naming the cap) a request that alone is above a
 * host-wide cap: ctx->max_total_mem_mib or ctx->max_total_vcpus. */
int instance_check_size(struct pyro_ctx *ctx, int64_t vcpu_count, int64_t mem_mib, pyro_error *err);

/* Starts the monitor and the sandbox; fails with -PYRO_E_LIMIT when
 * ctx->max_active_vms are already running, or when the running ones and
 * this one would take more than the host-wide caps (checked under the one
 * lock of the state dir, with the count). The sandbox backend's parent
 * cgroup gets ctx->max_total_mem_mib as its memory limit. */
int instance_start(struct pyro_ctx *ctx, struct instance *inst, pyro_error *err);
/* Asks the monitor to stop the sandbox and waits until it has. */
int instance_stop(struct instance *inst, pyro_error *err);
/* Marks the record "deleting", stops, removes the backend state and every
 * file but the record, then the record and the directory. Works when the
 * monitor died; a delete that fails or is killed midway leaves a
 * "deleting" instance that a second delete or reap removes. */
int instance_destroy(struct instance *inst, pyro_error *err);

/* Removes what the backend left of instance id in its directory dir
 * (processes, cgroups, network rules, mounts, <dir>/sandbox). Needs no
 * record, so it also clears the remains of an interrupted create. */
int instance_backend_destroy(const char *dir, const char *id, pyro_error *err);

/* Host path of the static pyro-agent: $PYRO_AGENT, else next to the
 * running binary, else the installed libexec directory. */
int instance_agent_path(char **out, pyro_error *err);

/* ---- instance_backend.c: the backend of an instance ---- */
/* Resolves the backend of a new instance (args "backend", else
 * $PYRO_BACKEND, else auto) into rec's "backend" ("sandbox" or "vm") and
 * "backend_reason". -PYRO_E_INVALID for an unknown name. */
int instance_backend_choose(const json_t *args, json_t *rec, pyro_error *err);
/* The record's backend ("sandbox" when it names none). */
const char *instance_backend_name(const struct instance *inst);
/* How the instance is isolated, into a result: execution_mode (the backend
 * that runs or ran, else the record's), for a VM accelerator and vm_boot
 * ("template" or "cold", with vm_boot_reason: why it booted), rootless and
 * limits_unenforced (the limits the host could not hold it to, and in
 * limits_unenforced_reason why, with the fix), from the
 * monitor's record (INSTANCE_ISOLATION_PROPS in their schemas). Records
 * (instance_describe, a workspace's) also say backend_fallback: why a VM
 * that could not start runs on the sandbox backend. */
void instance_isolation(const struct instance *inst, json_t *out);
#define INSTANCE_ISOLATION_PROPS                                                                                       \
    ",\"execution_mode\":{\"type\":\"string\"},\"rootless\":{\"type\":\"boolean\"},"                                   \
    "\"limits_unenforced\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"enum\":[\"cpu\",\"memory\","           \
    "\"pids\",\"disk\"]}},\"limits_unenforced_reason\":{\"type\":\"string\"},\"disk_mib\":{\"type\":\"integer\"},"     \
    "\"disk_quota\":{\"type\":\"string\","                                                                             \
    "\"enum\":[\"enforced\",\"unenforced\",\"none\"]},\"accelerator\":{\"type\":\"string\",\"enum\":[\"kvm\",\"tcg\"]" \
    "},"                                                                                                               \
    "\"vm_boot\":{\"type\":\"string\",\"enum\":[\"cold\",\"template\"]},\"vm_boot_reason\":{\"type\":\"string\"}"
/* What a VM start needs: the environment's VM artifacts for the agent
 * (built when missing) and the accelerator. */
struct instance_vm {
    struct env_vm artifacts;
    char accel[8];
    char accel_reason[320];
};
int instance_vm_prepare(struct pyro_ctx *ctx, const struct instance *inst, const char *agent, struct instance_vm *out,
                        pyro_error *err);

/* The common result keys of a VM/instance: id key, environment, state,
 * resources, times, network. */
json_t *instance_describe(const struct instance *inst, const char *id_key);

#endif
