/* The raw VM lifecycle: vm_create, vm_start, vm_exec, vm_stop, vm_delete,
 * vm_status, vm_network_info, vm_reap_expired (the seed's names and
 * defaults; docs/vm.md). */
#include <dirent.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/id.h"
#include "base/idmap.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/timeutil.h"
#include "lib/contract/contract.h"
#include "lib/contract/params.h"
#include "lib/env/env.h"
#include "lib/vm/instance.h"
#include "lib/vm/vm.h"

#define VM_KIND "vms"

/* Result schema pieces shared by the VM operations. */
#define VM_PROPS                                                                                          \
    "\"vm_id\":{\"type\":\"string\"},\"environment\":{\"type\":\"string\"},"                              \
    "\"environment_version\":{\"type\":\"string\"},\"state\":{\"type\":\"string\",\"enum\":[\"created\"," \
    "\"running\",\"stopped\",\"expired\",\"exited\",\"failed\",\"creating\",\"deleting\",\"deleted\"]},"  \
    "\"vcpu_count\":{\"type\":\"integer\"},\"mem_mib\":{\"type\":\"integer\"},"                           \
    "\"ttl_seconds\":{\"type\":\"integer\"},\"network\":{\"type\":\"boolean\"},"                          \
    "\"allow_host_compat\":{\"type\":\"boolean\"}" INSTANCE_ISOLATION_PROPS                               \
    ",\"backend_fallback\":{\"type\":\"string\"},"                                                        \
    "\"created_at\":{\"type\":\"string\"},\"expires_at\":{\"type\":\"string\"},"                          \
    "\"started_at\":{\"type\":\"string\"},\"stopped_at\":{\"type\":\"string\"},"                          \
    "\"ended_at\":{\"type\":\"string\"},\"reason\":{\"type\":\"string\"},\"error\":{\"type\":\"string\"}"
#define VM_SCHEMA "{\"type\":\"object\",\"required\":[\"vm_id\",\"state\"],\"properties\":{" VM_PROPS "}}"

int vm_record_new(struct pyro_ctx *ctx, json_t *args, struct instance *out, pyro_error *err)
{
    int r = instance_check_size(ctx, json_get_int(args, "vcpu_count", PYRO_DEFAULT_VCPU_COUNT),
                                json_get_int(args, "mem_mib", PYRO_DEFAULT_MEM_MIB), err);
    if (r < 0)
        return r;
    struct env_install envi;
    const char *name = json_get_str(args, "environment", "");
    r = env_ensure(ctx, name, &envi, err);
    if (r < 0)
        return r;
    char now[PYRO_TIME_ISO_LEN], exp[PYRO_TIME_ISO_LEN];
    int64_t t = time_wall_ms();
    long long ttl = json_get_int(args, "ttl_seconds", PYRO_DEFAULT_VM_TTL_SECONDS);
    time_iso(now, t);
    time_iso(exp, t + ttl * 1000);
    json_auto_t *rec = json_pack("{s:i, s:s, s:s, s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:s, s:s}", "schema_version", 1,
                                 "kind", "vm", "environment", name, "environment_version", envi.version, "rootfs",
                                 envi.rootfs, "vcpu_count", json_object_get(args, "vcpu_count"), "mem_mib",
                                 json_object_get(args, "mem_mib"), "ttl_seconds", json_object_get(args, "ttl_seconds"),
                                 "network", json_object_get(args, "network"), "allow_host_compat",
                                 json_object_get(args, "allow_host_compat"), "created_at", now, "expires_at", exp);
    json_set(rec, "state", json_string("created"));
    json_t *disk = json_object_get(args, "disk_mib");
    if (json_is_integer(disk))
        json_set(rec, "disk_mib", json_copy(disk));
    if ((r = instance_backend_choose(args, rec, err)) < 0)
        return r;
    if (json_get_bool(args, "ephemeral", false)) {
        json_set(rec, "ephemeral", json_true()); /* a vm_run: see instance_save */
        instance_own(rec);                       /* reaped when the run is killed */
    }
    return instance_create(ctx, VM_KIND, rec, out, err);
}

static int vm_create_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = vm_record_new(ctx, args, &inst, err);
    if (r < 0)
        return r;
    *result = instance_describe(&inst, "vm_id");
    return 0;
}

