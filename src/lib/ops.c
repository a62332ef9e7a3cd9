/* The contract table: every operation pyro offers, in CLI listing order.
 * Each operation is defined next to its handler (op_<name> in its module);
 * this file only lists them. */
#include "contract.h"

extern const struct pyro_op op_version;
extern const struct pyro_op op_doctor;
extern const struct pyro_op op_vm_run;
extern const struct pyro_op op_vm_create;
extern const struct pyro_op op_vm_start;
extern const struct pyro_op op_vm_exec;
extern const struct pyro_op op_vm_stop;
extern const struct pyro_op op_vm_delete;
extern const struct pyro_op op_vm_status;
extern const struct pyro_op op_vm_network_info;
extern const struct pyro_op op_vm_reap_expired;
extern const struct pyro_op op_vm_list_environments;
extern const struct pyro_op op_env_pull;
extern const struct pyro_op op_env_inspect;
extern const struct pyro_op op_env_prune;

const struct pyro_op *const pyro_ops[] = {
    /* host */
    &op_doctor,
    &op_version,
    /* environments */
    &op_vm_list_environments,
    &op_env_pull,
    &op_env_inspect,
    &op_env_prune,
    /* one-shot runs and the vm lifecycle */
    &op_vm_run,
    &op_vm_create,
    &op_vm_start,
    &op_vm_exec,
    &op_vm_stop,
    &op_vm_delete,
    &op_vm_status,
    &op_vm_network_info,
    &op_vm_reap_expired,
    /* workspaces */
    NULL,
};

const struct pyro_group pyro_groups[] = {
    {"env", "Inspect and manage curated environments."},
    {"vm", "Manage ephemeral VMs (create, start, exec, stop, delete)."},
    {"workspace", "Manage persistent workspaces."},
    {"mcp", "Run the MCP server."},
    {NULL, NULL},
};