int vm_open(struct pyro_ctx *ctx, const char *id, struct instance *out, pyro_error *err)
{
    return instance_open(ctx, VM_KIND, id, out, err);
}

static int vm_start_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = vm_open(ctx, json_get_str(args, "vm_id", ""), &inst, err);
    if (r < 0)
        return r;
    r = instance_start(ctx, &inst, err);
    if (r == 0)
        *result = instance_describe(&inst, "vm_id");
    return r;
}

static int vm_exec_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = vm_open(ctx, json_get_str(args, "vm_id", ""), &inst, err);
    if (r < 0)
        return r;
    if (!instance_monitor_alive(&inst)) {
        r = err_set(err, -PYRO_E_STATE, "VM %s is %s, not running: start it first", inst.id, instance_state(&inst));
        return r;
    }
    r = vm_exec_command(ctx, &inst, json_get_str(args, "command", ""),
                        (int)json_get_int(args, "timeout_seconds", PYRO_DEFAULT_TIMEOUT_SECONDS), result, err);
    /* vm_exec cleans the VM up after its command, as the seed's does. */
    vm_delete_after(&inst, r == 0 ? *result : NULL);
    return r;
}

void vm_delete_after(struct instance *inst, json_t *result)
{
    /* Deleted by someone else while its command ran (vm_exec_command could
     * not take the lock again): nothing is left to remove. */
    if (!instance_locked(inst))
        return;
    pyro_error derr = {0};
    int d = instance_destroy(inst, &derr);
    if (!result)
        return;
    json_t *cleanup = json_pack("{s:b}", "deleted", d == 0);
    if (d < 0)
        json_set(cleanup, "error", json_string(derr.message));
    json_set(result, "cleanup", cleanup);
}

static int vm_stop_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = vm_open(ctx, json_get_str(args, "vm_id", ""), &inst, err);
    if (r < 0)
        return r;
    r = instance_stop(&inst, err);
    if (r == 0)
        *result = instance_describe(&inst, "vm_id");
    return r;
}

static int vm_delete_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = vm_open(ctx, json_get_str(args, "vm_id", ""), &inst, err);
    if (r < 0)
        return r;
    r = instance_destroy(&inst, err);
    if (r == 0)
        *result = json_pack("{s:s, s:b, s:s}", "vm_id", inst.id, "deleted", 1, "state", "deleted");
    return r;
}

static int vm_status_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = vm_open(ctx, json_get_str(args, "vm_id", ""), &inst, err);
    if (r < 0)
        return r;
    *result = instance_describe(&inst, "vm_id");
    return 0;
}

static int vm_network_info_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = vm_open(ctx, json_get_str(args, "vm_id", ""), &inst, err);
    if (r < 0)
        return r;
    bool running = instance_monitor_alive(&inst);
    json_t *net = running ? json_object_get(inst.mon, "network") : NULL;
    bool enabled = json_get_bool(inst.rec, "network", false);
    *result = json_pack("{s:s, s:b, s:s, s:s}", "vm_id", inst.id, "network_enabled", enabled, "state",
                        instance_state(&inst), "policy", enabled ? "egress" : "off");
    if (net && enabled) {
        json_set(*result, "guest_ip", json_string(json_get_str(net, "guest_addr", "")));
        json_set(*result, "gateway_ip", json_string(json_get_str(net, "host_addr", "")));
        json_set(*result, "host_interface", json_string(json_get_str(net, "host_ifname", "")));
        json_set(*result, "prefix_len", json_integer(json_get_int(net, "prefix_len", 0)));
    }
    return 0;
}

/* Reaps one kind. Instances go when their create, delete or one-shot run
 * was abandoned midway (instance_abandoned), or when expired; VMs also
 * when their sandbox or monitor is gone; workspaces (kept across stops on
 * purpose) not then. An instance someone holds the lock of is left alone:
 * its owner is at work, or a command runs in it. */
static int reap_kind(struct pyro_ctx *ctx, const char *kind, const char *id_key, json_t *reaped, json_t *failed,
                     pyro_error *err)
{
    _cleanup_free_ char *base = NULL;
    int r = instance_base_dir(ctx, kind, &base, err);
    if (r < 0)
        return r;
    bool vms = !strcmp(kind, VM_KIND);
    _cleanup_closedir_ DIR *d = opendir(base);
    struct dirent *de;
    int64_t now = time_wall_ms();
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_instance_ struct instance inst = {0};
        pyro_error oerr = {0};
        if (instance_open_wait(ctx, kind, de->d_name, 0, &inst, &oerr) < 0) {
            if (oerr.code == -PYRO_E_NOT_FOUND) {
                /* A directory without a record: a create or delete that was
                 * killed midway. Remove what is left. */
                _cleanup_free_ char *dir = xasprintf("%s/%s", base, de->d_name);
                if (id_valid(de->d_name) && instance_backend_destroy(dir, de->d_name, &oerr) == 0 &&
                    idmap_rm_rf(dir, &oerr) == 0)
                    json_array_append_new(reaped, json_pack("{s:s, s:s}", id_key, de->d_name, "reason", "incomplete"));
            }
            continue;
        }
        const char *state = instance_state(&inst);
        const char *why = instance_abandoned(&inst);
        if (!why && instance_expired(&inst, now))
            why = "expired";
        else if (!why && vms && (!strcmp(state, "failed") || !strcmp(state, "exited")))
            why = state; /* its monitor or sandbox is gone */
        if (why) {
            pyro_error derr = {0};
            if (instance_destroy(&inst, &derr) == 0)
                json_array_append_new(reaped, json_pack("{s:s, s:s}", id_key, inst.id, "reason", why));
            else
                json_array_append_new(failed, json_pack("{s:s, s:s}", id_key, inst.id, "error", derr.message));
        }
    }
    return 0;
}

static int vm_reap_expired_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    json_t *reaped = json_array(), *failed = json_array();
    int r = reap_kind(ctx, VM_KIND, "vm_id", reaped, failed, err);
    if (r == 0)
        r = reap_kind(ctx, "workspaces", "workspace_id", reaped, failed, err);
    if (r < 0) {
        json_decref(reaped);
        json_decref(failed);
        return r;
    }
    *result = json_pack("{s:I, s:o, s:o}", "count", (json_int_t)json_array_size(reaped), "reaped", reaped, "failed",
                        failed);
    return 0;
}

static const struct contract_param vm_create_params[] = {
    PARAM_ENVIRONMENT, PARAM_VCPU_COUNT,        PARAM_MEM_MIB, PARAM_DISK_MIB, PARAM_VM_TTL_SECONDS,
    PARAM_NETWORK,     PARAM_ALLOW_HOST_COMPAT, PARAM_BACKEND, PARAM_END,
};
static const struct contract_param vm_id_params[] = {PARAM_VM_ID, PARAM_END};
static const struct contract_param vm_exec_params[] = {PARAM_VM_ID, PARAM_TIMEOUT_SECONDS, PARAM_COMMAND, PARAM_END};
static const struct contract_param no_params[] = {PARAM_END};

#define FULL EXPOSE(SURFACE_WORKSPACE_FULL)

const struct contract_op op_vm_create = {
    .name = "vm_create",
    .cli = "vm create",
    .title = "Create a VM",
    .summary = "Create an ephemeral VM record (state created).",
    .description = "Create an ephemeral VM with an environment and resource sizing, without starting it. The "
                   "environment is pulled on first use. The VM expires ttl_seconds after creation.",
    .params = vm_create_params,
    .output_schema = VM_SCHEMA,
    .exposure = FULL,
    .id_key = "vm_id",
    .handler = vm_create_run,
};

const struct contract_op op_vm_start = {
    .name = "vm_start",
    .cli = "vm start",
    .title = "Start a VM",
    .summary = "Boot a created or stopped VM.",
    .description = "Start the VM's sandbox: its monitor, its isolation and the agent inside. Fails when "
                   "max_active_vms sandboxes already run, or when the running ones and this one would take more "
                   "memory or vCPUs than the host-wide caps (max_total_mem_mib, max_total_vcpus).",
    .params = vm_id_params,
    .output_schema = VM_SCHEMA,
    .annotations = PA_IDEMPOTENT,
    .exposure = FULL,
    .handler = vm_start_run,
};

const struct contract_op op_vm_exec = {
    .name = "vm_exec",
    .cli = "vm exec",
    .title = "Run a command in a VM, then delete it",
    .summary = "Run one command in a running VM, then delete the VM.",
    .description = "Run a shell command in a running VM and return its exit code and output; the VM is deleted "
                   "afterwards (auto-clean, as the seed's vm_exec).",
    .params = vm_exec_params,
    .output_schema = VM_EXEC_SCHEMA,
    .annotations = PA_DESTRUCTIVE,
    .exposure = FULL,
    .handler = vm_exec_run,
};

const struct contract_op op_vm_stop = {
    .name = "vm_stop",
    .cli = "vm stop",
    .title = "Stop a VM",
    .summary = "Stop a running VM (it can be started again).",
    .description = "Power the VM's sandbox off: the agent is asked to shut down, and killed after a grace period.",
    .params = vm_id_params,
    .output_schema = VM_SCHEMA,
    .annotations = PA_IDEMPOTENT,
    .exposure = FULL,
    .handler = vm_stop_run,
};

const struct contract_op op_vm_delete = {
    .name = "vm_delete",
    .cli = "vm delete",
    .title = "Delete a VM",
    .summary = "Stop a VM and remove every trace of it.",
    .description = "Stop the VM if it runs and remove its processes, mounts, cgroups, network links and state.",
    .params = vm_id_params,
    .output_schema =
        "{\"type\":\"object\",\"required\":[\"vm_id\",\"deleted\"],\"properties\":{"
        "\"vm_id\":{\"type\":\"string\"},\"deleted\":{\"type\":\"boolean\"},\"state\":{\"type\":\"string\"}}}",
    .annotations = PA_DESTRUCTIVE | PA_IDEMPOTENT,
    .exposure = FULL,
    .handler = vm_delete_run,
};

const struct contract_op op_vm_status = {
    .name = "vm_status",
    .cli = "vm status",
    .title = "VM status",
    .summary = "Show a VM's state, resources and times.",
    .description = "Return the VM's record: environment, state, resources, TTL and times.",
    .params = vm_id_params,
    .output_schema = VM_SCHEMA,
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = FULL,
    .handler = vm_status_run,
};

const struct contract_op op_vm_network_info = {
    .name = "vm_network_info",
    .cli = "vm network-info",
    .title = "VM network information",
    .summary = "Show a VM's network policy and addresses.",
    .description = "Return whether the VM has network access and, while it runs with network, its guest and "
                   "gateway addresses.",
    .params = vm_id_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"vm_id\",\"network_enabled\",\"policy\"],\"properties\":{"
                     "\"vm_id\":{\"type\":\"string\"},\"network_enabled\":{\"type\":\"boolean\"},"
                     "\"state\":{\"type\":\"string\"},\"policy\":{\"type\":\"string\",\"enum\":[\"off\",\"egress\"]},"
                     "\"guest_ip\":{\"type\":\"string\"},\"gateway_ip\":{\"type\":\"string\"},"
                     "\"host_interface\":{\"type\":\"string\"},\"prefix_len\":{\"type\":\"integer\"}}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = FULL,
    .handler = vm_network_info_run,
};

const struct contract_op op_vm_reap_expired = {
    .name = "vm_reap_expired",
    .cli = "vm reap-expired",
    .title = "Reap expired VMs",
    .summary = "Delete expired VMs and workspaces, VMs whose sandbox or monitor is gone, and the leftovers "
               "of killed creates, deletes and runs.",
    .description = "Delete every VM whose ttl_seconds have passed, whose sandbox exited, or whose monitor "
                   "died, every workspace whose ttl_seconds have passed, and every VM or workspace whose create, "
                   "delete or one-shot run was killed midway, removing all of their processes, mounts and state. "
                   "Instances another call is working on are left alone.",
    .params = no_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"count\",\"reaped\"],\"properties\":{"
                     "\"count\":{\"type\":\"integer\"},\"reaped\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},"
                     "\"failed\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}}}}",
    .annotations = PA_DESTRUCTIVE | PA_IDEMPOTENT,
    .exposure = FULL,
    .handler = vm_reap_expired_run,
};
